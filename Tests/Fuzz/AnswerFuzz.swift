// libFuzzer target for what a device decodes from its server: session answers, check-in
// answers (plain and signed, with the metadata beside them) and TUF metadata, built by
// `FUZZ_TARGET=answers scripts/fuzz-tar.sh` together with the OTACore sources.
//
// The first byte of an input picks what the rest is:
//   0  a session answer body (`SessionResponse`, then `accepted(at:)` at a hostile time)
//   1  a whole check-in answer body, read as the agent reads it (`CheckinAnswer`), its
//      metadata refreshed against a trusted root (`MetadataRefresh`) and its answer opened
//   2  an answer payload, signed here with the root's check-in key so that binding and
//      answer decoding are reached, then the clock floor and the status arithmetic
//   3  a metadata payload of each role, signed here with the right key and refreshed
//   4  a manifest, signed here with the release key and verified as an assignment is
//   5  a model signature file (`ModelSignature`), checked as a device checks one
//   6  an in-toto statement (`ModelStatement`), as if its signature had verified, checked
//      against a model folder's files
// Every hostile number must end in an error, never a trap: a trap is a crash, and a crash a
// failing run. A decision that contradicts itself calls `fatalError`.

#if canImport(Glibc)
import Glibc
#endif

struct Keys {
    let root: Ed25519PrivateKey
    let online: Ed25519PrivateKey
    let release: Ed25519PrivateKey
    let rootMetadata: RootMetadata

    static let shared: Keys = {
        let root = try! Ed25519PrivateKey.generate()
        let online = try! Ed25519PrivateKey.generate()
        let release = try! Ed25519PrivateKey.generate()
        func key(_ k: Ed25519PrivateKey) -> (String, TUFKey) { (k.publicKey.tufKeyID, TUFKey(k.publicKey)) }
        let keys = Dictionary(uniqueKeysWithValues: [key(root), key(online), key(release)])
        let metadata = RootMetadata(version: 1, expires: "2100-01-01T00:00:00Z", keys: keys, roles: [
            .root: TUFRole(keyids: [root.publicKey.tufKeyID], threshold: 1),
            .targets: TUFRole(keyids: [release.publicKey.tufKeyID], threshold: 1),
            .snapshot: TUFRole(keyids: [online.publicKey.tufKeyID], threshold: 1),
            .timestamp: TUFRole(keyids: [online.publicKey.tufKeyID], threshold: 1),
        ], checkin: TUFRole(keyids: [online.publicKey.tufKeyID], threshold: 1))
        return Keys(root: root, online: online, release: release, rootMetadata: metadata)
    }()

    var trusted: TrustedMetadata {
        var envelope = try! MetadataEnvelope.wrap(rootMetadata)
        try! envelope.signTUF(with: root)
        return try! TrustedMetadata(trustedRoot: try! envelope.encoded(), now: 1_800_000_000)
    }

    func signed(_ payloadType: String, _ payload: [UInt8], by key: Ed25519PrivateKey, tuf: Bool) -> Envelope {
        var envelope = Envelope(payloadType: payloadType, payload: payload)
        if tuf { try! envelope.signTUF(with: key) } else { try! envelope.sign(with: key) }
        return envelope
    }
}

/// Times a device could believe it is: the epoch's ends and a hostile clock.
let clocks: [Int64] = [0, 1_800_000_000, 253_402_300_799, Int64.max, Int64.min, -1]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let mode = data[0]
    let bytes = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
    switch mode % 7 {
    case 0: session(bytes)
    case 1: checkinBody(bytes)
    case 2: answerPayload(bytes)
    case 3: metadataPayload(bytes)
    case 4: manifest(bytes)
    case 5: modelSignature(bytes)
    default: modelStatement(bytes)
    }
    return 0
}

/// A model team's P-256 public key (the private half was thrown away); the corpus's
/// `model-signature` is its genuine signature of a three-file folder.
let modelSigner = try! ECDSAPublicKey(pem: """
-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEB+4FizezyTwPrRd5iyrwo6WLVrd
n4PHFBDSOIk5ZVtv+vWxGrUS0Ytmep7jaVPK3EHoe53Kn5EgfnLcDO2qtQ==
-----END PUBLIC KEY-----
""")
let modelFiles: [(path: String, sha256: SHA256Digest)] = [("model.onnx", SHA256Digest.of([1])), ("sub/labels.txt", SHA256Digest.of([2]))]

func modelSignature(_ bytes: [UInt8]) {
    guard let signature = try? ModelSignature(parsing: bytes) else { return }
    // The corpus holds a genuine signature by this key, so the whole check is reached.
    if let statement = try? signature.verified(by: [modelSigner]) {
        _ = try? statement.check(files: modelFiles, signatureFile: ModelSignature.fileName)
    }
}

