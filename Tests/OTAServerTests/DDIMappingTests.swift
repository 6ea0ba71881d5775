import OTACore
@testable import OTAServer
import Testing

/// The pure parts of DDI: the feedback table, the sleep format, the action numbers.
@Suite("hawkBit DDI: how feedback maps onto update steps")
struct DDIMappingTests {
    func status(_ execution: DDI.Execution, _ finished: DDI.Finished) -> DDI.Status { DDI.Status(execution: execution, result: .init(finished: finished)) }

    @Test("Each execution and result moves a membership as the agent's events would", arguments: DDI.Execution.allCases)
    func table(execution: DDI.Execution) {
        for finished in DDI.Finished.allCases {
            let fromPending = DDIService.step(status(execution, finished), from: .pending)
            let fromInstalling = DDIService.step(status(execution, finished), from: .installing)
            switch (execution, finished) {
            case (.closed, .failure): #expect(fromPending == .failed && fromInstalling == .failed)
            case (.closed, _): #expect(fromPending == .succeeded && fromInstalling == .succeeded)
            case (.download, _), (.downloaded, _): #expect(fromPending == .downloading)
            case (.proceeding, .failure): #expect(fromPending == nil && fromInstalling == nil, "an error while installing waits for the outcome")
            case (.proceeding, _): #expect(fromPending == .downloading && fromInstalling == .installing)
            default: #expect(fromPending == nil && fromInstalling == nil, "\(execution)/\(finished) changes nothing")
            }
        }
    }

    @Test("The poll's sleep is HH:MM:SS, never past 23:59:59")
    func sleep() {
        #expect(DDISettings.sleep(seconds: 60) == "00:01:00")
        #expect(DDISettings.sleep(seconds: 3661) == "01:01:01")
        #expect(DDISettings.sleep(seconds: 7 * 86_400) == "23:59:59")
        #expect(DDISettings.sleep(seconds: 0) == "00:00:01")
    }

    @Test("Tenants match without regard to case; details are kept short and with the progress")
    func tenantsAndDetails() {
        var settings = DDISettings()
        settings.tenant = "Default"
        #expect(settings.serves(tenant: "DEFAULT") && settings.serves(tenant: "default") && !settings.serves(tenant: "defaults"))
        let detail = DDIService.detail(DDI.Status(execution: .proceeding, result: .init(finished: .none, progress: .init(cnt: 2, of: 5)), details: [" Installing ", ""]))
        #expect(detail == "Installing; progress 2 of 5")
        #expect(DDIService.detail(status(.closed, .success)) == "closed (success)")
    }

    @Test("The change hash is stable for an action's state and changes with it")
    func changeHash() {
        #expect(DDIService.changeHash(7, .pending) == DDIService.changeHash(7, .pending))
        #expect(DDIService.changeHash(7, .pending) != DDIService.changeHash(7, .downloading))
        #expect(DDIService.changeHash(7, .pending) != DDIService.changeHash(8, .pending))
    }
}
