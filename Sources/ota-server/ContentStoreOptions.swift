import ArgumentParser
import Foundation
import OTACore
import OTAServer

/// `serve`'s options for where content lives.
struct ContentStoreOptions: ParsableArguments {
    @Option(help: ArgumentHelp("""
        Where content blobs live: local (DATA/content, the default) or s3://BUCKET/PREFIX, an S3-compatible bucket (AWS S3, MinIO, Ceph RGW). Keys come from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN in the environment. Devices then download whole files from the bucket with short-lived URLs.
        """, valueName: "local|s3-url"))
    var contentStore = "local"

    @Option(help: ArgumentHelp("The S3 endpoint, for example http://127.0.0.1:9000 for MinIO (default: AWS's endpoint for the region).", valueName: "url"))
    var s3Endpoint: String?

    @Option(help: ArgumentHelp("The region S3 requests are signed for (default: $AWS_REGION, else us-east-1).", valueName: "name"))
    var s3Region: String?

    @Flag(help: "Address the bucket as BUCKET.host (AWS's preferred form) instead of host/BUCKET (MinIO, Ceph).")
    var s3VirtualHosted = false

    @Flag(help: "Allow a plain-http S3 endpoint that is not on this machine (devices must then allow insecure http too).")
    var s3AllowHttp = false

    @Option(help: ArgumentHelp("How long a download URL for the bucket stays valid.", valueName: "duration"))
    var contentUrlLifetime = "10m"

    func validate() throws { _ = try setting() }

    func setting(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> ContentStoreSetting {
        guard contentStore != "local" else {
            guard s3Endpoint == nil, s3Region == nil, !s3VirtualHosted, !s3AllowHttp else {
                throw ValidationError("the --s3-… options need --content-store s3://BUCKET/PREFIX")
            }
            return .local
        }
        guard let lifetime = DurationText.seconds(contentUrlLifetime), (60...7 * 86_400).contains(lifetime) else {
            throw ValidationError("--content-url-lifetime must be a duration from 60s to 7d, like 10m")
        }
        do {
            let region = s3Region ?? environment["AWS_REGION"].flatMap { $0.isEmpty ? nil : $0 } ?? "us-east-1"
            let location = try S3Location(url: contentStore, endpoint: s3Endpoint, region: region, virtualHosted: s3VirtualHosted)
            return .s3(location, try S3Credentials.fromEnvironment(environment), allowHTTP: s3AllowHttp, urlLifetimeSeconds: lifetime)
        } catch {
            throw ValidationError("--content-store: \(error)")
        }
    }
}
