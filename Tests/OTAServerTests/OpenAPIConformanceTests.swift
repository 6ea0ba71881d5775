import Foundation
import OTACore
@testable import OTAServer
import Testing
import Yams

/// `openapi.yaml` and the Swift wire types describe the same messages. For every schema a
/// Swift type reads or writes: a document built from the schema with every field decodes in
/// the Swift type; each required field is required there and each optional one optional; a
/// field the schema does not have is refused; and what the Swift type writes back uses only
/// the schema's fields, with every required one. Enums list the same values on both sides.
/// A field or a value that drifts on either side fails here, at build time, not when a fuzz
/// run happens to hit it.
@Suite("openapi.yaml and the Swift wire types agree")
struct OpenAPIConformanceTests {
    nonisolated(unsafe) static let document: [String: Any] = {
        let path = OpenAPIDocumentTests.repositoryRoot.appendingPathComponent(OpenAPIDocumentTests.documentPath).path
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        return ((try? Yams.load(yaml: text)) as? [String: Any]) ?? [:]
    }()

    static var schemas: [String: Any] { ((document["components"] as? [String: Any])?["schemas"] as? [String: Any]) ?? [:] }

    /// Each schema that is a message body, and the Swift type that reads or writes it.
    static let messages: [(schema: String, decode: @Sendable ([UInt8]) throws -> Any, encode: @Sendable (Any) throws -> Data)] = [
        entry("RegisterRequest", DeviceAPI.RegisterRequest.self), entry("RegisterResponse", DeviceAPI.RegisterResponse.self),
        entry("SessionRequest", DeviceAPI.SessionRequest.self), entry("SessionResponse", DeviceAPI.SessionResponse.self),
        entry("BindKeyRequest", DeviceAPI.BindKeyRequest.self), entry("InstalledBundle", DeviceAPI.InstalledBundle.self),
        entry("CheckinRequest", DeviceAPI.CheckinRequest.self), entry("CheckinResponse", DeviceAPI.CheckinResponse.self),
        entry("TrustReport", DeviceAPI.TrustReport.self), entry("TrustMetadata", DeviceAPI.TrustMetadata.self),
        entry("Event", DeviceAPI.Event.self), entry("EventsRequest", DeviceAPI.EventsRequest.self),
        entry("EventsResponse", DeviceAPI.EventsResponse.self), entry("Transfer", DeviceAPI.Transfer.self),
        entry("RangesRequest", DeviceAPI.RangesRequest.self), entry("ModelMetrics", DeviceAPI.ModelMetrics.self),
        entry("MetricsRequest", DeviceAPI.MetricsRequest.self), entry("ShadowPolicy", ShadowPolicy.self),
        entry("MissingContentRequest", AdminAPI.MissingContentRequest.self), entry("MissingContentResponse", AdminAPI.MissingContentResponse.self),
        entry("ContentUploadResponse", AdminAPI.ContentUploadResponse.self), entry("BundleFile", AdminAPI.BundleFile.self),
        entry("Bundle", AdminAPI.Bundle.self), entry("BundleList", AdminAPI.BundleList.self), entry("PublishResponse", AdminAPI.PublishResponse.self),
        entry("Target", AdminAPI.Target.self), entry("Phase", AdminAPI.Phase.self),
        entry("DeploymentCreateRequest", AdminAPI.DeploymentCreateRequest.self), entry("StateCounts", AdminAPI.StateCounts.self),
        entry("PhaseStatus", AdminAPI.PhaseStatus.self), entry("Deployment", AdminAPI.Deployment.self),
        entry("DeploymentList", AdminAPI.DeploymentList.self), entry("VersionCount", AdminAPI.VersionCount.self),
        entry("Device", AdminAPI.Device.self), entry("DevicePage", AdminAPI.DevicePage.self), entry("EventRecord", AdminAPI.EventRecord.self),
        entry("DeviceDetail", AdminAPI.DeviceDetail.self), entry("DeviceUpdateRequest", AdminAPI.DeviceUpdateRequest.self),
        entry("DeviceKeyRequest", AdminAPI.DeviceKeyRequest.self), entry("DeviceImportRequest", AdminAPI.DeviceImportRequest.self),
        entry("EnrollmentTokenCreateRequest", AdminAPI.EnrollmentTokenCreateRequest.self), entry("EnrollmentToken", AdminAPI.EnrollmentToken.self),
        entry("EnrollmentTokenList", AdminAPI.EnrollmentTokenList.self), entry("AuditEntry", AdminAPI.AuditEntry.self),
        entry("AuditPage", AdminAPI.AuditPage.self), entry("FleetSummary", AdminAPI.FleetSummary.self),
        entry("TrustPublishResponse", AdminAPI.TrustPublishResponse.self), entry("TrustSummary", AdminAPI.TrustSummary.self),
        entry("ReleasedBundle", AdminAPI.ReleasedBundle.self), entry("PhaseQuality", AdminAPI.PhaseQuality.self),
        entry("VersionMetrics", AdminAPI.VersionMetrics.self), entry("MetricComparison", AdminAPI.MetricComparison.self),
        entry("GateCheck", AdminAPI.GateCheck.self), entry("Distribution", AdminAPI.Distribution.self),
        entry("DDIDeviceRequest", AdminAPI.DDIDeviceRequest.self), entry("DDIToken", AdminAPI.DDIToken.self),
        entry("DDIBase", DDI.Base.self), entry("DDILink", DDI.Link.self), entry("DDIDeploymentBase", DDI.DeploymentBase.self),
        entry("DDIChunk", DDI.Chunk.self), entry("DDIArtifact", DDI.Artifact.self), entry("DDICancelAction", DDI.CancelAction.self),
        entry("DDIFeedback", DDI.Feedback.self), entry("DDIStatus", DDI.Status.self), entry("DDIConfigData", DDI.ConfigData.self),
        entry("Inventory", DeviceInventory.self), entry("BundleVariant", AdminAPI.BundleVariant.self),
        entry("VariantProgress", AdminAPI.VariantProgress.self),
    ]

