import ArgumentParser
import OTACore

struct TrustCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trust",
        abstract: "Create and show trust roots (the keys a bundle must be signed by).",
        subcommands: [Init.self, Show.self]
    )

    struct Init: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a trust root listing public keys and a signature threshold.",
            discussion: """
            A bundle is valid under the trust root when at least THRESHOLD distinct listed keys
            signed it. Give the same trust.json to ota-server (--trust) and to every agent.
            Example: otactl trust init --key keys/a.pub --key keys/b.pub --threshold 2 --out keys/trust.json
            """
        )

        @Option(name: .customLong("key"), help: ArgumentHelp("A public key file (.pub). Repeat for more keys.", valueName: "file"))
        var keys: [String]

        @Option(help: "How many distinct listed keys must sign a bundle.")
        var threshold: Int = 1

        @Option(name: .long, help: ArgumentHelp("Where to write the trust root.", valueName: "file"))
        var out: String

        func validate() throws {
            guard !keys.isEmpty else { throw ValidationError("give at least one --key") }
            guard threshold >= 1, threshold <= keys.count else {
                throw ValidationError("--threshold must be between 1 and the number of keys (\(keys.count))")
            }
        }

        func run() throws {
            var publicKeys: [Ed25519PublicKey] = []
            for path in keys {
                let key = try Failure.wrap("cannot load \(path)") { try KeyFiles.loadPublicKey(path) }
                guard !publicKeys.contains(key) else { throw Failure("\(path) is the same key as another --key") }
                publicKeys.append(key)
            }
            let root = try Failure.wrap("") { try TrustRoot(keys: publicKeys, threshold: threshold) }
            try Failure.wrap("cannot write \(out)") {
                try FileSystem.createDirectory(FileSystem.parent(of: out))
                try FileSystem.writeAtomically(try root.encoded(), to: out)
            }
            print("wrote \(out): \(publicKeys.count) key\(publicKeys.count == 1 ? "" : "s"), threshold \(threshold)")
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Check a trust root and list its keys.")

        @Argument(help: ArgumentHelp("The trust root file.", valueName: "trust.json"))
        var path: String

        @Flag(help: "Print the result as JSON.")
        var json = false

        func run() throws {
            let root = try Failure.wrap("") { try TrustRoot.load(from: path) }
            if json {
                struct Output: Encodable { let threshold: Int; let keyids: [String] }
                try Terminal.printJSON(Output(threshold: root.threshold, keyids: root.keys.map(\.keyid)))
            } else {
                print("threshold: \(root.threshold) of \(root.keys.count)")
                for key in root.keys { print("key: \(key.keyid)") }
            }
        }
    }
}
