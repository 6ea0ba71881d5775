/// What devices send, checked where it is decoded: a value of these types holds nothing a
/// route must check again, and a bad one fails with the usual 400 body naming the field.
extension DeviceAPI.CheckinRequest {
    public static let maximumInstalled = 64
    public static let maximumFeatures = 16

    enum CodingKeys: String, CodingKey { case installed, attributes, features, nonce, trust, inventory }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        installed = try c.decode([DeviceAPI.InstalledBundle].self, forKey: .installed)
        try c.require(installed.count <= Self.maximumInstalled, .installed, "at most \(Self.maximumInstalled) installed bundles")
        var names = Set<BundleName>()
        for bundle in installed { try c.require(names.insert(bundle.name).inserted, .installed, "lists \(bundle.name) twice") }
        attributes = try c.decodeIfPresent([String: String].self, forKey: .attributes)
        try c.require(DeviceAPI.attributesAreBounded(attributes), .attributes, "at most 64, keys up to 64 bytes, values up to 1024 bytes")
        features = try c.decodeIfPresent([String].self, forKey: .features)
        if let features {
            try c.require(features.count <= Self.maximumFeatures && features.allSatisfy({ $0.utf8.count <= 64 }), .features,
                          "at most \(Self.maximumFeatures), each at most 64 bytes")
        }
        nonce = try c.decodeIfPresent(String.self, forKey: .nonce)
        if let nonce {
            try c.require(nonce.utf8.count == DeviceAPI.nonceHexDigits && Hex.decode(nonce) != nil, .nonce,
                          "must be \(DeviceAPI.nonceHexDigits) hex digits (16 fresh random bytes)")
        }
        trust = try c.decodeIfPresent(DeviceAPI.TrustReport.self, forKey: .trust)
        if let problem = trust?.malformation() { throw DecodingError.dataCorrupted(.init(codingPath: c.codingPath + [CodingKeys.trust], debugDescription: problem)) }
        inventory = try c.decodeIfPresent(DeviceInventory.self, forKey: .inventory)
    }
}

extension DeviceAPI.InstalledBundle {
    enum CodingKeys: String, CodingKey { case name, version, digest, state, variant }

    /// Every check-in lists these: each field is read as text (JSONDecoder's quick path for a
    /// string) and then parsed, rather than through a decoder of its own type, which made
    /// decoding this list a twentieth of the server's CPU under a check-in load.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decodeName(BundleName.self, forKey: .name)
        do { version = try SemanticVersion(try c.decode(String.self, forKey: .version)) } catch let error as SemanticVersion.ParseError {
            throw c.invalid(.version, error.description)
        }
        guard let digest = SHA256Digest(hex: try c.decode(String.self, forKey: .digest)) else {
            throw c.invalid(.digest, "not a SHA-256 digest (64 lowercase hex characters)")
        }
        self.digest = digest
        state = try c.decode(DeviceAPI.InstalledState.self, forKey: .state)
        variant = try c.decodeIfPresent(String.self, forKey: .variant).map { text in try c.decodeName(VariantName.self, text, forKey: .variant) }
    }
}

extension KeyedDecodingContainer {
    /// A name read as text, then checked: the same value and error as decoding `T` itself.
    func decodeName<T: ValidatedName>(_ type: T.Type, forKey key: Key) throws -> T {
        try decodeName(T.self, try decode(String.self, forKey: key), forKey: key)
    }

    func decodeName<T: ValidatedName>(_ type: T.Type, _ text: String, forKey key: Key) throws -> T {
        if let problem = T.problem(text) { throw invalid(key, problem) }
        return T(checked: text)
    }

    /// The error for a value at `key` that breaks its type's rule.
    func invalid(_ key: Key, _ problem: String) -> DecodingError {
        DecodingError.dataCorrupted(.init(codingPath: codingPath + [key], debugDescription: problem))
    }
}

extension DeviceAPI {
    /// Device attributes: at most 64, keys up to 64 bytes, values up to 1024 bytes.
    public static func attributesAreBounded(_ attributes: [String: String]?) -> Bool {
        guard let attributes else { return true }
        return attributes.count <= 64 && attributes.allSatisfy { $0.key.utf8.count <= 64 && $0.value.utf8.count <= 1024 }
    }
}

extension DeviceAPI.Event {
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        deploymentID = try c.decodeIfPresent(DeploymentID.self, forKey: .deploymentID)
        bundleName = try c.decode(BundleName.self, forKey: .bundleName)
        version = try c.decode(String.self, forKey: .version)
        try c.require(version.utf8.count <= 256, .version, "is longer than 256 bytes")
        state = try c.decode(DeviceAPI.UpdateState.self, forKey: .state)
        detail = try c.decode(String.self, forKey: .detail)
        try c.require(detail.unicodeScalars.count <= Self.maximumDetailLength, .detail, "is longer than \(Self.maximumDetailLength) characters")
        at = try c.decode(Timestamp.self, forKey: .at)
        transfer = try c.decodeIfPresent(DeviceAPI.Transfer.self, forKey: .transfer)
        try c.require(transfer?.isPlausible ?? true, .transfer, "fetched_bytes must not exceed total_bytes (at most 2^50)")
        shadow = try c.decodeIfPresent(DeviceAPI.ShadowOutcome.self, forKey: .shadow)
        variant = try c.decodeIfPresent(VariantName.self, forKey: .variant)
        if let outcome = shadow {
            if let problem = outcome.report?.problem { try c.require(false, .shadow, "report: \(problem)") }
            try c.require(outcome.gates.count <= 16 && outcome.gates.allSatisfy({ $0.value?.isFinite ?? true }), .shadow,
                          "gates: at most 16, each with a finite value")
        }
    }
}

extension DeviceAPI.EventsRequest {
    enum CodingKeys: String, CodingKey { case events }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        events = try c.decode([DeviceAPI.Event].self, forKey: .events)
        try c.require(events.count <= Self.maximumCount, .events, "send at most \(Self.maximumCount) events at once")
    }
}

extension DeviceAPI.ModelMetrics {
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        bundleName = try c.decode(BundleName.self, forKey: .bundleName)
        version = try c.decode(String.self, forKey: .version)
        try c.require(version.utf8.count <= 256, .version, "is longer than 256 bytes")
        digest = try c.decode(SHA256Digest.self, forKey: .digest)
        at = try c.decode(Timestamp.self, forKey: .at)
        report = try c.decode(MetricsReport.self, forKey: .report)
        if let problem = report.problem { try c.require(false, .report, problem) }
    }
}

extension DeviceAPI.MetricsRequest {
    enum CodingKeys: String, CodingKey { case metrics }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        metrics = try c.decode([DeviceAPI.ModelMetrics].self, forKey: .metrics)
        try c.require((1...Self.maximumCount).contains(metrics.count), .metrics, "send 1 to \(Self.maximumCount) reports at once")
    }
}

extension KeyedDecodingContainer {
    /// Throws a decoding error at `key` saying `problem` unless `condition` holds.
    func require(_ condition: Bool, _ key: Key, _ problem: @autoclosure () -> String) throws {
        guard !condition else { return }
        throw DecodingError.dataCorrupted(.init(codingPath: codingPath + [key], debugDescription: problem()))
    }
}

extension AdminAPI.MissingContentRequest {
    enum CodingKeys: String, CodingKey { case digests }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        digests = try c.decode([SHA256Digest].self, forKey: .digests)
        try c.require(digests.count <= Self.maximumCount, .digests, "ask about at most \(Self.maximumCount) digests at once")
    }
}
