import OTACore

/// What a DDI client's feedback means for its membership, as the events an agent would have
/// reported, so that rollouts count, pause and advance the same way for both (the table is in
/// docs/ddi.md). Progress only moves forward and an outcome is written once: feedback that
/// would not move the membership is acknowledged and changes nothing, and feedback on an
/// action that already ended answers 410, as hawkBit does.
extension DDIService {
    /// The update state `status` moves an open action to, or nil for none.
    static func step(_ status: DDI.Status, from current: AdminAPI.MembershipState) -> DeviceAPI.UpdateState? {
        switch (status.execution, status.result.finished) {
        case (.closed, .failure): return .failed
        case (.closed, _): return .succeeded
        case (.download, _), (.downloaded, _): return .downloading
        case (.proceeding, .failure):
            // rauc-hawkbit's LastError while it installs; its outcome follows as `closed`.
            return nil
        case (.proceeding, _): return current == .pending ? .downloading : .installing
        case (.canceled, _), (.rejected, _), (.scheduled, _), (.resumed, _): return nil
        }
    }

    /// The text an event keeps: the client's details, and its progress.
    static func detail(_ status: DDI.Status) -> String {
        var parts = (status.details ?? []).map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.filter { !$0.isEmpty }
        if let progress = status.result.progress?.summary { parts.append("progress \(progress)") }
        let text = parts.joined(separator: "; ")
        return text.isEmpty ? "\(status.execution.rawValue) (\(status.result.finished.rawValue))" : text
    }

    func feedback(_ caller: DDICaller, _ number: Int64, _ feedback: DDI.Feedback) async throws {
        let action = try await action(caller, number)
        guard action.isOpen else { throw APIError(.gone, .gone, "action \(number) has ended (\(action.state.rawValue)); nothing changes") }
        guard let next = Self.step(feedback.status, from: action.state), AdminAPI.MembershipState(next).order > action.state.order else { return }
        try await report(caller, action, next, detail: Self.detail(feedback.status))
    }

    /// Feedback on a cancellation: stopping ends the action as failed (the deployment is
    /// cancelled). Refusing an action the device never fetched ends it the same way: nothing
    /// was installed, and a client that refuses every cancellation (rauc-hawkbit does) would
    /// otherwise be asked again at every poll, for ever. Refusing once under way leaves the
    /// action open for the device to finish and report, as hawkBit does.
    func cancelFeedback(_ caller: DDICaller, _ number: Int64, _ feedback: DDI.Feedback) async throws {
        let action = try await action(caller, number)
        guard action.isOpen else { throw APIError(.gone, .gone, "action \(number) has ended (\(action.state.rawValue)); nothing changes") }
        guard action.isCancelling else { throw APIError.conflict("action \(number) is not being cancelled") }
        switch (feedback.status.execution, feedback.status.result.finished) {
        case (.closed, .success), (.closed, .none), (.canceled, _):
            try await report(caller, action, .failed, detail: "cancelled: the device stopped the update (\(Self.detail(feedback.status)))")
        case (.rejected, _) where action.state == .pending:
            try await report(caller, action, .failed, detail: "cancelled before it started; the device refused to stop (\(Self.detail(feedback.status)))")
        default:
            return
        }
    }

    /// hawkBit's "retrieved": the first fetch of an open action's deployment moves its
    /// membership from pending to downloading, so that pending means "never fetched" (a
    /// refused cancellation ends only those; one under way may still install and report).
    func retrieved(_ caller: DDICaller, _ action: DDIAction) async throws {
        guard action.state == .pending else { return }
        try await report(caller, action, .downloading, detail: "retrieved its deployment")
    }

    /// Records the step as an agent's event, and what the device now runs when it succeeded.
    private func report(_ caller: DDICaller, _ action: DDIAction, _ state: DeviceAPI.UpdateState, detail: String) async throws {
        guard let (_, bundle) = try await bundles.find(id: action.bundleID) else {
            throw RegistryError.corrupt("deployment \(action.deploymentID) names a missing bundle")
        }
        let device = caller.identity
        let event = DeviceAPI.Event(deploymentID: action.deploymentID, bundleName: bundle.name, version: bundle.version.description, state: state,
                                    detail: detail.truncatedUTF8(to: DeviceAPI.Event.storedDetailBytes), at: clock.now)
        let moved = try await rollouts.record([event], from: device)
        // Only the outcome the registry kept (of two at once, the first wins) says what runs.
        guard moved.contains(where: { $0.deploymentID == action.deploymentID && $0.state == .succeeded }) else { return }
        var installed = try await devices.installed(id: device.id).filter { $0.name != bundle.name }
        installed.append(.init(name: bundle.name, version: bundle.version, digest: bundle.digest))
        installed.sort { $0.name < $1.name }
        cache.state.withLock { state in
            state.installed[device.id] = installed
            state.pending.installed[device.id] = installed
            state.installedWritten[device.id] = clock.now.secondsSinceEpoch
        }
    }

    /// `PUT configData`: the device's attributes, merged (the default), replaced or removed.
    func configData(_ caller: DDICaller, _ body: DDI.ConfigData) async throws {
        var attributes = try await devices.attributes(id: caller.identity.id) ?? [:]
        switch body.mode ?? .merge {
        case .merge: attributes.merge(body.data) { _, new in new }
        case .replace: attributes = body.data
        case .remove: for key in body.data.keys { attributes[key] = nil }
        }
        guard attributes.count <= DDI.ConfigData.maximumEntries else {
            throw APIError.badRequest("a device keeps at most \(DDI.ConfigData.maximumEntries) attributes")
        }
        try await devices.setAttributes(id: caller.identity.id, attributes)
    }
}
