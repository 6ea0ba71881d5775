import ArgumentParser
import OTACore

/// The root's model-signing policy (`x-ota-model-signing`) as `trust create` and `trust next`
/// change it: who the model teams are, and which bundles need their signature.
struct ModelSigningOptions: ParsableArguments {
    @Option(name: .customLong("model-signer"),
            help: ArgumentHelp("A model team's ECDSA public key (P-256, P-384 or P-521, as `model_signing sign key` uses): NAME=FILE.pub. Repeat for more.", valueName: "name=file"))
    var signers: [String] = []
    @Option(name: .customLong("remove-model-signer"), help: ArgumentHelp("Remove a model signer by name.", valueName: "name"))
    var removedSigners: [String] = []
    @Option(name: .customLong("require-model-signature"),
            help: ArgumentHelp("A bundle name whose model folders (each variant's) must hold a model signer's model.sig. Repeat for more.", valueName: "bundle"),
            transform: { try BundleName($0) })
    var required: [BundleName] = []
    @Option(name: .customLong("drop-model-signature"), help: ArgumentHelp("No longer require a model signature for a bundle name.", valueName: "bundle"),
            transform: { try BundleName($0) })
    var dropped: [BundleName] = []

    var isEmpty: Bool { signers.isEmpty && removedSigners.isEmpty && required.isEmpty && dropped.isEmpty }

    /// The policy after these changes to `current`; nil when it names nothing.
    func apply(to current: ModelSigningPolicy?) throws -> ModelSigningPolicy? {
        guard !isEmpty else { return current }
        var named = current?.signers ?? [:]
        for signer in signers {
            guard let equals = signer.firstIndex(of: "="), equals != signer.startIndex else {
                throw Failure("--model-signer '\(signer)' is not NAME=FILE.pub")
            }
            let file = String(signer[signer.index(after: equals)...])
            let pem = try Failure.wrap("--model-signer \(file)") { try FileSystem.readText(file, limit: 64 << 10) }
            _ = try Failure.wrap("--model-signer \(file)") { try ECDSAPublicKey(pem: pem, source: file) }
            named[String(signer[..<equals])] = pem
        }
        for name in removedSigners {
            guard named.removeValue(forKey: name) != nil else { throw Failure("the root names no model signer '\(name)'") }
        }
        var bundles = Set(current?.bundles ?? [])
        bundles.formUnion(required)
        for name in dropped {
            guard bundles.remove(name) != nil else { throw Failure("the root requires no model signature for '\(name)'") }
        }
        if named.isEmpty && bundles.isEmpty { return nil }
        guard !named.isEmpty else { throw Failure("bundles need a model signature, but no model signer is named: add one with --model-signer NAME=FILE.pub") }
        return try Failure.wrap("") { try ModelSigningPolicy(signers: named, bundles: bundles.sorted()) }
    }
}

/// "model signing: signers vision-team; required for digits, detector".
func describe(_ policy: ModelSigningPolicy?) -> String {
    guard let policy else { return "model signing: none required" }
    return "model signing: signers \(policy.signers.keys.sorted().joined(separator: ", ")); required for "
        + (policy.bundles.isEmpty ? "no bundle yet" : policy.bundles.map(\.rawValue).joined(separator: ", "))
}
