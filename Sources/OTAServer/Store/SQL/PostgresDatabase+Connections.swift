import Logging
import NIOConcurrencyHelpers
import OTACore
import PostgresNIO

/// Leasing a pooled connection, with its two deadlines: one to get it, one for the work on it.
extension PostgresDatabase {
    /// Runs `body` on a pooled connection, with a deadline to get one: while the database is
    /// away the pool keeps trying to connect, and a caller must not wait on it longer than a
    /// connect takes. Past the deadline the caller is answered (`SQLUnavailable`) without
    /// waiting for the pool any further, and `body` never runs for it: a lease that comes
    /// later is given back untouched. Once `body` runs, the session's deadlines end a slow
    /// statement (`statement_timeout`, `idle_in_transaction_session_timeout`, TCP keepalives);
    /// `deadlineSeconds` ends a wait that no statement timeout ends, on a connection that no
    /// longer answers (seen with PostgreSQL restarted under a busy server: the request, and the
    /// server's shutdown after it, waited for ever). Past it the caller is answered
    /// `SQLUnavailable` and the connection is closed. A write cut so may still have committed,
    /// as when a connection is lost during its commit: the answer says the database did not
    /// answer, not that nothing was written.
    func withConnection<T: Sendable>(deadlineSeconds: Double?, _ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        let leaseSeconds = Double(location.connectTimeoutSeconds) + 1
        let place = location.redacted
        let lease = NIOLockedValueBox(LeaseState.waiting)
        let answered = NIOLockedValueBox(false)
        return try await withCheckedThrowingContinuation { [client] (continuation: CheckedContinuation<T, any Error>) in
            let answer: @Sendable (Result<T, any Error>) -> Void = { result in
                let first = answered.withLockedValue { answered in
                    defer { answered = true }
                    return !answered
                }
                if first { continuation.resume(with: result) }
            }
            let timer = NIOLockedValueBox<Task<Void, Never>?>(nil)
            let work = Task {
                defer { timer.withLockedValue { $0?.cancel() } }
                do {
                    answer(.success(try await client.withConnection { [logger] connection in
                        guard lease.withLockedValue({ $0.take() }) else { throw CancellationError() }
                        let watchdog = Task {
                            guard let deadlineSeconds else { return }
                            do { try await Task.sleep(for: .milliseconds(Int(deadlineSeconds * 1000))) } catch { return }
                            logger.error("a transaction on \(place) took over \(Int(deadlineSeconds)) s: answering unavailable and closing its connection")
                            answer(.failure(SQLUnavailable(reason: "the database at \(place) did not answer within \(Int(deadlineSeconds)) s")))
                            do { try await connection.close() } catch {
                                logger.warning("closing the connection of a transaction past its deadline failed (it is gone either way): \(error)")
                            }
                        }
                        // The connection goes back to the pool only once the watchdog is done
                        // with it: one firing as the body ends must not close it under the next user.
                        let result: Result<T, any Error>
                        do { result = .success(try await body(connection)) } catch { result = .failure(error) }
                        watchdog.cancel()
                        await watchdog.value
                        return try result.get()
                    }))
                } catch {
                    guard lease.withLockedValue({ $0 }) == .leased else {
                        answer(.failure(SQLUnavailable(reason: "cannot connect to the database at \(place): \(error)")))
                        return
                    }
                    answer(.failure(error))
                }
            }
            timer.withLockedValue { $0 = Task {
                // Cancelled when the work ends first: nothing to give up then.
                guard (try? await Task.sleep(for: .milliseconds(Int(leaseSeconds * 1000)))) != nil else { return }
                guard lease.withLockedValue({ $0.abandon() }) else { return }
                work.cancel()
                answer(.failure(SQLUnavailable(reason: "cannot connect to the database at \(place): no connection within \(Int(leaseSeconds)) s")))
            } }
        }
    }

    /// Whether a caller's lease was taken in time, or given up.
    enum LeaseState: Sendable {
        case waiting, leased, abandoned

        /// Takes the connection for the caller, unless the caller gave up.
        mutating func take() -> Bool {
            guard self == .waiting else { return false }
            self = .leased
            return true
        }

        /// Gives up waiting, unless the connection was already taken.
        mutating func abandon() -> Bool {
            guard self == .waiting else { return false }
            self = .abandoned
            return true
        }
    }
}
