extension AdminAPI {
    /// A deployment's shadow phase as an operator asks for it; omitted fields take the defaults
    /// of `ShadowPolicy`. The gates are the deployment's `gates`.
    public struct ShadowSettings: Codable, Equatable, Sendable {
        public var minSamples: Int?
        public var maxSeconds: Int?
        public var sampleShare: Double?

        enum CodingKeys: String, CodingKey { case minSamples = "min_samples", maxSeconds = "max_s", sampleShare = "sample_share" }

        public init(minSamples: Int? = nil, maxSeconds: Int? = nil, sampleShare: Double? = nil) {
            self.minSamples = minSamples
            self.maxSeconds = maxSeconds
            self.sampleShare = sampleShare
        }
    }

    /// Five figures of one metric over a set of devices (each device counts once).
    public struct Distribution: Codable, Equatable, Sendable {
        public var devices: Int
        public var min: Double
        public var p25: Double
        public var median: Double
        public var p75: Double
        public var max: Double

        public init?(_ values: [Double]) {
            let sorted = values.filter(\.isFinite).sorted()
            guard !sorted.isEmpty else { return nil }
            func quantile(_ q: Double) -> Double {
                let position = q * Double(sorted.count - 1)
                let low = Int(position.rounded(.down)), high = Int(position.rounded(.up))
                let weight = position - Double(low)
                return sorted[low] * (1 - weight) + sorted[high] * weight
            }
            devices = sorted.count
            min = sorted[0]
            p25 = quantile(0.25)
            median = quantile(0.5)
            p75 = quantile(0.75)
            max = sorted[sorted.count - 1]
        }
    }

    /// One metric across a phase's devices: the candidate against the version it replaces.
    public struct MetricComparison: Codable, Equatable, Sendable {
        public var metric: String
        public var candidate: Distribution?
        /// The live model beside it in shadow, or the previous version's live figures.
        public var baseline: Distribution?

        public init(metric: String, candidate: Distribution?, baseline: Distribution?) {
            self.metric = metric
            self.candidate = candidate
            self.baseline = baseline
        }
    }

    /// A gate over a phase: the median of the devices' figures against its threshold.
    public struct GateCheck: Codable, Equatable, Sendable {
        public var gate: QualityGate
        public var devices: Int
        public var median: Double?
        /// pass, fail, or waiting (fewer reporting devices than `gate_min_devices`).
        public var verdict: GateVerdict

        public init(gate: QualityGate, devices: Int, median: Double?, verdict: GateVerdict) {
            self.gate = gate
            self.devices = devices
            self.median = median
            self.verdict = verdict
        }

        /// "median agreement 0.012 < 0.97 over 5 devices".
        public var summary: String {
            guard let median else { return "\(gate.metric.name): no figures yet" }
            return "median \(gate.metric.name) " + gate.compare(median, passed: verdict != .fail) + " over \(devices) device\(devices == 1 ? "" : "s")"
        }
    }

    public enum GateVerdict: String, Codable, Sendable {
        case pass, fail, waiting
    }

    /// What one phase's devices measured: where the figures come from, their distributions,
    /// and each gate's verdict.
    public struct PhaseQuality: Codable, Equatable, Sendable {
        public var phase: Int
        /// Figures from shadow phases, or from metrics after commit.
        public var source: ModelReports.Source
        public var devices: Int
        public var passedInShadow: Int?
        public var metrics: [MetricComparison]
        public var gates: [GateCheck]

        enum CodingKeys: String, CodingKey { case phase, source, devices, passedInShadow = "passed_in_shadow", metrics, gates }

        public init(phase: Int, source: ModelReports.Source, devices: Int, passedInShadow: Int?, metrics: [MetricComparison], gates: [GateCheck]) {
            self.phase = phase
            self.source = source
            self.devices = devices
            self.passedInShadow = passedInShadow
            self.metrics = metrics
            self.gates = gates
        }
    }

    /// The live figures of one version across the fleet (each device's latest report).
    public struct VersionMetrics: Codable, Equatable, Sendable {
        public var bundleName: BundleName
        public var version: String
        public var metrics: [MetricComparison]

        enum CodingKeys: String, CodingKey { case bundleName = "bundle_name", version, metrics }

        public init(bundleName: BundleName, version: String, metrics: [MetricComparison]) {
            self.bundleName = bundleName
            self.version = version
            self.metrics = metrics
        }
    }
}
