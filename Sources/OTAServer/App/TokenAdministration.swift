import Logging
import OTACore

/// Token management from the command line, on the server's own database.
public enum TokenAdministration {
    /// Runs `body` on the token store of the server's database, and closes it after.
    /// `database`: as `serve --database` (nil for DATA/registry.sqlite).
    public static func withStore<T: Sendable>(_ dataDirectory: String, database: String? = nil, environment: [String: String] = [:],
                                              _ body: (TokenStore) async throws -> T) async throws -> T {
        try FileSystem.createDirectory(dataDirectory, permissions: 0o700)
        let setting = try DatabaseSetting.parse(database, dataDirectory: dataDirectory, environment: environment)
        let db = try await setting.open(busyTimeout: 10, logger: Logger(label: "ota-server.token"))
        do {
            let result = try await body(TokenStore(db: db))
            await db.close()
            return result
        } catch {
            await db.close()
            throw error
        }
    }
}
