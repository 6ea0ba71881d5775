import Foundation
import OTACore

/// The OpenSSF model-signing tool (PyPI `model-signing`), as a model team runs it:
/// `scripts/install-deps.sh test` installs it into `.venv-model-signing`. Keys are made with
/// `openssl`, as the tool's documentation does.
public struct ModelSigningTool {
    public let dir: TemporaryDirectory

    public init(_ dir: TemporaryDirectory) { self.dir = dir }

    public static var executable: String { DemoApp.repository + "/.venv-model-signing/bin/model_signing" }

    /// A fresh key pair on `curve` (prime256v1, secp384r1): the private key's path and the public PEM.
    public func key(_ name: String, curve: String = "prime256v1") throws -> (privateKey: String, publicPEM: String) {
        let privateKey = dir.file("\(name).pem"), publicKey = dir.file("\(name).pub")
        for arguments in [["ecparam", "-name", curve, "-genkey", "-noout", "-out", privateKey], ["ec", "-in", privateKey, "-pubout", "-out", publicKey]] {
            let result = try run("/usr/bin/openssl", arguments)
            guard result.status == 0 else { throw TestFailure("openssl \(arguments[0]): \(result.stderr)") }
        }
        return (privateKey, String(decoding: try FileSystem.readFile(publicKey), as: UTF8.self))
    }

    /// Signs `folder` with `privateKey`, writing `folder/model.sig` as the tool does when told to.
    public func sign(_ folder: String, with privateKey: String) throws {
        guard FileManager.default.isExecutableFile(atPath: Self.executable) else {
            throw TestFailure("\(Self.executable) is missing: run scripts/install-deps.sh test")
        }
        let result = try run(Self.executable, ["sign", "key", "--private_key", privateKey, "--signature", folder + "/" + ModelSignature.fileName, folder])
        guard result.status == 0 else { throw TestFailure("model_signing sign: \(result.stdout) \(result.stderr)") }
    }
}
