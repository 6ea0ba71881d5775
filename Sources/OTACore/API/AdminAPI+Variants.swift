/// Bundles with variants (`Manifest.Variant`) as the admin API shows them: the builds a
/// bundle holds, and how each build fares in a deployment.
extension AdminAPI {
    /// One build of a bundle with variants, as the server shows it.
    public struct BundleVariant: Codable, Equatable, Sendable {
        public var name: VariantName
        /// Nil: any device.
        public var requires: InventoryCondition?
        public var files: Int
        public var size: UInt64

        public init(name: VariantName, requires: InventoryCondition?, files: Int, size: UInt64) {
            self.name = name
            self.requires = requires
            self.files = files
            self.size = size
        }

        /// The variants of `manifest`, in its order of preference; nil for a bundle of one build.
        public static func of(_ manifest: Manifest) -> [BundleVariant]? {
            manifest.variants?.map { variant in
                let files = manifest.files(of: variant.name)
                return BundleVariant(name: variant.name, requires: variant.requires, files: files.count, size: Manifest.totalSize(of: files))
            }
        }
    }

    /// One build's devices in a deployment, by the variant they reported choosing, and what
    /// they measured: so "the int8 build agrees 97 % and is 3.1 x faster" is one row.
    public struct VariantProgress: Codable, Equatable, Sendable {
        public var name: VariantName
        public var counts: StateCounts
        /// The figures of this build's devices in every reached phase, and the gates' verdicts
        /// on them alone; nil when the deployment has neither a shadow phase nor gates.
        public var quality: PhaseQuality?
        /// The commonest reasons this build's devices failed or rolled back (at most 5).
        public var failureReasons: [FailureReason]?

        enum CodingKeys: String, CodingKey { case name, counts, quality, failureReasons = "failure_reasons" }

        public init(name: VariantName, counts: StateCounts, quality: PhaseQuality?, failureReasons: [FailureReason]? = nil) {
            self.name = name
            self.counts = counts
            self.quality = quality
            self.failureReasons = failureReasons
        }
    }
}
