import Logging
import OTACore

/// Token management from the command line, on the server's own database.
public enum TokenAdministration {
    /// `database`: as `serve --database` (nil for DATA/registry.sqlite).
    public static func open(_ dataDirectory: String, database: String? = nil, environment: [String: String] = [:]) throws -> TokenStore {
        try FileSystem.createDirectory(dataDirectory, permissions: 0o700)
        let setting = try DatabaseSetting.parse(database, dataDirectory: dataDirectory, environment: environment)
        return TokenStore(db: try setting.open(busyTimeout: 10, logger: Logger(label: "ota-server.token")))
    }
}
