#if canImport(Glibc)
import Glibc
#endif

/// Runs a closure on a thread of its own, for a second hash pass on a second core while the
/// caller does the first (`otactl bundle verify` checks a file and its chunks at once).
/// OTACore has no Foundation threads; this is the one place that starts a POSIX thread.
public final class BackgroundThread: @unchecked Sendable {
    private var thread = pthread_t()
    private let body: () -> Void

    public init(_ body: @escaping () -> Void) {
        self.body = body
        let context = Unmanaged.passRetained(self).toOpaque()
        let created = pthread_create(&thread, nil, { raw in
            let me = Unmanaged<BackgroundThread>.fromOpaque(raw!).takeRetainedValue()
            me.body()
            return nil
        }, context)
        if created != 0 {
            // No thread: run it here, so that the caller's join() still finds it done.
            Unmanaged<BackgroundThread>.fromOpaque(context).release()
            thread = pthread_t()
            body()
        }
    }

    /// Waits until the closure has returned.
    public func join() {
        if thread != pthread_t() { pthread_join(thread, nil) }
    }
}
