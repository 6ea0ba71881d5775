import Foundation
import OTAClient
import OTACore

/// The keys of a TUF root for tests: one root key, the release key, the server's online key.
public struct TUFKeys: @unchecked Sendable {
    public var rootKeys: [Ed25519PrivateKey]
    public var release: [Ed25519PrivateKey]
    public var online: Ed25519PrivateKey

    public init(release: Ed25519PrivateKey) throws {
        rootKeys = [try Ed25519PrivateKey.generate()]
        self.release = [release]
        online = try Ed25519PrivateKey.generate()
    }

    /// Root metadata naming these keys.
    public func root(version: Int, expiresIn seconds: Int64 = 365 * 86_400, online: Ed25519PrivateKey? = nil) -> RootMetadata {
        let onlineKey = (online ?? self.online).publicKey
        let all = rootKeys.map(\.publicKey) + release.map(\.publicKey) + [onlineKey]
        func role(_ keys: [Ed25519PublicKey], _ threshold: Int = 1) -> TUFRole { TUFRole(keyids: keys.map(\.tufKeyID).sorted(), threshold: threshold) }
        return RootMetadata(version: version, expires: TUFCommon.expires(in: seconds),
                            keys: Dictionary(all.map { ($0.tufKeyID, TUFKey($0)) }, uniquingKeysWith: { a, _ in a }),
                            roles: [.root: role(rootKeys.map(\.publicKey)), .targets: role(release.map(\.publicKey)),
                                    .snapshot: role([onlineKey]), .timestamp: role([onlineKey])],
                            checkin: role([onlineKey]))
    }

    /// A root signed by the root keys (and by `also`, e.g. the previous version's keys).
    public func signedRoot(_ root: RootMetadata, also: [Ed25519PrivateKey] = []) throws -> [UInt8] {
        try Self.sign(root, with: rootKeys + also)
    }

    public static func sign(_ signed: some TUFSigned, with keys: [Ed25519PrivateKey]) throws -> [UInt8] {
        var envelope = try MetadataEnvelope.wrap(signed)
        for key in keys { try envelope.signTUF(with: key) }
        return try envelope.encoded()
    }
}

extension TestServer {
    /// Publishes release metadata listing `releases` (name, version, channel) of published
    /// bundles, as the next version, signed by `signer` (default: the release key).
    @discardableResult
    public func release(_ releases: [(name: String, version: String, channel: String)], expiresIn seconds: Int64 = 30 * 86_400,
                        signer: Ed25519PrivateKey? = nil, version: Int? = nil, extraTargets: [String: TUFTargetFile] = [:]) throws -> [UInt8] {
        let admin = try admin(.publisher)
        var targets = extraTargets
        for release in releases {
            let (name, version, channel) = (try BundleName(release.name), try SemanticVersion(release.version), try Channel(release.channel))
            let bundle = try admin.bundle(name: name, version: version)
            targets[Release.targetPath(channel: channel, name: name, version: version)] =
                TUFTargetFile(length: bundle.manifestSize ?? 0, hashes: ["sha256": bundle.digest.hex])
        }
        let next = try version ?? ((try admin.trustSummary().targetsVersion ?? 0) + 1)
        let bytes = try TUFKeys.sign(TargetsMetadata(version: next, expires: TUFCommon.expires(in: seconds), targets: targets), with: [signer ?? key])
        _ = try admin.publishRelease(bytes)
        return bytes
    }
}
