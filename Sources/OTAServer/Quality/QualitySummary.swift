import OTACore

/// Sums up what a phase's devices measured: a distribution per metric (the candidate against
/// what it replaces) and each gate's verdict on the median. Pure, so the rules are tested
/// without a database.
enum QualitySummary {
    /// The metrics shown for a deployment: the standard ones, then the application metrics
    /// its gates name.
    static func shownMetrics(gates: [QualityGate], source: ReportSource) -> [QualityGate.Metric] {
        let standard: [QualityGate.Metric] = source == .shadow
            ? [.agreement, .latencyP50, .latencyP95, .confidence, .errors] : [.latencyP50, .latencyP95, .confidence, .errors]
        var custom: [QualityGate.Metric] = []
        for gate in gates where !standard.contains(gate.metric) && !custom.contains(gate.metric) && gate.metric != .samples { custom.append(gate.metric) }
        return standard + custom
    }

    /// The figures of shadow phases: each device's candidate beside its live model.
    static func shadow(phase: Int, outcomes: [DeviceAPI.ShadowOutcome], gates: [QualityGate], needed: Int) -> AdminAPI.PhaseQuality {
        let reports = outcomes.compactMap(\.report)
        let metrics = shownMetrics(gates: gates, source: .shadow).map { metric -> AdminAPI.MetricComparison in
            let absolute = QualityGate(metric: metric, comparison: .atLeast, threshold: 0)
            let baseline: [Double] = metric == .agreement || metric == .distance ? [] : reports.compactMap { $0.live.value(metric) }
            return .init(metric: metric.name, candidate: AdminAPI.Distribution(reports.compactMap { $0.value(for: absolute) }),
                         baseline: AdminAPI.Distribution(baseline))
        }
        let checks = gates.map { gate in check(gate, values: reports.compactMap { $0.value(for: gate) }, needed: needed) }
        return .init(phase: phase, source: .shadow, devices: outcomes.count,
                     passedInShadow: outcomes.filter(\.passed).count, metrics: metrics, gates: checks)
    }

    /// The figures after commit: the new version's live reports against the version the same
    /// devices ran before.
    static func live(phase: Int, candidate: [MetricsReport], baseline: [MetricsReport], gates: [QualityGate], needed: Int) -> AdminAPI.PhaseQuality {
        let metrics = shownMetrics(gates: gates, source: .live).map { metric -> AdminAPI.MetricComparison in
            .init(metric: metric.name, candidate: AdminAPI.Distribution(candidate.compactMap { $0.figures.value(metric) }),
                  baseline: AdminAPI.Distribution(baseline.compactMap { $0.figures.value(metric) }))
        }
        let checks = gates.map { gate in check(gate, values: candidate.compactMap { $0.value(for: gate) }, needed: needed) }
        return .init(phase: phase, source: .live, devices: candidate.count, passedInShadow: nil, metrics: metrics, gates: checks)
    }

    /// The gate on the median of the devices' figures, once `needed` devices reported.
    static func check(_ gate: QualityGate, values: [Double], needed: Int) -> AdminAPI.GateCheck {
        let median = AdminAPI.Distribution(values)?.median
        guard let median, values.count >= max(needed, 1) else {
            return .init(gate: gate, devices: values.count, median: median, verdict: .waiting)
        }
        return .init(gate: gate, devices: values.count, median: median, verdict: gate.passes(median) ? .pass : .fail)
    }
}

/// Where a report comes from: a shadow phase, or the live model after commit.
typealias ReportSource = ModelReports.Source
