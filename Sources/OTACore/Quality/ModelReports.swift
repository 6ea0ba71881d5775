/// What an application measured of one model. The same small JSON for every framework:
///
///     {"latency_p50_ms": 0.8, "latency_p95_ms": 1.9, "confidence": 0.93, "errors": 0,
///      "metrics": {"f1": 0.91}}
///
/// `confidence` (mean top-1 probability) and `metrics` (the application's own figures, up to
/// 32 names) are optional.
public struct ModelFigures: Codable, Equatable, Sendable {
    public var latencyP50Ms: Double
    public var latencyP95Ms: Double
    public var confidence: Double?
    /// Inputs the model failed on (an exception, a timeout, an answer of the wrong shape).
    public var errors: Int
    public var metrics: [String: Double]?

    enum CodingKeys: String, CodingKey {
        case latencyP50Ms = "latency_p50_ms", latencyP95Ms = "latency_p95_ms", confidence, errors, metrics
    }

    public init(latencyP50Ms: Double, latencyP95Ms: Double, confidence: Double? = nil, errors: Int = 0, metrics: [String: Double]? = nil) {
        self.latencyP50Ms = latencyP50Ms
        self.latencyP95Ms = latencyP95Ms
        self.confidence = confidence
        self.errors = errors
        self.metrics = metrics
    }

    static func problem(withMetricName name: String) -> String? {
        guard !name.isEmpty, name.utf8.count <= 64,
              name.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x7a) || $0 == 0x5f }) else {
            return "metric name '\(name.prefix(80))' must be 1 to 64 of a-z, 0-9 and _"
        }
        return nil
    }

    func problem(_ what: String) -> String? {
        func bad(_ field: String, _ value: Double, _ range: ClosedRange<Double>) -> String? {
            value.isFinite && range.contains(value) ? nil : "\(what).\(field) must be a number from \(QualityGate.format(range.lowerBound)) to \(QualityGate.format(range.upperBound))"
        }
        if let problem = bad("latency_p50_ms", latencyP50Ms, 0...3_600_000) ?? bad("latency_p95_ms", latencyP95Ms, 0...3_600_000) { return problem }
        if latencyP95Ms < latencyP50Ms { return "\(what).latency_p95_ms is below its latency_p50_ms" }
        if let confidence, let problem = bad("confidence", confidence, 0...1) { return problem }
        if !(0...1_000_000_000).contains(errors) { return "\(what).errors must be from 0 to 1000000000" }
        if let metrics {
            guard metrics.count <= 32 else { return "\(what).metrics holds more than 32 names" }
            for (name, value) in metrics.sorted(by: { $0.key < $1.key }) {
                if let problem = Self.problem(withMetricName: name) { return "\(what).metrics: \(problem)" }
                if let problem = bad("metrics.\(name)", value, -1e12...1e12) { return problem }
            }
        }
        return nil
    }

    /// One figure by gate metric; nil when this report does not have it.
    public func value(_ metric: QualityGate.Metric) -> Double? {
        switch metric {
        case .latencyP50: return latencyP50Ms
        case .latencyP95: return latencyP95Ms
        case .confidence: return confidence
        case .errors: return Double(errors)
        case .custom(let name): return metrics?[name]
        case .samples, .agreement, .distance: return nil
        }
    }
}

/// What the application measured while it ran the candidate beside the live model on the
/// same live inputs (the file the agent names in `OTA_SHADOW_REPORT`):
///
///     {"shadow_id": "…", "samples": 512, "agreement": 0.992,
///      "live": {…ModelFigures…}, "candidate": {…ModelFigures…}}
///
/// `agreement` is the share of inputs where both gave the same top-1 answer (classifiers);
/// `distance` the mean distance between their answers (regression). One of the two, or both.
/// `shadow_id` echoes `OTA_SHADOW_ID`, so that a report left from another attempt never counts.
public struct ShadowReport: ApplicationReport {
    public var shadowID: String
    public var samples: Int
    public var agreement: Double?
    public var distance: Double?
    public var live: ModelFigures
    public var candidate: ModelFigures

    enum CodingKeys: String, CodingKey { case shadowID = "shadow_id", samples, agreement, distance, live, candidate }

