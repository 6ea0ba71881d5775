import ArgumentParser
import Foundation
import OTAClient
import OTACore

struct PublishCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "publish",
        abstract: "Upload a bundle's content and envelope to the server.",
        discussion: """
        Only files the server does not already hold are uploaded (content is stored once by
        SHA-256). The envelope goes last: the bundle becomes visible only when complete.
        Safe to run again after an interruption: it carries on where it stopped.
        """
    )

    @Argument(help: ArgumentHelp("Bundle file.", valueName: "file.otab"))
    var bundle: String

    @OptionGroup var server: ServerOptions

    @Flag(help: "Print the result as JSON.")
    var json = false

    func run() throws {
        let client = try server.client()
        let archive = try Failure.wrap(bundle) { try BundleArchive.open(bundle) }
        let manifest = try Failure.wrap(bundle) { try archive.unverifiedManifest() }
        let entries = Dictionary(uniqueKeysWithValues: archive.entries.map { ($0.path, $0) })
        for file in manifest.files where entries[file.path]?.size != file.size {
            throw Failure("\(bundle): '\(file.path)' is missing or has the wrong size; run `otactl bundle verify`")
        }
        let missing = Set(try Failure.remote { try client.missing(Array(Set(manifest.files.map(\.sha256)))) })
        var uploaded: Set<String> = []
        var uploadedBytes: UInt64 = 0
        for file in manifest.files where missing.contains(file.sha256.hex) && !uploaded.contains(file.sha256.hex) {
            let entry = entries[file.path]!
            let bar = ProgressBar("uploading \(file.path)")
            _ = try Failure.remote {
                try client.upload(file.sha256, file: bundle, offset: entry.offset, length: entry.size) { done, _ in
                    bar.update(UInt64(max(done, 0)), entry.size)
                }
            }
            bar.finish()
            uploaded.insert(file.sha256.hex)
            uploadedBytes += file.size
        }
        let published = try Failure.remote { try client.publish(envelope: try archive.envelope.encoded()) }
        if json {
            struct Output: Encodable {
                let bundle: AdminAPI.Bundle
                let created: Bool
                let uploadedFiles: Int
                let uploadedBytes: UInt64
                enum CodingKeys: String, CodingKey { case bundle, created, uploadedFiles = "uploaded_files", uploadedBytes = "uploaded_bytes" }
            }
            try Terminal.printJSON(Output(bundle: published.bundle, created: published.created, uploadedFiles: uploaded.count, uploadedBytes: uploadedBytes))
            return
        }
        let skipped = Set(manifest.files.map(\.sha256.hex)).count - uploaded.count
        print("uploaded \(uploaded.count) file\(uploaded.count == 1 ? "" : "s") (\(Terminal.formatBytes(uploadedBytes))); \(skipped) already on the server")
        print("\(published.created ? "published" : "already published"): \(published.bundle.name) \(published.bundle.version) (digest \(published.bundle.digest))")
    }
}
