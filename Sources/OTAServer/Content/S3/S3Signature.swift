import OTACore

/// AWS Signature Version 4 in the query string: a URL anyone may GET until it expires,
/// without credentials (S3's "presigned URL"). Requests the server sends itself are signed
/// by libcurl (`CURLOPT_AWS_SIGV4`); a presigned URL has no request to hang that on.
/// https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html
struct S3Signature {
    let credentials: S3Credentials
    let region: String

    /// A URL for GET `path` on `base` (scheme://host), valid `lifetime` seconds from `now`.
    func presignedGET(base: String, host: String, path: String, now: Int64, lifetime: Int) -> String {
        let date = Self.amzDate(now)
        let scope = "\(date.prefix(8))/\(region)/s3/aws4_request"
        var query = [
            ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
            ("X-Amz-Credential", "\(credentials.accessKeyID)/\(scope)"),
            ("X-Amz-Date", date),
            ("X-Amz-Expires", String(lifetime)),
            ("X-Amz-SignedHeaders", "host"),
        ]
        if let token = credentials.sessionToken { query.append(("X-Amz-Security-Token", token)) }
        let canonicalQuery = query.map { (Self.encode($0.0), Self.encode($0.1)) }.sorted { $0.0 < $1.0 }
            .map { "\($0.0)=\($0.1)" }.joined(separator: "&")
        let canonicalRequest = ["GET", path, canonicalQuery, "host:\(host)", "", "host", "UNSIGNED-PAYLOAD"].joined(separator: "\n")
        let stringToSign = ["AWS4-HMAC-SHA256", date, scope, SHA256Digest.of(Array(canonicalRequest.utf8)).hex].joined(separator: "\n")
        var key = Array("AWS4\(credentials.secretAccessKey)".utf8)
        for part in [String(date.prefix(8)), region, "s3", "aws4_request"] { key = HMACSHA256.mac(key: key, message: Array(part.utf8)) }
        let signature = Hex.encode(HMACSHA256.mac(key: key, message: Array(stringToSign.utf8)))
        return "\(base)\(path)?\(canonicalQuery)&X-Amz-Signature=\(signature)"
    }

    /// yyyyMMddTHHmmssZ in UTC: RFC 3339 without its separators.
    static func amzDate(_ seconds: Int64) -> String {
        Timestamp.format(secondsSinceEpoch: seconds).filter { $0 != "-" && $0 != ":" }
    }

    /// AWS's URI encoding: everything but A-Z a-z 0-9 - _ . ~ as %XX (and '/' kept in paths).
    static func encode(_ text: String, keepingSlashes: Bool = false) -> String {
        var result = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
                result.append(Character(UnicodeScalar(byte)))
            case UInt8(ascii: "/") where keepingSlashes:
                result.append("/")
            default:
                result += "%" + Hex.encode([byte]).uppercased()
            }
        }
        return result
    }
}
