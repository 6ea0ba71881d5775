import OTACore

extension TrustRepository {
    /// A check-in answer bound to the device and its nonce and signed with the check-in key,
    /// with the metadata the device lacks; nil with a legacy root (the plain answer is sent).
    /// This is the hot path: `plain` is the fleet's answer object, and the envelope is written
    /// as bytes around it (the same JSON `DeviceAPI.SignedCheckinResponse` decodes).
    func signedAnswer(_ plain: [UInt8], deviceID: String, nonce: String, report: DeviceAPI.TrustReport?) throws -> [UInt8]? {
        guard let signers = published.withLock({ $0?.answerSigners }), plain.first == UInt8(ascii: "{"), plain.count > 2 else { return nil }
        var payload = Array("{\"device_id\":".utf8)
        payload.reserveCapacity(plain.count + 160)
        JSONText.appendString(deviceID, to: &payload)
        payload += Array(",\"issued\":\(Timestamp.epochSeconds()),\"nonce\":".utf8)
        JSONText.appendString(nonce, to: &payload)
        payload.append(UInt8(ascii: ","))
        payload += plain.dropFirst()
        let message = Envelope.pae(payloadType: DeviceAPI.answerPayloadType, payload: payload)
        var body = Array("{\"answer\":{\"payload\":\"\(Base64.encode(payload))\",\"payloadType\":\"\(DeviceAPI.answerPayloadType)\",\"signatures\":[".utf8)
        for (index, signer) in signers.enumerated() {
            if index > 0 { body.append(UInt8(ascii: ",")) }
            body += Array("{\"keyid\":\"\(signer.keyid)\",\"sig\":\"\(Base64.encode(try signer.key.sign(message)))\"}".utf8)
        }
        body += Array("]}".utf8)
        if let metadata = metadata(for: report) { body += Array(",\"metadata\":".utf8) + Array(try StrictJSON.encode(metadata)) }
        body.append(UInt8(ascii: "}"))
        return body
    }
}

/// JSON text written by hand on hot paths.
enum JSONText {
    /// Appends `text` as a JSON string, escaping what JSON requires.
    static func appendString(_ text: String, to bytes: inout [UInt8]) {
        bytes.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"): bytes += [UInt8(ascii: "\\"), byte]
            case 0..<0x20: bytes += Array(String(format: "\\u%04x", Int(byte)).utf8)
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}

extension TrustRepository {
    /// Why devices would refuse to install `bundle`: with a TUF root, it must be released on
    /// some channel first (devices check their own channel). Nil with a legacy root.
    func releaseProblem(_ bundle: AdminAPI.Bundle) -> String? {
        guard let state = current else { return nil }
        let suffix = "/\(bundle.name)/\(bundle.version)"
        let released = state.targets?.signed.targets.contains { path, file in path.hasSuffix(suffix) && file.hashes["sha256"] == bundle.digest } ?? false
        guard !released else { return nil }
        return "\(bundle.name) \(bundle.version) is not released on any channel, so devices would refuse it: release it first (otactl release add \(bundle.name) \(bundle.version) --channel stable --key RELEASE_KEY)"
    }
}
