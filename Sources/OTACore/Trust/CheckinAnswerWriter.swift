/// Writes check-in answers as bytes: the one place their JSON is assembled, on the server's
/// hottest path (no `Codable` pass over tens of assignments per check-in). What it writes is
/// exactly what `CheckinAnswer` reads back; a round-trip test holds the two together.
///
/// The plain answer is `{"assignments":[…],"content_hosts":[…],"poll_interval_s":N}`, from
/// assignments encoded once per deployment. The signed answer wraps the same fields, with the
/// device, the time and the device's nonce, in a DSSE envelope signed by the check-in keys:
/// `{"answer":{"payload":…,"payloadType":…,"signatures":[…]},"metadata":…}`.
public struct CheckinAnswerWriter: Sendable {
    /// A plain answer: a JSON object, as `CheckinAnswerWriter.plain` made it.
    public struct Plain: Sendable, Equatable {
        public let bytes: [UInt8]
        fileprivate init(bytes: [UInt8]) { self.bytes = bytes }
    }

    /// A key that signs answers, and the key id devices know it by.
    public struct Signer: Sendable {
        public let keyid: String
        public let key: Ed25519PrivateKey
        public init(keyid: String, key: Ed25519PrivateKey) {
            self.keyid = keyid
            self.key = key
        }
    }

    private static let prefix = Array("{\"assignments\":[".utf8)
    private let suffix: [UInt8]
    /// The answer with no assignment, written once.
    public let empty: Plain

    public init(pollIntervalSeconds: Int, contentHosts: [String]) throws {
        let hosts = contentHosts.isEmpty ? "" : ",\"content_hosts\":" + String(decoding: try StrictJSON.encode(contentHosts), as: UTF8.self)
        suffix = Array("]\(hosts),\"poll_interval_s\":\(pollIntervalSeconds)}".utf8)
        empty = Plain(bytes: Self.prefix + suffix)
    }

    /// One assignment's JSON, encoded once and reused for every device it goes to.
    public static func encode(_ assignment: DeviceAPI.Assignment) throws -> [UInt8] { Array(try StrictJSON.encode(assignment)) }

    /// The plain answer carrying `assignments` (each from `encode`).
    public func plain(_ assignments: [[UInt8]]) -> Plain {
        guard !assignments.isEmpty else { return empty }
        var body = Self.prefix
        body.reserveCapacity(assignments.reduce(0) { $0 + $1.count + 1 } + suffix.count + body.count)
        for (index, assignment) in assignments.enumerated() {
            if index > 0 { body.append(UInt8(ascii: ",")) }
            body += assignment
        }
        return Plain(bytes: body + suffix)
    }

    /// The plain answer's fields bound to `deviceID`, the time and the device's `nonce`, signed
    /// by `signers`, with `metadata` (the TUF metadata the device lacks, as JSON) beside it.
    public static func signed(_ plain: Plain, deviceID: DeviceID, nonce: String, issued: Timestamp, signers: [Signer],
                              metadata: [UInt8]?) throws -> [UInt8] {
        var payload = Array("{\"device_id\":".utf8)
        payload.reserveCapacity(plain.bytes.count + 160)
        appendString(deviceID.rawValue, to: &payload)
        payload += Array(",\"issued\":\(issued.secondsSinceEpoch),\"nonce\":".utf8)
        appendString(nonce, to: &payload)
        payload.append(UInt8(ascii: ","))
        // The plain answer's members, after its opening brace: one object with the binding.
        payload += plain.bytes.dropFirst()
        let message = Envelope.pae(payloadType: DeviceAPI.answerPayloadType, payload: payload)
        var body = Array("{\"answer\":{\"payload\":\"\(Base64.encode(payload))\",\"payloadType\":\"\(DeviceAPI.answerPayloadType)\",\"signatures\":[".utf8)
        for (index, signer) in signers.enumerated() {
            if index > 0 { body.append(UInt8(ascii: ",")) }
            body += Array("{\"keyid\":".utf8)
            appendString(signer.keyid, to: &body)
            body += Array(",\"sig\":\"\(Base64.encode(try signer.key.sign(message)))\"}".utf8)
        }
        body += Array("]}".utf8)
        if let metadata { body += Array(",\"metadata\":".utf8) + metadata }
        body.append(UInt8(ascii: "}"))
        return body
    }

    /// Appends `text` as a JSON string, escaping what JSON requires.
    public static func appendString(_ text: String, to bytes: inout [UInt8]) {
        bytes.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"): bytes += [UInt8(ascii: "\\"), byte]
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                bytes += Array("\\u00".utf8) + [hex[Int(byte >> 4)], hex[Int(byte & 0xf)]]
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}
