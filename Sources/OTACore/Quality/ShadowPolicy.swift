/// How a deployment wants its candidate proven on each device before it serves: the agent
/// stages it beside the live model, the application runs it on live inputs, and after
/// `minSamples` (or `maxSeconds`, whichever first) the device checks `gates`.
public struct ShadowPolicy: Codable, Equatable, Sendable {
    public var minSamples: Int
    public var maxSeconds: Int
    /// The share of live inputs the application should also give the candidate (its compute budget).
    public var sampleShare: Double
    public var gates: [QualityGate]

    public static let defaultMinSamples = 200
    public static let defaultMaxSeconds = 600
    /// Without gates of its own a shadow phase still demands a candidate that never failed.
    public static let defaultGates = [QualityGate(metric: .errors, comparison: .atMost, threshold: 0)]

    enum CodingKeys: String, CodingKey { case minSamples = "min_samples", maxSeconds = "max_s", sampleShare = "sample_share", gates }

    public init(minSamples: Int = defaultMinSamples, maxSeconds: Int = defaultMaxSeconds, sampleShare: Double = 1, gates: [QualityGate] = defaultGates) {
        self.minSamples = minSamples
        self.maxSeconds = maxSeconds
        self.sampleShare = sampleShare
        self.gates = gates
    }

    public var problem: String? {
        guard (1...1_000_000).contains(minSamples) else { return "shadow min_samples must be 1 to 1000000" }
        guard (5...7 * 86_400).contains(maxSeconds) else { return "shadow max_s must be 5 to 604800 seconds" }
        guard sampleShare.isFinite, sampleShare > 0, sampleShare <= 1 else { return "shadow sample_share must be above 0 and at most 1" }
        guard !gates.isEmpty, gates.count <= 16 else { return "a shadow phase needs 1 to 16 gates" }
        guard Set(gates).count == gates.count else { return "a gate is listed twice" }
        return nil
    }

    /// Every gate, with the reason the first failing one gives.
    public func verdict(_ report: ShadowReport) -> (passed: Bool, results: [GateResult], reason: String) {
        let results = report.evaluate(gates)
        guard report.samples >= minSamples else {
            return (false, results, "only \(report.samples) of \(minSamples) samples within \(DurationText.describe(seconds: maxSeconds))")
        }
        // Latency and confidence of a model that answered nothing mean nothing.
        if report.samples > 0 && report.candidate.errors >= report.samples {
            return (false, results, "the candidate failed on all \(report.samples) samples")
        }
        let failed = results.filter { !$0.passed }
        if failed.isEmpty { return (true, results, results.map(\.summary).joined(separator: ", ")) }
        return (false, results, failed.map(\.summary).joined(separator: ", "))
    }
}
