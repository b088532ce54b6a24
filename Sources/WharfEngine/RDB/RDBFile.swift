import NIOCore
import WharfProtocol

/// `dump.rdb` files as Redis 7.0 writes and loads them: `REDIS0010`, auxiliary fields, per
/// database a SELECTDB and RESIZEDB, each key with its optional expiry, idle time or
/// frequency, `0xFF` and the CRC-64 of everything before it.
package enum RDBFile {
    /// One key read from a file.
    package struct Item {
        package var database: Int
        package var key: [UInt8]
        package var expireAt: Int64?
        package var idleSeconds: Int64?
        package var frequency: Int64?
        /// The type byte and the value's bytes: a DUMP payload's body.
        package var valueBytes: Range<Int>
        package var value: RDBValue
    }

    /// What a file held, for the import summary.
    package struct Summary {
        package var version = 0
        package var keys = 0
        package var keysByType: [String: Int] = [:]
        package var withExpiry = 0
        package var databases: Set<Int> = []
        /// Function libraries (Redis 7 `FUNCTION LOAD`), which Wharf does not run yet.
        package var functionsSkipped = 0
        package var auxiliary: [(String, String)] = []

        package init() {}
    }

    /// Checks the magic, the version (1 to 10) and, when the file carries one, the trailing
    /// checksum; returns the version.
    package static func verify(_ bytes: UnsafeRawBufferPointer) throws(RDB.Failure) -> Int {
        guard bytes.count >= 9, Array(bytes[0..<5]) == Array("REDIS".utf8),
            let version = Int(String(decoding: bytes[5..<9], as: UTF8.self))
        else { throw RDB.Failure(offset: 0, reason: "not an RDB file (no REDIS signature)") }
        guard version >= 1 && version <= Int(RDB.version) else {
            throw RDB.Failure(offset: 5, reason: "RDB version \(version) is newer than Redis 7.0's (\(RDB.version))")
        }
        if version >= 5 {
            guard bytes.count >= 18 else {
                throw RDB.Failure(offset: bytes.count, reason: "file ends before its checksum")
            }
            let stored = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: bytes.count - 8, as: UInt64.self))
            // A zero checksum means the writer had rdbchecksum off.
            if stored != 0 {
                let computed = CRC64.update(0, UnsafeRawBufferPointer(rebasing: bytes[..<(bytes.count - 8)]))
                guard computed == stored else {
                    throw RDB.Failure(offset: bytes.count - 8, reason: "checksum mismatch (file damaged or truncated)")
                }
            }
        }
        return version
    }

    /// Reads every key in order, checking each value completely, and calls `body` with it.
    /// Stops at the first damage with its offset.
    package static func read(
        _ bytes: UnsafeRawBufferPointer, summary: inout Summary,
        resized: ((_ database: Int, _ keys: Int) -> Void)? = nil,
        _ body: (Item) throws(RDB.Failure) -> Void
    ) throws(RDB.Failure) {
        summary.version = try self.verify(bytes)
        var reader = RDBReader(bytes, position: 9)
        var database = 0
        var expireAt: Int64?
        var idle: Int64?
        var frequency: Int64?
        while true {
            let opcode = try reader.byte()
            switch opcode {
            case RDB.opEOF:
                return
            case RDB.opSelectDB:
                database = try reader.length()
            case RDB.opResizeDB:
                let keys = try reader.length()
                _ = try reader.length()
                resized?(database, keys)
            case RDB.opAux:
                let name = try reader.string()
                let value = try reader.string()
                summary.auxiliary.append(
                    (String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self)))
            case RDB.opExpireMilliseconds:
                expireAt = Int64(bitPattern: try reader.littleEndian(UInt64.self))
            case RDB.opExpireSeconds:
                expireAt = Int64(try reader.littleEndian(Int32.self)) * 1000
            case RDB.opIdle:
                idle = Int64(try reader.length())
            case RDB.opFrequency:
                frequency = Int64(try reader.byte())
            case RDB.opFunction2:
                try reader.skipString()
                summary.functionsSkipped += 1
            case RDB.opModuleAux:
                throw reader.failure("module data (a Redis module's auxiliary field) cannot be loaded by Wharf")
            default:
                let start = reader.position - 1
                let key = try reader.string()
                let value = try RDBValueReader.read(type: opcode, from: &reader)
                let item = Item(
                    database: database, key: key, expireAt: expireAt, idleSeconds: idle, frequency: frequency,
                    valueBytes: start..<reader.position, value: value)
                // The key bytes sit between the type and the value; a payload needs them out.
                try body(item)
                summary.keys += 1
                summary.keysByType[value.typeName, default: 0] += 1
                if expireAt != nil { summary.withExpiry += 1 }
                summary.databases.insert(database)
                expireAt = nil
                idle = nil
                frequency = nil
            }
        }
    }

    /// The DUMP payload of an item read from `bytes`: its type byte, its value (without the
    /// key that sits between them in a file), the RDB version and the CRC-64.
    package static func payload(of item: Item, in bytes: UnsafeRawBufferPointer) -> [UInt8] {
        var writer = RDBWriter()
        writer.byte(bytes[item.valueBytes.lowerBound])
        var reader = RDBReader(bytes, position: item.valueBytes.lowerBound + 1)
        _ = try? reader.skipString()
        writer.raw(UnsafeRawBufferPointer(rebasing: bytes[reader.position..<item.valueBytes.upperBound]))
        writer.appendDumpFooter()
        return writer.bytes
    }
}

