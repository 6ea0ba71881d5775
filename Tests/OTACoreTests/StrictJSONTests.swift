import Foundation
import OTACore
import Testing

/// Refusing unknown fields is one mechanism for every wire type: a key the type does not read is
/// an error whatever its value, null included, and a known optional field may be null.
@Suite("Strict JSON: unknown fields")
struct StrictJSONTests {
    struct Inner: Codable, Equatable { var note: String?; var size: Int }
    struct Outer: Codable, Equatable {
        var reason: String?
        var flag: Bool?
        var extra: JSONValue?
        var items: [Inner]
    }

    func problem(_ json: String) -> String? {
        do {
            _ = try StrictJSON.decodeRejectingUnknownFields(Outer.self, from: Array(json.utf8), what: "request")
            return nil
        } catch { return String(describing: error) }
    }

    @Test("An unknown key with a null value is refused like any unknown key (schemathesis found {\"\": null} accepted)", arguments: [
        (#"{"": null, "items": []}"#, "request: unknown field ''"),
        (#"{"other": null, "items": []}"#, "request: unknown field 'other'"),
        (#"{"items": [{"size": 1}, {"size": 2, "colour": null}]}"#, "request: unknown field 'items[1].colour'"),
        (#"{"items": [], "reason": "x", "zzz": null}"#, "request: unknown field 'zzz'"),
    ])
    func unknownNullIsRefused(_ json: String, _ expected: String) {
        #expect(problem(json) == expected)
    }

    @Test("Known optional fields may be null, whatever their type, nested ones too")
    func knownNullsAreAccepted() {
        #expect(problem(#"{"reason": null, "flag": null, "extra": null, "items": [{"note": null, "size": 3}]}"#) == nil)
        #expect(problem(#"{"items": []}"#) == nil)
    }
}
