import Foundation
import OTAClient
import OTACore
import TestSupport
import Testing

/// The registry database away for a while (here: another writer holding its lock): the
/// server answers 503 with Retry-After and changes nothing, keeps answering what it can, and
/// recovers by itself; otactl waits as asked.
@Suite("Database outages", .tags(.database))
struct DatabaseOutageTests {
    /// The database's own client holding its write lock until `release()`: `sqlite3` in an
    /// exclusive transaction, or `psql` holding the advisory lock that PostgreSQL writers take.
    final class WriteLock: @unchecked Sendable {
        private let process = Process()
        private let input = Pipe()

        init(_ server: TestServer) throws {
            let output = Pipe()
            process.standardInput = input
            process.standardOutput = output
            if let url = server.databaseArguments.last {
                process.executableURL = URL(fileURLWithPath: "/usr/bin/psql")
                process.arguments = ["-X", "-q", "-At", url]
                process.standardOutput = FileHandle.nullDevice
                process.environment = ProcessInfo.processInfo.environment.merging(["PGAPPNAME": "ota-test-write-lock"]) { _, named in named }
                try process.run()
                input.fileHandleForWriting.write(Data("BEGIN;\nSELECT pg_advisory_xact_lock(7304289);\n".utf8))
                // psql buffers what it prints into a pipe: ask the server whether psql's session (by
                // its application name) holds the lock. The server's own writes may hold it for a
                // moment too: a test that took that for psql's once saw its write succeed.
                let deadline = Date().addingTimeInterval(30)
                while try server.sql("""
                    SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
                    WHERE l.locktype = 'advisory' AND l.objid = 7304289 AND l.granted AND a.application_name = 'ota-test-write-lock'
                    """).stdout.trimmed != "1" {
                    guard Date() < deadline else { throw TestFailure("psql did not take the lock") }
                    usleep(50_000)
                }
                return
            }
            process.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
            process.arguments = [server.dataPath + "/registry.sqlite"]
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
            input.fileHandleForWriting.write(Data("ROLLBACK;\n".utf8))
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
        let lock = try WriteLock(server)

        let refused = try server.request("POST", "/api/v1/enrollment-tokens", role: .operator, json: #"{"name": "during-outage"}"#)
        #expect(refused.status == 503, "\(refused)")
        #expect(refused.headers["retry-after"] == "5")
        #expect(String(decoding: refused.body, as: UTF8.self).contains("database_unavailable"))
        #expect(try server.request("GET", "/api/v1/devices", role: .viewer).status == 200, "reads go on")
        #expect(try device.checkin(.init(installed: [])).pollIntervalSeconds > 0, "check-ins are answered from memory")

        // otactl started during the outage waits as asked and succeeds once the lock is gone.
        // The lock goes once otactl has been refused and said it waits.
        let waiting = try RunningProcess(Binaries.path("otactl"), ["enroll-token", "create", "--name", "after-outage", "--server", server.url, "--token", server.tokens[.operator]!])
        try waiting.waitForOutput("retrying in 5 s")
        lock.release()
        let finished = try waiting.finish(timeout: 60)
        #expect(finished.status == 0, "\(finished)")
        #expect(finished.stderr.contains("the server is unavailable") && finished.stderr.contains("retrying in 5 s"), "\(finished.stderr)")
        let names = try server.admin(.operator).enrollmentTokens().map(\.name)
        #expect(names.contains("after-outage") && !names.contains("during-outage"), "\(names)")
    }
}
