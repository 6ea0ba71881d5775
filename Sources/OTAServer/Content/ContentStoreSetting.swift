/// Which content store `ota-server serve` uses.
public enum ContentStoreSetting: Sendable {
    /// `DATA/content/`, the embedded default.
    case local
    /// An S3-compatible bucket; uploads are spooled in `DATA/uploads/` on their way.
    case s3(S3Location, S3Credentials, allowHTTP: Bool, urlLifetimeSeconds: Int)

    func open(dataDirectory: String) async throws -> any ContentStore {
        switch self {
        case .local:
            return try LocalContentStore(root: dataDirectory)
        case .s3(let location, let credentials, let allowHTTP, let lifetime):
            return try await S3ContentStore.open(location: location, credentials: credentials, allowHTTP: allowHTTP,
                                                 urlLifetimeSeconds: lifetime, spoolDirectory: dataDirectory + "/uploads")
        }
    }
}
