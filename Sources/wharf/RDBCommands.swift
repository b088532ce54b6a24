import ArgumentParser
import Foundation
import Synchronization
import WharfEngine
import WharfProtocol
import WharfStorage

/// Where `wharf import` and `wharf export` find the data: a stopped server's directory or
/// a running server.
struct DataLocation: ParsableArguments {
    @Option(help: "A data directory (the server must be stopped).")
    var dir: String?

    @Option(help: "The port of a running server.")
    var port: Int?

    @Option(help: "Server host, with --port.")
    var host: String = "127.0.0.1"

    @Option(help: "Password (or set WHARF_PASSWORD), with --port.")
    var password: String?

    @Option(help: "User for AUTH with a password, with --port.")
    var user: String = "default"

    @Option(help: "Databases of the data directory, with --dir (as `databases` for the server).")
    var databases: Int = 16

    func validate() throws {
        if (self.dir == nil) == (self.port == nil) { throw ValidationError("give exactly one of --dir and --port") }
    }
}

/// `wharf import FILE --dir DIR | --port P`: loads a Redis `dump.rdb` (RDB version 10 or
/// older files of the same types) into a data directory or a running server.
///
/// A damaged file is refused with the offset of the damage and nothing is loaded. The
/// trailing checksum is verified before anything else. Into a directory, the keys go into
/// memory unlogged and one snapshot makes them durable together, so damage found part-way
/// leaves the directory as it was; into a running server, every value is checked before
/// the first RESTORE is sent.
struct ImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Load a Redis dump.rdb into a data directory (server stopped) or a running server.")

    @Argument(help: "The dump.rdb file to load.")
    var file: String

    @OptionGroup var location: DataLocation

    func run() throws {
        let started = Date()
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: self.file), options: .alwaysMapped)
        } catch {
            throw CommandFailure("cannot read \(self.file): \(error.localizedDescription)")
        }
        let summary: RDBFile.Summary
        var phases = ""
        do {
            summary = try data.withUnsafeBytes { bytes in
                if let dir = self.location.dir { return try self.load(bytes, into: dir, phases: &phases) }
                return try self.send(bytes)
            }
        } catch let failure as RDB.Failure {
            throw CommandFailure("\(self.file) was refused, nothing was loaded: \(failure)")
        }
        let seconds = Date().timeIntervalSince(started)
        print(
            RDBSummaryText.describe(summary, verb: "imported", seconds: seconds)
                + (phases.isEmpty ? "" : " (\(phases))"))
        if summary.functionsSkipped > 0 {
            print("skipped \(summary.functionsSkipped) function libraries: Wharf does not run Redis functions yet")
        }
    }

    /// Verifies the file in full before anything is loaded.
    private func verify(_ bytes: UnsafeRawBufferPointer) throws -> RDBFile.Summary {
        var summary = RDBFile.Summary()
        let progress = ProgressBar(total: bytes.count)
        try RDBFile.read(bytes, summary: &summary) { item throws(RDB.Failure) in
            if item.database >= self.location.databases, self.location.dir != nil {
                throw RDB.Failure(
                    offset: item.valueBytes.lowerBound,
                    reason: "database \(item.database) is past --databases \(self.location.databases)")
            }
            progress.update(item.valueBytes.upperBound / 2)
        }
        return summary
    }

    private func load(_ bytes: UnsafeRawBufferPointer, into dir: String, phases: inout String) throws -> RDBFile.Summary
    {
        // One pass: the keys go into memory unlogged and become durable only with the final
        // snapshot, so damage found part-way leaves the directory as it was. The checksum is
        // verified before the first key is read.
        var summary = RDBFile.Summary()
        let started = Date()
        try StorageFiles.createDirectory(dir)
        let settings = EngineSettings(databases: self.location.databases)
        let persistence = Persistence(options: PersistenceOptions(directory: dir))
        let engine = Engine(settings: settings, persistence: persistence)
        _ = try persistence.recover(into: engine)
        let loader = engine.makeRDBLoader()
        let progress = ProgressBar(total: bytes.count)
        summary = RDBFile.Summary()
        let databases = self.location.databases
        try RDBFile.read(bytes, summary: &summary, resized: loader.reserve(database:keys:)) {
            item throws(RDB.Failure) in
            if item.database >= databases {
                throw RDB.Failure(
                    offset: item.valueBytes.lowerBound,
                    reason: "database \(item.database) is past --databases \(databases)")
            }
            guard loader.store(item) else {
                throw RDB.Failure(
                    offset: item.valueBytes.lowerBound, reason: "a \(item.value.typeName) value breaks its type's rules"
                )
            }
            progress.update(item.valueBytes.upperBound)
        }
        progress.finish()
        let loaded = Date()
        try persistence.snapshot(background: false)
        try persistence.close()
        phases = String(
            format: "loading %.2f s, snapshot %.2f s", loaded.timeIntervalSince(started),
            Date().timeIntervalSince(loaded))
        // The process ends right after this: freeing a million entries one by one would take
        // longer than the snapshot. The system takes the memory back at exit.
        Self.finished.withLock { $0 = engine }
        return summary
    }

    private static let finished = Mutex<Engine?>(nil)

    private func send(_ bytes: UnsafeRawBufferPointer) throws -> RDBFile.Summary {
        _ = try self.verify(bytes)
        let connection = try BlockingRESPConnection(host: self.location.host, port: self.location.port!)
        if let password = self.location.password ?? ProcessInfo.processInfo.environment["WHARF_PASSWORD"] {
            _ = try connection.call(["AUTH", self.location.user, password])
        }
        var summary = RDBFile.Summary()
        var batch: [[[UInt8]]] = []
        var database = -1
        let progress = ProgressBar(total: bytes.count)
        func flush() throws {
            guard !batch.isEmpty else { return }
            for reply in try connection.pipeline(batch) {
                if case .error(let message) = reply { throw CommandFailure("the server refused a key: \(message)") }
            }
            batch.removeAll(keepingCapacity: true)
        }
        var failure: (any Error)?
        try RDBFile.read(bytes, summary: &summary) { item throws(RDB.Failure) in
            if failure != nil { return }
            if item.database != database {
                database = item.database
                batch.append([Array("SELECT".utf8), Array(String(database).utf8)])
            }
            var command = [
                Array("RESTORE".utf8), item.key, Array(String(item.expireAt ?? 0).utf8),
                RDBFile.payload(of: item, in: bytes), Array("REPLACE".utf8), Array("ABSTTL".utf8),
            ]
            if let idle = item.idleSeconds { command += [Array("IDLETIME".utf8), Array(String(idle).utf8)] }
            if let frequency = item.frequency { command += [Array("FREQ".utf8), Array(String(frequency).utf8)] }
            batch.append(command)
            if batch.count >= 1000 {
                do { try flush() } catch { failure = error }
                progress.update(item.valueBytes.upperBound)
            }
        }
        if let failure { throw failure }
        try flush()
        progress.finish()
        return summary
    }
}