    public init(shadowID: String, samples: Int, agreement: Double?, distance: Double? = nil, live: ModelFigures, candidate: ModelFigures) {
        self.shadowID = shadowID
        self.samples = samples
        self.agreement = agreement
        self.distance = distance
        self.live = live
        self.candidate = candidate
    }

    public static let maximumBytes = 64 * 1024
    public static let what = "shadow report"

    public var problem: String? {
        guard !shadowID.isEmpty, shadowID.utf8.count <= 128 else { return "shadow_id must be 1 to 128 characters" }
        guard (0...1_000_000_000).contains(samples) else { return "samples must be from 0 to 1000000000" }
        if let agreement, !(agreement.isFinite && (0...1).contains(agreement)) { return "agreement must be a share from 0 to 1" }
        if let distance, !(distance.isFinite && distance >= 0 && distance < 1e12) { return "distance must be a number from 0 up" }
        return live.problem("live") ?? candidate.problem("candidate")
    }

    /// The figure a gate compares: the candidate's, or candidate ÷ live for relative gates.
    public func value(for gate: QualityGate) -> Double? {
        switch gate.metric {
        case .samples: return Double(samples)
        case .agreement: return agreement
        case .distance: return distance
        default:
            guard let candidateValue = candidate.value(gate.metric) else { return nil }
            guard gate.relative else { return candidateValue }
            // A ratio needs a positive live figure; capped, so no figure an application writes
            // can make it infinite.
            guard let liveValue = live.value(gate.metric) else { return nil }
            if liveValue <= 0 { return liveValue == 0 && candidateValue == 0 ? 1 : nil }
            return min(candidateValue / liveValue, 1e12)
        }
    }

    public func evaluate(_ gates: [QualityGate]) -> [GateResult] {
        gates.map { gate in
            let value = value(for: gate).flatMap { $0.isFinite ? $0 : nil }
            return GateResult(gate: gate, value: value, passed: value.map(gate.passes) ?? false)
        }
    }
}

/// What an application measured of the live model over a period (the file the agent names in
/// `OTA_METRICS_REPORT` for its `metrics_command`): `samples` and one model's figures.
public struct MetricsReport: ApplicationReport {
    public var samples: Int
    public var figures: ModelFigures

    public init(samples: Int, figures: ModelFigures) {
        self.samples = samples
        self.figures = figures
    }

    enum CodingKeys: String, CodingKey { case samples }

    public init(from decoder: any Decoder) throws {
        samples = try decoder.container(keyedBy: CodingKeys.self).decode(Int.self, forKey: .samples)
        figures = try ModelFigures(from: decoder)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(samples, forKey: .samples)
        try figures.encode(to: encoder)
    }

    public static let what = "metrics report"

    public var problem: String? {
        guard (0...1_000_000_000).contains(samples) else { return "samples must be from 0 to 1000000000" }
        return figures.problem("model")
    }

    /// Absolute gates only: after commit there is no live model beside it to compare with.
    public func value(for gate: QualityGate) -> Double? {
        guard !gate.relative else { return nil }
        return gate.metric == .samples ? Double(samples) : figures.value(gate.metric)
    }
}

/// A report an application writes for the agent: small, strictly shaped, every figure in range.
public protocol ApplicationReport: Codable, Equatable, Sendable {
    static var what: String { get }
    var problem: String? { get }
}

extension ApplicationReport {
    /// Decodes a report an application wrote: any problem is a sentence, never a pass.
    public static func decode(_ bytes: [UInt8]) throws(ReportError) -> Self {
        guard bytes.count <= ShadowReport.maximumBytes else {
            throw ReportError("the \(what) is \(bytes.count) bytes; at most \(ShadowReport.maximumBytes)")
        }
        let report: Self
        do { report = try StrictJSON.decodeRejectingUnknownFields(Self.self, from: bytes, what: what) } catch {
            throw ReportError(String(describing: error))
        }
        if let problem = report.problem { throw ReportError("\(what): \(problem)") }
        return report
    }
}

public struct ReportError: Error, CustomStringConvertible, Equatable, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Where a device's model figures come from.
public enum ModelReports {
    public enum Source: String, Codable, CaseIterable, Sendable {
        /// The candidate beside the live model, in a shadow phase, with the device's verdict.
        case shadow
        /// The committed model, from the device's metrics_command.
        case live
    }
}
