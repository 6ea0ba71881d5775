#if canImport(Glibc)
import Glibc
#endif
import OTACore

/// Runs a configured command (reload, health check, install handler) with a timeout. The
/// command gets its own process group, so a timeout kills everything it started.
struct CommandRunner: Sendable {
    struct Outcome: Sendable, Equatable {
        /// Exit status, or nil when it was killed (timeout) or died from a signal.
        var exitStatus: Int32?
        var timedOut: Bool
        /// The end of what it printed (stdout and stderr), for event details; with
        /// `standardOutputOnly`, all it printed on stdout.
        var output: String
        /// It printed more than the `outputLimit` it was given, and was killed for it.
        var overflowed = false

        var succeeded: Bool { exitStatus == 0 && !timedOut }

        /// One line for an event: "exit 1: accuracy 0.025 is below 0.9".
        var summary: String {
            let tail = output.split(separator: "\n").last.map(String.init)?.trimmed ?? ""
            let how = timedOut ? "timed out" : exitStatus.map { "exit \($0)" } ?? "killed by a signal"
            return tail.isEmpty ? how : "\(how): \(tail.prefix(300))"
        }
    }

    struct LaunchError: Error, CustomStringConvertible {
        let description: String
    }

    /// Runs `argv` with the agent's environment plus `extra` (or only `extra` when
    /// `inheritEnvironment` is false). With `standardOutputOnly`, stderr goes nowhere and
    /// `output` is what it printed on stdout, whole: a command that prints more than
    /// `outputLimit` bytes is killed (`overflowed`), so what is kept is never a cut answer.
    static func run(_ argv: [String], environment extra: [String: String] = [:], inheritEnvironment: Bool = true,
                    timeoutSeconds: Int, standardOutputOnly: Bool = false, outputLimit: Int? = nil) throws -> Outcome {
        guard let program = argv.first else { throw LaunchError(description: "empty command") }
        var pipeEnds: [Int32] = [0, 0]
        guard pipe(&pipeEnds) == 0 else { throw LaunchError(description: "pipe failed") }
        let (readEnd, writeEnd) = (pipeEnds[0], pipeEnds[1])
        defer { close(readEnd) }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, writeEnd, 1)
        if standardOutputOnly {
            posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        } else {
            posix_spawn_file_actions_adddup2(&actions, writeEnd, 2)
        }
        posix_spawn_file_actions_addclose(&actions, readEnd)
        posix_spawn_file_actions_addclose(&actions, writeEnd)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // Its own process group, default signal handling and an empty mask, whatever the agent blocks.
        var empty = sigset_t()
        sigemptyset(&empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGTERM, SIGINT, SIGPIPE, SIGHUP] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        var environment: [String: String] = [:]
        var pointer = environ
        while inheritEnvironment, let entry = pointer.pointee {
            let text = String(cString: entry)
            if let equals = text.firstIndex(of: "=") { environment[String(text[..<equals])] = String(text[text.index(after: equals)...]) }
            pointer += 1
        }
        for (key, value) in extra { environment[key] = value }
        // A test's crash point is for the agent alone, never for the programs it runs.
        environment["OTA_AGENT_CRASH_AT"] = nil

        let cArguments = argv.map { strdup($0) } + [nil]
        let cEnvironment = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in cArguments { free(pointer) }
            for pointer in cEnvironment { free(pointer) }
        }
        Self.closeOnExec()
        var pid: pid_t = 0
        let spawned = posix_spawnp(&pid, program, &actions, &attributes, cArguments, cEnvironment)
        close(writeEnd)
        guard spawned == 0 else {
            throw LaunchError(description: "cannot run \(program): \(String(cString: strerror(spawned)))")
        }

        var output: [UInt8] = []
        let keep = outputLimit ?? 8 * 1024
        var overflowed = false
        var buffer = [UInt8](repeating: 0, count: 4096)
        let deadline = monotonicSeconds() + Double(timeoutSeconds)
        var status: Int32 = 0
        var timedOut = false
        var pipeOpen = true
        while true {
            if waitpid(pid, &status, WNOHANG) == pid { break }
            if monotonicSeconds() >= deadline {
                kill(-pid, SIGKILL)
                kill(pid, SIGKILL)
                while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
                timedOut = true
                break
            }
            if pipeOpen {
                var descriptor = pollfd(fd: readEnd, events: Int16(POLLIN), revents: 0)
                if poll(&descriptor, 1, 50) > 0 {
                    let count = read(readEnd, &buffer, buffer.count)
                    if count > 0 {
                        output += buffer[..<count]
                        if output.count > keep {
                            if outputLimit != nil {
                                overflowed = true
                                kill(-pid, SIGKILL)
                                kill(pid, SIGKILL)
                                while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
                                break
                            }
                            output.removeFirst(output.count - keep)
                        }
                    } else if count == 0 {
                        pipeOpen = false
                    }
                }
            } else {
                usleep(20_000)
            }
        }
        // Whatever is still in the pipe, without waiting for stray grandchildren, and at most
        // 1 MiB of it: a grandchild that keeps writing cannot hold the agent here.
        _ = fcntl(readEnd, F_SETFL, fcntl(readEnd, F_GETFL) | O_NONBLOCK)
        var drained = 0
        while pipeOpen && !overflowed && drained < 1 << 20 {
            let count = read(readEnd, &buffer, buffer.count)
            guard count > 0 else { break }
            drained += count
            output += buffer[..<count]
            if output.count > keep {
                if outputLimit != nil { overflowed = true; break }
                output.removeFirst(output.count - keep)
            }
        }
        let exited = (status & 0x7f) == 0
        return Outcome(exitStatus: !timedOut && !overflowed && exited ? (status >> 8) & 0xff : nil, timedOut: timedOut,
                       output: String(decoding: output, as: UTF8.self), overflowed: overflowed)
    }

    /// Marks every descriptor from 3 up close-on-exec, so that no command (a bundle's
    /// self-test above all) inherits the agent's connections or files.
    static func closeOnExec() {
        // Without /proc (a chroot) nothing is marked: the agent opens its own files close-on-exec.
        for name in (try? FileSystem.list("/proc/self/fd")) ?? [] {
            guard let descriptor = Int32(name), descriptor > 2 else { continue }
            let flags = fcntl(descriptor, F_GETFD)
            if flags >= 0 && flags & FD_CLOEXEC == 0 { _ = fcntl(descriptor, F_SETFD, flags | FD_CLOEXEC) }
        }
    }

    static func monotonicSeconds() -> Double {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
    }
}
