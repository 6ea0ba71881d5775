import Foundation
import OTACore

/// A fresh folder under /tmp for one test, removed when the value goes away.
public final class TemporaryDirectory: @unchecked Sendable {
    public let path: String

    public init(_ label: String = "ota-test") {
        let name = "\(label)-\(getpid())-\(Hex.encode(SecureRandom.bytes(6)))"
        path = NSTemporaryDirectory().appending("/").appending(name).replacing("//", with: "/")
        try! FileSystem.createDirectory(path)
    }

    deinit {
        if ProcessInfo.processInfo.environment["OTA_KEEP_TEST_FILES"] == nil { try? FileSystem.remove(path) }
    }

    public func file(_ relative: String) -> String { path + "/" + relative }

    /// Writes `contents` to a file under the folder, creating parents.
    @discardableResult
    public func write(_ relative: String, _ contents: String) throws -> String {
        try write(relative, Array(contents.utf8))
    }

    @discardableResult
    public func write(_ relative: String, _ bytes: [UInt8]) throws -> String {
        let full = file(relative)
        try FileSystem.createDirectory(FileSystem.parent(of: full))
        try FileSystem.writeAtomically(bytes, to: full)
        return full
    }

    /// All file paths under the folder, relative, sorted (to prove nothing else was written).
    public func listing() -> [String] {
        var out: [String] = []
        func walk(_ relative: String) {
            let absolute = relative.isEmpty ? path : path + "/" + relative
            for name in (try? FileSystem.list(absolute)) ?? [] {
                let child = relative.isEmpty ? name : relative + "/" + name
                if FileSystem.kind(of: path + "/" + child) == .directory { walk(child) } else { out.append(child) }
            }
        }
        walk("")
        return out.sorted()
    }
}

/// The description of the error `body` throws, or nil when it does not throw.
public func errorText(_ body: () throws -> Void) -> String? {
    do { try body(); return nil } catch { return String(describing: error) }
}
