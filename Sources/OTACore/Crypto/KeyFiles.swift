/// Reading and writing key files. Private keys are PKCS#8 PEM with mode 0600 and are never
/// overwritten; public keys are SPKI PEM.
public enum KeyFiles {
    public static func writePrivateKey(_ key: Ed25519PrivateKey, to path: String) throws {
        let file = try File.open(path, .createNew(permissions: 0o600))
        try file.write(Array(key.pemPKCS8.utf8))
        try file.sync()
        file.close()
        // The umask can only remove bits; set 0600 explicitly all the same.
        try FileSystem.setPermissions(path, 0o600)
        try FileSystem.syncDirectory(containing: path)
    }

    public static func writePublicKey(_ key: Ed25519PublicKey, to path: String) throws {
        try FileSystem.writeAtomically(Array(key.pem.utf8), to: path, permissions: 0o644)
    }

    public static func loadPrivateKey(_ path: String) throws -> Ed25519PrivateKey {
        try Ed25519PrivateKey(pem: try FileSystem.readText(path, limit: 64 * 1024), source: path)
    }

    public static func loadPublicKey(_ path: String) throws -> Ed25519PublicKey {
        try Ed25519PublicKey(pem: try FileSystem.readText(path, limit: 64 * 1024), source: path)
    }
}
