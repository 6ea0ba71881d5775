import OTACore

extension TrustRepository {
    /// A check-in answer bound to the device and its nonce and signed with the check-in key,
    /// with the metadata the device lacks; nil with a legacy root (the plain answer is sent).
    /// `plain` is the fleet's answer object; its fields are spliced after the binding, so the
    /// hot path builds no intermediate values.
    func signedAnswer(_ plain: [UInt8], deviceID: String, nonce: String, report: DeviceAPI.TrustReport?) throws -> [UInt8]? {
        guard !isLegacy, plain.first == UInt8(ascii: "{"), plain.count > 2 else { return nil }
        let binding = Array(try StrictJSON.encode(DeviceAPI.AnswerBinding(deviceID: deviceID, nonce: nonce, issued: Timestamp.epochSeconds())))
        let payload = binding.dropLast() + [UInt8(ascii: ",")] + plain.dropFirst()
        guard let envelope = try signAnswer(Array(payload)) else { return nil }
        return Array(try StrictJSON.encode(DeviceAPI.SignedCheckinResponse(answer: envelope, metadata: metadata(for: report))))
    }
}
