import ArgumentParser
import OTACore

struct KeygenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen",
        abstract: "Generate an Ed25519 signing key pair.",
        discussion: """
        Writes PATH.key (PKCS#8 PEM, mode 0600: keep it secret, never commit it) and PATH.pub (SPKI PEM: share it, list it in trust roots). Prints the key id, the hex SHA-256 of the raw public key, which signatures and trust roots refer to. An existing key is never overwritten. Keys made by `openssl genpkey -algorithm ed25519` work too.
        """
    )

    @Option(name: .long, help: ArgumentHelp("Path of the key pair, without extension.", valueName: "path"))
    var out: String

    @Flag(help: "Print the result as JSON.")
    var json = false

    func run() throws {
        let privatePath = out + ".key"
        let publicPath = out + ".pub"
        for path in [privatePath, publicPath] where FileSystem.exists(path) {
            throw Failure("\(path) already exists; refusing to overwrite a key")
        }
        let parent = FileSystem.parent(of: out)
        try Failure.wrap("cannot create \(parent)") { try FileSystem.createDirectory(parent) }
        let key = try Failure.wrap("cannot generate a key") { try Ed25519PrivateKey.generate() }
        try Failure.wrap("") {
            try KeyFiles.writePrivateKey(key, to: privatePath)
            try KeyFiles.writePublicKey(key.publicKey, to: publicPath)
        }
        if json {
            try Terminal.printJSON(["keyid": key.publicKey.keyID, "private_key": privatePath, "public_key": publicPath])
        } else {
            say(key.publicKey.keyID)
        }
    }
}
