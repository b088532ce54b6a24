import Foundation
import Testing
import WharfEngine
import WharfProtocol
import WharfStorage

func temporaryDirectory() -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("wharf-persist-\(UUID().uuidString)").path
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

@Suite("Persistence")
struct PersistenceTests {
    /// Writes of every kind, with time passing between them.
    private func workload(_ h: EngineHarness) {
        h.run("SET", "plain", "hello")
        h.run("SET", "int", "42")
        h.run("INCRBY", "int", "8")
        h.run("SET", "ttl", "x", "EX", "100")
        h.run("SETEX", "short", "1", "gone soon")
        h.run("APPEND", "grown", "abc")
        h.run("APPEND", "grown", "def")
        h.run("SETRANGE", "grown", "1", "ZZ")
        h.run("INCRBYFLOAT", "float", "10.5")
        h.run("INCRBYFLOAT", "float", "0.1")
        h.run("MSET", "m1", "1", "m2", "2")
        h.run("RENAME", "m1", "renamed")
        h.run("COPY", "m2", "copied", "DB", "3")
        h.run("MOVE", "plain", "2")
        h.run("SELECT", "2")
        h.run("EXPIRE", "plain", "50")
        h.run("SELECT", "0")
        h.run([Array("SET".utf8), [0, 13, 10, 255], [UInt8](repeating: 7, count: 70_000)])
        h.advance(milliseconds: 2_000)
        h.run("GETEX", "ttl", "PX", "9000")
        h.run("DEL", "int")
        h.run("SET", "int", "7")
        h.run("DECR", "int")
        h.run("PERSIST", "renamed")
        h.run("SET", "doomed", "1")
        h.run("EXPIRE", "doomed", "-1")
        h.run("GETDEL", "copied")
        // Collections, packed and large, and the commands whose effects are rewritten.
        h.run("RPUSH", "list", "a", "b", "c")
        h.run("LMOVE", "list", "list2", "LEFT", "RIGHT")
        h.run(
            "RPUSH", "biglist",
            [String](repeating: String(repeating: "e", count: 100), count: 100).joined(separator: "|"))
        for index in 0..<200 { h.run("RPUSH", "biglist", "element-\(index)") }
        h.run("LTRIM", "biglist", "1", "150")
        h.run("HSET", "hash", "f1", "v1", "f2", "v2")
        h.run("HINCRBYFLOAT", "hash", "f3", "2.5")
        for index in 0..<200 { h.run("HSET", "bighash", "field\(index)", "value\(index)") }
        h.run("HDEL", "bighash", "field7")
        h.run("SADD", "intset", "1", "2", "3")
        h.run("SADD", "set", "x", "y", "z", "w")
        h.run("SPOP", "set")
        for index in 0..<600 { h.run("SADD", "bigset", "\(index)") }
        h.run("ZADD", "zset", "1", "a", "2.5", "b", "-inf", "c")
        for index in 0..<200 { h.run("ZADD", "bigzset", "\(index % 17)", "member\(index)") }
        h.run("ZPOPMIN", "bigzset", "3")
        h.run("ZUNIONSTORE", "union", "2", "zset", "bigzset", "WEIGHTS", "2", "1")
        // Streams: generated IDs, trimming, deletion, groups with pending entries.
        for index in 0..<250 { h.run("XADD", "stream", "*", "n", "\(index)", "kind", index % 2 == 0 ? "even" : "odd") }
        h.run("XADD", "stream", "MAXLEN", "~", "120", "*", "other", "fields")
        h.run("XDEL", "stream", h.run("XRANGE", "stream", "-", "+", "COUNT", "1").firstRowID)
        h.run("XGROUP", "CREATE", "stream", "workers", "0")
        h.run("XGROUP", "CREATE", "stream", "tail", "$")
        h.run("XREADGROUP", "GROUP", "workers", "alice", "COUNT", "5", "STREAMS", "stream", ">")
        h.advance(milliseconds: 300)
        h.run("XREADGROUP", "GROUP", "workers", "bob", "COUNT", "3", "NOACK", "STREAMS", "stream", ">")
        h.run("XREADGROUP", "GROUP", "workers", "alice", "STREAMS", "stream", "0")
        h.run(
            "XCLAIM", "stream", "workers", "carol", "100",
            h.run("XPENDING", "stream", "workers", "-", "+", "1").firstRowID)
        h.run("XTRIM", "stream", "MAXLEN", "100")
        h.run("XADD", "small", "1-1", "a", "b")
        h.run("XSETID", "small", "5-0", "ENTRIESADDED", "9", "MAXDELETEDID", "2-0")
        h.run("MULTI")
        h.run("SELECT", "5")
        h.run("LPUSH", "in-transaction", "1")
        h.run("SELECT", "0")
        h.run("HSET", "in-transaction", "f", "v")
        h.run("EXEC")
    }

