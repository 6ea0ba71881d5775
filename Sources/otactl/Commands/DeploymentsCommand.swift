import ArgumentParser
import Foundation
import OTAClient
import OTACore

struct DeploymentsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deployments",
        abstract: "Roll bundles out to the fleet, staged in phases if you like, and control them.",
        discussion: """
        A deployment sends one bundle version to a target (all compatible devices, a tag, a group or a list of devices). With --phases it is a staged rollout: devices join the current phase only; phases advance by hand (`advance`) or automatically (--auto-advance) after a soak time once the phase's devices succeed (committed after their health check). Failures past the threshold pause it automatically; `resume` and `cancel` are explicit.
        """,
        subcommands: [Create.self, List.self, Show.self, ControlCommand<Advance>.self, ControlCommand<Pause>.self,
                      ControlCommand<Resume>.self, ControlCommand<Cancel>.self]
    )

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Start a deployment of a published bundle.",
            discussion: """
            Examples:
              otactl deployments create digits 2.0.0 --all
              otactl deployments create digits 2.0.0 --tag lab --devices-per-minute 100
              otactl deployments create digits 2.0.0 --all \\
                  --canary-devices cam-01,cam-02 --phases 1%,10%,50%,100% \\
                  --auto-advance --soak 30m --failure-threshold 5%
              otactl deployments create digits 3.0.0 --all --shadow --shadow-samples 500 \\
                  --gate 'agreement>=0.97' --gate 'latency_p95<=1.2x' --gate 'errors<=0'
              otactl deployments create digits 2.0.0 --all \\
                  --where 'cpu.features contains neon and memory.mib >= 2048'

            Inventory filter (--where): only the targeted devices whose reported inventory meets every clause, joined by 'and'. Fields: cpu.arch (= !=), cpu.features (contains lacks), memory.mib, accelerator.kind (=), accelerator.compute_capability, runtime.NAME (= != < <= > >=; '= 8.6' matches 8.6.2). A device that reported nothing about a field does not meet a clause on it. 'otactl devices show ID' prints what a device reported.

            Shadow phase (--shadow, model bundles): each device first runs the candidate beside its live model on live inputs (through its shadow_command) and serves nothing from it. After --shadow-samples inputs (or --shadow-timeout) the device checks the gates: pass goes on to activation and the health check; fail discards the candidate.

            Gates (--gate, repeatable): METRIC>=VALUE or METRIC<=VALUE. Metrics: agreement (share of identical top-1 answers), distance, latency_p50, latency_p95 (ms), confidence, errors, samples, metric.NAME (the application's own). A trailing x compares with the live model (latency_p95<=1.2x: at most 1.2 times its p95) and needs --shadow. A deployment's gates also hold each phase: it advances only when the median over --gate-min-devices devices passes, and pauses with the figures when it fails. Without --shadow the phase's figures come from the devices' metrics_command.
            """
        )
        @Argument(help: "Bundle name.") var name: BundleName
        @Argument(help: "Bundle version.") var version: SemanticVersion
        @Flag(help: "Target every compatible device.") var all = false
        @Option(help: "Target devices with this tag.") var tag: Tag?
        @Option(help: "Target devices in this group.") var group: GroupName?
        @Option(help: ArgumentHelp("Target these devices.", valueName: "id[,id...]")) var devices: String?
        @Option(help: ArgumentHelp("Stages as shares of the target, ending at 100%.", valueName: "p%[,p%...]")) var phases: String?
        @Option(help: ArgumentHelp("A first phase with these devices.", valueName: "id[,id...]")) var canaryDevices: String?
        @Option(help: "A first phase with the devices carrying this tag.") var canaryTag: Tag?
        @Option(help: "A first phase with the devices in this group.") var canaryGroup: GroupName?
        @Flag(help: "Advance phases by themselves once they succeed and soaked.") var autoAdvance = false
        @Option(help: ArgumentHelp("Soak time after a phase reaches its success ratio, e.g. 30m.", valueName: "duration")) var soak: String?
        @Option(help: ArgumentHelp("Share of a phase's devices that must succeed before it advances (e.g. 95%).", valueName: "ratio")) var successRatio: String?
        @Option(help: ArgumentHelp("Pause after this many failures (e.g. 3) or this failure rate (e.g. 5%).", valueName: "n|p%")) var failureThreshold: String?
        @Option(help: "Apply a percentage threshold only once this many devices finished.") var minFinished: Int?
        @Option(help: "At most this many devices start the update per minute.") var devicesPerMinute: Int?
        @Flag(help: "Prove the candidate on each device's live inputs before it serves.") var shadow = false
        @Option(help: "Inputs the candidate must see in shadow (default 200).") var shadowSamples: Int?
        @Option(help: ArgumentHelp("The longest a shadow phase may take, e.g. 10m (default 10m).", valueName: "duration")) var shadowTimeout: String?
        @Option(help: ArgumentHelp("Share of live inputs the candidate also gets (default 1).", valueName: "ratio")) var shadowShare: Double?
        @Option(name: .customLong("gate"), help: ArgumentHelp("A quality gate, e.g. 'agreement>=0.97' (repeatable).", valueName: "gate")) var gateTexts: [String] = []
        @Option(help: "Devices whose figures a phase's gates need (default 20, fewer in a smaller phase).") var gateMinDevices: Int?
        @Option(name: .customLong("where"), help: ArgumentHelp("Only devices whose inventory meets this, e.g. 'cpu.arch = aarch64 and runtime.onnxruntime >= 1.17'.",
                                                               valueName: "condition")) var inventoryFilter: String?
        @OptionGroup var server: ServerOptions
        @Flag(help: "Print the result as JSON.") var json = false

        func validate() throws {
            let targets = [all, tag != nil, group != nil, devices != nil].filter { $0 }.count
            guard targets == 1 else { throw ValidationError("give exactly one target: --all, --tag, --group or --devices") }
            let canaries = [canaryDevices != nil, canaryTag != nil, canaryGroup != nil].filter { $0 }.count
            guard canaries <= 1 else { throw ValidationError("give at most one of --canary-devices, --canary-tag, --canary-group") }
            for text in gateTexts {
                do { _ = try QualityGate(parsing: text.filter { $0 != " " }) } catch { throw ValidationError("--gate: \(error.description)") }
            }
            if !shadow && (shadowSamples != nil || shadowTimeout != nil || shadowShare != nil) {
                throw ValidationError("--shadow-samples, --shadow-timeout and --shadow-share need --shadow")
            }
            if !shadow, let relative = gates.first(where: \.relative) {
                throw ValidationError("gate \(relative) compares with the live model beside the candidate: it needs --shadow")
            }
            if gateMinDevices != nil && gates.isEmpty { throw ValidationError("--gate-min-devices needs at least one --gate") }
            if let inventoryFilter {
                do { _ = try InventoryCondition(inventoryFilter) } catch { throw ValidationError("--where: \(error.description)") }
            }
        }

        var gates: [QualityGate] { gateTexts.compactMap { try? QualityGate(parsing: $0.filter { $0 != " " }) } }

        func run() throws {
            var stages: [AdminAPI.Phase] = []
            if let canaryDevices { stages.append(.devices(try ids(canaryDevices, "--canary-devices"))) }
            if let canaryTag { stages.append(.tag(canaryTag)) }
            if let canaryGroup { stages.append(.group(canaryGroup)) }
            for part in list(phases ?? "100%") {
                guard let value = Double(part.hasSuffix("%") ? String(part.dropLast()) : part), value > 0, value <= 100 else {
                    throw ValidationError("--phases takes percentages above 0 and up to 100, like 1%,10%,100%, not '\(part)'")
                }
                stages.append(.percent(value))
            }
            if let problem = AdminAPI.Phase.problem(in: stages) { throw ValidationError("--phases: \(problem)") }
            let target: AdminAPI.Target
            if let tag { target = .tag(tag) } else if let group { target = .group(group) } else if let devices {
                target = .devices(try ids(devices, "--devices"))
            } else { target = .all }
            var request = AdminAPI.DeploymentCreateRequest(
                bundleName: name, version: version, target: target,
                phases: stages, autoAdvance: autoAdvance, soakSeconds: try soak.map { try parseDuration($0, option: "--soak") },
                successRatio: try successRatio.map(ratio), failureMinFinished: minFinished, rateLimitPerMinute: devicesPerMinute,
                shadow: shadow ? .init(minSamples: shadowSamples, maxSeconds: try shadowTimeout.map { try parseDuration($0, option: "--shadow-timeout") },
                                       sampleShare: shadowShare) : nil,
                gates: gates.isEmpty ? nil : gates, gateMinDevices: gateMinDevices,
                inventoryFilter: try inventoryFilter.map { try InventoryCondition($0) })
            if let threshold = failureThreshold {
                if threshold.hasSuffix("%") {
                    guard let percent = Double(threshold.dropLast()) else { throw ValidationError("--failure-threshold: '\(threshold)' is not a percentage") }
                    request.failureThresholdPercent = percent
                } else {
                    guard let count = Int(threshold) else { throw ValidationError("--failure-threshold takes a count (3) or a percentage (5%)") }
                    request.failureThresholdCount = count
                }
            }
            let client = try server.client()
            let deployment = try Failure.remote { try client.createDeployment(request) }
            if json { return try Terminal.printJSON(deployment) }
            say("created deployment \(deployment.id): \(deployment.bundleName) \(deployment.version) to \(deployment.target.summary)\(deployment.inventoryFilter.map { " where \($0)" } ?? ""), phases \(deployment.phases.map(\.label).joined(separator: ", "))")
            if let line = DeploymentView.qualityLine(deployment) { say(line) }
        }

        func list(_ text: String) -> [String] {
            text.split(separator: ",").map { $0.trimmed }.filter { !$0.isEmpty }
        }

        func ids(_ text: String, _ option: String) throws -> [DeviceID] {
            let ids = try list(text).map { part -> DeviceID in
                guard let id = DeviceID(rawValue: part) else { throw ValidationError("\(option): \(DeviceID.problem(part) ?? part)") }
                return id
            }
            guard !ids.isEmpty else { throw ValidationError("\(option) lists no device") }
            return ids
        }

        func ratio(_ text: String) throws -> Double {
            if text.hasSuffix("%"), let value = Double(text.dropLast()) { return value / 100 }
            guard let value = Double(text) else { throw ValidationError("--success-ratio takes 0.95 or 95%") }
            return value
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List deployments, newest first.")
        @OptionGroup var server: ServerOptions
        @Flag(help: "Print the result as JSON.") var json = false

        func run() throws {
            let client = try server.client()
            let deployments = try Failure.remote { try client.deployments() }
            if json { return try Terminal.printJSON(AdminAPI.DeploymentList(deployments: deployments)) }
            Terminal.printTable(["ID", "BUNDLE", "VERSION", "TARGET", "STATUS", "PHASE", "SUCCEEDED", "FAILED", "ROLLED BACK", "IN PROGRESS", "CREATED"],
                                deployments.map { d -> [String] in
                let inProgress = d.counts.pending + d.counts.downloading + d.counts.installing
                return [d.id.rawValue, d.bundleName.rawValue, d.version.description, d.target.summary, d.status.rawValue,
                        "\(d.currentPhase + 1)/\(d.phases.count)", String(d.counts.succeeded), String(d.counts.failed),
                        String(d.counts.rolledBack), String(inProgress), d.createdAt.rfc3339]
            })
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a deployment's progress per phase, failure reasons and running versions.",
            discussion: "With --watch the view redraws every --interval seconds until the deployment completes or is cancelled."
        )
        @Argument(help: "Deployment id (dep_…).") var id: DeploymentID
        @Flag(help: "Redraw live progress until the deployment ends.") var watch = false
        @Option(help: "Seconds between redraws with --watch.") var interval: Double = 1
        @OptionGroup var server: ServerOptions
        @Flag(help: "Print the result as JSON.") var json = false

        func run() throws {
            let client = try server.client()
            let interactive = isatty(1) == 1
            var last: [String] = []
            while true {
                let deployment = try Failure.remote { try client.deployment(id) }
                if json {
                    try Terminal.printJSON(deployment)
                } else {
                    let view = DeploymentView.render(deployment)
                    if !watch || interactive {
                        // Our own escape sequence: home and clear, before the view.
                        if watch { Swift.print("\u{1B}[H\u{1B}[2J", terminator: "") }
                        Terminal.printLines(view)
                    } else if view != last {
                        Terminal.printLines(view)
                        say("")
                    }
                    last = view
                }
                fflush(nil)
                guard watch, !deployment.status.isOver else { return }
                usleep(useconds_t(max(0.2, interval) * 1_000_000))
            }
        }
    }

    /// What one control command does, and how `--help` describes it.
    protocol ControlKind { static var control: DeploymentControl { get }; static var abstract: String { get } }
    enum Advance: ControlKind { static let control = DeploymentControl.advance; static let abstract = "Move a deployment to its next phase now." }
    enum Pause: ControlKind { static let control = DeploymentControl.pause; static let abstract = "Stop handing the bundle to devices that have not started it." }
    enum Resume: ControlKind { static let control = DeploymentControl.resume; static let abstract = "Resume a paused deployment (failures so far are accepted)." }
    enum Cancel: ControlKind { static let control = DeploymentControl.cancel; static let abstract = "End a deployment: no device starts it any more." }

    /// advance, pause, resume and cancel: one command, four names.
    struct ControlCommand<Kind: ControlKind>: ParsableCommand {
        static var configuration: CommandConfiguration {
            CommandConfiguration(commandName: Kind.control.rawValue, abstract: Kind.abstract)
        }
        @Argument(help: "Deployment id (dep_…).") var id: DeploymentID
        @Option(help: "Why (kept in the audit log).") var reason: String?
        @OptionGroup var server: ServerOptions

        func validate() throws {
            if let reason, reason.utf8.count > 1000 { throw ValidationError("--reason is at most 1000 bytes") }
        }

        func run() throws {
            let client = try server.client()
            let deployment = try Failure.remote { try client.control(id, Kind.control, reason: reason) }
            say("\(deployment.id): \(deployment.status), phase \(deployment.currentPhase + 1) of \(deployment.phases.count) (\(deployment.phases[deployment.currentPhase].label))")
        }
    }
}
