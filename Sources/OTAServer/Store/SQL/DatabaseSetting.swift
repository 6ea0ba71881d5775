import Logging
import OTACore

/// Which database holds the registry: SQLite in the data folder (the embedded default), or
/// PostgreSQL, which several instances can share.
public enum DatabaseSetting: Sendable, Equatable {
    case sqlite(path: String)
    case postgres(PostgresLocation)

    /// `--database`: a postgres:// URL, or the path of a SQLite file; nil for DATA/registry.sqlite.
    public static func parse(_ text: String?, dataDirectory: String, environment: [String: String] = [:]) throws -> DatabaseSetting {
        guard let text, !text.isEmpty else { return .sqlite(path: dataDirectory + "/registry.sqlite") }
        if text.hasPrefix("postgres://") || text.hasPrefix("postgresql://") {
            return .postgres(try PostgresLocation(url: text, environment: environment))
        }
        if text.contains("://") {
            throw PostgresLocation.Problem(description: "--database is a postgres:// URL or the path of a SQLite file, not '\(text.prefix(100))'")
        }
        return .sqlite(path: text)
    }

    public var description: String {
        switch self {
        case .sqlite(let path): return "SQLite \(path)"
        case .postgres(let location): return "PostgreSQL \(location.redacted)"
        }
    }

    /// Opens the database and brings its schema up to date (refusing one a newer server wrote).
    /// `transactionDeadlineSeconds`: how long a PostgreSQL transaction may hold its connection
    /// (`PostgresDatabase`); nil for a copy of a whole registry, which may take minutes.
    func open(busyTimeout: Double, transactionDeadlineSeconds: Double? = PostgresDatabase.defaultTransactionDeadlineSeconds,
              logger: Logger) async throws -> any SQLDatabase {
        switch self {
        case .sqlite(let path):
            return try RegistryDatabase.open(path: path, busyTimeout: busyTimeout)
        case .postgres(let location):
            let database = try await PostgresDatabase(location: location, lockTimeoutSeconds: busyTimeout,
                                                      transactionDeadlineSeconds: transactionDeadlineSeconds, logger: logger)
            do {
                try await database.migrate(EmbeddedResources.postgresMigrations, known: EmbeddedResources.postgresMigrations.map(\.name))
            } catch {
                await database.close()
                throw error
            }
            return database
        }
    }
}
