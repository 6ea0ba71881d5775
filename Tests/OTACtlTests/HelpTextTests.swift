import Foundation
import TestSupport
import Testing

/// `--help` is read in an 80-column terminal: prose wraps there by itself, and examples are
/// short enough to be copied whole. Every command of every program is checked.
@Suite("Help texts")
struct HelpTextTests {
    static let programs = ["otactl", "ota-server", "ota-agent"]

    /// The help of `command` (a program and its subcommand path) at `columns` columns.
    func help(_ command: [String], columns: Int) throws -> String {
        let result = try run(Binaries.path(command[0]), Array(command.dropFirst()) + ["--help"], environment: ["COLUMNS": String(columns)])
        #expect(result.status == 0, "\(command.joined(separator: " ")) --help: \(result)")
        return result.stdout
    }

    /// Every command path under `program`, found from the SUBCOMMANDS section of each help.
    func commands(of program: String) throws -> [[String]] {
        var found: [[String]] = []
        var pending = [[program]]
        while let command = pending.popLast() {
            found.append(command)
            let text = try help(command, columns: 400)
            guard let section = text.components(separatedBy: "SUBCOMMANDS:\n").dropFirst().first else { continue }
            for line in section.split(separator: "\n", omittingEmptySubsequences: false) {
                if line.isEmpty { break }
                // "  name  abstract" or "  name (default)  abstract"; wrapped abstracts are indented deeper.
                guard line.hasPrefix("  "), !line.hasPrefix("   "), let name = line.split(separator: " ").first else { continue }
                if name != "help" { pending.append(command + [String(name)]) }
            }
        }
        return found
    }

    @Test("Every help fits 80 columns, and no example is broken across lines", arguments: programs)
    func helpFitsEightyColumns(program: String) throws {
        let commands = try commands(of: program)
        #expect(commands.count > 1 || program == "ota-agent" && commands.count >= 1)
        for command in commands {
            let name = command.joined(separator: " ")
            let narrow = try help(command, columns: 80)
            // The usage line is argument-parser's own and is not wrapped; a single word (a URL
            // template) cannot be.
            for line in narrow.split(separator: "\n") where !line.hasPrefix("USAGE:") && line.split(separator: " ").count > 1 {
                #expect(line.count <= 80, "\(name) --help has a line of \(line.count) columns: \(line)")
            }
            // Examples are the indented lines of the discussion that run a program; at 80
            // columns each must still be one line, exactly as at 400.
            let wide = try help(command, columns: 400)
            let discussion = wide.components(separatedBy: "USAGE:").first ?? ""
            let narrowLines = Set(narrow.split(separator: "\n").map(String.init))
            for line in discussion.split(separator: "\n") where line.hasPrefix("  ") {
                let text = line.trimmingCharacters(in: .whitespaces)
                guard Self.programs.contains(where: { text.hasPrefix($0 + " ") }) || text.hasPrefix("--") else { continue }
                #expect(narrowLines.contains(String(line)), "\(name) --help breaks the example: \(line)")
            }
        }
    }
}
