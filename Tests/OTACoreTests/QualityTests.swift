import OTACore
import Testing

/// Gates, reports and the shadow verdict: the rules a device decides by.
@Suite("Quality gates and shadow reports")
struct QualityTests {
    @Test("Gates parse from the text operators write, and print back the same way", arguments: [
        ("agreement>=0.97", "agreement>=0.97"), ("latency_p95<=1.2x", "latency_p95<=1.2x"), ("errors<=0", "errors<=0"),
        ("confidence>=0.8", "confidence>=0.8"), ("metric.f1>=0.75", "metric.f1>=0.75"), ("samples>=100", "samples>=100"),
        ("agreement>=0.97531", "agreement>=0.97531"), ("latency_p95<=999999999999.9", "latency_p95<=999999999999.9"),
        ("latency_p95<=4e-13", "latency_p95<=4e-13"),
    ])
    func gatesParse(_ text: String, _ canonical: String) throws {
        let gate = try QualityGate(parsing: text)
        #expect(gate.description == canonical)
        #expect(try QualityGate(parsing: gate.description) == gate)
    }

    @Test("A bad gate is refused with a sentence that says what to write", arguments: [
        ("agreemnt>=0.9", "unknown metric 'agreemnt'"), ("agreement=0.9", "has no >= or <="), ("agreement>=", "is not a number"),
        ("agreement>=1.5", "agreement is a share from 0 to 1"), ("errors<=2x", "cannot be relative"), ("agreement>=0.9x", "cannot be relative"),
        ("latency_p95<=-1", "is not a number from 0 up"), ("latency_p95<=nan", "is not a number"), ("metric.F1>=1", "unknown metric"),
        ("latency_p95<=1e999", "is not a number"), ("latency_p95<=0x1p-1", "is not a number"), ("agreement >= 0.9", "must not contain spaces"),
    ])
    func badGates(_ text: String, _ problem: String) {
        #expect {
            try QualityGate(parsing: text)
        } throws: { error in
            String(describing: error).contains(problem)
        }
    }

    static let live = ModelFigures(latencyP50Ms: 0.5, latencyP95Ms: 1, confidence: 0.9)
    static func report(samples: Int = 300, agreement: Double? = 0.99, candidateP95: Double = 1.1, errors: Int = 0) -> ShadowReport {
        ShadowReport(shadowID: "s1", samples: samples, agreement: agreement, live: live,
                     candidate: ModelFigures(latencyP50Ms: 0.5, latencyP95Ms: candidateP95, confidence: 0.95, errors: errors))
    }

    @Test("Relative gates compare the candidate with the live model in the same report")
    func relativeGates() throws {
        let gate = try QualityGate(parsing: "latency_p95<=1.2x")
        #expect(Self.report(candidateP95: 1.1).value(for: gate) == 1.1)
        #expect(Self.report(candidateP95: 3).evaluate([gate]).map(\.passed) == [false])
        #expect(Self.report(candidateP95: 3).evaluate([gate])[0].summary == "latency_p95 3x > 1.2x")
        var zero = Self.report()
        zero.live.latencyP95Ms = 0
        zero.live.latencyP50Ms = 0
        zero.candidate.latencyP95Ms = 2
        #expect(zero.evaluate([gate]).map(\.passed) == [false], "a candidate against a live model measured at 0 is not infinitely good")
    }

    @Test("The verdict needs every gate and enough samples; a figure the report lacks fails its gate")
    func verdict() throws {
        let policy = ShadowPolicy(minSamples: 200, maxSeconds: 600, gates: [try QualityGate(parsing: "agreement>=0.97"), try QualityGate(parsing: "errors<=0")])
        #expect(policy.verdict(Self.report()).passed)
        #expect(!policy.verdict(Self.report(agreement: 0.5)).passed)
        #expect(!policy.verdict(Self.report(errors: 1)).passed)
        #expect(!policy.verdict(Self.report(samples: 199)).passed)
        #expect(policy.verdict(Self.report(samples: 199)).reason == "only 199 of 200 samples within 10m")
        let silent = policy.verdict(Self.report(errors: 300))
        #expect(!silent.passed && silent.reason == "the candidate failed on all 300 samples")
        let missing = policy.verdict(Self.report(agreement: nil))
        #expect(!missing.passed && missing.reason.contains("agreement not reported"))
    }

    @Test("A report is decoded strictly: unknown fields, wrong ranges and oversize are clear errors", arguments: [
        (#"{"shadow_id":"s","samples":1,"live":{"latency_p50_ms":1,"latency_p95_ms":1,"errors":0},"candidate":{"latency_p50_ms":1,"latency_p95_ms":1,"errors":0},"x":1}"#, "unknown field 'x'"),
        (#"{"shadow_id":"s","samples":-1,"live":{"latency_p50_ms":1,"latency_p95_ms":1,"errors":0},"candidate":{"latency_p50_ms":1,"latency_p95_ms":1,"errors":0}}"#, "samples must be"),
        (#"{"shadow_id":"","samples":1,"live":{"latency_p50_ms":1,"latency_p95_ms":1,"errors":0},"candidate":{"latency_p50_ms":1,"latency_p95_ms":1,"errors":0}}"#, "shadow_id must be"),
        (#"{"shadow_id":"s","samples":1,"live":{"latency_p50_ms":1,"latency_p95_ms":1,"errors":0},"candidate":{"latency_p50_ms":1,"latency_p95_ms":1,"errors":0,"confidence":2}}"#, "candidate.confidence"),
        (#"{"shadow_id":"s","samples":1,"live":{"latency_p50_ms":1,"latency_p95_ms":1,"errors":0,"metrics":{"Bad Name":1}},"candidate":{"latency_p50_ms":1,"latency_p95_ms":1,"errors":0}}"#, "metric name"),
        (#"[1,2,3]"#, "shadow report"),
    ])
    func strictReports(_ json: String, _ problem: String) {
        #expect {
            try ShadowReport.decode(Array(json.utf8))
        } throws: { error in
            String(describing: error).contains(problem)
        }
    }

    @Test("A report over 64 KiB is refused before it is parsed")
    func oversizedReport() {
        #expect(throws: ReportError("the shadow report is 65537 bytes; at most 65536")) {
            try ShadowReport.decode([UInt8](repeating: 0x20, count: ShadowReport.maximumBytes + 1))
        }
    }

    @Test("A metrics report is the live model's figures with its sample count; relative gates do not apply to it")
    func metricsReport() throws {
        let report = try MetricsReport.decode(Array(#"{"samples":10,"latency_p50_ms":1,"latency_p95_ms":2,"errors":0,"metrics":{"f1":0.9}}"#.utf8))
        #expect(report.value(for: try QualityGate(parsing: "latency_p95<=5")) == 2)
        #expect(report.value(for: try QualityGate(parsing: "metric.f1>=0.8")) == 0.9)
        #expect(report.value(for: try QualityGate(parsing: "latency_p95<=2x")) == nil)
        #expect(throws: ReportError.self) { try MetricsReport.decode(Array(#"{"samples":10,"latency_p50_ms":1,"latency_p95_ms":2,"errors":0,"x":1}"#.utf8)) }
    }

    @Test("A shadow policy refuses what a device could not honour", arguments: [
        ShadowPolicy(minSamples: 0), ShadowPolicy(maxSeconds: 4), ShadowPolicy(sampleShare: 0), ShadowPolicy(sampleShare: 1.5), ShadowPolicy(gates: []),
    ])
    func policyProblems(_ policy: ShadowPolicy) {
        #expect(policy.problem != nil)
    }

    @Test("Distributions give the five figures of a set of devices")
    func distributions() throws {
        let distribution = try #require(AdminAPI.Distribution([4, 1, 3, 2, 5]))
        #expect([distribution.min, distribution.p25, distribution.median, distribution.p75, distribution.max] == [1, 2, 3, 4, 5])
        #expect(AdminAPI.Distribution([0.5, 0.6])?.median == 0.55)
        #expect(AdminAPI.Distribution([]) == nil)
    }
}