    @Test("the log alone rebuilds exactly the same keys, values and expiry times")
    func replayFromLog() throws {
        let directory = temporaryDirectory()
        let original = try EngineHarness.persistent(directory)
        self.workload(original)
        let expected = original.dump()
        try original.engine.persistence!.close()
        let recovered = try EngineHarness.persistent(directory, at: original.clock.nowMilliseconds())
        let dumped = recovered.dump()
        #expect(dumped == expected)
        #expect(expected.contains { $0.hasPrefix("2 string plain = hello @") })
        #expect(expected.contains { $0.hasPrefix("5 list in-transaction") })
        #expect(expected.contains { $0.hasPrefix("0 hash in-transaction") })
        #expect(!expected.contains { $0.contains("short") }, "expired keys stay expired")
    }

    @Test("replay runs each record at its original time, so a key alive then is alive again")
    func replayUsesRecordTime() throws {
        let directory = temporaryDirectory()
        let original = try EngineHarness.persistent(directory)
        original.run("SET", "k", "v", "PX", "1000")
        original.advance(milliseconds: 500)
        original.run("APPEND", "k", "x")
        original.advance(milliseconds: 10_000)
        #expect(original.run("GET", "k") == .null)
        try original.engine.persistence!.close()
        // Recovering much later must not turn APPEND into a fresh, immortal key.
        let recovered = try EngineHarness.persistent(directory, at: original.clock.nowMilliseconds())
        #expect(recovered.run("GET", "k") == .null)
        #expect(recovered.run("EXISTS", "k") == .integer(0))
    }

    @Test("a snapshot covers the log before it; the log after it replays on top")
    func snapshotThenLog() throws {
        let directory = temporaryDirectory()
        let original = try EngineHarness.persistent(directory)
        self.workload(original)
        #expect(original.run("SAVE") == .ok)
        let layout = StorageLayout(directory: directory)
        #expect(try layout.snapshots().count == 1)
        let segmentsAfterSave = try layout.segments()
        #expect(segmentsAfterSave.count == 1, "segments before the snapshot were removed")
        #expect(segmentsAfterSave[0].start == (try layout.snapshots()[0].lsn))
        original.run("SET", "after", "snapshot")
        original.run("INCR", "int")
        let expected = original.dump()
        try original.engine.persistence!.close()
        let recovered = try EngineHarness.persistent(directory, at: original.clock.nowMilliseconds())
        #expect(recovered.dump() == expected)
        let info = recovered.run("INFO", "persistence").string ?? ""
        #expect(info.contains("loading_log_records:2"))
    }

    @Test("snapshots only (appendonly no) keep what SAVE saved")
    func snapshotsOnly() throws {
        let directory = temporaryDirectory()
        let original = try EngineHarness.persistent(directory, appendOnly: false)
        original.run("SET", "kept", "1")
        #expect(original.run("SAVE") == .ok)
        original.run("SET", "lost", "1")
        let recovered = try EngineHarness.persistent(directory, appendOnly: false)
        #expect(recovered.run("GET", "kept") == .bulk("1"))
        #expect(recovered.run("GET", "lost") == .null)
        #expect(try StorageLayout(directory: directory).segments().isEmpty)
    }

    @Test("writes during a background snapshot are neither lost nor leaked into it")
    func copyOnWriteDuringSnapshot() throws {
        let directory = temporaryDirectory()
        let original = try EngineHarness.persistent(directory)
        for index in 0..<20_000 { original.run("SET", "key:\(index)", "before") }
        #expect(original.run("BGSAVE") == .simple("Background saving started"))
        for index in 0..<20_000 where index % 2 == 0 { original.run("SET", "key:\(index)", "after") }
        original.run("APPEND", "key:1", "+")
        while original.engine.persistence!.isSnapshotInProgress { usleep(1000) }
        let snapshot = try StorageLayout(directory: directory).snapshots()[0]
        // The snapshot alone holds the state of the instant it was taken.
        let isolated = temporaryDirectory()
        try FileManager.default.copyItem(
            atPath: snapshot.path, toPath: StorageLayout(directory: isolated).snapshotPath(at: snapshot.lsn))
        let atSnapshot = try EngineHarness.persistent(isolated)
        #expect(atSnapshot.run("GET", "key:0") == .bulk("before"))
        #expect(atSnapshot.run("GET", "key:1") == .bulk("before"))
        try original.engine.persistence!.close()
        let recovered = try EngineHarness.persistent(directory)
        #expect(recovered.run("GET", "key:0") == .bulk("after"))
        #expect(recovered.run("GET", "key:1") == .bulk("before+"))
        #expect(recovered.run("GET", "key:19999") == .bulk("before"))
    }

