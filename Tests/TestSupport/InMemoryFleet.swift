import Foundation
import OTAAgent
import OTAClient
import OTACore

/// A fleet server in memory, for the agent's logic in process: it registers devices, answers
/// check-ins with its assignments, serves content by digest, and keeps what devices report.
/// Faults are queued per call (`fail`), so a test plays a flaky network, a hostile answer or
/// a refusing server exactly, with no process and no sleep. With a `TUFRepository` it signs
/// its answers and sends the TUF metadata a device lacks, as ota-server does.
public final class InMemoryFleet: DeviceConnector, @unchecked Sendable {
    /// What a call of the device API does instead of its honest answer.
    public enum Fault: Sendable {
        /// The server answers with this status (and `Retry-After` when given).
        case status(Int, retryAfter: Int? = nil)
        /// The connection breaks off (after this many bytes of a download).
        case cut(after: Int = 0)
        /// A download arrives complete with one byte flipped.
        case corrupt
        /// The answer's body is these bytes instead (a hostile or broken server).
        case answer([UInt8])
    }

    /// The calls faults apply to.
    public enum Call: Hashable, Sendable { case register, checkin, events, metrics, content, ranges }

    private let lock = NSLock()
    private var _assignments: [DeviceAPI.Assignment] = []
    private var _content: [SHA256Digest: [UInt8]] = [:]
    private var _events: [DeviceAPI.Event] = []
    private var _metrics: [DeviceAPI.ModelMetrics] = []
    private var _checkins: [DeviceAPI.CheckinRequest] = []
    private var _registered: [DeviceID: DeviceAPI.DeviceStatus] = [:]
    private var _faults: [Call: [Fault]] = [:]
    private var _calls: [Call: Int] = [:]
    private var _contentHosts: [String]?
    public var pollIntervalSeconds = 60
    /// Signs answers and sends metadata, as a server with a TUF root does; nil: unsigned
    /// answers, as with a legacy root.
    public var repository: TUFRepository?
    /// Answers check-ins for this device id instead of the caller's (a server that mixes up
    /// its devices, or replays another's answer).
    public var answerAs: DeviceID?

    public init() {}