func modelStatement(_ bytes: [UInt8]) {
    guard let statement = try? ModelStatement(parsing: bytes) else { return }
    if statement.resources.isEmpty { fatalError("a statement without files was accepted") }
    _ = try? statement.check(files: modelFiles, signatureFile: ModelSignature.fileName)
}

func session(_ bytes: [UInt8]) {
    guard let answer = try? StrictJSON.decode(DeviceAPI.SessionResponse.self, from: bytes, what: "session") else { return }
    for now in clocks {
        guard let accepted = try? answer.accepted(at: now) else { continue }
        if accepted.key.count != 32 { fatalError("a session key of \(accepted.key.count) bytes was accepted") }
        if accepted.renewAt < 0 || accepted.renewAt > WireRange.epochSeconds.upperBound + 86_400 { fatalError("renewAt \(accepted.renewAt) out of range") }
    }
}

func checkinBody(_ bytes: [UInt8]) {
    guard let answer = try? CheckinAnswer(body: bytes) else { return }
    switch answer.form {
    case .unsigned(let response):
        check(response)
    case .signed(let envelope, var metadata):
        var trusted = Keys.shared.trusted
        metadata.rootsAfter = trusted.root.version
        _ = try? MetadataRefresh.run(&trusted, from: metadata, store: ScratchMetadataStore())
        if let opened = try? CheckinAnswer.open(envelope, under: trusted.root, deviceID: "dev", nonce: "n") { status(opened) }
    }
}

func answerPayload(_ bytes: [UInt8]) {
    let keys = Keys.shared
    let envelope = keys.signed(DeviceAPI.answerPayloadType, bytes, by: keys.online, tuf: true)
    // The binding's own device and nonce, so that a payload that names them is opened.
    struct Probe: Decodable { let device_id: String?; let nonce: String? }
    let probe = try? StrictJSON.decode(Probe.self, from: bytes, what: "probe")
    guard let opened = try? CheckinAnswer.open(envelope, under: keys.rootMetadata, deviceID: probe?.device_id ?? "dev",
                                               nonce: probe?.nonce ?? "n") else { return }
    status(opened)
}

/// What the agent does with an opened answer's numbers.
func status(_ opened: CheckinAnswer.Opened) {
    check(opened.response)
    for now in clocks {
        let floor = ClockFloor.raised(nil, issued: opened.issued, deviceNow: now)
        let behind = ClockFloor.deviceBehind(issued: opened.issued, deviceNow: now)
        guard WireRange.epochSeconds.contains(floor) else { fatalError("clock floor \(floor) out of range") }
        _ = DurationText.describe(seconds: Int(behind.magnitude > UInt64(Int.max) ? 0 : abs(behind)))
    }
}

func check(_ response: DeviceAPI.CheckinResponse) {
    guard DeviceAPI.CheckinResponse.pollIntervalRange.contains(response.pollIntervalSeconds) else { fatalError("poll interval out of range accepted") }
    for assignment in response.assignments {
        _ = assignment.shadow?.problem
        _ = try? BundleTrust(keys: [Keys.shared.release.publicKey], threshold: 1).verify(assignment.envelope)
    }
}

func metadataPayload(_ bytes: [UInt8]) {
    let keys = Keys.shared
    for role in TUFRoleName.allCases {
        let key = role == .root ? keys.root : role == .targets ? keys.release : keys.online
        guard let encoded = try? keys.signed(MetadataEnvelope.payloadType, bytes, by: key, tuf: true).encoded() else { continue }
        var trusted = keys.trusted
        switch role {
        case .root: _ = try? trusted.updateRoot(encoded)
        case .timestamp: _ = try? trusted.updateTimestamp(encoded)
        case .snapshot, .targets:
            _ = try? MetadataEnvelope.open(SnapshotMetadata.self, encoded, verifiedBy: keys.rootMetadata)
            if let targets = try? MetadataEnvelope.open(TargetsMetadata.self, encoded, verifiedBy: keys.rootMetadata) {
                _ = targets.isExpired(at: Int64.max)
                _ = targets.expiresEpoch
            }
        }
        let metadata = AnswerMetadata(roots: role == .root ? [encoded] : [], timestamp: role == .timestamp ? encoded : nil,
                                      snapshot: role == .snapshot ? encoded : nil, targets: role == .targets ? encoded : nil, rootsAfter: 1)
        var fresh = keys.trusted
        _ = try? MetadataRefresh.run(&fresh, from: metadata, store: ScratchMetadataStore())
    }
}

func manifest(_ bytes: [UInt8]) {
    let keys = Keys.shared
    let envelope = keys.signed(Envelope.manifestPayloadType, bytes, by: keys.release, tuf: false)
    guard let verified = try? BundleTrust(keys: [keys.release.publicKey], threshold: 1).verify(envelope) else { return }
    _ = verified.manifest.totalSize
}
