import ArgumentParser
import Foundation
import OTACore
import OTAServer

/// How the server answers hawkBit DDI clients (SWUpdate's suricatta, RAUC's hawkBit clients).
struct DDIOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The tenant DDI clients name in their URLs (/TENANT/controller/v1/ID), matched without regard to case.", valueName: "name"))
    var ddiTenant = "default"

    @Option(help: ArgumentHelp("The release channel DDI devices follow: they get only images released on it in unexpired release metadata.", valueName: "channel"))
    var ddiChannel = "stable"

    @Option(help: ArgumentHelp("""
        A file holding one token that DDI clients may send as 'Authorization: GatewayToken TOKEN' for any DDI device (a site gateway). \
        Off unless given: whoever holds it speaks for every DDI device.
        """, valueName: "path"))
    var ddiGatewayTokenFile: String?

    @Option(help: ArgumentHelp("""
        This server's address as DDI clients reach it (https://ota.example.com behind a TLS terminator): the links they follow start with it. \
        Default: the address each request names, https only when the server holds a certificate.
        """, valueName: "url"))
    var ddiPublicURL: String?

    func validate() throws {
        guard !ddiTenant.isEmpty, ddiTenant.utf8.count <= 64,
              ddiTenant.utf8.allSatisfy({ $0 < 0x80 && (Character(UnicodeScalar($0)).isLetter || Character(UnicodeScalar($0)).isNumber || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_")) }) else {
            throw ValidationError("--ddi-tenant must be 1 to 64 letters, digits, '-' or '_'")
        }
        guard Channel(rawValue: ddiChannel) != nil else { throw ValidationError("--ddi-channel '\(ddiChannel)' is not a channel name") }
        if let url = ddiPublicURL {
            guard DDISettings.isValidPublicURL(url) else {
                throw ValidationError("--ddi-public-url must be http(s)://HOST[:PORT] with no path, like https://ota.example.com")
            }
        }
    }

    func settings() throws -> DDISettings {
        var settings = DDISettings()
        settings.tenant = ddiTenant
        settings.channel = Channel(rawValue: ddiChannel) ?? .stable
        settings.publicURL = ddiPublicURL
        if let path = ddiGatewayTokenFile {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw ValidationError("--ddi-gateway-token-file: cannot read \(path)")
            }
            let token = text.trimmingCharacters(in: .whitespacesAndNewlines)
            guard token.utf8.count >= 32, token.utf8.count <= 256, !token.contains(where: \.isWhitespace) else {
                throw ValidationError("--ddi-gateway-token-file: the token must be 32 to 256 characters without spaces")
            }
            settings.gatewayTokenHash = DDISettings.hash(token)
        }
        return settings
    }
}
