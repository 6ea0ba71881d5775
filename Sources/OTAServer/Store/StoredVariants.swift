import OTACore

/// `bundles.variants`: the builds of a bundle with variants, as JSON. Requirements are kept as
/// their text and read leniently: one this version cannot parse (written by a later version)
/// fits no device, like a stored deployment filter, rather than failing every read of the
/// bundle and every check-in decision that needs it.
enum StoredVariants {
    private struct Stored: Codable {
        var name: VariantName
        var requires: String?
        var files: Int
        var size: UInt64
    }

    static func encode(_ variants: [AdminAPI.BundleVariant]) throws -> String {
        try JSONColumn.encode(variants.map { Stored(name: $0.name, requires: $0.requires?.description, files: $0.files, size: $0.size) })
    }

    static func decode(_ text: String) throws -> [AdminAPI.BundleVariant] {
        try JSONColumn.decode([Stored].self, from: text).map { stored in
            AdminAPI.BundleVariant(name: stored.name, requires: stored.requires.map { (try? InventoryCondition($0)) ?? .unreadable($0) },
                                   files: stored.files, size: stored.size)
        }
    }
}
