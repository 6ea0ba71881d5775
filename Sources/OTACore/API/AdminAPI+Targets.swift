extension AdminAPI {
    /// Which devices a deployment is for: on the wire, an object with exactly one of `all`
    /// (true), `tag`, `group` or `devices`.
    public enum Target: Codable, Equatable, Hashable, Sendable {
        case all
        case tag(Tag)
        case group(GroupName)
        case devices([DeviceID])

        public static let everyCompatibleDevice = Target.all
        public static let maximumDevices = 100_000

        enum CodingKeys: String, CodingKey { case all, tag, group, devices }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            guard container.allKeys.count == 1, let key = container.allKeys.first else {
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "needs exactly one of all, tag, group or devices"))
            }
            switch key {
            case .all:
                guard try container.decode(Bool.self, forKey: .all) else {
                    throw DecodingError.dataCorrupted(.init(codingPath: container.codingPath + [key], debugDescription: "must be true"))
                }
                self = .all
            case .tag: self = .tag(try container.decode(Tag.self, forKey: .tag))
            case .group: self = .group(try container.decode(GroupName.self, forKey: .group))
            case .devices:
                let devices = try container.decode([DeviceID].self, forKey: .devices)
                guard (1...Self.maximumDevices).contains(devices.count) else {
                    throw DecodingError.dataCorrupted(.init(codingPath: container.codingPath + [key], debugDescription: "must list 1 to \(Self.maximumDevices) devices"))
                }
                self = .devices(devices)
            }
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            switch self {
            case .all: try container.encode(true, forKey: .all)
            case .tag(let tag): try container.encode(tag, forKey: .tag)
            case .group(let group): try container.encode(group, forKey: .group)
            case .devices(let devices): try container.encode(devices, forKey: .devices)
            }
        }

        public var summary: String {
            switch self {
            case .all: return "all compatible devices"
            case .tag(let tag): return "tag \(tag)"
            case .group(let group): return "group \(group)"
            case .devices(let devices): return "\(devices.count) device\(devices.count == 1 ? "" : "s")"
            }
        }
    }

    /// One stage of a rollout: canary devices (by list, tag or group), or a share of the
    /// target. On the wire, an object with exactly one of `percent`, `devices`, `tag`, `group`.
    public enum Phase: Codable, Equatable, Hashable, Sendable {
        /// Above 0 and at most 100.
        case percent(Double)
        case devices([DeviceID])
        case tag(Tag)
        case group(GroupName)

        public static let maximumDevices = 10_000
        public static let maximumCount = 20

        enum CodingKeys: String, CodingKey { case percent, devices, tag, group }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            guard container.allKeys.count == 1, let key = container.allKeys.first else {
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "needs exactly one of percent, devices, tag or group"))
            }
            switch key {
            case .percent:
                let percent = try container.decode(Double.self, forKey: .percent)
                guard percent.isFinite, percent > 0, percent <= 100 else {
                    throw DecodingError.dataCorrupted(.init(codingPath: container.codingPath + [key], debugDescription: "must be above 0 and at most 100"))
                }
                self = .percent(percent)
            case .devices:
                let devices = try container.decode([DeviceID].self, forKey: .devices)
                guard (1...Self.maximumDevices).contains(devices.count) else {
                    throw DecodingError.dataCorrupted(.init(codingPath: container.codingPath + [key], debugDescription: "must list 1 to \(Self.maximumDevices) devices"))
                }
                self = .devices(devices)
            case .tag: self = .tag(try container.decode(Tag.self, forKey: .tag))
            case .group: self = .group(try container.decode(GroupName.self, forKey: .group))
            }
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            switch self {
            case .percent(let percent): try container.encode(percent, forKey: .percent)
            case .devices(let devices): try container.encode(devices, forKey: .devices)
            case .tag(let tag): try container.encode(tag, forKey: .tag)
            case .group(let group): try container.encode(group, forKey: .group)
            }
        }

        public var percent: Double? { if case .percent(let value) = self { return value } else { return nil } }
        /// The devices a canary phase names, if it names them.
        public var listedDevices: [DeviceID]? { if case .devices(let devices) = self { return devices } else { return nil } }

        public var label: String {
            switch self {
            case .percent(let percent): return percent == percent.rounded() ? "\(Int(percent))%" : "\(percent)%"
            case .tag(let tag): return "canary tag \(tag)"
            case .group(let group): return "canary group \(group)"
            case .devices(let devices): return "canary \(devices.count) device\(devices.count == 1 ? "" : "s")"
            }
        }

        /// Why a list of phases is not a rollout: canaries first, then percentages rising to
        /// 100, at most `maximumCount` phases.
        public static func problem(in phases: [Phase]) -> String? {
            guard !phases.isEmpty else { return "phases is empty" }
            guard phases.count <= maximumCount else { return "at most \(maximumCount) phases" }
            var lastPercent = 0.0
            var sawPercent = false
            for (index, phase) in phases.enumerated() {
                if let percent = phase.percent {
                    guard percent > lastPercent else { return "phase \(index + 1): percentages must rise (\(percent) after \(lastPercent))" }
                    lastPercent = percent
                    sawPercent = true
                } else if sawPercent {
                    return "phase \(index + 1): canary phases (devices, tag, group) come before percentages"
                }
            }
            guard phases.last?.percent == 100 else { return "the last phase must be 100% so that the whole target is reached" }
            return nil
        }
    }
}

extension AdminAPI {
    /// The body of a deployment control: why (for the audit log), at most 1000 bytes.
    public struct ControlRequest: Codable, Equatable, Sendable {
        public var reason: String?
        public init(reason: String?) { self.reason = reason }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            reason = try container.decodeIfPresent(String.self, forKey: .reason)
            if let reason, reason.utf8.count > 1000 {
                throw DecodingError.dataCorrupted(.init(codingPath: container.codingPath + [CodingKeys.reason], debugDescription: "is longer than 1000 bytes"))
            }
        }
        enum CodingKeys: String, CodingKey { case reason }
    }

    /// What an operator decides about a device waiting for acceptance (or one accepted before).
    public enum DeviceDecision: String, Codable, CaseIterable, Sendable {
        case accept, reject
    }
}
