import OTACore
import Synchronization

/// Device sessions. A device opens one with a signed `DeviceProof`; the session's id names
/// the device, its session epoch (renewed whenever its key or standing changes) and the
/// expiry, and its HMAC key is derived from the id with the server's secret. Nothing is
/// stored per session: any instance holding the secret checks any session, and a session
/// from before a re-key, a reject or a re-registration no longer matches the device.
struct DeviceSessions: Sendable {
    static let lifetimeSeconds: Int64 = 3600
    private let secret: [UInt8]
    /// A key no device holds: a session request for an unknown device is checked against it,
    /// so that it costs the same work as one for a known device with a bad proof.
    let decoyKey: Ed25519PublicKey

    struct Claim: Sendable, Equatable {
        let deviceID: DeviceID
        /// The device's session epoch when the session was opened.
        let epoch: String
        let expires: Int64
    }

    init(secret: [UInt8]) throws {
        self.secret = secret
        decoyKey = try Ed25519PrivateKey.generate().publicKey
    }

    /// The server's session secret, made once and kept in the database.
    static func loadSecret(_ db: any SQLDatabase) async throws -> [UInt8] {
        try await db.write { db in
            if let stored = try await db.value(String.self, "SELECT value FROM server_secrets WHERE name = 'device_sessions'"),
               let bytes = Hex.decode(stored), bytes.count == 32 {
                return bytes
            }
            let fresh = SecureRandom.bytes(32)
            try await db.execute("""
                INSERT INTO server_secrets (name, value) VALUES ('device_sessions', \(Hex.encode(fresh))) ON CONFLICT (name) DO UPDATE SET value = excluded.value
                """)
            return fresh
        }
    }

    func open(deviceID: DeviceID, epoch: String, now: Timestamp) -> DeviceAPI.SessionResponse {
        let id = "s1:\(deviceID):\(epoch):\(now.secondsSinceEpoch + Self.lifetimeSeconds):\(Hex.encode(SecureRandom.bytes(8)))"
        return DeviceAPI.SessionResponse(sessionID: id, sessionKey: Base64.encode(self.key(for: id)), expiresInSeconds: Int(Self.lifetimeSeconds))
    }

    func key(for sessionID: String) -> [UInt8] { HMACSHA256.mac(key: secret, message: Array(sessionID.utf8)) }

    /// What a session id claims, if well-formed and unexpired; its key is checked by the caller.
    func claim(_ sessionID: String, now: Timestamp) -> Claim? {
        let parts = sessionID.split(separator: ":", omittingEmptySubsequences: false)
        let seconds = now.secondsSinceEpoch
        guard parts.count == 5, parts[0] == "s1", parts[2].utf8.count == 32, let expires = Int64(parts[3]), expires > seconds,
              expires <= seconds + Self.lifetimeSeconds, let deviceID = DeviceID(rawValue: String(parts[1])) else { return nil }
        return Claim(deviceID: deviceID, epoch: String(parts[2]), expires: expires)
    }

    static func newEpoch() -> String { Hex.encode(SecureRandom.bytes(16)) }

    /// True the first time a proof's nonce is seen within the proof window, in the database:
    /// a captured proof is refused after a restart and on every instance.
    static func firstUse(of proof: DeviceAPI.Proof, deviceID: DeviceID, db: any SQLDatabase, now: Timestamp) async throws -> Bool {
        let now = now.secondsSinceEpoch
        return try await db.write { db in
            let first = try await db.execute("INSERT INTO proof_nonces (nonce_key, created) VALUES (\("\(deviceID)/\(proof.nonce)"), \(now)) ON CONFLICT DO NOTHING") > 0
            // Older than any proof that could still be valid: forgotten, a few at a time.
            try await db.execute("DELETE FROM proof_nonces WHERE nonce_key IN (SELECT nonce_key FROM proof_nonces WHERE created < \(now - 2 * DeviceProof.window) LIMIT 20)")
            return first
        }
    }
}
