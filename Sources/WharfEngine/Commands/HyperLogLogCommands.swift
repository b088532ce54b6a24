import Atomics
import WharfProtocol
import WharfStorage

/// HyperLogLog commands: PFADD PFCOUNT PFMERGE PFDEBUG PFSELFTEST.
///
/// A HyperLogLog is a string in Redis's layout (see ``HyperLogLog``), changed in place as a
/// growable string. PFADD and PFMERGE are deterministic and logged as received; PFCOUNT
/// logs itself when it stores the cardinality it computed, so the cached bytes replay too.
enum HyperLogLogCommands {
    static let declarations: [CommandSpec] = [
        CommandSpec(
            "pfadd", arity: -2, flags: [.write, .denyOOM, .fast], keys: .single, acl: [.hyperloglog],
            group: .hyperloglog,
            since: "2.8.9", summary: "Adds elements to a HyperLogLog key. Creates the key if it doesn't exist.",
            complexity: "O(1) to add every element.", handler: pfadd),
        CommandSpec(
            "pfcount", arity: -2, flags: [.readonly, .mayReplicate], keys: .all, acl: [.hyperloglog],
            group: .hyperloglog,
            since: "2.8.9",
            summary: "Returns the approximated cardinality of the set(s) observed by the HyperLogLog key(s).",
            complexity:
                "O(1) with a very small average constant time when called with a single key. O(N) with N being the number of keys, and much bigger constant times, when called with multiple keys.",
            handler: pfcount),
        CommandSpec(
            "pfmerge", arity: -2, flags: [.write, .denyOOM], keys: .all, acl: [.hyperloglog], group: .hyperloglog,
            since: "2.8.9", summary: "Merges one or more HyperLogLog values into a single key.",
            complexity: "O(N) to merge N HyperLogLogs, but with high constant times.", handler: pfmerge),
        CommandSpec(
            "pfdebug", arity: 3, flags: [.write, .denyOOM, .admin], keys: KeyPositions(first: 2, last: 2, step: 1),
            acl: [.hyperloglog], group: .hyperloglog,
            since: "2.8.9", summary: "Internal commands for debugging HyperLogLog values.", complexity: "N/A",
            handler: pfdebug),
        CommandSpec(
            "pfselftest", arity: 1, flags: [.admin], acl: [.hyperloglog], group: .hyperloglog,
            since: "2.8.9", summary: "An internal command for testing HyperLogLog values.", complexity: "N/A",
            handler: pfselftest),
    ]

    static let notHyperLogLog: StaticString = "WRONGTYPE Key is not a valid HyperLogLog string value."
    static let corrupted: StaticString = "INVALIDOBJ Corrupted HLL object detected"

    /// Whether the string at `slot` is a HyperLogLog; replies Redis's WRONGTYPE otherwise.
    private static func checkHyperLogLog(_ context: inout CommandContext, _ entry: Entry) -> Bool {
        // An integer-encoded string is never a HyperLogLog (Redis checks for sds encoding).
        if entry.isString && entry.kind != .integer && entry.withStringBytes({ HyperLogLog.isValid($0) }) {
            return true
        }
        if entry.isString { context.reply.writeError(notHyperLogLog) } else { context.replyWrongType() }
        return false
    }

    /// The HyperLogLog at `slot` as growable bytes to change in place, or a new empty one.
    private static func mutableHyperLogLog(
        _ context: inout CommandContext, _ shard: Shard, _ key: UnsafeRawBufferPointer, hash: UInt64, slot: Int?
    ) -> GrowableString {
        if let slot { return context.growableString(shard, key, hash: hash, slot: slot, length: 0) }
        let storage = GrowableString(bytes: HyperLogLog.empty())
        context.store(shard, key, hash: hash, slot: nil, kind: .growableString, payload: storage)
        return storage
    }

    static func pfadd(_ context: inout CommandContext) {
        let key = context.arguments[1]
        let hash = context.hash(key)
        let shard = context.database.shard(for: hash)
        context.lock(shard)
        defer { context.unlock(shard) }
        let slot = shard.lookup(key, hash: hash, now: context.now)
        if let slot, !checkHyperLogLog(&context, shard.entry(at: slot)) { return }
        let storage = mutableHyperLogLog(&context, shard, key, hash: hash, slot: slot)
        var updated = slot == nil
        let sparseLimit = context.settings.hllSparseMaxBytes.load(ordering: .relaxed)
        var failed = false
        for index in 2..<max(2, context.arguments.count) {
            do {
                if try HyperLogLog.add(context.arguments[index], to: &storage.bytes, sparseLimit: sparseLimit) {
                    updated = true
                }
            } catch {
                failed = true
                break
            }
        }
        if updated {
            HyperLogLog.invalidateCache(&storage.bytes)
            context.logCommand()
            context.notify(KeyspaceEvents.string, "pfadd", key)
        }
        if failed { return context.reply.writeError(corrupted) }
        context.reply.writeInteger(updated ? 1 : 0)
    }

