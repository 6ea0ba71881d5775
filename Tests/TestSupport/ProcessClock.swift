import Foundation
import OTACore

/// The time of day of a real `ota-server` or `ota-agent` process, moved forward by the test
/// instead of waited for: the process runs with libfaketime preloaded (Debian's `libfaketime`,
/// installed by `scripts/install-deps.sh test`), which adds the offset written in a file to
/// every reading of the time of day. The test rewrites the file; the process reads it at each
/// reading (`FAKETIME_NO_CACHE`), so the move holds from the next request on.
///
/// Only the time of day moves: monotonic clocks (NIO's timers, connection deadlines, backoff
/// and rates) and file times are left alone, as in the in-process `TestClock`. What a test
/// proves with it is what the product decides from dates: expiry of tokens, metadata and
/// roots, shadow phases, `max_update_age_s`.
public final class ProcessClock: @unchecked Sendable {
    /// Debian's multithreaded libfaketime, under the machine's multiarch folder.
    static let library: String? = ((try? FileSystem.list("/usr/lib")) ?? []).sorted()
        .map { "/usr/lib/\($0)/faketime/libfaketimeMT.so.1" }.first(where: FileSystem.exists)

    private let library: String
    private let dir = TemporaryDirectory("ota-clock")
    private var path: String { dir.file("offset") }
    /// Seconds ahead of the machine's clock.
    public private(set) var offset: Int64 = 0

    public init() throws {
        guard let library = Self.library else {
            throw TestFailure("libfaketimeMT.so.1 is missing under /usr/lib: run scripts/install-deps.sh test (Debian's libfaketime)")
        }
        self.library = library
        try write()
    }

    /// The environment that puts a process on this clock.
    public var environment: [String: String] {
        ["LD_PRELOAD": library, "FAKETIME_TIMESTAMP_FILE": path, "FAKETIME_NO_CACHE": "1",
         "FAKETIME_DONT_FAKE_MONOTONIC": "1", "NO_FAKE_STAT": "1"]
    }

    /// Whether a process with `environment` must start through `/usr/bin/env`: one on a
    /// `ProcessClock` must. Where libfaketime is first loaded in a family of processes, it
    /// stores the name of its shared memory with `setenv()`, and a Swift program started
    /// directly then sees no command-line arguments (Swift 6.3 on Debian 12: the runtime finds
    /// them beside the `environ` that `setenv()` moved). Started through env, which loads it
    /// first, the program finds the variable set and its arguments where they were.
    public static func startsThroughEnv(_ environment: [String: String]) -> Bool {
        environment["LD_PRELOAD"]?.contains("libfaketime") == true
    }

    /// Moves the processes on this clock `seconds` ahead; never back.
    public func advance(seconds: Int64) throws {
        precondition(seconds > 0, "a process clock only moves forward")
        offset += seconds
        try write()
    }

    private func write() throws {
        try FileSystem.writeAtomically(Array("+\(offset)\n".utf8), to: path)
    }
}
