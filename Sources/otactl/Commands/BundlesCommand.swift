import ArgumentParser
import Foundation
import OTAClient
import OTACore

struct BundlesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bundles",
        abstract: "List and show the bundles published on the server.",
        subcommands: [List.self, Show.self]
    )

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List published bundles, newest first per name.")
        @Option(help: "Only bundles with this name.") var name: BundleName?
        @OptionGroup var server: ServerOptions
        @Flag(help: "Print the result as JSON.") var json = false

        func run() throws {
            let client = try server.client()
            let bundles = try Failure.remote { try client.bundles(name: name) }
            if json { return try Terminal.printJSON(AdminAPI.BundleList(bundles: bundles)) }
            Terminal.printTable(["NAME", "VERSION", "KIND", "SIZE", "COMPATIBLE", "SIGNERS", "DIGEST", "PUBLISHED"], bundles.map { bundle -> [String] in
                [bundle.name.rawValue, bundle.version.description, bundle.kind.name, Terminal.formatBytes(bundle.size),
                 bundle.compatible.joined(separator: ","), String(bundle.signers.count), bundle.digest.short, bundle.publishedAt.rfc3339]
            })
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one bundle: files, signers, metadata.")
        @Argument(help: "Bundle name.") var name: BundleName
        @Argument(help: "Version.") var version: SemanticVersion
        @OptionGroup var server: ServerOptions
        @Flag(help: "Print the result as JSON.") var json = false

        func run() throws {
            let client = try server.client()
            let bundle = try Failure.remote { try client.bundle(name: name, version: version) }
            if json { return try Terminal.printJSON(bundle) }
            say("name:       \(bundle.name)")
            say("version:    \(bundle.version)")
            say("kind:       \(bundle.kind)")
            say("compatible: \(bundle.compatible.joined(separator: ", "))")
            say("digest:     \(bundle.digest)")
            say("size:       \(Terminal.formatBytes(bundle.size))")
            say("created:    \(bundle.created)")
            say("published:  \(bundle.publishedAt)")
            for signer in bundle.signers { say("signed by:  \(signer)") }
            say("")
            Terminal.printTable(["PATH", "SIZE", "SHA256"], (bundle.files ?? []).map { [$0.path, String($0.size), $0.sha256.hex] })
            if let variants = bundle.variants {
                say("")
                Terminal.printTable(["VARIANT", "FILES", "SIZE", "REQUIRES"], variants.map {
                    [$0.name.rawValue, String($0.files), Terminal.formatBytes($0.size), $0.requires?.description ?? "any device"]
                })
            }
            if let metadata = bundle.metadata {
                say("")
                Terminal.printTable(["METADATA", "VALUE"], metadata.flattened().map { [$0.key, $0.value.displayText] })
            }
        }
    }
}