    static func pfcount(_ context: inout CommandContext) {
        if context.arguments.count > 2 { return self.pfcountSeveral(&context) }
        let key = context.arguments[1]
        let hash = context.hash(key)
        let shard = context.database.shard(for: hash)
        context.lock(shard)
        defer { context.unlock(shard) }
        guard let slot = context.lookupReadSlot(shard, key, hash: hash) else { return context.reply.writeInteger(0) }
        // The common case, a valid sketch with its cardinality cached, in one pass over the bytes.
        let entry = shard.entry(at: slot)
        if entry.kind == .growableString || entry.kind == .string,
            let cached = entry.withStringBytes({ HyperLogLog.isValid($0) ? HyperLogLog.cachedCardinality($0) : nil })
        {
            return context.reply.writeInteger(Int64(bitPattern: cached))
        }
        guard checkHyperLogLog(&context, entry) else { return }
        let storage = context.growableString(shard, key, hash: hash, slot: slot, length: 0)
        guard let cardinality = try? HyperLogLog.count(storage.bytes) else {
            return context.reply.writeError(corrupted)
        }
        HyperLogLog.storeCachedCardinality(cardinality, in: &storage.bytes)
        context.logEffect { log in
            log.argument("PFCOUNT")
            log.argument(key)
        }
        context.reply.writeInteger(Int64(bitPattern: cardinality))
    }

    /// Raises `registers` to every HyperLogLog among the keys at `keyIndices` (missing keys
    /// count as empty); replies the error and returns false when one is not a HyperLogLog.
    private static func mergeKeys(
        _ context: inout CommandContext, _ keyIndices: Range<Int>, into registers: UnsafeMutableBufferPointer<UInt8>,
        sawDense: inout Bool
    ) -> Bool {
        let database = context.database
        for index in keyIndices {
            let key = context.arguments[index]
            let hash = context.hash(key)
            guard let entry = context.lookupRead(database.shard(for: hash), key, hash: hash) else { continue }
            guard checkHyperLogLog(&context, entry) else { return false }
            let bytes = entry.stringBytes
            if HyperLogLog.isDense(bytes) { sawDense = true }
            do {
                try HyperLogLog.merge(bytes, into: registers)
            } catch {
                context.reply.writeError(corrupted)
                return false
            }
        }
        return true
    }

    private static func pfcountSeveral(_ context: inout CommandContext) {
        let database = context.database
        let selection = context.lockShards(ofKeysAt: Array(1..<context.arguments.count))
        defer { context.unlock(selection, in: database) }
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: HyperLogLog.registerCount) { registers in
            registers.initialize(repeating: 0)
            var sawDense = false
            guard mergeKeys(&context, 1..<context.arguments.count, into: registers, sawDense: &sawDense) else { return }
            context.reply.writeInteger(Int64(bitPattern: HyperLogLog.count(registers: UnsafeBufferPointer(registers))))
        }
    }

    static func pfmerge(_ context: inout CommandContext) {
        let database = context.database
        let selection = context.lockShards(ofKeysAt: Array(1..<context.arguments.count))
        defer { context.unlock(selection, in: database) }
        var merged = [UInt8](repeating: 0, count: HyperLogLog.registerCount)
        var sawDense = false
        let complete = merged.withUnsafeMutableBufferPointer { registers in
            mergeKeys(&context, 1..<context.arguments.count, into: registers, sawDense: &sawDense)
        }
        guard complete else { return }
        let key = context.arguments[1]
        let hash = context.hash(key)
        let shard = database.shard(for: hash)
        let slot = shard.lookup(key, hash: hash, now: context.now)
        let storage = mutableHyperLogLog(&context, shard, key, hash: hash, slot: slot)
        let sparseLimit = context.settings.hllSparseMaxBytes.load(ordering: .relaxed)
        do {
            // A dense source makes the target dense at once, as in Redis.
            if sawDense { try HyperLogLog.convertToDense(&storage.bytes) }
            for (register, value) in merged.enumerated() where value > 0 {
                _ = try HyperLogLog.set(register: register, to: value, in: &storage.bytes, sparseLimit: sparseLimit)
            }
        } catch {
            return context.reply.writeError(corrupted)
        }
        HyperLogLog.invalidateCache(&storage.bytes)
        context.logCommand()
        context.notify(KeyspaceEvents.string, "pfadd", key)
        context.reply.writeOK()
    }

    static func pfdebug(_ context: inout CommandContext) {
        let subcommand = context.arguments[1]
        let key = context.arguments[2]
        let hash = context.hash(key)
        let shard = context.database.shard(for: hash)
        context.lock(shard)
        defer { context.unlock(shard) }
        guard let slot = shard.lookup(key, hash: hash, now: context.now) else {
            return context.reply.writeError("ERR The specified key does not exist")
        }
        guard checkHyperLogLog(&context, shard.entry(at: slot)) else { return }
        if subcommand.equalsIgnoringCase("GETREG") {
            let storage = context.growableString(shard, key, hash: hash, slot: slot, length: 0)
            if !HyperLogLog.isDense(storage.bytes) {
                guard (try? HyperLogLog.convertToDense(&storage.bytes)) != nil else {
                    return context.reply.writeError(corrupted)
                }
                context.logCommand()
            }
            let registers = (try? HyperLogLog.registers(storage.bytes)) ?? []
            context.reply.writeArrayHeader(count: registers.count)
            for value in registers { context.reply.writeInteger(Int(value)) }
        } else if subcommand.equalsIgnoringCase("DECODE") {
            let bytes = shard.entry(at: slot).stringBytes
            guard !HyperLogLog.isDense(bytes) else { return context.reply.writeError("ERR HLL encoding is not sparse") }
            context.reply.writeSimpleString(HyperLogLog.describeSparse(bytes))
        } else if subcommand.equalsIgnoringCase("ENCODING") {
            let dense = shard.entry(at: slot).withStringBytes { $0[4] == 0 }
            context.reply.writeSimpleString(dense ? "dense" : "sparse")
        } else if subcommand.equalsIgnoringCase("TODENSE") {
            let storage = context.growableString(shard, key, hash: hash, slot: slot, length: 0)
            let wasSparse = !HyperLogLog.isDense(storage.bytes)
            if wasSparse {
                guard (try? HyperLogLog.convertToDense(&storage.bytes)) != nil else {
                    return context.reply.writeError(corrupted)
                }
                context.logCommand()
            }
            context.reply.writeInteger(wasSparse ? 1 : 0)
        } else {
            context.reply.writeError("ERR Unknown PFDEBUG subcommand '\(context.arguments.string(1))'")
        }
    }

    /// Checks the register layout, the sparse/dense agreement and the estimator's error on
    /// this build, as Redis's self-test does.
    static func pfselftest(_ context: inout CommandContext) {
        if let failure = HyperLogLogSelfTest.run() {
            return context.reply.writeError("ERR TESTFAILED \(failure)")
        }
        context.reply.writeOK()
    }
}