/// `wharf export --rdb FILE --dir DIR | --port P`: writes a `dump.rdb` that Redis 7.0
/// loads, from a data directory (server stopped) or, consistent at one instant, from a
/// running server (through BACKUP).
struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a Redis dump.rdb from a data directory (server stopped) or a running server.")

    @Option(help: "The dump.rdb file to write.")
    var rdb: String

    @OptionGroup var location: DataLocation

    func run() throws {
        let started = Date()
        var source = self.location.dir
        var scratch: String?
        if let port = self.location.port {
            // A consistent copy first: the server's backup, installed in a scratch directory.
            let directory = NSTemporaryDirectory() + "wharf-export-\(UUID().uuidString)"
            scratch = directory
            let backup = directory + ".backup"
            var backupCommand = try BackupCommand.parse([
                "--to", backup, "--host", self.location.host, "--port", String(port), "--user", self.location.user,
            ])
            backupCommand.password = self.location.password
            backupCommand.quiet = true
            try backupCommand.run()
            var restoreCommand = try RestoreCommand.parse([backup, "--dir", directory])
            restoreCommand.quiet = true
            try restoreCommand.run()
            try? FileManager.default.removeItem(atPath: backup)
            source = directory
        }
        defer { if let scratch { try? FileManager.default.removeItem(atPath: scratch) } }
        guard let source, FileManager.default.fileExists(atPath: source) else {
            throw ValidationError("no such directory: \(self.location.dir ?? "")")
        }
        let persistence = Persistence(options: PersistenceOptions(directory: source))
        let engine = Engine(settings: EngineSettings(databases: self.location.databases), persistence: persistence)
        _ = try persistence.recover(into: engine)
        let temporary = self.rdb + ".tmp"
        guard FileManager.default.createFile(atPath: temporary, contents: nil) else {
            throw ValidationError("cannot create \(temporary)")
        }
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: temporary))
        var writer = RDBFileWriter { bytes in try output.write(contentsOf: bytes) }
        let summary = try engine.exportRDB(to: &writer)
        try output.synchronize()
        try output.close()
        try persistence.close()
        try StorageFiles.rename(temporary, to: self.rdb)
        print(
            RDBSummaryText.describe(summary, verb: "exported", seconds: Date().timeIntervalSince(started))
                + " to \(self.rdb)")
    }
}

/// A failure to report as it is: no usage text follows it.
struct CommandFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

enum RDBSummaryText {
    static func describe(_ summary: RDBFile.Summary, verb: String, seconds: Double) -> String {
        let types = summary.keysByType.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(
            separator: ", ")
        let time = String(format: "%.2f", seconds)
        return
            "\(verb) \(summary.keys) keys (\(types.isEmpty ? "none" : types)), \(summary.withExpiry) with an expiry, "
            + "in \(summary.databases.count) database\(summary.databases.count == 1 ? "" : "s"), \(time) s"
    }
}
