import Foundation
import OTACore

/// Where the package's executables are: next to the test bundle, or `OTA_BIN_DIR`.
public enum Binaries {
    public static var directory: String {
        if let dir = ProcessInfo.processInfo.environment["OTA_BIN_DIR"] { return dir }
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return FileSystem.parent(of: exe)
    }

    public static func path(_ name: String) -> String { directory + "/" + name }
}

public struct ProcessResult: Sendable, CustomStringConvertible {
    /// The exit code, or the signal's number when `killedBySignal`.
    public let status: Int32
    /// A crash (a trap, a segfault) or a kill, rather than an exit with a code.
    public let killedBySignal: Bool
    public let stdout: String
    public let stderr: String
    public var description: String { "\(killedBySignal ? "killed by signal" : "exit") \(status)\nstdout: \(stdout)\nstderr: \(stderr)" }
}

/// Runs a program to completion and captures its output.
@discardableResult
public func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:],
                directory: String? = nil, stdin: String? = nil) throws -> ProcessResult {
    let process = Process()
    // A program on a `ProcessClock` starts through env as well (see `ProcessClock.startsThroughEnv`).
    let direct = executable.hasPrefix("/") && !ProcessClock.startsThroughEnv(environment)
    process.executableURL = URL(fileURLWithPath: direct ? executable : "/usr/bin/env")
    process.arguments = direct ? arguments : [executable] + arguments
    var env = ProcessInfo.processInfo.environment
    for (key, value) in environment { env[key] = value }
    process.environment = env
    if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    let input = Pipe()
    process.standardInput = input
    try process.run()
    if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
    try? input.fileHandleForWriting.close()
    // Read both pipes concurrently so that a chatty child cannot fill one and block.
    let group = DispatchGroup()
    nonisolated(unsafe) var stderrData = Data()
    group.enter()
    DispatchQueue.global().async {
        stderrData = err.fileHandleForReading.readDataToEndOfFile()
        group.leave()
    }
    let stdoutData = out.fileHandleForReading.readDataToEndOfFile()
    group.wait()
    process.waitUntilExit()
    return ProcessResult(status: process.terminationStatus, killedBySignal: process.terminationReason == .uncaughtSignal,
                         stdout: String(decoding: stdoutData, as: UTF8.self),
                         stderr: String(decoding: stderrData, as: UTF8.self))
}

/// Runs `otactl` from the build folder.
@discardableResult
public func otactl(_ arguments: String..., environment: [String: String] = [:], directory: String? = nil) throws -> ProcessResult {
    try run(Binaries.path("otactl"), arguments, environment: environment, directory: directory)
}

@discardableResult
public func otactl(_ arguments: [String], environment: [String: String] = [:], directory: String? = nil) throws -> ProcessResult {
    try run(Binaries.path("otactl"), arguments, environment: environment, directory: directory)
}
