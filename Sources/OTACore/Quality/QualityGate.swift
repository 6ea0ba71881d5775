/// One rule a candidate model must meet, written as text so that the operator, the server and
/// the device read the same thing: `agreement>=0.97`, `latency_p95<=1.2x`, `errors<=0`,
/// `metric.f1>=0.8`. A trailing `x` compares with the live model in the same shadow report
/// (candidate ÷ live); without it the figure is absolute.
public struct QualityGate: Codable, Equatable, Hashable, Sendable, CustomStringConvertible {
    public enum Metric: Equatable, Hashable, Sendable {
        case samples, agreement, distance, latencyP50, latencyP95, confidence, errors
        /// An application metric from the report's `metrics` (`metric.NAME`).
        case custom(String)

        public var name: String {
            switch self {
            case .samples: return "samples"
            case .agreement: return "agreement"
            case .distance: return "distance"
            case .latencyP50: return "latency_p50"
            case .latencyP95: return "latency_p95"
            case .confidence: return "confidence"
            case .errors: return "errors"
            case .custom(let name): return "metric." + name
            }
        }

        public static let standard: [Metric] = [.samples, .agreement, .distance, .latencyP50, .latencyP95, .confidence, .errors]

        init?(name: String) {
            if let known = Self.standard.first(where: { $0.name == name }) { self = known; return }
            guard name.hasPrefix("metric.") else { return nil }
            let custom = String(name.dropFirst("metric.".count))
            guard ModelFigures.problem(withMetricName: custom) == nil else { return nil }
            self = .custom(custom)
        }

        /// Whether "N× the live model" means something: agreement and distance already compare
        /// the two, and a count of errors or samples has no meaningful ratio.
        var allowsRelative: Bool {
            switch self {
            case .latencyP50, .latencyP95, .confidence, .custom: return true
            case .samples, .agreement, .distance, .errors: return false
            }
        }
    }

    public enum Comparison: String, Sendable {
        case atLeast = ">="
        case atMost = "<="
    }

    public let metric: Metric
    public let comparison: Comparison
    public let threshold: Double
    public let relative: Bool

    public struct Invalid: Error, CustomStringConvertible, Equatable {
        public let description: String
    }

    public init(metric: Metric, comparison: Comparison, threshold: Double, relative: Bool = false) {
        self.metric = metric
        self.comparison = comparison
        self.threshold = threshold
        self.relative = relative
    }

    /// Parses the exact text (no spaces: one spelling on the wire; `otactl` strips them).
    public init(parsing text: String) throws(Invalid) {
        let compact = text
        let usage = "write a gate as METRIC>=VALUE or METRIC<=VALUE (e.g. agreement>=0.97, latency_p95<=1.2x, errors<=0); metrics: "
            + Metric.standard.map(\.name).joined(separator: ", ") + ", metric.NAME"
        guard compact.utf8.count <= 200 else { throw Invalid(description: "gate is longer than 200 characters") }
        guard !compact.contains(" ") else { throw Invalid(description: "gate '\(compact)' must not contain spaces: \(usage)") }
        let characters = Array(compact)
        guard let at = characters.indices.dropLast().first(where: { (characters[$0] == ">" || characters[$0] == "<") && characters[$0 + 1] == "=" }) else {
            throw Invalid(description: "gate '\(compact)' has no >= or <=: \(usage)")
        }
        let name = String(characters[..<at])
        var value = String(characters[(at + 2)...])
        guard let metric = Metric(name: name) else { throw Invalid(description: "gate '\(compact)': unknown metric '\(name)': \(usage)") }
        let relative = value.hasSuffix("x")
        if relative { value.removeLast() }
        // Decimal digits only (Double would also take "inf", "nan" and hexadecimal).
        guard !value.isEmpty, value.allSatisfy({ $0.isASCII && ($0.isNumber || ".eE+-".contains($0)) }),
              let threshold = Double(value), threshold.isFinite, threshold >= 0, threshold < 1e12 else {
            throw Invalid(description: "gate '\(compact)': '\(value)' is not a number from 0 up")
        }
        if relative && !metric.allowsRelative {
            throw Invalid(description: "gate '\(compact)': \(metric.name) cannot be relative (x); give an absolute value")
        }
        if metric == .agreement && threshold > 1 { throw Invalid(description: "gate '\(compact)': agreement is a share from 0 to 1") }
        self.init(metric: metric, comparison: characters[at] == ">" ? .atLeast : .atMost, threshold: threshold, relative: relative)
    }

    /// The exact text: the threshold in its shortest form that reads back the same, so a
    /// gate survives being stored and sent unchanged.
    public var description: String {
        metric.name + comparison.rawValue + thresholdText + (relative ? "x" : "")
    }

    public var thresholdText: String {
        threshold == threshold.rounded() && threshold < 1e15 ? String(Int64(threshold)) : String(threshold)
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        do { try self.init(parsing: text) } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.description))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    /// "3.1x > 1.2x": a figure against the threshold, with the sign of the outcome.
    public func compare(_ value: Double, passed: Bool) -> String {
        let unit = relative ? "x" : ""
        let sign = passed ? comparison.rawValue : (comparison == .atLeast ? "<" : ">")
        return "\(Self.format(value))\(unit) \(sign) \(thresholdText)\(unit)"
    }

    public func passes(_ value: Double) -> Bool {
        switch comparison {
        case .atLeast: return value >= threshold
        case .atMost: return value <= threshold
        }
    }

    /// Short numbers for people: 0.97, 1.2, 3, 0.01235 (four significant digits).
    public static func format(_ value: Double) -> String {
        guard value.isFinite else { return String(value) }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        var scale = 1.0
        var magnitude = abs(value)
        while magnitude < 1000 && scale < 1e12 { magnitude *= 10; scale *= 10 }
        return String((value * scale).rounded() / scale)
    }
}

/// What one gate made of one figure.
public struct GateResult: Codable, Equatable, Sendable {
    public var gate: QualityGate
    /// The figure compared (a ratio for relative gates); nil when the report lacks it.
    public var value: Double?
    public var passed: Bool

    public init(gate: QualityGate, value: Double?, passed: Bool) {
        self.gate = gate
        self.value = value
        self.passed = passed
    }

    /// "latency_p95 3.1x > 1.2x", "agreement 0.99 >= 0.97", "agreement not reported".
    public var summary: String {
        guard let value else { return "\(gate.metric.name) not reported" }
        return "\(gate.metric.name) " + gate.compare(value, passed: passed)
    }
}