    @Test("the log is compacted into a snapshot when it outgrows the last one")
    func automaticCompaction() throws {
        let directory = temporaryDirectory()
        let h = try EngineHarness.persistent(directory)
        #expect(
            h.run("CONFIG", "SET", "auto-aof-rewrite-min-size", "0", "auto-aof-rewrite-percentage", "50", "save", "")
                == .ok)
        for index in 0..<500 { h.run("SET", "key:\(index)", String(repeating: "v", count: 100)) }
        h.engine.runCron()
        while h.engine.persistence!.isSnapshotInProgress { usleep(1000) }
        #expect(try StorageLayout(directory: directory).snapshots().count == 1)
        #expect(h.run("LASTSAVE") != .integer(0))
    }

    @Test("BGSAVE refuses to start a second snapshot while one runs; SCHEDULE accepts")
    func concurrentSnapshots() throws {
        let directory = temporaryDirectory()
        let h = try EngineHarness.persistent(directory)
        for index in 0..<200_000 { h.run("SET", "key:\(index)", "x") }
        #expect(h.run("BGSAVE") == .simple("Background saving started"))
        let second = h.run("BGSAVE")
        let scheduled = h.run("BGSAVE", "SCHEDULE")
        if h.engine.persistence!.isSnapshotInProgress {
            #expect(second == .error("ERR Background save already in progress"))
            #expect(scheduled == .simple("Background saving scheduled"))
        }
        while h.engine.persistence!.isSnapshotInProgress { usleep(1000) }
    }

    @Test("random corruption of a snapshot never crashes recovery", arguments: 0..<4)
    func corruptSnapshot(seed: Int) throws {
        let directory = temporaryDirectory()
        let h = try EngineHarness.persistent(directory, appendOnly: false)
        for index in 0..<300 { h.run("SET", "key:\(index)", String(index), "EX", "1000") }
        h.run("SAVE")
        let path = try StorageLayout(directory: directory).snapshots()[0].path
        let original = try Data(contentsOf: URL(fileURLWithPath: path))
        var generator = SplitMix(seed: UInt64(seed) + 11)
        for _ in 0..<40 {
            var bytes = original
            let index = Int.random(in: 0..<bytes.count, using: &generator)
            bytes[index] ^= UInt8.random(in: 1...255, using: &generator)
            try bytes.write(to: URL(fileURLWithPath: path))
            do {
                _ = try EngineHarness.persistent(directory, appendOnly: false)
                Issue.record("a corrupted snapshot (byte \(index)) was accepted")
            } catch {
                #expect("\(error)".contains(path))
            }
        }
    }
}

@Suite("Persistence of transactions")
struct TransactionPersistenceTests {
    @Test("a log that ends inside MULTI … EXEC drops the whole transaction and is cut back")
    func incompleteTransaction() throws {
        let directory = temporaryDirectory()
        let original = try EngineHarness.persistent(directory)
        original.run("SET", "before", "1")
        // A crash after the transaction's first records reached the log, before its EXEC.
        let log = original.engine.persistence!.log!
        log.append(time: original.clock.nowMilliseconds(), database: 0) { $0.argument("MULTI") }
        log.append(time: original.clock.nowMilliseconds(), database: 0) { writer in
            writer.argument("SET")
            writer.argument("partial")
            writer.argument("1")
        }
        try original.engine.persistence!.close()

        let recovered = try EngineHarness.persistent(directory)
        #expect(recovered.run("GET", "before") == .bulk("1"))
        #expect(recovered.run("EXISTS", "partial") == .integer(0))
        // New writes continue where the transaction was cut, so a later EXEC cannot revive it.
        recovered.run("MULTI")
        recovered.run("SET", "later", "2")
        recovered.run("EXEC")
        try recovered.engine.persistence!.close()
        let again = try EngineHarness.persistent(directory)
        #expect(again.run("EXISTS", "partial") == .integer(0))
        #expect(again.run("GET", "later") == .bulk("2"))
    }
}
