import Foundation
import OTACore

/// The real demo inference app (demo/app/serve.py, onnxruntime) serving the model a
/// `TestAgent` installed, with the agent's hooks pointed at it, and live traffic from
/// demo/app/traffic.py: what a device in the field runs.
public final class DemoApp: @unchecked Sendable {
    public static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    public static var python: String { repository + "/.venv/bin/python" }
    public static var appFolder: String { repository + "/demo/app" }
    public static var models: String { repository + "/demo/models" }
    public static var golden: String { models + "/golden.json" }

    /// The files of one of the sample models (digits-v1, digits-v2, digits-v4-slow, ...).
    public static func model(_ folder: String) throws -> [String: [UInt8]] {
        ["model.onnx": try FileSystem.readFile("\(models)/\(folder)/model.onnx"),
         "labels.txt": try FileSystem.readFile("\(models)/\(folder)/labels.txt")]
    }

    public let url: String
    public let logPath: String
    private let process: Process
    private var traffic: Process?

    /// Starts serve.py on the agent's state folder and gives the agent its reload, health,
    /// shadow and metrics commands.
    public init(for agent: TestAgent, name: String = "digits") throws {
        guard FileManager.default.isExecutableFile(atPath: Self.python) else {
            throw TestFailure("\(Self.python) is missing: run scripts/install-deps.sh test (it installs onnxruntime)")
        }
        logPath = agent.dir.file("app.log")
        let portFile = agent.dir.file("app.port")
        process = Process()
        process.executableURL = URL(fileURLWithPath: Self.python)
        process.arguments = [Self.appFolder + "/serve.py", "--state", agent.statePath, "--name", name, "--port", "0", "--port-file", portFile]
        FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = FileHandle(forWritingAtPath: logPath)
        process.standardOutput = log
        process.standardError = log
        try process.run()
        try eventually(timeout: 30, "the demo app to start") { FileSystem.exists(portFile) }
        url = "http://127.0.0.1:" + (try FileSystem.readText(portFile)).trimmed
        let hooks = Self.appFolder + "/hooks.py"
        agent.config["reload_command"] = ["curl", "--silent", "--fail-with-body", "--noproxy", "*", "--max-time", "60", "-X", "POST", url + "/reload"]
        agent.config["health_command"] = [Self.python, Self.appFolder + "/health_check.py", "--app", url, "--golden", Self.golden]
        agent.config["shadow_command"] = [Self.python, hooks, "shadow", "--app", url]
        agent.config["metrics_command"] = [Self.python, hooks, "metrics", "--app", url]
        try agent.writeConfig()
    }

    deinit {
        stopTraffic()
        // SIGKILL: a process started from a test may inherit a mask that blocks SIGTERM.
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// Live traffic: noisy golden inputs, one per request; with `answers`, a JSON line per answer.
    public func startTraffic(rate: Int = 100, seed: Int = 0, answers: String? = nil) throws {
        stopTraffic()
        let traffic = Process()
        traffic.executableURL = URL(fileURLWithPath: Self.python)
        traffic.arguments = [Self.appFolder + "/traffic.py", "--golden", Self.golden, "--app", url, "--rate", String(rate), "--seed", String(seed)]
            + (answers.map { ["--answers", $0] } ?? [])
        traffic.standardOutput = FileHandle.nullDevice
        traffic.standardError = FileHandle.nullDevice
        try traffic.run()
        self.traffic = traffic
    }

    public func stopTraffic() {
        guard let traffic else { return }
        kill(traffic.processIdentifier, SIGKILL)
        traffic.waitUntilExit()
        self.traffic = nil
    }

    /// The versions the app ever served (its "now serving" log lines).
    public func servedVersions() throws -> [String] {
        try FileSystem.readText(logPath).split(separator: "\n").compactMap { line in
            guard let range = line.range(of: "now serving ") else { return nil }
            return line[range.upperBound...].split(separator: " ").dropFirst().first.map(String.init)
        }
    }

    /// Sends these inputs (index into golden.json, noise seed) and returns what was served.
    public func answers(for inputs: [(index: Int, seed: Int)]) throws -> [(label: Int, version: String)] {
        let script = """
        import json, sys, urllib.request
        sys.path.insert(0, sys.argv[1])
        from traffic import noisy_input
        inputs = json.load(open(sys.argv[2]))["inputs"]
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        for line in sys.stdin:
            index, seed = map(int, line.split())
            body = json.dumps({"inputs": [noisy_input(inputs, index, seed, 0.15)]}).encode()
            request = urllib.request.Request(sys.argv[3] + "/predict", data=body, headers={"Content-Type": "application/json"})
            answer = json.load(opener.open(request, timeout=10))
            print(answer["labels"][0], answer["version"])
        """
        let result = try run(Self.python, ["-c", script, Self.appFolder, Self.golden, url],
                             stdin: inputs.map { "\($0.index) \($0.seed)" }.joined(separator: "\n") + "\n")
        guard result.status == 0 else { throw TestFailure("asking the app failed: \(result)") }
        return result.stdout.split(separator: "\n").map { line in
            let parts = line.split(separator: " ")
            return (Int(parts[0]) ?? -1, String(parts[1]))
        }
    }
}
