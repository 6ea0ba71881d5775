import Foundation

/// A program the test starts and talks about while it runs: what it printed so far can be
/// waited for ("retrying", a first drawing), so the test acts at the moment the program has
/// reached that point rather than after a guessed time.
public final class RunningProcess: @unchecked Sendable {
    private let process = Process()
    private let lock = NSLock()
    private var out = Data()
    private var err = Data()

    public init(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.standardInput = FileHandle.nullDevice
        let stdout = Pipe(), stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        stdout.fileHandleForReading.readabilityHandler = { [weak self] handle in self?.append(handle.availableData, error: false) }
        stderr.fileHandleForReading.readabilityHandler = { [weak self] handle in self?.append(handle.availableData, error: true) }
        try process.run()
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    private func append(_ data: Data, error: Bool) {
        lock.withLock { if error { err.append(data) } else { out.append(data) } }
    }

    /// What it printed so far.
    public var stdout: String { lock.withLock { String(decoding: out, as: UTF8.self) } }
    public var stderr: String { lock.withLock { String(decoding: err, as: UTF8.self) } }

    /// Returns once stdout or stderr holds `text`.
    public func waitForOutput(_ text: String, timeout: Double = 30) throws {
        try eventually(timeout: timeout, "'\(text)' from \(process.executableURL?.lastPathComponent ?? "the process")") {
            self.stdout.contains(text) || self.stderr.contains(text)
        }
    }

    /// Waits for it to end (killing it at the deadline) and returns what it printed.
    public func finish(timeout: Double = 60) throws -> ProcessResult {
        do {
            try eventually(timeout: timeout, "\(process.executableURL?.lastPathComponent ?? "the process") to end") { !self.process.isRunning }
        } catch {
            kill(process.processIdentifier, SIGKILL)
            throw error
        }
        process.waitUntilExit()
        // The pipes' last bytes: their handlers may not have run yet.
        for pipe in [process.standardOutput, process.standardError].compactMap({ $0 as? Pipe }) {
            pipe.fileHandleForReading.readabilityHandler = nil
            append(pipe.fileHandleForReading.readDataToEndOfFile(), error: pipe === process.standardError as? Pipe)
        }
        return ProcessResult(status: process.terminationStatus, killedBySignal: process.terminationReason == .uncaughtSignal,
                             stdout: stdout, stderr: stderr)
    }
}