/// PFSELFTEST's checks.
enum HyperLogLogSelfTest {
    /// nil when every check passes, else what failed.
    static func run() -> String? {
        // Every register round-trips through the packed six-bit layout.
        var dense = [UInt8](repeating: 0, count: HyperLogLog.registerCount * 6 / 8)
        var expected = [UInt8](repeating: 0, count: HyperLogLog.registerCount)
        var seed: UInt64 = 0x9E37_79B9_7F4A_7C15
        for _ in 0..<10 {
            dense.withUnsafeMutableBytes { registers in
                for index in 0..<HyperLogLog.registerCount {
                    seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                    let value = UInt8(truncatingIfNeeded: seed >> 58)
                    expected[index] = value
                    HyperLogLog.setDenseRegister(registers, index, value)
                }
            }
            let mismatch = dense.withUnsafeBytes { registers in
                (0..<HyperLogLog.registerCount).first { HyperLogLog.denseRegister(registers, $0) != expected[$0] }
            }
            if let mismatch { return "Register error at index \(mismatch)" }
        }
        // Sparse and dense count alike, and the error stays within bounds.
        var sparse = HyperLogLog.empty()
        var full = HyperLogLog.empty()
        do {
            try HyperLogLog.convertToDense(&full)
            let relativeError = 1.04 / Double(HyperLogLog.registerCount).squareRoot()
            var checkpoint = 10
            for element in 1...100_000 {
                let (register, rank) = Array("\(element)".utf8).withUnsafeBytes { HyperLogLog.registerAndRank($0) }
                // The sparse form is compared where it is used, at small cardinalities.
                let sparseToo = element <= 1000
                if sparseToo {
                    _ = try HyperLogLog.set(register: register, to: rank, in: &sparse, sparseLimit: Int(Int32.max))
                }
                _ = try HyperLogLog.set(register: register, to: rank, in: &full, sparseLimit: Int(Int32.max))
                guard element == checkpoint else { continue }
                checkpoint *= 10
                let denseCount = try HyperLogLog.count(full)
                if sparseToo, try HyperLogLog.count(sparse) != denseCount {
                    return "Sparse and dense counts differ at cardinality \(element)"
                }
                // Six standard errors: a healthy estimator never gets this far off.
                let allowed = max(1.0, Double(element) * relativeError * 6)
                if abs(Double(denseCount) - Double(element)) > allowed {
                    return "Estimate \(denseCount) for cardinality \(element) is off by more than \(Int(allowed))"
                }
            }
        } catch {
            return "Corrupted HLL during self test"
        }
        return nil
    }
}
