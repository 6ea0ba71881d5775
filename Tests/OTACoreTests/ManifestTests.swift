import Foundation
import OTACore
import TestSupport
import Testing

@Suite("Manifests")
struct ManifestTests {
    static let digest = String(repeating: "ab", count: 32)
    static let valid = """
    {"schema": 1, "name": "face-detector", "kind": "model", "version": "1.4.0",
     "compatible": ["rpi4-aarch64", "jetson-orin"], "created": "2026-11-29T02:00:00Z",
     "files": [{"path": "model.onnx", "size": 48213, "sha256": "\(digest)"},
               {"path": "sub/labels.txt", "size": 912, "sha256": "\(digest)"}],
     "health": {"command": "model.onnx", "timeout_s": 30},
     "metadata": {"framework": "onnx", "metrics": {"top1": 0.912}}}
    """

    func problem(_ json: String) -> String? { errorText { _ = try Manifest.decode(Array(json.utf8)) } }

    func replacing(_ old: String, _ new: String) -> String {
        precondition(Self.valid.contains(old))
        return Self.valid.replacing(old, with: new)
    }

    @Test("Decodes every field of the design's example")
    func decodesExample() throws {
        let manifest = try Manifest.decode(Array(Self.valid.utf8))
        #expect(manifest.name == "face-detector")
        #expect(manifest.version == (try SemanticVersion("1.4.0")))
        #expect(manifest.files.map(\.path.value) == ["model.onnx", "sub/labels.txt"])
        #expect(manifest.health?.timeoutSeconds == 30)
        #expect(manifest.totalSize == 48213 + 912)
        #expect(manifest.metadata?.flattened().map(\.key) == ["framework", "metrics.top1"])
    }

    @Test("Round-trips through its canonical encoding")
    func roundTrips() throws {
        let manifest = try Manifest.decode(Array(Self.valid.utf8))
        #expect(try Manifest.decode(try manifest.encoded()) == manifest)
        #expect(try manifest.encoded() == (try Manifest.decode(try manifest.encoded()).encoded()))
    }

    @Test("An unknown schema is refused")
    func unknownSchema() {
        #expect(problem(replacing("\"schema\": 1", "\"schema\": 3")) == "manifest: field 'schema': schema 3 is not supported (this program reads schemas 1 and 2)")
    }

    @Test("A missing field is named", arguments: ["name", "kind", "version", "compatible", "created", "files"])
    func missingField(field: String) throws {
        var object = try #require(try JSONSerialization.jsonObject(with: Data(Self.valid.utf8)) as? [String: Any])
        object[field] = nil
        let json = String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
        #expect(problem(json) == "manifest: missing field '\(field)'")
    }

    @Test("Unknown fields are refused, at the top and inside files")
    func unknownFields() {
        #expect(problem(replacing("\"kind\"", "\"extra\": true, \"kind\"")) == "manifest: unknown field 'extra'")
        #expect(problem(replacing("\"size\": 912", "\"size\": 912, \"mode\": 4095"))?.contains("unknown field 'files[1].mode'") == true)
    }

    @Test("Unsafe file paths are refused", arguments: [
        ("../evil", "'..' component"), ("/etc/passwd", "absolute"), ("a/../../b", "'..' component"), ("", "empty"),
        ("a//b", "empty component"), ("./a", "'.' component"), ("a/", "empty component"), ("a\\u0001b", "control character"),
    ])
    func unsafePaths(path: String, reason: String) {
        let message = problem(replacing("\"path\": \"model.onnx\"", "\"path\": \"\(path)\""))
        #expect(message?.contains(reason) == true, "\(message ?? "accepted")")
    }

    @Test("A path listed twice is refused")
    func duplicatePaths() {
        #expect(problem(replacing("sub/labels.txt", "model.onnx")) == "manifest: files lists 'model.onnx' twice")
    }

    @Test("Malformed values are refused naming the field")
    func malformedValues() {
        #expect(problem("{\"schema\": 1,") == "manifest: malformed JSON")
        #expect(problem(replacing("\"1.4.0\"", "\"1.4\""))?.hasPrefix("manifest: field 'version': '1.4' is not a semantic version") == true)
        #expect(problem(replacing("\"size\": 912", "\"size\": -1")) == "manifest: field 'files[1].size': must be from 0 to 1125899906842624")
        #expect(problem(replacing("\"size\": 912", "\"size\": 9223372036854775807")) == "manifest: field 'files[1].size': must be from 0 to 1125899906842624",
                "a size that would overflow a sum is refused where it is decoded")
        #expect(problem(replacing("\"size\": 912, \"sha256\": \"\(Self.digest)\"", "\"size\": 912, \"sha256\": \"abc\""))?.contains("not a SHA-256 digest") == true)
        #expect(problem(replacing("\"face-detector\"", "\"../x\""))?.contains("must start with a letter or digit") == true)
        #expect(problem(replacing("[\"rpi4-aarch64\", \"jetson-orin\"]", "[]")) == "manifest: compatible lists no hardware class")
        #expect(problem(replacing("\"command\": \"model.onnx\"", "\"command\": \"missing.sh\"")) == "manifest: health.command 'missing.sh' is not one of the bundle's files")
        #expect(problem(replacing("2026-11-29T02:00:00Z", "yesterday"))?.contains("is not an RFC 3339 UTC time") == true)
    }
}
