/// What a device signs with its Ed25519 key, and how the server checks it. A device proves
/// it holds its key when it registers (or binds a key) and when it opens a session; every
/// other request is signed with the session's key (see `RequestSignature`).
///
/// Each signed text names its purpose and the device, so a signature made for one purpose or
/// one device is worth nothing for another, and carries the time it was made, so that a
/// captured one is worth nothing outside `DeviceProof.window`.
public enum DeviceProof {
    /// How far a signed time may be from the server's clock, either way.
    public static let window: Int64 = 300

    public enum Purpose: String, Sendable {
        case register = "ota-register-v1"
        case bindKey = "ota-bind-key-v1"
        case session = "ota-session-v1"
    }

    /// The exact bytes signed: the purpose, the device id, the public key (base64), the time
    /// and a nonce, one per line.
    public static func message(_ purpose: Purpose, deviceID: DeviceID, publicKey: Ed25519PublicKey, created: Int64, nonce: String) -> [UInt8] {
        Array("\(purpose.rawValue)\n\(deviceID)\n\(Base64.encode(publicKey.raw))\n\(created)\n\(nonce)".utf8)
    }

    public static func sign(_ purpose: Purpose, deviceID: DeviceID, key: Ed25519PrivateKey, created: Int64 = Timestamp.epochSeconds(),
                            nonce: String = Hex.encode(SecureRandom.bytes(16))) throws -> DeviceAPI.Proof {
        let signature = try key.sign(message(purpose, deviceID: deviceID, publicKey: key.publicKey, created: created, nonce: nonce))
        return DeviceAPI.Proof(created: created, nonce: nonce, signature: Base64.encode(signature))
    }

    public enum Problem: Error, CustomStringConvertible, Equatable, Sendable {
        case malformed(String)
        case stale(Int64)
        case badSignature

        public var description: String {
            switch self {
            case .malformed(let what): return "the proof is malformed: \(what)"
            case .stale(let skew): return "the proof was made \(skew) s away from the server's time (more than \(DeviceProof.window) s): check the device's clock"
            case .badSignature: return "the proof's signature does not verify with the device's key"
            }
        }
    }

    /// Whether a signed time is within `window` of `now`, without arithmetic a hostile value
    /// could overflow.
    public static func isWithinWindow(_ created: Int64, of now: Int64, window: Int64 = DeviceProof.window) -> Bool {
        created >= now - window && created <= now + window
    }

    /// Checks a proof against the key; the caller checks the nonce was not seen before.
    public static func check(_ proof: DeviceAPI.Proof, _ purpose: Purpose, deviceID: DeviceID, publicKey: Ed25519PublicKey,
                             now: Int64 = Timestamp.epochSeconds()) throws(Problem) {
        guard proof.nonce.utf8.count >= 16, proof.nonce.utf8.count <= 64,
              proof.nonce.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }) else {
            throw .malformed("nonce must be 16 to 64 lower-case hex digits")
        }
        guard Self.isWithinWindow(proof.created, of: now) else {
            throw .stale(proof.created.subtractingReportingOverflow(now).partialValue)
        }
        guard let signature = Base64.decode(proof.signature, limit: 64), signature.count == 64 else { throw .malformed("signature must be 64 bytes of base64") }
        guard publicKey.isValidSignature(signature, for: message(purpose, deviceID: deviceID, publicKey: publicKey,
                                                                  created: proof.created, nonce: proof.nonce)) else {
            throw .badSignature
        }
    }
}
