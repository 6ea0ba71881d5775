/// A model team's signature over a model folder, in the OpenSSF model-signing format
/// (sigstore/model-transparency; `model_signing sign key`): a Sigstore bundle whose DSSE
/// envelope holds an in-toto statement. The statement's subject is the model, with one digest
/// over all its files; `predicate.resources` lists every file and its digest, and
/// `predicate.serialization` says how they were hashed.
///
/// Supported: the key method (ECDSA P-256, P-384, P-521) and the `files` serialisation with
/// SHA-256. Refused, with the reason: certificates and keyless Sigstore signatures, `shards`,
/// other hashes and pre-1.0 formats. The statement is read only after its signature verified,
/// from the exact bytes that were signed (the tool does not canonicalise its JSON).
public struct ModelSignature: Sendable {
    /// Where a bundle carries it: at the top of the model folder (of each variant).
    public static let fileName = "model.sig"
    /// A statement lists every file; a million-file model is not a model.
    public static let maximumSize = 8 << 20
    static let payloadType = "application/vnd.in-toto+json"

    /// The in-toto statement, exactly as signed.
    let payload: [UInt8]
    let signature: [UInt8]

    private struct Bundle: Decodable {
        var mediaType: String
        var verificationMaterial: Material
        var dsseEnvelope: DSSE?
    }
    private struct Material: Decodable {
        var publicKey: Present?
        var certificate: Present?
        var x509CertificateChain: Present?
    }
    /// A field whose content does not matter here, only that it is there.
    private struct Present: Decodable {}
    private struct DSSE: Decodable {
        var payload: String
        var payloadType: String
        var signatures: [Signature]
    }
    private struct Signature: Decodable { var sig: String }

    public init(parsing bytes: [UInt8]) throws(ModelSignatureError) {
        guard bytes.count <= Self.maximumSize else { throw .malformed("it is larger than \(Self.maximumSize) bytes") }
        let bundle: Bundle
        do { bundle = try StrictJSON.decode(Bundle.self, from: bytes, what: "model signature") } catch {
            throw .malformed(String(describing: error))
        }
        guard bundle.mediaType.hasPrefix("application/vnd.dev.sigstore.bundle") else {
            throw .malformed("media type '\(bundle.mediaType.prefix(80))' is not a Sigstore bundle's")
        }
        if bundle.verificationMaterial.certificate != nil || bundle.verificationMaterial.x509CertificateChain != nil {
            throw .unsupported("it is signed with a certificate or keyless Sigstore; only the key method (`model_signing sign key`) is supported")
        }
        guard bundle.verificationMaterial.publicKey != nil else { throw .malformed("it names no public key") }
        guard let envelope = bundle.dsseEnvelope else { throw .unsupported("it signs no DSSE envelope (a message signature from an older tool)") }
        guard envelope.payloadType == Self.payloadType else {
            throw .unsupported("payload type '\(envelope.payloadType.prefix(80))' is not an in-toto statement")
        }
        guard envelope.signatures.count == 1, let signature = Base64.decode(envelope.signatures[0].sig, limit: 512) else {
            throw .malformed("it must hold exactly one base64 signature")
        }
        guard let payload = Base64.decode(envelope.payload, limit: Self.maximumSize) else { throw .malformed("its payload is not base64") }
        self.payload = payload
        self.signature = signature
    }

    /// The statement, once the signature verifies with one of `signers`.
    public func verified(by signers: [ECDSAPublicKey]) throws(ModelSignatureError) -> ModelStatement {
        let message = Envelope.pae(payloadType: Self.payloadType, payload: payload)
        guard signers.contains(where: { $0.isValidSignature(signature, for: message) }) else { throw .untrusted }
        return try ModelStatement(parsing: payload)
    }
}

public enum ModelSignatureError: Error, Equatable, CustomStringConvertible, Sendable {
    case malformed(String)
    case unsupported(String)
    /// Not signed by any model signer the trust root names (or the bytes were changed).
    case untrusted
    /// A file differs from what the model team signed.
    case changed(String)
    /// A file the model team signed is not in the bundle.
    case missing(String)
    /// A file of the bundle the model team did not sign.
    case unsigned(String)
    /// The trust root requires a signature, and the model folder holds none.
    case absent(String)

    public var description: String {
        switch self {
        case .malformed(let why): return "the model signature is malformed: \(why)"
        case .unsupported(let why): return "the model signature is of an unsupported kind: \(why)"
        case .untrusted: return "the model signature is not by a model signer the trust root names"
        case .changed(let path): return "'\(path)' changed after the model team signed it"
        case .missing(let path): return "'\(path)' is signed by the model team but missing from the bundle"
        case .unsigned(let path): return "'\(path)' is not covered by the model team's signature"
        case .absent(let folder): return "the trust root requires the model team's signature, and \(folder) holds no \(ModelSignature.fileName)"
        }
    }
}
