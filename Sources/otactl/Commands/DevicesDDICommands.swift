import ArgumentParser
import OTAClient
import OTACore

extension DevicesCommand {
    struct AddDDI: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "add-ddi",
            abstract: "Add a device that keeps its own update client (SWUpdate, RAUC) and speaks hawkBit's DDI API.",
            discussion: """
            The device is accepted at once. Its token is printed this once (the server keeps only its hash); configure the client with it, e.g. for SWUpdate:
              swupdate -u '-t default -u http://ota.example:8080 -i gw-0001 -k TOKEN' -H gw-board:1.0
            It deploys like any device: otactl deployments create IMAGE 1.0.0 --tag site-7. Only bundles of kind swupdate or rauc go to DDI devices.
            """
        )
        @Argument(help: "The device id: the client's controller id.") var id: DeviceID
        @Option(help: "Its hardware class: bundles list the classes they are compatible with.") var hardware: HardwareClass
        @Option(help: "A tag (repeat for more).") var tag: [Tag] = []
        @Option(help: "Its group.") var group: GroupName?
        @OptionGroup var server: ServerOptions
        @Flag(help: "Print the result (with the token) as JSON.") var json = false

        func run() throws {
            let client = try server.client()
            let answer = try Failure.remote { try client.addDDIDevice(.init(deviceID: id, hardware: hardware, tags: tag.isEmpty ? nil : tag, group: group)) }
            if json { return try Terminal.printJSON(answer) }
            Terminal.printLines(["added DDI device \(answer.deviceID); its token (shown once):", answer.token])
        }
    }

    struct DDIToken: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "ddi-token",
            abstract: "Give a DDI device a new token; the old one stops working at once.",
            discussion: "To end a device's access instead: otactl devices reject ID (or delete it)."
        )
        @Argument(help: "The DDI device's id.") var id: DeviceID
        @OptionGroup var server: ServerOptions
        @Flag(help: "Print the result (with the token) as JSON.") var json = false

        func run() throws {
            let client = try server.client()
            let answer = try Failure.remote { try client.rotateDDIToken(id) }
            if json { return try Terminal.printJSON(answer) }
            Terminal.printLines(["new token of \(answer.deviceID) (shown once):", answer.token])
        }
    }
}