/// Writes a `dump.rdb` a piece at a time to `sink`, keeping the running checksum.
package struct RDBFileWriter {
    private var writer = RDBWriter()
    private var crc: UInt64 = 0
    private let sink: ([UInt8]) throws -> Void

    package init(sink: @escaping ([UInt8]) throws -> Void) {
        self.sink = sink
    }

    package mutating func start(auxiliary: [(String, String)]) throws {
        Array("REDIS0010".utf8).withUnsafeBytes { self.writer.raw($0) }
        for (name, value) in auxiliary {
            self.writer.byte(RDB.opAux)
            self.writer.string(Array(name.utf8))
            self.writer.string(Array(value.utf8))
        }
        try self.flushIfLarge()
    }

    package mutating func selectDatabase(_ index: Int, keys: Int, expires: Int) throws {
        self.writer.byte(RDB.opSelectDB)
        self.writer.length(index)
        self.writer.byte(RDB.opResizeDB)
        self.writer.length(keys)
        self.writer.length(expires)
    }

    package mutating func write(_ entry: Entry) throws {
        if let expireAt = entry.expireAt {
            self.writer.byte(RDB.opExpireMilliseconds)
            self.writer.littleEndian(UInt64(bitPattern: expireAt))
        }
        // Type, key, value: the value writer puts the type first, so the key goes in after it.
        var value = RDBWriter()
        RDBValueWriter.write(entry, into: &value)
        self.writer.byte(value.bytes[0])
        self.writer.length(entry.key.count)
        self.writer.raw(entry.key)
        value.bytes.withUnsafeBytes { self.writer.raw(UnsafeRawBufferPointer(rebasing: $0[1...])) }
        try self.flushIfLarge()
    }

    package mutating func finish() throws {
        self.writer.byte(RDB.opEOF)
        self.crc = self.writer.bytes.withUnsafeBytes { CRC64.update(self.crc, $0) }
        self.writer.littleEndian(self.crc)
        try self.sink(self.writer.bytes)
        self.writer.bytes.removeAll()
    }

    private mutating func flushIfLarge() throws {
        guard self.writer.bytes.count >= 1 << 20 else { return }
        self.crc = self.writer.bytes.withUnsafeBytes { CRC64.update(self.crc, $0) }
        try self.sink(self.writer.bytes)
        self.writer.bytes.removeAll(keepingCapacity: true)
    }
}

