/// Which bundles must carry their model team's signature (`ModelSignature`), and whose: the
/// root's `x-ota-model-signing` field. It lives in the root, signed by the root keys, so a
/// release key alone can neither drop the requirement nor name another signer: a compromised
/// release pipeline cannot ship a model the model team did not sign. Outside `roles`, so TUF
/// tools still read the root.
///
///     "x-ota-model-signing": {"signers": {"vision-team": "-----BEGIN PUBLIC KEY-----\n…"},
///                             "bundles": ["digits", "detector"]}
public struct ModelSigningPolicy: Codable, Equatable, Sendable {
    public static let field = "x-ota-model-signing"
    public static let maximumSigners = 32
    public static let maximumBundles = 1024

    /// Signer name → SPKI PEM of an ECDSA P-256, P-384 or P-521 key.
    public let signers: [String: String]
    /// The bundle names whose model folders (of every variant) must be signed.
    public let bundles: [BundleName]
    /// `signers`, parsed.
    public let keys: [ECDSAPublicKey]

    enum CodingKeys: String, CodingKey { case signers, bundles }

    public init(signers: [String: String], bundles: [BundleName]) throws {
        guard (1...Self.maximumSigners).contains(signers.count) else { throw JSONInputError("\(Self.field): name 1 to \(Self.maximumSigners) signers") }
        guard bundles.count <= Self.maximumBundles, Set(bundles).count == bundles.count else {
            throw JSONInputError("\(Self.field): at most \(Self.maximumBundles) bundle names, each once")
        }
        var keys: [ECDSAPublicKey] = []
        for (name, pem) in signers.sorted(by: { $0.key < $1.key }) {
            guard (1...64).contains(name.utf8.count) else { throw JSONInputError("\(Self.field): a signer's name is 1 to 64 bytes") }
            do { keys.append(try ECDSAPublicKey(pem: pem, source: "model signer '\(name)'")) } catch { throw JSONInputError("\(Self.field): \(error)") }
        }
        self.signers = signers
        self.bundles = bundles.sorted()
        self.keys = keys
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        try self.init(signers: try container.decode([String: String].self, forKey: .signers),
                      bundles: try container.decode([BundleName].self, forKey: .bundles))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(signers, forKey: .signers)
        try container.encode(bundles, forKey: .bundles)
    }

    public func requires(_ name: BundleName) -> Bool { bundles.contains(name) }

    /// Checks the model folder of `manifest` (a bundle without variants, or one variant as
    /// `Manifest.selecting` gives it) when its name requires it: `signature` is the content of
    /// its `model.sig` (nil when it has none); `variant`: the build it is, for messages.
    public func check(_ manifest: Manifest, signature: [UInt8]?, variant: VariantName? = nil) throws(ModelSignatureError) {
        guard requires(manifest.name) else { return }
        guard let signature else { throw .absent(variant.map { "the folder of variant '\($0)'" } ?? "the bundle") }
        let statement = try ModelSignature(parsing: signature).verified(by: keys)
        try statement.check(files: manifest.files.map { ($0.path.value, $0.sha256) }, signatureFile: ModelSignature.fileName)
    }

    /// The `model.sig` entry of `manifest`'s files, if it has one.
    public static func signatureFile(of manifest: Manifest) -> Manifest.FileEntry? {
        manifest.files.first { $0.path.value == ModelSignature.fileName }
    }
}
