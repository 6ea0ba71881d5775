import OTACore
import Testing

@Suite("Semantic versions")
struct SemanticVersionTests {
    @Test("Parses core, pre-release and build parts")
    func parsesAllParts() throws {
        let version = try SemanticVersion("1.4.0-rc.1+build.7")
        #expect(version.major == 1 && version.minor == 4 && version.patch == 0)
        #expect(version.preRelease == [.alphanumeric("rc"), .numeric(1)])
        #expect(version.build == ["build", "7"])
        #expect(version.description == "1.4.0-rc.1+build.7")
    }

    @Test("Orders versions by SemVer 2.0 precedence, the spec's own example included")
    func ordersBySpecPrecedence() throws {
        let ordered = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2",
                       "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1", "1.2.0", "1.10.0", "2.0.0"]
        let versions = try ordered.map { try SemanticVersion($0) }
        for (lower, higher) in zip(versions, versions.dropFirst()) {
            #expect(lower < higher, "\(lower) < \(higher)")
            #expect(!(higher < lower))
        }
        #expect(try versions.shuffled().sorted() == versions)
    }

    @Test("Ignores build metadata for precedence and equality")
    func ignoresBuildMetadata() throws {
        let a = try SemanticVersion("1.0.0+a")
        let b = try SemanticVersion("1.0.0+b.2")
        #expect(a == b)
        #expect(!(a < b) && !(b < a))
        #expect(Set([a, b]).count == 1)
    }

    @Test("Compares numeric identifiers numerically and below alphanumeric ones")
    func comparesIdentifiers() throws {
        #expect(try SemanticVersion("1.0.0-2") < SemanticVersion("1.0.0-10"))
        #expect(try SemanticVersion("1.0.0-999") < SemanticVersion("1.0.0-a"))
        #expect(try SemanticVersion("1.0.0-a") < SemanticVersion("1.0.0-a.0"))
    }

    @Test("Rejects malformed versions with a reason", arguments: [
        "", "1", "1.2", "1.2.3.4", "01.2.3", "1.02.3", "v1.2.3", "1.2.3-", "1.2.3-01", "1.2.3-a..b",
        "1.2.3+", "1.2.3+a..b", "1.2.3-é", "1.2.3 ", "-1.2.3", "1.2.3-a_b", "99999999999999999999.0.0",
    ])
    func rejectsMalformed(text: String) {
        #expect(throws: SemanticVersion.ParseError.self) { try SemanticVersion(text) }
    }
}