extension Engine {
    /// Writes every live key of every database as a `dump.rdb`. Each shard is locked while
    /// its keys are written, so a running engine keeps serving the others.
    package func exportRDB(to writer: inout RDBFileWriter) throws -> RDBFile.Summary {
        var summary = RDBFile.Summary()
        summary.version = Int(RDB.version)
        try writer.start(auxiliary: [
            ("redis-ver", "7.0.15"), ("redis-bits", "64"),
            ("ctime", String(self.clock.nowMilliseconds() / 1000)), ("used-mem", "0"), ("aof-base", "0"),
        ])
        let now = self.clock.nowMilliseconds()
        for database in self.keyspace.databases {
            let keys = database.count()
            guard keys > 0 else { continue }
            try writer.selectDatabase(database.index, keys: keys, expires: 0)
            for shard in database.shards {
                shard.lock.lock()
                defer { shard.lock.unlock() }
                var failure: (any Error)?
                shard.table.forEachEntry { entry in
                    if failure != nil { return }
                    if let expireAt = entry.expireAt, expireAt <= now { return }
                    do {
                        try writer.write(entry)
                    } catch {
                        failure = error
                        return
                    }
                    summary.keys += 1
                    summary.keysByType[entry.kind.typeName, default: 0] += 1
                    if entry.expireAt != nil { summary.withExpiry += 1 }
                    summary.databases.insert(database.index)
                }
                if let failure { throw failure }
            }
        }
        try writer.finish()
        return summary
    }

    /// A loader that stores RDB values into this engine without logging them (the caller
    /// takes a snapshot afterwards, so an interrupted import leaves nothing behind).
    package func makeRDBLoader() -> RDBLoader {
        RDBLoader(engine: self)
    }
}

/// Stores keys read from an RDB file into an engine.
package final class RDBLoader {
    private var context: CommandContext
    private var stored = 0

    init(engine: Engine) {
        let session = engine.makeSession(address: "rdb-import")
        self.context = CommandContext(engine: engine, session: session, reply: RESPReplyWriter(buffer: ByteBuffer()))
        self.context.replaying = true
    }

    /// Makes room for `keys` keys in `database` (the file's RESIZEDB), spread over its shards.
    package func reserve(database index: Int, keys: Int) {
        let databases = self.context.engine.keyspace.databases
        guard index >= 0 && index < databases.count, keys > 0 else { return }
        let database = databases[index]
        let perShard = keys / database.shards.count + keys / database.shards.count / 8 + 16
        for shard in database.shards {
            shard.lock.lock()
            shard.reserve(perShard)
            shard.lock.unlock()
        }
    }

    /// Stores `item` in its database, replacing a key of the same name; false when the
    /// value breaks its type's rules. Keys already expired are skipped, as Redis skips them
    /// when it loads a file.
    package func store(_ item: RDBFile.Item) -> Bool {
        let engine = self.context.engine
        guard item.database < engine.keyspace.databases.count else { return false }
        if self.context.session.database != item.database { self.context.session.database = item.database }
        // The clock is read once per 4096 keys: a load takes a second or so.
        if self.stored & 4095 == 0 { self.context.now = engine.clock.nowMilliseconds() }
        self.stored &+= 1
        let now = self.context.now
        if let expireAt = item.expireAt, expireAt <= now { return true }
        let database = engine.keyspace.databases[item.database]
        return item.key.withUnsafeBytes { key in
            let hash = engine.keyspace.hasher.hash(key)
            let shard = database.shard(for: hash)
            shard.lock.lock()
            defer { shard.lock.unlock() }
            if let existing = shard.lookup(key, hash: hash, now: now) { shard.remove(at: existing) }
            guard self.context.storeRestored(item.value, key: key, hash: hash, in: shard) else { return false }
            self.context.finishRestored(
                key, hash: hash, in: shard, expireAt: item.expireAt, idleSeconds: item.idleSeconds,
                frequency: item.frequency)
            return true
        }
    }
}
