#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The file-system operations the updater relies on for crash safety, spelled out: write a
/// temporary file, fsync it, rename it over the target, fsync the folder.
public enum FileSystem {
    public enum Kind: Equatable, Sendable { case regular, directory, symlink, other, missing }

    /// What is at `path`, without following a final symbolic link.
    public static func kind(of path: String) -> Kind {
        var info = stat()
        guard lstat(path, &info) == 0 else { return .missing }
        switch info.st_mode & S_IFMT {
        case S_IFREG: return .regular
        case S_IFDIR: return .directory
        case S_IFLNK: return .symlink
        default: return .other
        }
    }

    public static func exists(_ path: String) -> Bool { kind(of: path) != .missing }

    /// Bytes an unprivileged process may still write on the file system holding `path`.
    public static func availableBytes(at path: String) -> UInt64? {
        var info = statvfs()
        guard statvfs(path, &info) == 0 else { return nil }
        return UInt64(info.f_bavail) * UInt64(info.f_frsize)
    }

    public static func fileSize(_ path: String) -> UInt64? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return UInt64(info.st_size)
    }

    public static func readFile(_ path: String, limit: Int = 16 << 20) throws -> [UInt8] {
        let file = try File.open(path, .readOnly)
        return try file.readAll(limit: limit)
    }

    public static func readText(_ path: String, limit: Int = 16 << 20) throws -> String {
        String(decoding: try readFile(path, limit: limit), as: UTF8.self)
    }

    /// Replaces `path` with `bytes` atomically and durably: readers see the old or the new
    /// content, never a mix, even after a power loss.
    public static func writeAtomically(_ bytes: [UInt8], to path: String, permissions: mode_t = 0o644) throws {
        let temporary = temporaryPath(beside: path)
        do {
            let file = try File.open(temporary, .createNew(permissions: permissions))
            try file.write(bytes)
            try file.sync()
            file.close()
            try rename(temporary, to: path)
        } catch {
            _ = unlink(temporary)
            throw error
        }
        try syncDirectory(containing: path)
    }

    /// A fresh name in the same folder (so that rename is atomic), hidden and unique.
    public static func temporaryPath(beside path: String) -> String {
        let folder = parent(of: path)
        let name = basename(of: path)
        return folder + "/." + name + ".tmp-" + Hex.encode(SecureRandom.bytes(6))
    }

    public static func rename(_ from: String, to: String) throws {
        guard Glibc.rename(from, to) == 0 else { throw FileError("rename \(from) to", to) }
    }

    public static func syncDirectory(_ path: String) throws {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw FileError("open folder", path) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw FileError("fsync folder", path) }
    }

    public static func syncDirectory(containing path: String) throws {
        try syncDirectory(parent(of: path))
    }

    /// Creates a folder and its missing parents.
    public static func createDirectory(_ path: String, permissions: mode_t = 0o755) throws {
        if kind(of: path) == .directory { return }
        let up = parent(of: path)
        if up != path, !up.isEmpty, kind(of: up) == .missing { try createDirectory(up, permissions: permissions) }
        guard mkdir(path, permissions) == 0 || errno == EEXIST else { throw FileError("create folder", path) }
    }

    /// Removes a file, a symbolic link or a whole folder tree. Missing is fine.
    public static func remove(_ path: String) throws {
        switch kind(of: path) {
        case .missing: return
        case .directory:
            for entry in try list(path) { try remove(path + "/" + entry) }
            guard rmdir(path) == 0 || errno == ENOENT else { throw FileError("remove folder", path) }
        default:
            guard unlink(path) == 0 || errno == ENOENT else { throw FileError("remove", path) }
        }
    }

    /// Removes one name (a file or a link, never a folder's contents): for paths another
    /// program may swap under us.
    public static func removeFile(_ path: String) throws {
        guard unlink(path) == 0 || errno == ENOENT else { throw FileError("remove", path) }
    }

    /// Reads a file another program wrote, as hostile input: it must be a regular file itself
    /// (a link is not followed; a pipe or device is refused without blocking), checked on the
    /// open descriptor so that it cannot be swapped between the check and the read.
    public static func readRegularFile(_ path: String, limit: Int) throws -> [UInt8] {
        let file: File
        do { file = try File.open(path, .readOnlyNoFollow) } catch let error as FileError where error.code == ELOOP {
            throw FileError("read (a symbolic link, not a regular file)", path, code: ELOOP)
        }
        var info = stat()
        guard fstat(file.descriptor, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            throw FileError("read (not a regular file)", path, code: EINVAL)
        }
        return try file.readAll(limit: limit)
    }

    /// The names in a folder, sorted, without "." and "..".
    public static func list(_ path: String) throws -> [String] {
        guard let dir = opendir(path) else { throw FileError("list", path) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) { pointer in
                pointer.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    public static func hardLink(_ existing: String, to newPath: String) throws {
        guard link(existing, newPath) == 0 else { throw FileError("hard-link \(existing) to", newPath) }
    }

    /// Points the symbolic link `path` at `target` atomically: a new link under a temporary
    /// name, then rename over the old one. A reader always sees the old or the new target.
    public static func replaceSymlink(_ path: String, target: String) throws {
        let temporary = temporaryPath(beside: path)
        guard symlink(target, temporary) == 0 else { throw FileError("create link", temporary) }
        do { try rename(temporary, to: path) } catch {
            _ = unlink(temporary)
            throw error
        }
        try syncDirectory(containing: path)
    }

    public static func readSymlink(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        let count = readlink(path, &buffer, buffer.count - 1)
        guard count >= 0 else { return nil }
        return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The permission bits and the number of hard links of a file (following links).
    public static func mode(of path: String) -> (permissions: mode_t, links: UInt64)? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return (info.st_mode & 0o7777, UInt64(info.st_nlink))
    }

    /// Copies a regular file to a new path, durably, with `permissions`.
    public static func copyFile(_ source: String, to destination: String, permissions: mode_t) throws {
        let input = try File.open(source, .readOnly)
        let output = try File.open(destination, .createNew(permissions: permissions))
        do {
            try input.forEachChunk { try output.write($0) }
            try output.sync()
        } catch {
            _ = unlink(destination)
            throw error
        }
    }

    public static func setPermissions(_ path: String, _ permissions: mode_t) throws {
        guard chmod(path, permissions) == 0 else { throw FileError("chmod", path) }
    }

    public static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        if slash == path.startIndex { return "/" }
        return String(path[..<slash])
    }

    public static func basename(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }

    public static func absolute(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        var buffer = [CChar](repeating: 0, count: 4096)
        guard getcwd(&buffer, buffer.count) != nil else { return path }
        let cwd = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return path == "." ? cwd : cwd + "/" + path
    }
}
