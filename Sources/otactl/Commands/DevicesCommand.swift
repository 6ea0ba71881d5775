import ArgumentParser
import Foundation
import OTAClient
import OTACore

struct DevicesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "devices",
        abstract: "Query the fleet.",
        subcommands: [List.self, Show.self]
    )

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List devices, with filters.",
            discussion: "Pages of --limit devices; --all follows the pages to the end. Example: otactl devices list --bundle digits --version 1.0.0"
        )
        @Option(help: "Hardware class.") var hardware: String?
        @Option(help: "Devices with this tag.") var tag: String?
        @Option(help: "Devices in this group.") var group: String?
        @Option(help: "Devices running a bundle of this name.") var bundle: String?
        @Option(help: "... at this version.") var version: String?
        @Option(help: "Last reported update state (idle, downloading, succeeded, failed, rolled-back, ...).") var state: String?
        @Option(help: ArgumentHelp("Last seen before this RFC 3339 time.", valueName: "time")) var seenBefore: String?
        @Option(help: ArgumentHelp("Last seen at or after this RFC 3339 time.", valueName: "time")) var seenAfter: String?
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
            query.seenBefore = seenBefore
            query.seenAfter = seenAfter
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
            Terminal.printTable(["DEVICE", "HARDWARE", "STATE", "RUNNING", "LAST SEEN", "TAGS"], devices.map { device in
                [device.id, device.hardware, device.state,
                 device.installed.isEmpty ? "-" : device.installed.map { "\($0.name) \($0.version)\($0.state == "trial" ? " (trial)" : "")" }.joined(separator: ", "),
                 device.lastSeen ?? "never", device.tags.joined(separator: ",")]
            })
            if let next { print("\nmore: --cursor \(next)") }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a device and its update history.")
        @Argument(help: "Device id.") var id: String
        @OptionGroup var server: ServerOptions
        @Flag(help: "Print the result as JSON.") var json = false

        func run() throws {
            let client = try server.client()
            let detail = try Failure.remote { try client.device(id) }
            if json { return try Terminal.printJSON(detail) }
            let device = detail.device
            print("device:     \(device.id)")
            print("hardware:   \(device.hardware)")
            print("state:      \(device.state)")
            print("tags:       \(device.tags.joined(separator: ", "))")
            if let group = device.group { print("group:      \(group)") }
            print("registered: \(device.registeredAt)")
            print("last seen:  \(device.lastSeen ?? "never")")
            for (key, value) in device.attributes.sorted(by: { $0.key < $1.key }) { print("attribute:  \(key)=\(value)") }
            for bundle in device.installed { print("running:    \(bundle.name) \(bundle.version) (\(bundle.state), \(bundle.digest.prefix(12)))") }
            print("")
            Terminal.printTable(["TIME", "BUNDLE", "VERSION", "STATE", "DETAIL"], detail.events.map {
                [$0.at, $0.bundleName, $0.version, $0.state, String($0.detail.prefix(100))]
            })
        }
    }
}
