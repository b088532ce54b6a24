import ArgumentParser
import Foundation
import WharfProtocol
import WharfStorage

/// `wharf check --dir DIR`: verifies snapshots and log offline.
struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Verify a data directory offline: snapshot checksums and every log record.")

    @Option(help: "The data directory to check.")
    var dir: String = "./wharf-data"

    func run() throws {
        let layout = StorageLayout(directory: self.dir)
        guard StorageFiles.exists(self.dir) else { throw ValidationError("no such directory: \(self.dir)") }
        var healthy = true
        var startLSN: UInt64 = 0
        let snapshots = try layout.snapshots()
        if snapshots.isEmpty { print("snapshots: none") }
        for snapshot in snapshots {
            do {
                let info = try SnapshotReader.validate(path: snapshot.path)
                let created = Date(timeIntervalSince1970: Double(info.createdAt) / 1000)
                print(
                    "snapshot \(snapshot.path): ok, \(info.entries) keys, \(info.size) bytes, log position \(info.lsn), taken \(created)"
                )
                startLSN = max(startLSN, info.lsn)
            } catch {
                print("snapshot \(snapshot.path): DAMAGED: \(error)")
                healthy = false
            }
        }
        let segments = try layout.segments()
        print("log segments: \(segments.count)")
        do {
            let result = try LogReader.read(layout, from: startLSN, repair: false, modify: false) { _ in }
            print(
                "log: ok, \(result.records) records (\(result.bytes) bytes) after position \(startLSN), ends at \(result.endLSN)"
            )
            if let torn = result.tornTail {
                print(
                    "log: torn record at the end of \(torn.path) at offset \(torn.offset); start-up will cut the \(torn.bytes) bytes from there to the end of the file"
                )
            }
        } catch let damage as LogDamage {
            print("log: DAMAGED: \(damage.description)")
            healthy = false
        }
        if !healthy { throw ExitCode(1) }
        print("check passed")
    }
}

/// `wharf backup --to FILE`: a consistent point-in-time copy of a running server.
struct BackupCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Copy a running server's data to a file, consistent at one point in time.")

    @Option(help: "The file to write.")
    var to: String

    @Option(help: "Server host.")
    var host: String = "127.0.0.1"

    @Option(help: "Server port.")
    var port: Int = 6379

    @Option(help: "Password (or set WHARF_PASSWORD).")
    var password: String?

    @Option(help: "User for AUTH with a password.")
    var user: String = "default"

    /// Set by `wharf export`, which reports for itself.
    var quiet = false

    func run() throws {
        let connection = try BlockingRESPConnection(host: self.host, port: self.port)
        if let password = self.password ?? ProcessInfo.processInfo.environment["WHARF_PASSWORD"] {
            _ = try connection.call(["AUTH", self.user, password])
        }
        guard case .array(let started) = try connection.call(["BACKUP", "START"]), started.count == 3,
            case .integer(let id) = started[0], case .integer(let size) = started[1],
            case .integer(let lsn) = started[2]
        else {
            throw ValidationError("unexpected reply to BACKUP START")
        }
        let temporary = self.to + ".tmp"
        guard FileManager.default.createFile(atPath: temporary, contents: nil) else {
            throw ValidationError("cannot create \(temporary)")
        }
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: temporary))
        let progress = ProgressBar(total: Int(size))
        var offset: Int64 = 0
        let chunk = 4 << 20
        while offset < size {
            guard
                case .bulkString(let bytes) = try connection.call([
                    "BACKUP", "READ", String(id), String(offset), String(chunk),
                ]), !bytes.isEmpty
            else {
                throw ValidationError("backup stream ended at \(offset) of \(size) bytes")
            }
            try output.write(contentsOf: bytes)
            offset += Int64(bytes.count)
            progress.update(Int(offset))
        }
        try output.synchronize()
        try output.close()
        _ = try connection.call(["BACKUP", "END", String(id)])
        progress.finish()
        let info = try SnapshotReader.validate(path: temporary)
        try StorageFiles.rename(temporary, to: self.to)
        if !self.quiet {
            print("backup written to \(self.to): \(info.entries) keys, \(size) bytes, log position \(lsn)")
        }
    }
}

/// `wharf restore FILE --dir DIR`: prepares a data directory from a backup.
struct RestoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Make a data directory hold exactly the data of a backup.")

    @Argument(help: "The backup file (from wharf backup).")
    var file: String

    @Option(help: "The data directory to restore into.")
    var dir: String

    @Flag(help: "Replace the data already in the directory.")
    var force = false

    /// Set by `wharf export`, which reports for itself.
    var quiet = false

    func run() throws {
        let info: (lsn: UInt64, entries: UInt64, createdAt: Int64, size: Int)
        do {
            info = try SnapshotReader.validate(path: self.file)
        } catch {
            throw ValidationError("\(self.file) is not a usable backup: \(error)")
        }
        try StorageFiles.createDirectory(self.dir)
        let layout = StorageLayout(directory: self.dir)
        let existing = try layout.segments().map(\.path) + layout.snapshots().map(\.path)
        if !existing.isEmpty {
            guard self.force else {
                throw ValidationError(
                    "\(self.dir) already holds data (\(existing.count) files); use --force to replace it")
            }
            for path in existing { try StorageFiles.remove(path) }
        }
        let target = layout.snapshotPath(at: info.lsn)
        let temporary = target + ".tmp"
        let source = try StorageFile.openForReading(self.file)
        let destination = try StorageFile.create(temporary)
        var buffer = [UInt8](repeating: 0, count: 4 << 20)
        var offset = 0
        while true {
            let count = try buffer.withUnsafeMutableBytes { try source.read(into: $0, at: offset) }
            if count == 0 { break }
            try buffer.withUnsafeBytes { try destination.write(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
            offset += count
        }
        try destination.sync()
        destination.close()
        try StorageFiles.rename(temporary, to: target)
        try StorageFiles.syncDirectory(self.dir)
        if !self.quiet {
            print("restored \(info.entries) keys into \(self.dir); start it with: wharf serve --dir \(self.dir)")
        }
    }
}

/// A one-line progress bar on a terminal; silent otherwise.
final class ProgressBar {
    private let total: Int
    private let enabled = isatty(STDERR_FILENO) != 0
    private var last = -1

    init(total: Int) {
        self.total = max(total, 1)
    }

    func update(_ done: Int) {
        guard self.enabled else { return }
        let percent = done * 100 / self.total
        if percent == self.last { return }
        self.last = percent
        let filled = percent / 4
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: 25 - filled)
        FileHandle.standardError.write(
            Data("\r[\(bar)] \(percent)% (\(done / 1_048_576) of \(self.total / 1_048_576) MB)".utf8))
    }

    func finish() {
        if self.enabled { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}
