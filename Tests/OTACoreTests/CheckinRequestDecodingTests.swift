import OTACore
import Testing

/// A check-in's list of what the device runs is read on every poll: each bad field is refused
/// by name, as a value problem (a 400 naming it), and a good list reads back whole.
@Suite("Check-in requests")
struct CheckinRequestDecodingTests {
    static let digest = String(repeating: "ab", count: 32)

    static func body(name: String = "model", version: String = "1.2.3-rc.1+build.7", digest: String = digest,
                     state: String = "committed", variant: String? = "int8") -> String {
        let variant = variant.map { #","variant":"\#($0)""# } ?? ""
        return #"{"installed":[{"name":"\#(name)","version":"\#(version)","digest":"\#(digest)","state":"\#(state)"\#(variant)}]}"#
    }

    @Test("A good list reads back with every field, with or without a build")
    func goodList() throws {
        let request = try StrictJSON.decode(DeviceAPI.CheckinRequest.self, from: Array(Self.body().utf8), what: "check-in")
        #expect(request.installed == [DeviceAPI.InstalledBundle(name: "model", version: "1.2.3-rc.1+build.7",
                                                                digest: SHA256Digest(hex: Self.digest)!, state: .committed, variant: "int8")])
        let plain = try StrictJSON.decode(DeviceAPI.CheckinRequest.self, from: Array(Self.body(version: "10.0.3", variant: nil).utf8), what: "c")
        #expect(plain.installed.first?.version == "10.0.3" && plain.installed.first?.variant == nil)
    }

    @Test("A bad field of an installed bundle is refused, naming it", arguments: [
        (body(name: "../etc"), "installed[0].name"),
        (body(version: "1.02.3"), "installed[0].version"),
        (body(version: "1.2"), "installed[0].version"),
        (body(version: "99999999999999999999.0.0"), "installed[0].version"),
        (body(digest: "ABCD"), "installed[0].digest"),
        (body(state: "sleeping"), "installed[0].state"),
        (body(variant: "Int8/../x"), "installed[0].variant"),
    ])
    func badField(body: String, field: String) {
        do {
            _ = try StrictJSON.decode(DeviceAPI.CheckinRequest.self, from: Array(body.utf8), what: "check-in")
            Issue.record("accepted \(body)")
        } catch let error as JSONInputError {
            #expect(error.description.contains("'\(field)'"), "\(error.description)")
            #expect(error.isValueProblem || field.hasSuffix(".state"), "\(error.description)")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }
}
