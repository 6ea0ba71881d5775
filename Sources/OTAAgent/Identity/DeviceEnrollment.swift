import OTAClient
import OTACore

/// This device's identity: the Ed25519 key it made (or was provisioned with), and its
/// registration with the server. The key never leaves the device; the server learns only
/// its public half and proofs made with it.
struct DeviceEnrollment {
    let context: AgentContext
    var config: AgentConfig { context.config }
    var layout: StateLayout { context.layout }

    /// The device key: `device_key` from the config (a provisioned or TPM-backed file), else
    /// STATE/device.key, made on first start (0600).
    func key() throws -> Ed25519PrivateKey {
        let path = config.deviceKey ?? layout.deviceKey
        if FileSystem.exists(path) {
            if let mode = FileSystem.mode(of: path), mode.permissions & 0o077 != 0 {
                throw AgentConfig.Invalid(description: "the device key \(path) can be read by other users (mode \(String(mode.permissions, radix: 8))): chmod 600 it")
            }
            return try KeyFiles.loadPrivateKey(path)
        }
        guard config.deviceKey == nil else { throw AgentConfig.Invalid(description: "device_key \(path) does not exist") }
        let key = try Ed25519PrivateKey.generate()
        try KeyFiles.writePrivateKey(key, to: path)
        context.log.info("made this device's key \(path) (key id \(key.publicKey.keyID.prefix(16)))")
        return key
    }

    /// A transport that authenticates with the device key, registering the device first (or
    /// binding the key of a device registered with a bearer token).
    func connect(_ connector: any DeviceConnector) throws -> any DeviceTransport {
        let key = try key()
        let transport = try connector.connect(.key(deviceID: config.deviceID, key: key))
        var credentials = try StateFile.read(Credentials.self, from: layout.credentials)
        if credentials?.deviceID != config.deviceID { credentials = nil }
        if let token = credentials?.deviceToken {
            // Registered before device keys: bind the key with the bearer token, once.
            try connector.connect(.bearer(token)).bindKey(deviceID: config.deviceID, key: key)
            try save(Credentials(deviceID: config.deviceID, usedEnrollmentToken: credentials?.usedEnrollmentToken))
            context.log.info("bound this device's key \(key.publicKey.keyID.prefix(16)) to \(config.deviceID); its bearer token is retired")
        } else if credentials?.registered != true {
            try register(transport, key: key, previous: credentials)
        }
        return transport
    }

    /// Registers with the config's enrollment token, unless it is the one already used
    /// (a deleted device does not come back by itself), or as a pre-authorised device.
    private func register(_ transport: any DeviceTransport, key: Ed25519PrivateKey, previous: Credentials?) throws {
        var token = config.enrollmentToken.flatMap { $0.isEmpty ? nil : $0 }
        let tokenHash = token.map { SHA256Digest.of(Array($0.utf8)).hex }
        if let tokenHash, tokenHash == previous?.usedEnrollmentToken { token = nil }
        let proof = try DeviceProof.sign(.register, deviceID: config.deviceID, key: key)
        let answer: DeviceAPI.RegisterResponse
        do {
            answer = try transport.register(.init(enrollmentToken: token, deviceID: config.deviceID, hardware: config.hardware,
                                               attributes: config.attributes, publicKey: Base64.encode(key.publicKey.raw), proof: proof))
        } catch let error as HTTPClientError where error.statusCode == 409 {
            // Registered already (an answer lost on the way): the session will tell.
            try save(Credentials(deviceID: config.deviceID, usedEnrollmentToken: previous?.usedEnrollmentToken ?? tokenHash))
            return
        }
        try save(Credentials(deviceID: answer.deviceID, usedEnrollmentToken: token == nil ? previous?.usedEnrollmentToken : tokenHash))
        context.log.info("registered as \(answer.deviceID) (\(answer.status.rawValue)); the enrollment token is not used again")
        if answer.status == .pending { context.log.info("an operator must accept this device: otactl devices accept \(answer.deviceID)") }
    }

    /// Forgets the registration (the server no longer knows the device), keeping what stops
    /// the used enrollment token from being sent again. A file that cannot be read or
    /// written is logged: the next session is refused again, and this runs again.
    func forgetRegistration() {
        do {
            let used = try StateFile.read(Credentials.self, from: layout.credentials)?.usedEnrollmentToken
            try save(Credentials(deviceID: config.deviceID, registered: false, usedEnrollmentToken: used))
        } catch {
            context.log.error("cannot forget this device's registration (\(layout.credentials)): \(error)")
        }
    }

    private func save(_ credentials: Credentials) throws {
        try StateFile.write(credentials, to: layout.credentials, permissions: 0o600)
    }
}
