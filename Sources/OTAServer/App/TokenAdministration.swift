import OTACore

/// Token management from the command line, on the server's own database.
public enum TokenAdministration {
    public static func open(_ dataDirectory: String) throws -> TokenStore {
        try FileSystem.createDirectory(dataDirectory, permissions: 0o700)
        return TokenStore(db: try RegistryDatabase.open(path: dataDirectory + "/registry.sqlite"))
    }
}
