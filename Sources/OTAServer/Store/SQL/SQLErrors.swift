/// The database cannot serve just now (unreachable, restarting, locked past the timeout);
/// nothing was changed, and the request may be retried.
struct SQLUnavailable: Error, CustomStringConvertible {
    let reason: String
    var description: String { reason }
}

/// A statement PostgreSQL refused for another reason than availability (a constraint, a bug).
struct SQLFailure: Error, CustomStringConvertible {
    let reason: String
    var description: String { "the database refused a statement: \(reason)" }
}