    /// The enums of the document and the Swift enums they are.
    static let enums: [(schema: String, values: [String])] = [
        ("DeviceStatus", DeviceAPI.DeviceStatus.allCases.map(\.rawValue)), ("UpdateState", DeviceAPI.UpdateState.allCases.map(\.rawValue)),
        ("DeviceState", DeviceUpdateState.allCases.map(\.rawValue)), ("DeviceProtocol", DeviceProtocol.allCases.map(\.rawValue)),
        ("DDIHandling", DDI.Handling.allCases.map(\.rawValue)), ("DDIExecution", DDI.Execution.allCases.map(\.rawValue)),
        ("DDIFinished", DDI.Finished.allCases.map(\.rawValue)),
        ("DDIMaintenanceWindow", DDI.MaintenanceWindow.allCases.map(\.rawValue)),
        // What a server sends; `unknown` is only what a client makes of a code it does not know.
        ("ErrorCode", APIErrorCode.allCases.filter { $0 != .unknown }.map(\.rawValue)),
    ]

    /// Values a rule across fields needs, which the schema alone cannot say.
    nonisolated(unsafe) static let overrides: [String: [String: Any]] = [
        "DeploymentCreateRequest": ["phases": [["percent": 100]]],
    ]

    static func entry<T: Codable>(_ schema: String, _ type: T.Type) -> (schema: String, decode: @Sendable ([UInt8]) throws -> Any, encode: @Sendable (Any) throws -> Data) {
        (schema, { try StrictJSON.decodeRejectingUnknownFields(T.self, from: $0, what: schema) }, { try StrictJSON.encode($0 as! T) })
    }

