import OTAClient
import OTACore

/// Every `metrics_interval_s`, asks the application for the live model's figures (its
/// `metrics_command` writes them to OTA_METRICS_REPORT) and sends them to the server, which
/// attributes them to the version that produced them. Figures are samples of a moving
/// quantity: a period the server cannot be reached is skipped, not queued.
struct MetricsCollector {
    let context: AgentContext

    /// Whether the interval since the last collection has passed.
    func isDue(lastCollectedEpoch: Int64?) -> Bool {
        guard context.config.metricsCommand != nil else { return false }
        guard let last = lastCollectedEpoch else { return true }
        let now = context.clock.now.secondsSinceEpoch
        return now - last >= context.config.metricsInterval || now < last
    }

    /// Collects the figures of every committed model that is not being updated. Returns the
    /// reports and a problem per model that gave none.
    func collect() -> (metrics: [DeviceAPI.ModelMetrics], problems: [String]) {
        guard let command = context.config.metricsCommand else { return ([], []) }
        let updating: Set<BundleName>
        let records: [InstalledRecord]
        do {
            updating = Set(try context.journals().filter { $0.step.isLive }.map(\.name))
            records = try context.records()
        } catch { return ([], ["cannot read what is installed: \(error)"]) }
        var metrics: [DeviceAPI.ModelMetrics] = []
        var problems: [String] = []
        for record in records where record.kind.isModel && !updating.contains(record.name) {
            do { metrics.append(try collect(record, command: command)) } catch {
                problems.append("metrics of \(record.name) \(record.version): \(error)")
            }
        }
        return (metrics, problems)
    }

    private func collect(_ record: InstalledRecord, command: [String]) throws -> DeviceAPI.ModelMetrics {
        let path = context.layout.metricsReport(record.name)
        try FileSystem.removeFile(path)
        let outcome = try CommandRunner.run(command, environment: [
            "OTA_BUNDLE_NAME": record.name.rawValue, "OTA_BUNDLE_VERSION": record.version.description, "OTA_CURRENT_DIR": context.layout.current(record.name),
            "OTA_METRICS_REPORT": path,
        ], timeoutSeconds: 60)
        guard outcome.succeeded else { throw ReportError("the metrics command failed (\(outcome.summary))") }
        let bytes: [UInt8]
        do { bytes = try FileSystem.readRegularFile(path, limit: ShadowReport.maximumBytes) } catch let error as FileError where error.isNotFound {
            throw ReportError("the metrics command wrote no report to \(path)")
        }
        let report = try MetricsReport.decode(bytes)
        // Left behind, it is removed before the next collection anyway.
        try? FileSystem.removeFile(path)
        return DeviceAPI.ModelMetrics(bundleName: record.name, version: record.version.description, digest: record.digest,
                                      at: context.clock.now, report: report)
    }
}