    private func locked<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }

    public var assignments: [DeviceAPI.Assignment] {
        get { locked { _assignments } }
        set { locked { _assignments = newValue } }
    }
    public var contentHosts: [String]? {
        get { locked { _contentHosts } }
        set { locked { _contentHosts = newValue } }
    }
    public var events: [DeviceAPI.Event] { locked { _events } }
    public var metrics: [DeviceAPI.ModelMetrics] { locked { _metrics } }
    public var checkins: [DeviceAPI.CheckinRequest] { locked { _checkins } }
    public func calls(_ call: Call) -> Int { locked { _calls[call] ?? 0 } }
    public func standing(of device: DeviceID) -> DeviceAPI.DeviceStatus? { locked { _registered[device] } }

    /// Keeps `bytes` as content by its digest.
    public func store(_ bytes: [UInt8]) { locked { _content[SHA256Digest.of(bytes)] = bytes } }

    /// Queues faults for the next calls of one kind, in order.
    public func fail(_ call: Call, _ faults: Fault...) { locked { _faults[call, default: []] += faults } }

    /// Forgets a device (an operator deleted it): its sessions are refused from now on.
    public func forget(_ device: DeviceID) { _ = locked { _registered.removeValue(forKey: device) } }

    /// Offers `bundle` under `deploymentID`, with its files stored.
    public func assign(_ bundle: TestBundle, deploymentID: DeploymentID = "dep_1", shadow: ShadowPolicy? = nil) {
        for file in bundle.files.values { store(file) }
        locked {
            _assignments.removeAll { $0.name == bundle.manifest.name }
            _assignments.append(DeviceAPI.Assignment(deploymentID: deploymentID, name: bundle.manifest.name, version: bundle.manifest.version,
                                                     digest: bundle.digest, envelope: bundle.envelope, shadow: shadow))
        }
    }

    public func connect(_ credentials: DeviceClient.Credentials) throws -> any DeviceTransport {
        InMemoryTransport(fleet: self, credentials: credentials)
    }

    // MARK: What the transport asks

    /// The next queued fault for `call`, counting the call.
    func nextFault(_ call: Call) -> Fault? {
        locked {
            _calls[call, default: 0] += 1
            guard var queue = _faults[call], !queue.isEmpty else { return nil }
            let fault = queue.removeFirst()
            _faults[call] = queue
            return fault
        }
    }

    func register(_ request: DeviceAPI.RegisterRequest) throws -> DeviceAPI.RegisterResponse {
        try check(.register)
        return locked {
            _registered[request.deviceID] = _registered[request.deviceID] ?? .accepted
            return DeviceAPI.RegisterResponse(deviceID: request.deviceID, status: _registered[request.deviceID]!)
        }
    }

    /// A session is refused for a device the fleet does not know (deleted).
    func checkSession(_ device: DeviceID?) throws {
        guard let device, locked({ _registered[device] }) == .accepted else {
            throw HTTPClientError.unknownDevice("no device with a key whose signature this proof carries")
        }
    }

    func checkin(_ request: DeviceAPI.CheckinRequest, device: DeviceID) throws -> [UInt8] {
        if let bytes = try faultAnswer(.checkin) { return bytes }
        let (assignments, hosts) = locked { () -> ([DeviceAPI.Assignment], [String]?) in
            _checkins.append(request)
            return (_assignments, _contentHosts)
        }
        let writer = try CheckinAnswerWriter(pollIntervalSeconds: pollIntervalSeconds, contentHosts: hosts ?? [])
        let plain = writer.plain(try assignments.map(CheckinAnswerWriter.encode))
        guard let repository, let nonce = request.nonce else { return plain.bytes }
        return try repository.signedAnswer(plain, deviceID: answerAs ?? device, nonce: nonce, report: request.trust)
    }

    func report(_ events: [DeviceAPI.Event]) throws {
        try check(.events)
        locked { _events += events }
    }

    func sendMetrics(_ metrics: [DeviceAPI.ModelMetrics]) throws {
        try check(.metrics)
        locked { _metrics += metrics }
    }

    func fetch(_ digest: SHA256Digest, to file: String, expectedSize: UInt64,
               progress: ((UInt64, UInt64) -> Void)?) throws -> HTTPClient.DownloadResult {
        let fault = nextFault(.content)
        if case .status(let code, let retryAfter) = fault { throw Self.statusError(code, retryAfter) }
        guard let content = locked({ _content[digest] }) else { throw Self.statusError(404, nil) }
        let start = Int(FileSystem.fileSize(file) ?? 0)
        guard start <= content.count else { throw HTTPClientError.transport("the partial file is longer than the content") }
        var rest = Array(content[start...])
        switch fault {
        case .cut(let after):
            try Self.append(Array(rest.prefix(after)), to: file)
            throw HTTPClientError.transport("Transferred a partial file (in-memory fleet)")
        case .corrupt:
            if !rest.isEmpty { rest[rest.count / 2] ^= 0xff }
        case .answer(let bytes):
            rest = bytes
        default:
            break
        }
        guard UInt64(start + rest.count) <= expectedSize else { throw HTTPClientError.tooLarge(Int64(expectedSize)) }
        // In two halves, telling progress between them as a transfer on the wire would.
        let half = rest.count / 2
        try Self.append(Array(rest[..<half]), to: file)
        progress?(UInt64(start + half), expectedSize)
        try Self.append(Array(rest[half...]), to: file)
        progress?(UInt64(start + rest.count), expectedSize)
        let whole = try FileSystem.readFile(file, limit: 1 << 30)
        return HTTPClient.DownloadResult(received: UInt64(rest.count), resumed: start > 0, sha256: SHA256Digest.of(whole))
    }

    func fetchRanges(_ digest: SHA256Digest, _ ranges: [DeviceAPI.RangesRequest.Range], to file: String) throws -> UInt64 {
        let fault = nextFault(.ranges)
        if case .status(let code, let retryAfter) = fault { throw Self.statusError(code, retryAfter) }
        guard let content = locked({ _content[digest] }) else { throw Self.statusError(404, nil) }
        var bytes: [UInt8] = []
        for range in ranges where range.offset + range.length <= UInt64(content.count) {
            bytes += content[Int(range.offset)..<Int(range.offset + range.length)]
        }
        if case .cut(let after) = fault { bytes = Array(bytes.prefix(after)) }
        try FileSystem.writeAtomically(bytes, to: file)
        if case .cut = fault { throw HTTPClientError.transport("the ranges answer broke off (in-memory fleet)") }
        return UInt64(bytes.count)
    }

    private func check(_ call: Call) throws {
        switch nextFault(call) {
        case .status(let code, let retryAfter): throw Self.statusError(code, retryAfter)
        case .cut: throw HTTPClientError.transport("the connection broke off (in-memory fleet)")
        default: return
        }
    }

    private func faultAnswer(_ call: Call) throws -> [UInt8]? {
        switch nextFault(call) {
        case .status(let code, let retryAfter): throw Self.statusError(code, retryAfter)
        case .cut: throw HTTPClientError.transport("the connection broke off (in-memory fleet)")
        case .answer(let bytes): return bytes
        case .corrupt, nil: return nil
        }
    }

    static func statusError(_ code: Int, _ retryAfter: Int?) -> HTTPClientError {
        .status(code, code: nil, message: "in-memory fleet answered \(code)", retryAfterSeconds: retryAfter)
    }

    static func append(_ bytes: [UInt8], to path: String) throws {
        let file = try File.open(path, .append(permissions: 0o600))
        do { try file.write(bytes) } catch {
            file.close()
            throw error
        }
        file.close()
    }
}

