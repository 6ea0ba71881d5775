import OTACore

/// Where content lives in an S3-compatible object store (AWS S3, MinIO, Ceph RGW): a bucket,
/// a key prefix, the endpoint that serves it and the region requests are signed for.
public struct S3Location: Sendable, Equatable {
    public let bucket: String
    /// Empty, or ending in "/".
    public let prefix: String
    /// scheme://host[:port], without a path or a default port.
    public let endpoint: String
    public let region: String
    /// `https://BUCKET.host/KEY` (AWS's preferred form) instead of `https://host/BUCKET/KEY`
    /// (what MinIO, Ceph and most self-hosted stores expect).
    public let virtualHosted: Bool

    public struct Problem: Error, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    /// `url` is `s3://BUCKET[/PREFIX]`; `endpoint` defaults to AWS's for the region.
    public init(url: String, endpoint: String?, region: String, virtualHosted: Bool) throws {
        guard url.hasPrefix("s3://") else { throw Problem("a content store URL looks like s3://BUCKET/PREFIX, not '\(url.prefix(200))'") }
        let rest = url.dropFirst("s3://".count)
        let bucket = String(rest.prefix { $0 != "/" })
        var prefix = String(rest.dropFirst(bucket.count).drop { $0 == "/" })
        if let problem = Self.bucketProblem(bucket) { throw Problem(problem) }
        if !prefix.isEmpty, !prefix.hasSuffix("/") { prefix += "/" }
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./")
        guard prefix.utf8.count <= 512, prefix.allSatisfy(allowed.contains), !prefix.split(separator: "/").contains(where: { $0 == "." || $0 == ".." }),
              !prefix.contains("//") else {
            throw Problem("the key prefix '\(prefix.prefix(200))' may hold only letters, digits, '-', '_', '.' and '/', without empty, '.' or '..' parts")
        }
        guard !region.isEmpty, region.utf8.count <= 64, region.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }) else {
            throw Problem("'\(region.prefix(80))' is not a region name (for example us-east-1)")
        }
        self.bucket = bucket
        self.prefix = prefix
        self.region = region
        self.virtualHosted = virtualHosted
        self.endpoint = try Self.normalized(endpoint: endpoint ?? "https://s3.\(region).amazonaws.com")
    }

    /// AWS's rules for bucket names, which every compatible store accepts.
    static func bucketProblem(_ bucket: String) -> String? {
        let allowed = Set("abcdefghijklmnopqrstuvwxyz0123456789.-")
        guard (3...63).contains(bucket.count), bucket.allSatisfy(allowed.contains),
              let first = bucket.first, let last = bucket.last, first.isLetter || first.isNumber, last.isLetter || last.isNumber,
              !bucket.contains("..") else {
            return "'\(bucket.prefix(80))' is not a bucket name: 3 to 63 lower-case letters, digits, '.' and '-', starting and ending with a letter or digit"
        }
        return nil
    }

    static func normalized(endpoint: String) throws -> String {
        let lower = endpoint.lowercased()
        let scheme = lower.hasPrefix("https://") ? "https" : lower.hasPrefix("http://") ? "http" : nil
        guard let scheme else { throw Problem("the S3 endpoint must start with https:// or http://, not '\(endpoint.prefix(200))'") }
        var authority = String(endpoint.dropFirst(scheme.count + 3))
        if authority.hasSuffix("/") { authority.removeLast() }
        guard !authority.isEmpty, !authority.contains("/"), !authority.contains("@"), !authority.contains("?"), !authority.contains("#") else {
            throw Problem("the S3 endpoint is scheme://host[:port] without a path or user, not '\(endpoint.prefix(200))'")
        }
        // curl leaves a default port out of the Host header, so the signature must too.
        let defaultPort = scheme == "https" ? ":443" : ":80"
        if authority.hasSuffix(defaultPort) { authority.removeLast(defaultPort.count) }
        return "\(scheme)://\(authority)"
    }

    public var scheme: String { String(endpoint.prefix { $0 != ":" }) }

    /// The host (and port) requests for this bucket go to, as in the Host header.
    public var host: String {
        let authority = String(endpoint.dropFirst(scheme.count + 3))
        return virtualHosted ? "\(bucket).\(authority)" : authority
    }

    /// The base URL and the path of `key`, or of the bucket itself when nil.
    public func address(of key: String?) -> (base: String, path: String) {
        let base = "\(scheme)://\(host)"
        let bucketPath = virtualHosted ? "" : "/\(bucket)"
        guard let key else { return (base, bucketPath + "/") }
        return (base, bucketPath + "/" + S3Signature.encode(key, keepingSlashes: true))
    }

    /// The object holding the blob with SHA-256 `digest`.
    public func key(of digest: SHA256Digest) -> String { "\(prefix)content/\(digest.hex)" }

    public var description: String { "s3://\(bucket)/\(prefix) at \(endpoint)" }
}

/// Keys for S3 requests. Taken from the environment (`AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), never from the command line, where every
/// user of the machine could read them.
public struct S3Credentials: Sendable {
    public let accessKeyID: String
    public let secretAccessKey: String
    public let sessionToken: String?

    public init(accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
    }

    public static func fromEnvironment(_ environment: [String: String]) throws -> S3Credentials {
        guard let id = environment["AWS_ACCESS_KEY_ID"], !id.isEmpty, let secret = environment["AWS_SECRET_ACCESS_KEY"], !secret.isEmpty else {
            throw S3Location.Problem("set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment for the S3 content store")
        }
        guard !id.contains(":"), id.allSatisfy({ $0.isASCII && !$0.isWhitespace }), secret.allSatisfy({ $0.isASCII && !$0.isNewline }) else {
            throw S3Location.Problem("AWS_ACCESS_KEY_ID or AWS_SECRET_ACCESS_KEY holds characters no S3 key has")
        }
        let token = environment["AWS_SESSION_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        return S3Credentials(accessKeyID: id, secretAccessKey: secret, sessionToken: token)
    }
}
