import ArgumentParser
import Foundation
import OTAClient
import OTACore

struct DevicesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "devices",
        abstract: "Query the fleet; accept, reject, pre-authorise and re-key devices.",
        discussion: """
        Devices registering with a token that is not auto-accept wait as pending until accepted:
          otactl devices list --status pending
          otactl devices accept cam-0042
        Devices from a factory list are pre-authorised with their public keys and accepted on first contact, without any enrollment token:
          otactl devices import factory.csv
              (columns: device_id,public_key,hardware[,tags[,group]])
        Devices that keep SWUpdate or RAUC speak hawkBit's DDI API with a token:
          otactl devices add-ddi gw-0001 --hardware gw-board
        """,
        subcommands: [List.self, Show.self, Accept.self, Reject.self, Import.self, Rekey.self, AddDDI.self, DDIToken.self]
    )

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List devices, with filters.",
            discussion: "Pages of --limit devices; --all follows the pages to the end. Example: otactl devices list --bundle digits --version 1.0.0"
        )
        @Option(help: "Hardware class.") var hardware: HardwareClass?
        @Option(help: "Devices with this tag.") var tag: Tag?
        @Option(help: "Devices in this group.") var group: GroupName?
        @Option(help: "Devices running a bundle of this name.") var bundle: BundleName?
        @Option(help: "... at this version.") var version: SemanticVersion?
        @Option(help: "Last reported update state: \(DeviceUpdateState.allCases.map(\.rawValue).joined(separator: ", ")).") var state: DeviceUpdateState?
        @Option(help: "pending, accepted or rejected.") var status: DeviceAPI.DeviceStatus?
        @Option(help: ArgumentHelp("Last seen before this RFC 3339 time.", valueName: "time")) var seenBefore: Timestamp?
        @Option(help: ArgumentHelp("Last seen at or after this RFC 3339 time.", valueName: "time")) var seenAfter: Timestamp?
        @Flag(help: "Only devices whose trust is stale: a trust problem, or expired release metadata.") var staleTrust = false
        @Option(help: "Devices per page (1-1000).") var limit = 100
        @Option(help: "Continue after this cursor (printed after a page).") var cursor: String?
        @Flag(help: "Fetch every page.") var all = false
        @OptionGroup var server: ServerOptions
        @Flag(help: "Print the result as JSON.") var json = false

        func run() throws {
            let client = try server.client()
            var query = AdminClient.DeviceQuery()
            query.hardware = hardware
            query.tag = tag
            query.group = group
            query.bundle = bundle
            query.version = version
            query.state = state
            query.status = status
            query.seenBefore = seenBefore
            query.seenAfter = seenAfter
            query.staleTrust = staleTrust
            query.limit = limit
            query.cursor = cursor
            var devices: [AdminAPI.Device] = []
            var next: String?
            repeat {
                let page = try Failure.remote { try client.devices(query) }
                devices += page.devices
                next = page.nextCursor
                query.cursor = next
            } while all && next != nil
            if json { return try Terminal.printJSON(AdminAPI.DevicePage(devices: devices, nextCursor: next)) }
            Terminal.printTable(["DEVICE", "STATUS", "PROTOCOL", "HARDWARE", "STATE", "RUNNING", "LAST SEEN", "TAGS"], devices.map { device in
                [device.id.rawValue, device.status.rawValue, device.protocol.rawValue, device.hardware.rawValue, device.state.rawValue,
                 device.installed.isEmpty ? "-" : device.installed.map { "\($0.name) \($0.version)\($0.variant.map { " [\($0)]" } ?? "")\($0.state == .trial ? " (trial)" : "")" }.joined(separator: ", "),
                 device.lastSeen?.rfc3339 ?? "never", device.tags.joined(separator: ",")]
            })
            if let next { Terminal.printLines(["", "more: --cursor \(next)"]) }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a device and its update history.")
        @Argument(help: "Device id.") var id: DeviceID
        @OptionGroup var server: ServerOptions
        @Flag(help: "Print the result as JSON.") var json = false

        func run() throws {
            let client = try server.client()
            let detail = try Failure.remote { try client.device(id) }
            if json { return try Terminal.printJSON(detail) }
            let device = detail.device
            say("device:     \(device.id)")
            say("status:     \(device.status.rawValue)")
            say("protocol:   \(device.protocol == .ddi ? "ddi (its own client on hawkBit's DDI API)" : "agent")")
            if device.protocol == .agent { say("key:        \(device.keyID.map { String($0.prefix(16)) } ?? "none (bearer token from before device keys)")") }
            say("hardware:   \(device.hardware)")
            say("state:      \(device.state)")
            say("tags:       \(device.tags.joined(separator: ", "))")
            if let group = device.group { say("group:      \(group)") }
            say("registered: \(device.registeredAt)")
            say("last seen:  \(device.lastSeen?.rfc3339 ?? "never")")
            if let trust = device.trust {
                let release = trust.targetsVersion.map { "release metadata \($0), expires \(trust.targetsExpires?.rfc3339 ?? "?")" } ?? "no release metadata"
                say("trust:      \(trust.rootVersion == 0 ? "legacy trust root" : "root \(trust.rootVersion), \(release)"), channel \(trust.channel)\(device.trustStale ? " (STALE)" : "")")
                if let problem = trust.problem { say("problem:    \(problem)") }
            }
            for (key, value) in device.attributes.sorted(by: { $0.key < $1.key }) { say("attribute:  \(key)=\(value)") }
            if let inventory = device.inventory {
                for line in DeviceView.inventoryLines(inventory) { say(line) }
            } else if device.protocol == .agent {
                say("inventory:  none reported yet")
            }
            for bundle in device.installed {
                say("running:    \(bundle.name) \(bundle.version)\(bundle.variant.map { ", variant \($0)" } ?? "") (\(bundle.state), \(bundle.digest.short))")
            }
            say("")
            Terminal.printTable(["TIME", "BUNDLE", "VERSION", "STATE", "DETAIL"], detail.events.map {
                [$0.at.rfc3339, $0.bundleName.rawValue, $0.version.description, $0.state.rawValue, String($0.detail.prefix(100))]
            })
        }
    }

    struct Accept: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Accept a pending (or rejected) device: it gets sessions, assignments and content.")
        @Argument(help: "Device id.") var id: DeviceID
        @OptionGroup var server: ServerOptions
        @Flag(help: "Print the result as JSON.") var json = false

        func run() throws { try setStatus(id, .accept, server: server, json: json) }
    }

    struct Reject: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Reject a device: it is refused sessions from now on.")
        @Argument(help: "Device id.") var id: DeviceID
        @OptionGroup var server: ServerOptions
        @Flag(help: "Print the result as JSON.") var json = false

        func run() throws { try setStatus(id, .reject, server: server, json: json) }
    }

    static func setStatus(_ id: DeviceID, _ action: AdminAPI.DeviceDecision, server: ServerOptions, json: Bool) throws {
        let client = try server.client()
        let device = try Failure.remote { try client.setDeviceStatus(id, action) }
        if json { return try Terminal.printJSON(device) }
        say("\(device.id) is \(device.status.rawValue)")
    }

    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Pre-authorise devices with their public keys (a factory list).",
            discussion: """
            FILE is CSV (a header line `device_id,public_key,hardware,tags,group,protocol`; the last three columns may be left out; tags separated by ';'; public_key the base64 of the raw 32-byte Ed25519 key) or JSON ({"devices": [{"device_id", "public_key", "hardware", "tags", "group", "protocol"}]}). All are imported or none.

            A device that keeps its own update client (SWUpdate, RAUC) on hawkBit's DDI API has protocol `ddi` and no public key, e.g. the CSV line `gw-0001,,gw-board,site-7,,ddi`. It is accepted at once, and its token is printed this once (with --json, in `ddi_tokens`); the server keeps only its hash.
            """
        )
        @Argument(help: ArgumentHelp("The device list (.csv or .json).", valueName: "file")) var file: String
        @OptionGroup var server: ServerOptions
        @Flag(help: "Print the result as JSON.") var json = false

        func run() throws {
            let text = try Failure.wrap("cannot read \(file)") { try FileSystem.readText(file, limit: 64 << 20) }
            let devices = try DeviceList.parse(text, name: file)
            let client = try server.client()
            let answer = try Failure.remote { try client.importDevices(devices) }
            if json { return try Terminal.printJSON(answer) }
            let tokens = answer.ddiTokens ?? []
            let agents = answer.imported - tokens.count
            say("pre-authorised \(agents) device\(agents == 1 ? "" : "s")" + (tokens.isEmpty ? "" : "; added \(tokens.count) DDI device\(tokens.count == 1 ? "" : "s")"))
            guard !tokens.isEmpty else { return }
            say("their tokens (shown once; each goes in its client's configuration):")
            Terminal.printLines(tokens.map { "\($0.deviceID) \($0.token)" })
        }
    }

    struct Rekey: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Move a device to a new key (re-provisioning); its history stays, its old key stops working.")
        @Argument(help: "Device id.") var id: DeviceID
        @Option(help: ArgumentHelp("The new public key: a PEM file, or the base64 of the raw 32 bytes.", valueName: "file|base64"))
        var publicKey: String
        @OptionGroup var server: ServerOptions
        @Flag(help: "Print the result as JSON.") var json = false

        func run() throws {
            let key = FileSystem.exists(publicKey)
                ? Base64.encode(try Failure.wrap("cannot read \(publicKey)") { try KeyFiles.loadPublicKey(publicKey) }.raw) : publicKey
            let client = try server.client()
            let device = try Failure.remote { try client.setDeviceKey(id, publicKey: key) }
            if json { return try Terminal.printJSON(device) }
            say("\(device.id) now uses key \(device.keyID.map { String($0.prefix(16)) } ?? "?")")
        }
    }
}

