/// Where a released bundle sits in targets metadata: `CHANNEL/NAME/VERSION`, with the length
/// and SHA-256 of its signed manifest (the bundle's digest). One targets file lists every
/// channel; a device reads only its own.
public enum Release {
    public static let defaultChannel = Channel.stable

    public static func targetPath(channel: Channel, name: BundleName, version: SemanticVersion) -> String { "\(channel)/\(name)/\(version)" }

    /// A channel name: lower-case letters, digits, `.`, `_` and `-`, at most 64.
    public static func channelProblem(_ channel: String) -> String? {
        let allowed = Set("abcdefghijklmnopqrstuvwxyz0123456789._-")
        guard !channel.isEmpty, channel.count <= 64, channel.allSatisfy(allowed.contains), channel.first != ".", channel.first != "-" else {
            return "channel '\(channel.prefix(80))' must be 1 to 64 of a-z, 0-9, '.', '_' and '-' (e.g. stable, beta)"
        }
        return nil
    }

    public static func target(for verified: VerifiedManifest) -> TUFTargetFile {
        TUFTargetFile(length: verified.manifestBytes.count, hashes: ["sha256": verified.digest.hex])
    }

    /// Why `verified` may not run on a device of `channel` under `targets`, or nil.
    public static func problem(_ verified: VerifiedManifest, channel: Channel, in targets: TargetsMetadata) -> String? {
        let manifest = verified.manifest
        let path = targetPath(channel: channel, name: manifest.name, version: manifest.version)
        guard let listed = targets.targets[path] else {
            return "\(manifest.name) \(manifest.version) is signed but not released on channel \(channel) (release metadata version \(targets.version))"
        }
        if let problem = TUFFileInfo(length: listed.length, hashes: listed.hashes).problem(with: verified.manifestBytes) {
            return "\(manifest.name) \(manifest.version) does not match its release on channel \(channel) (\(problem)): a different bundle was signed under this version"
        }
        return nil
    }

    /// The channels that release exactly this bundle.
    public static func channels(releasing verified: VerifiedManifest, in targets: TargetsMetadata) -> [Channel] {
        let suffix = "/\(verified.manifest.name)/\(verified.manifest.version)"
        return targets.targets.keys.filter { $0.hasSuffix(suffix) }.compactMap { path in
            guard let channel = Channel(rawValue: String(path.dropLast(suffix.count))) else { return nil }
            return problem(verified, channel: channel, in: targets) == nil ? channel : nil
        }.sorted()
    }
}
