import Foundation
import OTAClient
import OTACore
import TestSupport
import Testing

/// The registry database away for a while (here: another writer holding its lock): the
/// server answers 503 with Retry-After and changes nothing, keeps answering what it can, and
/// recovers by itself; otactl waits as asked.
@Suite("Database outages")
struct DatabaseOutageTests {
    /// `sqlite3` holding the database's write lock until `release()`.
    final class WriteLock: @unchecked Sendable {
        private let process = Process()
        private let input = Pipe()

        init(_ database: String) throws {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["sqlite3", database]
            let output = Pipe()
            process.standardInput = input
            process.standardOutput = output
            try process.run()
            input.fileHandleForWriting.write(Data("PRAGMA busy_timeout = 5000;\nBEGIN EXCLUSIVE;\nSELECT 'locked';\n".utf8))
            var seen = Data()
            while !String(decoding: seen, as: UTF8.self).contains("locked") {
                let chunk = output.fileHandleForReading.availableData
                if chunk.isEmpty { throw TestFailure("sqlite3 did not take the lock") }
                seen.append(chunk)
            }
        }

        func release() {
            input.fileHandleForWriting.write(Data("ROLLBACK;\n.quit\n".utf8))
            try? input.fileHandleForWriting.close()
            process.waitUntilExit()
        }
    }

    @Test("While another writer holds the database, writes answer 503 with Retry-After and change nothing; reads and check-ins still answer; otactl waits and succeeds")
    func lockedDatabase() throws {
        let server = try TestServer(arguments: ["--database-timeout", "0.5"])
        let device = try server.registerDevice("d1")
        // Opening a session writes (its proof is remembered against replay); checking in does not.
        _ = try device.checkin(.init(installed: []))
        let lock = try WriteLock(server.dataPath + "/registry.sqlite")

        let refused = try server.request("POST", "/api/v1/enrollment-tokens", role: .operator, json: #"{"name": "during-outage"}"#)
        #expect(refused.status == 503, "\(refused)")
        #expect(refused.headers["retry-after"] == "5")
        #expect(String(decoding: refused.body, as: UTF8.self).contains("database_unavailable"))
        #expect(try server.request("GET", "/api/v1/devices", role: .viewer).status == 200, "reads go on")
        #expect(try device.checkin(.init(installed: [])).pollIntervalSeconds > 0, "check-ins are answered from memory")

        // otactl started during the outage waits as asked and succeeds once the lock is gone.
        nonisolated(unsafe) var result: ProcessResult?
        let done = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            result = try? otactl(["enroll-token", "create", "--name", "after-outage", "--server", server.url, "--token", server.tokens[.operator]!])
            done.signal()
        }
        Thread.sleep(forTimeInterval: 2)
        lock.release()
        #expect(done.wait(timeout: .now() + 60) == .success)
        let finished = try #require(result)
        #expect(finished.status == 0, "\(finished)")
        #expect(finished.stderr.contains("the server is unavailable") && finished.stderr.contains("retrying in 5 s"), "\(finished.stderr)")
        let names = try server.admin(.operator).enrollmentTokens().map(\.name)
        #expect(names.contains("after-outage") && !names.contains("during-outage"), "\(names)")
    }
}
