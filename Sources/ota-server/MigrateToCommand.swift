import ArgumentParser
import Foundation
import OTACore
import OTAServer

struct MigrateTo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate-to",
        abstract: "Copy the registry into an empty database of the other kind (SQLite to PostgreSQL).",
        discussion: """
        Stop the server first: what it writes during the copy would not be copied. Everything is copied in one transaction, or nothing: tokens, devices and their keys, bundles, deployments and their progress, events, the audit log, trust metadata. Content stays where it is (the data folder, or the bucket).

          ota-server migrate-to postgres://ota@db.internal:5432/ota \\
              --data /var/lib/ota
          ota-server serve --data /var/lib/ota \\
              --database postgres://ota@db.internal:5432/ota ...

        The password comes from PGPASSWORD (a URL on the command line is visible to ps).
        """
    )

    @Argument(help: ArgumentHelp("The database to copy into: postgres://USER@HOST:PORT/DATABASE[?sslmode=…], or a SQLite file.", valueName: "url|path"))
    var target: String

    @Option(help: ArgumentHelp("The server's data folder.", valueName: "dir"))
    var data: String

    @Option(help: ArgumentHelp("The database to copy from (default: DATA/registry.sqlite).", valueName: "url|path"))
    var from: String?

    @Flag(help: "Print the result as JSON.")
    var json = false

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let source: DatabaseSetting, destination: DatabaseSetting
        do {
            source = try DatabaseSetting.parse(from, dataDirectory: data, environment: environment)
            destination = try DatabaseSetting.parse(target, dataDirectory: data, environment: environment)
        } catch { throw ValidationError("\(error)") }
        guard source != destination else { throw ValidationError("the source and the target are the same database") }
        if case .sqlite(let path) = source, !FileManager.default.fileExists(atPath: path) {
            throw ValidationError("there is no registry at \(path) (pass --data, or --from)")
        }
        do {
            let json = json
            let report = try await RegistryCopy.migrate(from: source, to: destination) { table, rows in
                if !json { FileHandle.standardError.write(Data("  \(table): \(rows) rows\n".utf8)) }
            }
            if json {
                print(String(decoding: try StrictJSON.encode(report), as: UTF8.self))
            } else {
                let total = report.tables.values.reduce(0, +)
                print("copied \(total) rows in \(report.tables.count) tables from \(source.description) to \(destination.description) in \(String(format: "%.1f", report.seconds)) s; counters match")
                print("start the server with --database set to \(destination.description)")
            }
        } catch {
            FileHandle.standardError.write(Data("ota-server: error: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}
