import ArgumentParser
import Foundation
import OTAClient
import OTACore

/// What the server says about trust, checked before an operator tool builds on it: the root
/// chain is walked from a root the operator holds (`--trust`), and the release metadata and
/// bundles are verified under the newest version. A compromised server cannot make otactl
/// sign something it invented.
struct VerifiedServerTrust {
    let root: RootMetadata
    let rootBytes: [UInt8]
    /// The server's current release metadata, verified; nil when none was published.
    let targets: TargetsMetadata?
    /// Where the release versions seen from each server are remembered (beside the root).
    let seen: SeenReleases

    /// The root the operator holds: `--trust`, or `$OTA_TRUST`.
    static func trustRootPath(_ given: String?) -> String? {
        given ?? ProcessInfo.processInfo.environment["OTA_TRUST"].flatMap { $0.isEmpty ? nil : $0 }
    }

    static func load(_ client: AdminClient, trustedRoot given: String?) throws -> VerifiedServerTrust {
        guard let path = trustRootPath(given) else {
            throw Failure("give --trust keys/trust.json or set OTA_TRUST (a root you hold) to check what the server sends, or --from FILE to start from a file")
        }
        let anchor = try Failure.wrap("") { try TrustAnchor.load(from: path) }
        guard case .tuf(let start, let startBytes) = anchor else {
            throw Failure("\(path) is a legacy trust root: give a TUF root (otactl trust create)")
        }
        let summary = try Failure.remote { try client.trustSummary() }
        guard summary.rootVersion > 0 else { throw Failure("the server runs with a legacy trust root: restart it with a TUF root first") }
        var chain = TrustedMetadata(root: start, rootBytes: startBytes, now: Timestamp.epochSeconds())
        var walked = [start]
        while chain.root.version < summary.rootVersion {
            let bytes = try Failure.remote { try client.root(version: chain.root.version + 1) }
            try Failure.wrap("the server's root chain does not verify from \(path)", exitCode: Failure.verification) { try chain.updateRoot(bytes) }
            walked.append(chain.root)
        }
        var targets: TargetsMetadata?
        if let bytes = try Failure.remote({ try client.releaseMetadata() }) {
            // After a release-key rotation the published metadata is still signed by the old
            // keys: it may be the base of the next version if a root on the walked chain (one
            // this tool verified, never one the server merely offers) names them.
            for root in walked.reversed() {
                targets = try? MetadataEnvelope.open(TargetsMetadata.self, bytes, verifiedBy: root)
                if targets != nil { break }
            }
            guard targets != nil else {
                throw Failure("""
                    the server's release metadata is not signed by the release keys of any root from \(path) to version \(chain.root.version): \
                    start from a release file you trust (--from), or give an older --trust
                    """, exitCode: Failure.verification)
            }
        }
        return VerifiedServerTrust(root: chain.root, rootBytes: chain.rootBytes, targets: targets, seen: SeenReleases(trustRoot: path))
    }

    /// A published bundle's release entry, from its envelope verified under the newest root.
    func target(_ client: AdminClient, name: BundleName, version: SemanticVersion) throws -> TUFTargetFile {
        let bytes = try Failure.remote { try client.bundleEnvelope(name: name, version: version) }
        let envelope = try Failure.wrap("the server's envelope of \(name) \(version)") { try Envelope.decode(bytes) }
        let verified = try Failure.wrap("the server's bundle \(name) \(version) is not signed by the release keys of root version \(root.version)",
                                        exitCode: Failure.verification) { try root.bundleTrust.verify(envelope) }
        guard verified.manifest.name == name, verified.manifest.version == version else {
            throw Failure("the server answered with \(verified.manifest.name) \(verified.manifest.version) for \(name) \(version)", exitCode: Failure.verification)
        }
        return Release.target(for: verified)
    }
}
