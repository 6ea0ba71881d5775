import OTACore

/// An error `otactl` reports as one sentence on stderr, with its documented exit code.
struct Failure: Error {
    let message: String
    let exitCode: Int32

    static let general: Int32 = 1
    static let verification: Int32 = 2
    static let unreachable: Int32 = 3
    static let refused: Int32 = 4

    init(_ message: String, exitCode: Int32 = Failure.general) {
        self.message = message
        self.exitCode = exitCode
    }

    /// Runs `body`, turning any error into a `Failure` that starts with `context`.
    static func wrap<T>(_ context: String, exitCode: Int32 = Failure.general, _ body: () throws -> T) throws -> T {
        do { return try body() } catch let failure as Failure { throw failure } catch {
            throw Failure(context.isEmpty ? String(describing: error) : "\(context): \(error)", exitCode: exitCode)
        }
    }
}
