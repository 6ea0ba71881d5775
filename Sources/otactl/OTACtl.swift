import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import OTACore

@main
struct OTACtl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "otactl",
        abstract: "Build, sign and publish update bundles, and run the fleet through ota-server.",
        discussion: """
        Typical flow:
          for key in root release online; do otactl keygen --out keys/$key; done
          otactl trust create --root-key keys/root.pub \\
              --release-key keys/release.pub --online-key keys/online.pub \\
              --sign keys/root.key --out keys/trust.json
          otactl bundle create model/ --name digits --version 1.0.0 --kind model \\
              --compatible rpi4-aarch64 --key keys/release.key -o digits-1.0.0.otab
          otactl bundle verify digits-1.0.0.otab --trust keys/trust.json
          otactl publish digits-1.0.0.otab --server http://127.0.0.1:8080 \\
              --token $OTA_TOKEN
          otactl release add digits 1.0.0 --channel stable \\
              --key keys/release.key --trust keys/trust.json
          otactl deployments create digits 1.0.0 --all

        Exit codes:
          0   success
          1   the command failed (bad input, unreadable file, ...)
          2   verification failed: the bundle is not valid under the trust root
          3   the server could not be reached
          4   the server refused the request (the message says why)
          64  invalid command-line usage
        """,
        subcommands: [
            KeygenCommand.self, TrustCommand.self, ReleaseCommand.self, BundleCommand.self, PublishCommand.self,
            BundlesCommand.self, DevicesCommand.self, DeploymentsCommand.self, EnrollTokenCommand.self,
        ]
    )

    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let failure as Failure {
            Terminal.printError(failure.message)
            exit(withError: ExitCode(failure.exitCode))
        } catch {
            exit(withError: error)
        }
    }
}
