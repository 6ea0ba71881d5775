extension DeviceAPI {
    public static let metricsPath = "/api/v1/device/metrics"

    /// How a shadow phase ended on a device: what the application measured, and what each
    /// gate made of it. A report that was missing or malformed has no `report`.
    public struct ShadowOutcome: Codable, Equatable, Sendable {
        public var passed: Bool
        public var report: ShadowReport?
        public var gates: [GateResult]

        public init(passed: Bool, report: ShadowReport?, gates: [GateResult]) {
            self.passed = passed
            self.report = report
            self.gates = gates
        }
    }

    /// The live model's figures over a period, from the device's `metrics_command`.
    public struct ModelMetrics: Codable, Equatable, Sendable {
        public var bundleName: BundleName
        public var version: String
        public var digest: SHA256Digest
        /// When they were measured on the device (RFC 3339).
        public var at: Timestamp
        public var report: MetricsReport

        enum CodingKeys: String, CodingKey { case bundleName = "bundle_name", version, digest, at, report }

        public init(bundleName: BundleName, version: String, digest: SHA256Digest, at: Timestamp, report: MetricsReport) {
            self.bundleName = bundleName
            self.version = version
            self.digest = digest
            self.at = at
            self.report = report
        }
    }

    public struct MetricsRequest: Codable, Equatable, Sendable {
        public static let maximumCount = 64
        public var metrics: [ModelMetrics]
        public init(metrics: [ModelMetrics]) { self.metrics = metrics }
    }
}

extension DeviceAPI.ShadowOutcome {
    /// The reason without figures, for grouping failures across a fleet ("stopped in shadow:
    /// latency_p95<=1.2x failed"); `detail` is the device's own sentence, used when no gate
    /// decided (no report, a malformed one, too few samples).
    public func groupingReason(detail: String) -> String {
        let failed = gates.filter { !$0.passed }.map(\.gate.description)
        guard !passed, !failed.isEmpty else { return detail }
        return "stopped in shadow: \(failed.joined(separator: ", ")) failed"
    }
}
