import ArgumentParser
import Foundation
import OTAClient
import OTACore

struct PublishCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "publish",
        abstract: "Upload a bundle's content and envelope to the server.",
        discussion: """
        Only content the server does not already hold is uploaded (stored once by SHA-256):
        whole files, and for the large files of a chunked bundle only the chunks that no other version or bundle on the server has. The envelope goes last: the bundle becomes visible only when complete. Safe to run again after an interruption: it carries on where it stopped.
        """
    )

    @Argument(help: ArgumentHelp("Bundle file.", valueName: "file.otab"))
    var bundle: String

    @OptionGroup var server: ServerOptions

    @Flag(help: "Print the result as JSON.")
    var json = false

    func run() throws {
        let client = try server.client()
        let archive = try Failure.wrap(bundle) { try BundleArchive.open(bundle) }
        let manifest = try Failure.wrap(bundle) { try archive.unverifiedManifest() }
        let entries = Dictionary(uniqueKeysWithValues: archive.entries.map { ($0.path, $0) })
        for file in manifest.files where entries[file.path]?.size != file.size {
            throw Failure("\(bundle): '\(file.path)' is missing or has the wrong size; run `otactl bundle verify`")
        }
        // A chunked file goes up as its chunks, each stored once by the server across every
        // version and bundle; a file the server holds whole already needs nothing.
        let blobs = Self.blobs(of: manifest, entries: entries)
        let missing = Set(try Failure.remote { try client.missing(Array(Set(blobs.map(\.digest) + manifest.files.map(\.sha256)))) })
        var uploaded: Set<SHA256Digest> = []
        var uploadedFiles = 0
        var uploadedBytes: UInt64 = 0
        for file in manifest.files where missing.contains(file.sha256) {
            let wanted = blobs.filter { $0.path == file.path && missing.contains($0.digest) && !uploaded.contains($0.digest) }
            guard !wanted.isEmpty else { continue }
            uploadedFiles += 1
            let total = wanted.reduce(0) { $0 + $1.length }
            let bar = ProgressBar("uploading \(file.path)")
            var done: UInt64 = 0
            for blob in wanted where uploaded.insert(blob.digest).inserted {
                _ = try Failure.remote {
                    try client.upload(blob.digest, file: bundle, offset: blob.offset, length: blob.length) { sent, _ in
                        bar.update(done + UInt64(max(sent, 0)), total)
                    }
                }
                done += blob.length
                uploadedBytes += blob.length
            }
            bar.finish()
        }
        let published = try Failure.remote { try client.publish(envelope: try archive.envelope.encoded()) }
        if json {
            struct Output: Encodable {
                let bundle: AdminAPI.Bundle
                let created: Bool
                /// Files of which something was uploaded (whole, or some of their chunks).
                let uploadedFiles: Int
                let uploadedChunks: Int
                let uploadedBytes: UInt64
                enum CodingKeys: String, CodingKey {
                    case bundle, created, uploadedFiles = "uploaded_files", uploadedChunks = "uploaded_chunks", uploadedBytes = "uploaded_bytes"
                }
            }
            let chunks = uploaded.subtracting(manifest.files.map(\.sha256)).count
            try Terminal.printJSON(Output(bundle: published.bundle, created: published.created, uploadedFiles: uploadedFiles,
                                          uploadedChunks: chunks, uploadedBytes: uploadedBytes))
            return
        }
        let total = manifest.files.reduce(0) { $0 + $1.size }
        say("uploaded \(Terminal.formatBytes(uploadedBytes)) of \(Terminal.formatBytes(total)) (\(uploadedFiles) file\(uploadedFiles == 1 ? "" : "s")); the rest was already on the server")
        say("\(published.created ? "published" : "already published"): \(published.bundle.name) \(published.bundle.version) (digest \(published.bundle.digest))")
    }

    /// What a bundle's payload is stored as on the server: each chunk of a chunked file, each
    /// other file whole. Offsets are in the bundle file.
    struct Blob {
        let path: PayloadPath
        let digest: SHA256Digest
        let offset: UInt64
        let length: UInt64
    }

    static func blobs(of manifest: Manifest, entries: [PayloadPath: BundleArchive.Entry]) -> [Blob] {
        manifest.files.flatMap { file -> [Blob] in
            let start = entries[file.path]!.offset
            guard let chunks = file.chunks else { return [Blob(path: file.path, digest: file.sha256, offset: start, length: file.size)] }
            return chunks.map { Blob(path: file.path, digest: $0.sha256, offset: start + $0.offset, length: $0.length) }
        }
    }
}