    @Test("The document parses and names every schema the Swift types are checked against")
    func everyMappedSchemaExists() {
        #expect(!Self.schemas.isEmpty)
        for (schema, _, _) in Self.messages { #expect(Self.schemas[schema] != nil, "no schema \(schema) in openapi.yaml") }
        for (schema, _) in Self.enums { #expect(Self.schemas[schema] != nil, "no schema \(schema) in openapi.yaml") }
    }

    @Test("Enums list the same values in the document and in Swift", arguments: enums.map(\.schema))
    func enumValues(schema: String) throws {
        let swift = Set(try #require(Self.enums.first { $0.schema == schema }).values)
        let document = Set(try #require((Self.schemas[schema] as? [String: Any])?["enum"] as? [String]))
        #expect(swift == document, "only in Swift: \(swift.subtracting(document)); only in the document: \(document.subtracting(swift))")
    }

    @Test("A message with every field decodes; required fields are required, optional ones optional; unknown ones are refused; what Swift writes back is in the schema",
          arguments: messages.map(\.schema))
    func message(schema: String) throws {
        let (_, decode, encode) = try #require(Self.messages.first { $0.schema == schema })
        let sampler = SchemaSampler(schemas: Self.schemas)
        var object = try #require(sampler.sample(ref: schema) as? [String: Any], "\(schema) is not an object schema")
        for (field, value) in Self.overrides[schema] ?? [:] { object[field] = value }
        let definition = sampler.resolved(Self.schemas[schema])
        func bytes(_ value: Any) throws -> [UInt8] { Array(try JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed, .sortedKeys])) }
        let decoded: Any
        do { decoded = try decode(try bytes(object)) } catch {
            Issue.record("\(schema): a document with every field does not decode: \(error)\n\(String(decoding: try bytes(object), as: UTF8.self))")
            return
        }
        let required = Set((definition["required"] as? [String]) ?? [])
        let properties = (definition["properties"] as? [String: Any]) ?? [:]
        for field in properties.keys.sorted() where object[field] != nil && sampler.oneOfRequired(definition).isEmpty {
            var without = object
            without[field] = nil
            let accepted = (try? decode(try bytes(without))) != nil
            #expect(accepted != required.contains(field), "\(schema).\(field): the document says \(required.contains(field) ? "required" : "optional"), Swift \(accepted ? "accepts" : "refuses") it missing")
        }
        if definition["additionalProperties"] as? Bool == false {
            var extra = object
            extra["x_not_in_the_schema"] = 1
            #expect((try? decode(try bytes(extra))) == nil, "\(schema): a field the schema does not have is accepted")
        }
        let written = try #require(try JSONSerialization.jsonObject(with: try encode(decoded)) as? [String: Any])
        #expect(Set(written.keys).isSubset(of: Set(properties.keys)), "\(schema): Swift writes \(Set(written.keys).subtracting(properties.keys)), which the schema does not have")
        #expect(required.isSubset(of: Set(written.keys)), "\(schema): Swift leaves out required \(required.subtracting(written.keys))")
    }
}

/// A valid instance of a schema of the document, with every property: the first choice of
/// each `anyOf`/`oneOf` that is not null, values that satisfy its patterns, formats and bounds.
struct SchemaSampler {
    let schemas: [String: Any]

    /// Samples of the patterns the document uses.
    static let patterns: [String: String] = [
        "^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$": "a1", "^([A-Za-z0-9][A-Za-z0-9._-]{0,127})?$": "g1", "^[0-9a-f]{64}$": String(repeating: "a", count: 64),
        "^[0-9a-f]{16,64}$": String(repeating: "b", count: 32), "^[0-9a-fA-F]{32}$": String(repeating: "c", count: 32),
        "^dep_[0-9a-f]{10}$": "dep_0123456789", "^enr_[0-9a-f]{10}$": "enr_0123456789", "^[a-z0-9_][a-z0-9._-]{0,63}$": "stable",
        "^[a-z0-9_]{1,64}$": "m1", "^[0-9]+$": "1", "^[1-9][0-9]*$": "1",
        "^[a-z0-9][a-z0-9_.+-]{0,31}$": "neon", "^[0-9]{1,9}(\\.[0-9]{1,9}){0,3}([+-][0-9A-Za-z._-]+)?$": "8.7",
        "^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[Tt]([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$": "2026-11-29T02:00:00Z",
        "^(0|[1-9][0-9]{0,18})\\.(0|[1-9][0-9]{0,18})\\.(0|[1-9][0-9]{0,18})(-(0|[1-9][0-9]{0,18}|[0-9]*[A-Za-z-][0-9A-Za-z-]*)(\\.(0|[1-9][0-9]{0,18}|[0-9]*[A-Za-z-][0-9A-Za-z-]*))*)?(\\+[0-9A-Za-z-]+(\\.[0-9A-Za-z-]+)*)?$": "1.0.0",
        "^(samples|agreement|distance|latency_p50|latency_p95|confidence|errors|metric\\.[a-z0-9_]{1,64})(>=|<=)[0-9]{1,12}(\\.[0-9]{1,17})?([eE][-+]?[0-9]{1,3})?x?$": "errors<=0",
    ]

    func resolved(_ schema: Any?) -> [String: Any] {
        guard var object = schema as? [String: Any] else { return [:] }
        if let ref = object["$ref"] as? String { return resolved(schemas[String(ref.split(separator: "/").last!)]) }
        if let all = object["allOf"] as? [Any] {
            for part in all { object.merge(resolved(part)) { a, _ in a } }
        }
        return object
    }

    /// The required sets of a `oneOf` (an object with exactly one of some fields).
    func oneOfRequired(_ schema: [String: Any]) -> [[String]] {
        ((schema["oneOf"] as? [[String: Any]]) ?? []).compactMap { $0["required"] as? [String] }
    }

    func sample(ref name: String) -> Any? { sample(schemas[name]) }

    func sample(_ raw: Any?) -> Any? {
        let schema = resolved(raw)
        if let examples = schema["examples"] as? [Any], let first = examples.first { return first }
        if let constant = schema["const"] { return constant }
        if let values = schema["enum"] as? [Any] { return values.first }
        for key in ["anyOf", "oneOf"] where schema["properties"] == nil {
            if let choices = schema[key] as? [Any] {
                for choice in choices where (resolved(choice)["type"] as? String) != "null" { return sample(choice) }
            }
        }
        let types = (schema["type"] as? [String]) ?? [(schema["type"] as? String) ?? "object"]
        let type = types.first { $0 != "null" } ?? "null"
        switch type {
        case "string":
            if let pattern = schema["pattern"] as? String { return Self.patterns[pattern] ?? "x" }
            if schema["format"] as? String == "date-time" { return "2026-11-29T02:00:00Z" }
            if schema["contentEncoding"] as? String == "base64" { return Base64.encode(Array(repeating: 1, count: 32)) }
            if schema["$ref"] == nil, let name = (raw as? [String: Any])?["$ref"] as? String, name.hasSuffix("SemanticVersion") { return "1.0.0" }
            return "x"
        case "integer":
            let minimum = (schema["minimum"] as? Int) ?? ((schema["exclusiveMinimum"] as? Int).map { $0 + 1 }) ?? 1
            return max(minimum, 1)
        case "number":
            let maximum = (schema["maximum"] as? Double) ?? 100
            return min(1.0, maximum)
        case "boolean": return true
        case "array":
            let count = max(1, (schema["minItems"] as? Int) ?? 1)
            return Array(repeating: sample(schema["items"]) as Any, count: count)
        case "null": return NSNull()
        default:
            var object: [String: Any] = [:]
            let properties = (schema["properties"] as? [String: Any]) ?? [:]
            let oneOf = oneOfRequired(schema)
            // An object with exactly one of some fields gets the first of them only.
            let skipped = Set(oneOf.dropFirst().flatMap { $0 })
            for (name, property) in properties where !skipped.contains(name) {
                if let value = sample(property) { object[name] = value }
            }
            if properties.isEmpty, let extra = schema["additionalProperties"], !(extra is Bool) { object["k1"] = sample(extra) }
            return object
        }
    }
}
