import ArgumentParser
import Foundation
import Testing
@testable import ota_agent
@testable import ota_server
@testable import otactl

/// Every command the README, CONTRIBUTING.md and docs/ show for `otactl`, `ota-server` or
/// `ota-agent` goes through that program's argument parser (nothing is executed): a renamed
/// option or subcommand fails here, not in a newcomer's terminal.
///
/// How a documented line becomes arguments, as a shell would split it:
/// - a line ending in `\` continues on the next; `# comments` are dropped;
/// - `;`, `|`, `&&`, `||` and `$(…)` separate commands; each one that starts with a program
///   (after `sudo` or `VAR=value` assignments) is checked;
/// - quotes group words; `$VARIABLES` and placeholders (`dep_...`, `<id>`) stay as the text
///   they are, which the parser takes as values; a lone `...` ("more options") is dropped.
/// Only unknown options, unknown subcommands and unexpected arguments fail: values are the
/// reader's to fill in, and a placeholder is not a valid value.
@Suite("Documented commands")
struct DocumentedCommandsTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let programs = ["otactl", "ota-server", "ota-agent"]

    /// The Markdown files a reader is sent to.
    static func pages() throws -> [URL] {
        var pages = [root.appendingPathComponent("README.md"), root.appendingPathComponent("CONTRIBUTING.md")]
        let docs = root.appendingPathComponent("docs")
        let walker = FileManager.default.enumerator(at: docs, includingPropertiesForKeys: nil)
        while let url = walker?.nextObject() as? URL {
            if url.pathExtension == "md" { pages.append(url) }
        }
        return pages.filter { FileManager.default.fileExists(atPath: $0.path) }
    }

    /// The shell lines of a page: the lines of its ```sh (or bash, shell, console) blocks,
    /// continuations joined. Other blocks (```text diagrams, ```json) are not commands.
    static func shellLines(_ text: String) -> [String] {
        var lines: [String] = []
        var fence: String?
        var pending = ""
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = String(raw)
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("```") {
                fence = fence == nil ? String(trimmed.dropFirst(3)).trimmingCharacters(in: .whitespaces) : nil
                pending = ""
                continue
            }
            guard let fence, ["sh", "bash", "shell", "console"].contains(fence) else { continue }
            if trimmed.hasSuffix("\\") {
                pending += String(trimmed.dropLast()).trimmingCharacters(in: .whitespaces) + " "
                continue
            }
            lines.append(pending + trimmed)
            pending = ""
        }
        return lines
    }

    /// The words of one shell command line, split into commands at `;`, `|`, `&&`, `||`,
    /// `$(` and `)`; comments dropped.
    static func commands(_ line: String) -> [[String]] {
        var commands: [[String]] = []
        var words: [String] = []
        var word = ""
        var inWord = false
        var quote: Character?
        func endWord() { if inWord { words.append(word) }; word = ""; inWord = false }
        func endCommand() { endWord(); if !words.isEmpty { commands.append(words) }; words = [] }
        var characters = Array(line)[...]
        while let character = characters.popFirst() {
            if let open = quote {
                if character == open { quote = nil } else { word.append(character) }
                continue
            }
            switch character {
            case "'", "\"": quote = character; inWord = true
            case " ", "\t": endWord()
            case "#" where !inWord: characters = []
            case ";", "|", "&", ")": endCommand()
            case "$" where characters.first == "(": characters.removeFirst(); endCommand()
            default: word.append(character); inWord = true
            }
        }
        endCommand()
        return commands
    }

    /// A documented command as (program, arguments), or nil when it runs another program.
    static func invocation(_ words: [String]) -> (String, [String])? {
        var words = words[...]
        if words.first == "$" { words.removeFirst() }
        if words.first == "sudo" { words.removeFirst() }
        while let first = words.first, first.contains("="), !first.hasPrefix("-") { words.removeFirst() }
        guard let program = words.first.map({ ($0 as NSString).lastPathComponent }), programs.contains(program) else { return nil }
        return (program, words.dropFirst().filter { $0 != "..." && $0 != "…" })
    }

    /// Why the program's parser refuses `arguments` as a command line, or nil.
    static func refusal(_ program: String, _ arguments: [String]) -> String? {
        let message: String
        switch program {
        case "otactl":
            do { _ = try OTACtl.parseAsRoot(arguments); return nil } catch { message = OTACtl.fullMessage(for: error) }
        case "ota-server":
            do { _ = try OTAServerCommand.parseAsRoot(arguments); return nil } catch { message = OTAServerCommand.fullMessage(for: error) }
        default:
            do { _ = try OTAAgentCommand.parseAsRoot(arguments); return nil } catch { message = OTAAgentCommand.fullMessage(for: error) }
        }
        let unknown = ["Unknown option", "Unexpected argument", "Unknown subcommand"]
        return unknown.contains { message.localizedCaseInsensitiveContains($0) } ? message : nil
    }

    @Test("Every documented command line parses: no unknown option or subcommand")
    func documentedCommandsParse() throws {
        var checked = 0
        for page in try Self.pages() {
            let text = try String(contentsOf: page, encoding: .utf8)
            for line in Self.shellLines(text) {
                for words in Self.commands(line) {
                    guard let (program, arguments) = Self.invocation(words) else { continue }
                    checked += 1
                    if let refusal = Self.refusal(program, arguments) {
                        Issue.record("\(page.lastPathComponent): \(line)\n  \(refusal)")
                    }
                }
            }
        }
        #expect(checked >= 30, "only \(checked) documented commands found: is the extraction still right?")
    }

    @Test("The line splitter treats continuations, quotes, comments, pipes and subshells as a shell does")
    func splitterFollowsTheShell() {
        #expect(Self.shellLines("```sh\notactl a \\\n  --b c\n```\n") == ["otactl a --b c"])
        #expect(Self.commands(#"export T=$(ota-server token create --name "me too") # note"#)
                == [["export", "T="], ["ota-server", "token", "create", "--name", "me too"]])
        #expect(Self.commands("otactl x | jq .; ota-agent once && echo ok")
                == [["otactl", "x"], ["jq", "."], ["ota-agent", "once"], ["echo", "ok"]])
        #expect(Self.invocation(["OTA_TOKEN=t", "otactl", "devices", "list", "..."])! == ("otactl", ["devices", "list"]))
        #expect(Self.refusal("otactl", ["devices", "list", "--no-such-option"]) != nil, "an unknown option is caught")
        #expect(Self.refusal("otactl", ["no-such-command"]) != nil, "an unknown subcommand is caught")
        #expect(Self.refusal("otactl", ["devices", "show", "dev_..."]) == nil, "a placeholder value passes")
    }
}