/// A factory list of devices, as CSV or JSON.
enum DeviceList {
    static func parse(_ text: String, name: String) throws -> [AdminAPI.PreauthorizedDevice] {
        let trimmed = text.trimmed
        if trimmed.hasPrefix("{") {
            do { return try StrictJSON.decodeRejectingUnknownFields(AdminAPI.DeviceImportRequest.self, from: Array(trimmed.utf8), what: name).devices } catch {
                throw Failure("\(name): \(error)")
            }
        }
        var lines = trimmed.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        let columns = ["device_id", "public_key", "hardware", "tags", "group", "protocol"]
        guard let header = lines.first?.split(separator: ",", omittingEmptySubsequences: false).map({ $0.trimmingCharacters(in: .whitespaces) }),
              header.count >= 3, Array(columns.prefix(header.count)) == header else {
            throw Failure("\(name): the first line must be the header device_id,public_key,hardware[,tags[,group[,protocol]]]")
        }
        lines.removeFirst()
        return try lines.enumerated().map { index, line in
            let fields = line.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard (3...header.count).contains(fields.count) else {
                throw Failure("\(name): line \(index + 2) has \(fields.count) fields; the header names \(header.count)")
            }
            func field(_ column: Int) -> String? { fields.count > column && !fields[column].isEmpty ? fields[column] : nil }
            do {
                let id = try DeviceID(fields[0]), hardware = try HardwareClass(fields[2])
                let tags = try field(3).map { try $0.split(separator: ";").map { try Tag(String($0)) } }
                let group = try field(4).map { try GroupName($0) }
                switch field(5) {
                case nil, "agent":
                    guard let key = field(1) else { throw Failure("an agent device needs its public_key (a DDI device has protocol ddi)") }
                    return AdminAPI.PreauthorizedDevice(deviceID: id, publicKey: key, hardware: hardware, tags: tags, group: group)
                case "ddi":
                    guard field(1) == nil else { throw Failure("a DDI device has no public_key: it gets a token") }
                    return AdminAPI.PreauthorizedDevice(ddi: id, hardware: hardware, tags: tags, group: group)
                case let other?:
                    throw Failure("protocol must be agent or ddi, not '\(other)'")
                }
            } catch {
                throw Failure("\(name): line \(index + 2): \(error)")
            }
        }
    }
}
