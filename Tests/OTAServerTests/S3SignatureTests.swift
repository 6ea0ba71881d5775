@testable import OTAServer
import OTACore
import Testing

/// Presigned URLs and bucket addresses. moto does not check signatures, so the signature is
/// checked against the example in AWS's own documentation.
@Suite("S3 signatures and locations")
struct S3SignatureTests {
    @Test("A presigned GET matches AWS's documented example byte for byte")
    func awsExample() throws {
        // https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html
        let credentials = S3Credentials(accessKeyID: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
        let location = try S3Location(url: "s3://examplebucket", endpoint: "https://s3.amazonaws.com", region: "us-east-1", virtualHosted: true)
        let (base, path) = location.address(of: "test.txt")
        let url = S3Signature(credentials: credentials, region: "us-east-1")
            .presignedGET(base: base, host: location.host, path: path, now: 1_369_353_600, lifetime: 86_400)
        #expect(url == "https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256"
            + "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z"
            + "&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404")
    }

    @Test("A session token is part of what is signed")
    func sessionToken() throws {
        let plain = S3Credentials(accessKeyID: "AK", secretAccessKey: "SK")
        let withToken = S3Credentials(accessKeyID: "AK", secretAccessKey: "SK", sessionToken: "token/with+chars")
        let a = S3Signature(credentials: plain, region: "us-east-1").presignedGET(base: "http://h", host: "h", path: "/b/k", now: 0, lifetime: 60)
        let b = S3Signature(credentials: withToken, region: "us-east-1").presignedGET(base: "http://h", host: "h", path: "/b/k", now: 0, lifetime: 60)
        #expect(b.contains("X-Amz-Security-Token=token%2Fwith%2Bchars"))
        #expect(a.suffix(64) != b.suffix(64))
    }

    @Test("Path-style and virtual-hosted addresses; prefixes end in a slash; default ports are dropped")
    func addresses() throws {
        let path = try S3Location(url: "s3://ota/fleet/a", endpoint: "http://127.0.0.1:9000/", region: "us-east-1", virtualHosted: false)
        #expect(path.prefix == "fleet/a/")
        #expect(path.address(of: "fleet/a/content/ab") == ("http://127.0.0.1:9000", "/ota/fleet/a/content/ab"))
        #expect(path.address(of: nil) == ("http://127.0.0.1:9000", "/ota/"))
        let aws = try S3Location(url: "s3://ota", endpoint: nil, region: "eu-west-1", virtualHosted: true)
        #expect(aws.prefix == "" && aws.host == "ota.s3.eu-west-1.amazonaws.com")
        #expect(try S3Location(url: "s3://ota", endpoint: "https://minio.local:443", region: "us-east-1", virtualHosted: false).host == "minio.local")
    }

    @Test("Bad buckets, prefixes, endpoints and regions are refused with the rule they break",
          arguments: [
            ("s3://ab", "https://s3.example", "us-east-1", "bucket name"),
            ("s3://Upper", "https://s3.example", "us-east-1", "bucket name"),
            ("s3://-dash", "https://s3.example", "us-east-1", "bucket name"),
            ("s3://a..b", "https://s3.example", "us-east-1", "bucket name"),
            ("s3://ota/a/../b", "https://s3.example", "us-east-1", "prefix"),
            ("s3://ota/a b", "https://s3.example", "us-east-1", "prefix"),
            ("s3://ota/a//b", "https://s3.example", "us-east-1", "prefix"),
            ("https://ota/x", "https://s3.example", "us-east-1", "s3://BUCKET"),
            ("s3://ota", "https://user@s3.example", "us-east-1", "without a path or user"),
            ("s3://ota", "https://s3.example/path", "us-east-1", "without a path or user"),
            ("s3://ota", "file:///tmp", "us-east-1", "https:// or http://"),
            ("s3://ota", "https://s3.example", "us east", "region"),
          ])
    func refused(url: String, endpoint: String, region: String, rule: String) {
        #expect {
            try S3Location(url: url, endpoint: endpoint, region: region, virtualHosted: false)
        } throws: { error in
            String(describing: error).contains(rule)
        }
    }
}