/// One device's connection to the in-memory fleet.
final class InMemoryTransport: DeviceTransport, @unchecked Sendable {
    let fleet: InMemoryFleet
    var credentials: DeviceClient.Credentials
    var mayFollowRedirect: @Sendable (String) -> Bool = { _ in false }

    init(fleet: InMemoryFleet, credentials: DeviceClient.Credentials) {
        self.fleet = fleet
        self.credentials = credentials
    }

    var deviceID: DeviceID? {
        if case .key(let id, _) = credentials { return id }
        return nil
    }

    func register(_ request: DeviceAPI.RegisterRequest) throws -> DeviceAPI.RegisterResponse { try fleet.register(request) }

    func bindKey(deviceID: DeviceID, key: Ed25519PrivateKey) throws { credentials = .key(deviceID: deviceID, key: key) }

    func checkinAnswer(_ request: DeviceAPI.CheckinRequest) throws -> [UInt8] {
        try fleet.checkSession(deviceID)
        return try fleet.checkin(request, device: deviceID!)
    }

    func report(_ events: [DeviceAPI.Event]) throws {
        try fleet.checkSession(deviceID)
        try fleet.report(events)
    }

    func sendMetrics(_ metrics: [DeviceAPI.ModelMetrics]) throws {
        try fleet.checkSession(deviceID)
        try fleet.sendMetrics(metrics)
    }

    func fetch(_ digest: SHA256Digest, to file: String, expectedSize: UInt64,
               progress: ((UInt64, UInt64) -> Void)?) throws -> HTTPClient.DownloadResult {
        try fleet.checkSession(deviceID)
        return try fleet.fetch(digest, to: file, expectedSize: expectedSize, progress: progress)
    }

    func fetchRanges(_ digest: SHA256Digest, _ ranges: [DeviceAPI.RangesRequest.Range], to file: String) throws -> UInt64 {
        try fleet.checkSession(deviceID)
        return try fleet.fetchRanges(digest, ranges, to: file)
    }
}
