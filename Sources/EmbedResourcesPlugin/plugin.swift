import Foundation
import PackagePlugin

/// Embeds `migrations/*.sql` and the target's `Resources/` folder into generated Swift source,
/// so the server binary carries its schema, its OpenAPI document and its dashboard.
@main
struct EmbedResourcesPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: any Target) throws -> [Command] {
        let migrations = context.package.directoryURL.appending(path: "migrations")
        let resources = target.directoryURL.appending(path: "Resources")
        let inputs = try files(in: migrations, withExtension: "sql") + files(in: resources, withExtension: nil)
        let output = context.pluginWorkDirectoryURL.appending(path: "EmbeddedResources.swift")
        return [
            .buildCommand(
                displayName: "Embedding migrations and resources into \(target.name)",
                executable: try context.tool(named: "embed-resources").url,
                arguments: [output.path, migrations.path, resources.path],
                inputFiles: inputs + [migrations, resources],
                outputFiles: [output]
            )
        ]
    }

    private func files(in folder: URL, withExtension ext: String?) throws -> [URL] {
        guard let walker = FileManager.default.enumerator(at: folder, includingPropertiesForKeys: [.isRegularFileKey]) else {
            return []
        }
        var found: [URL] = []
        for case let url as URL in walker {
            let isFile = (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) ?? false
            if isFile, ext == nil || url.pathExtension == ext { found.append(url) }
        }
        return found.sorted { $0.path < $1.path }
    }
}
