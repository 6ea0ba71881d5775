import ArgumentParser
import Foundation
import OTAClient
import OTACore

struct EnrollTokenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "enroll-token",
        abstract: "Manage the tokens devices register with.",
        discussion: """
        Put the token in each agent's config (enrollment_token). A token fixes what a device registering with it is: its tags and group, its hardware (--hardware) and an id prefix (--id-prefix); the device cannot choose. By default a token serves one device for 24 hours, and its devices wait as pending until `otactl devices accept`; --auto-accept accepts them at once.
        """,
        subcommands: [Create.self, List.self, Revoke.self]
    )

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an enrollment token and print it once.")
        @Option(help: "A name to recognise it by.") var name: String?
        @Option(help: "How many devices may register with it (default 1).") var maxUses: Int?
        @Option(help: ArgumentHelp("Lifetime, e.g. 24h or 7d (default 24h).", valueName: "duration")) var expiresIn: String?
        @Option(help: "Tag given to devices that register with it (repeatable).") var tag: [Tag] = []
        @Option(help: "Group given to devices that register with it.") var group: GroupName?
        @Option(help: "The only hardware class a device may register as with it.") var hardware: HardwareClass?
        @Option(help: "Device ids registering with it must start with this.") var idPrefix: DeviceIDPrefix?
        @Flag(help: "Accept its devices at once instead of leaving them pending.") var autoAccept = false
        @OptionGroup var server: ServerOptions
        @Flag(help: "Print the result as JSON.") var json = false

        func run() throws {
            let client = try server.client()
            let seconds = try expiresIn.map { try parseDuration($0, option: "--expires-in") }
            let token = try Failure.remote {
                try client.createEnrollmentToken(.init(name: name, maxUses: maxUses, expiresInSeconds: seconds,
                                                       tags: tag.isEmpty ? nil : tag, group: group, hardware: hardware,
                                                       idPrefix: idPrefix, autoAccept: autoAccept))
            }
            if json { return try Terminal.printJSON(token) }
            say(token.token ?? "")
            Terminal.log.info("created enrollment token \(token.id)\(token.maxUses.map { ", \($0) uses" } ?? "")\(token.expiresAt.map { ", expires \($0.rfc3339)" } ?? "")\(token.autoAccept ? ", devices accepted at once" : ", devices wait for acceptance"); it is shown only this once")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List enrollment tokens (never their secrets).")
        @OptionGroup var server: ServerOptions
        @Flag(help: "Print the result as JSON.") var json = false

        func run() throws {
            let client = try server.client()
            let tokens = try Failure.remote { try client.enrollmentTokens() }
            if json { return try Terminal.printJSON(AdminAPI.EnrollmentTokenList(tokens: tokens)) }
            Terminal.printTable(["ID", "NAME", "USES", "EXPIRES", "STATUS", "ACCEPT", "HARDWARE", "TAGS"], tokens.map {
                [$0.id.rawValue, $0.name, "\($0.uses)/\($0.maxUses.map(String.init) ?? "∞")", $0.expiresAt?.rfc3339 ?? "never",
                 $0.revoked ? "revoked" : "active", $0.autoAccept ? "auto" : "operator", $0.hardware?.rawValue ?? "any", $0.tags.joined(separator: ",")]
            })
        }
    }

    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke an enrollment token; registered devices are not affected.")
        @Argument(help: "Token id (enr_…).") var id: TokenID
        @OptionGroup var server: ServerOptions

        func run() throws {
            let client = try server.client()
            try Failure.remote { try client.revokeEnrollmentToken(id) }
            say("revoked \(id)")
        }
    }
}
