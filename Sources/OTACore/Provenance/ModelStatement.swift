/// What a model team signed (`ModelSignature`): every file of the model folder with its
/// SHA-256, and the paths the signature leaves out.
public struct ModelStatement: Sendable, Equatable {
    public struct Resource: Sendable, Equatable {
        /// The path inside the model folder, '/'-separated, compared byte for byte.
        public let name: String
        public let sha256: SHA256Digest
    }

    public let resources: [Resource]
    public let ignorePaths: [String]

    static let statementType = "https://in-toto.io/Statement/v1"
    static let predicateType = "https://model_signing/signature/v1.0"
    public static let maximumResources = 100_000

    private struct Statement: Decodable {
        var _type: String
        var subject: [Subject]
        var predicateType: String
        var predicate: Predicate
    }
    private struct Subject: Decodable { var digest: [String: String] }
    private struct Predicate: Decodable {
        var serialization: Serialization
        var resources: [RawResource]
    }
    private struct Serialization: Decodable {
        var method: String
        var hash_type: String
        var ignore_paths: [String]?
    }
    private struct RawResource: Decodable {
        var name: String
        var algorithm: String
        var digest: String
    }

    init(parsing payload: [UInt8]) throws(ModelSignatureError) {
        let statement: Statement
        do { statement = try StrictJSON.decode(Statement.self, from: payload, what: "statement") } catch {
            throw .malformed(String(describing: error))
        }
        guard statement._type == Self.statementType else { throw .unsupported("statement type '\(statement._type.prefix(80))' is not in-toto v1") }
        guard statement.predicateType == Self.predicateType else {
            throw .unsupported("predicate '\(statement.predicateType.prefix(80))' is not model-signing v1.0 (sign again with model-signing 1.0 or later)")
        }
        let serialization = statement.predicate.serialization
        guard serialization.method == "files" else {
            throw .unsupported("serialization '\(serialization.method.prefix(40))' is not supported; sign with the 'files' method (the default)")
        }
        guard serialization.hash_type == "sha256" else {
            throw .unsupported("hash '\(serialization.hash_type.prefix(40))' is not supported; sign with sha256 (the default)")
        }
        let raw = statement.predicate.resources
        guard (1...Self.maximumResources).contains(raw.count) else { throw .malformed("it must list 1 to \(Self.maximumResources) files") }
        var resources: [Resource] = []
        var seen = Set<[UInt8]>()
        for resource in raw {
            guard resource.algorithm == "sha256", let digest = SHA256Digest(hex: resource.digest) else {
                throw .malformed("'\(resource.name.prefix(200))' has no sha256 digest")
            }
            guard !resource.name.isEmpty, resource.name != ".", seen.insert(Array(resource.name.utf8)).inserted else {
                throw .malformed("file names must be distinct paths inside the model folder ('\(resource.name.prefix(200))')")
            }
            resources.append(Resource(name: resource.name, sha256: digest))
        }
        // The subject's digest is SHA-256 over the files' digests, in the order listed.
        let hasher = SHA256Hasher()
        for resource in resources { hasher.update(resource.sha256.bytes) }
        guard statement.subject.count == 1, let subject = statement.subject[0].digest["sha256"].flatMap(SHA256Digest.init(hex:)),
              subject == hasher.finalize() else {
            throw .malformed("the subject's digest is not the digest of the files it lists")
        }
        self.resources = resources
        ignorePaths = serialization.ignore_paths ?? []
    }

    /// Checks a model folder's files (path inside the folder → SHA-256), leaving out the
    /// signature file itself: every signed file is there with its digest, and every other file
    /// is signed. A file under a path the signature ignores is refused too: it would run
    /// beside the model unsigned.
    public func check(files: [(path: String, sha256: SHA256Digest)], signatureFile: String) throws(ModelSignatureError) {
        var present: [[UInt8]: SHA256Digest] = [:]
        for file in files where file.path != signatureFile { present[Array(file.path.utf8)] = file.sha256 }
        for resource in resources {
            guard let digest = present.removeValue(forKey: Array(resource.name.utf8)) else { throw .missing(resource.name) }
            guard digest == resource.sha256 else { throw .changed(resource.name) }
        }
        if let extra = present.keys.map({ String(decoding: $0, as: UTF8.self) }).sorted().first { throw .unsigned(extra) }
    }
}
