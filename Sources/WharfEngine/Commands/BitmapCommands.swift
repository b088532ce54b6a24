import Atomics
import WharfProtocol

/// Bitmap commands: SETBIT GETBIT BITCOUNT BITPOS BITOP BITFIELD BITFIELD_RO.
///
/// A bitmap is a string. Writes turn it into a growable string changed in place, padded
/// with zero bytes as Redis pads it; `proto-max-bulk-len` bounds its length. Every write
/// here is deterministic and is logged as received.
enum BitmapCommands {
    static let declarations: [CommandSpec] = [
        CommandSpec(
            "setbit", arity: 4, flags: [.write, .denyOOM], keys: .single, acl: [.bitmap], group: .bitmap,
            since: "2.2.0",
            summary: "Sets or clears the bit at offset of the string value. Creates the key if it doesn't exist.",
            handler: setbit),
        CommandSpec(
            "getbit", arity: 3, flags: [.readonly, .fast], keys: .single, acl: [.bitmap], group: .bitmap,
            since: "2.2.0", summary: "Returns a bit value by offset.", handler: getbit),
        CommandSpec(
            "bitcount", arity: -2, flags: [.readonly], keys: .single, acl: [.bitmap], group: .bitmap,
            since: "2.6.0", summary: "Counts the number of set bits (population counting) in a string.",
            complexity: "O(N)", handler: bitcount),
        CommandSpec(
            "bitpos", arity: -3, flags: [.readonly], keys: .single, acl: [.bitmap], group: .bitmap,
            since: "2.8.7", summary: "Finds the first set (1) or clear (0) bit in a string.", complexity: "O(N)",
            handler: bitpos),
        CommandSpec(
            "bitop", arity: -4, flags: [.write, .denyOOM], keys: KeyPositions(first: 2, last: -1, step: 1),
            acl: [.bitmap], group: .bitmap,
            since: "2.6.0", summary: "Performs bitwise operations on multiple strings, and stores the result.",
            complexity: "O(N)", handler: bitop),
        CommandSpec(
            "bitfield", arity: -2, flags: [.write, .denyOOM], keys: .single, acl: [.bitmap], group: .bitmap,
            since: "3.2.0", summary: "Performs arbitrary bitfield integer operations on strings.",
            complexity: "O(1) for each subcommand specified", handler: bitfield),
        CommandSpec(
            "bitfield_ro", arity: -2, flags: [.readonly, .fast], keys: .single, acl: [.bitmap], group: .bitmap,
            since: "6.0.0", summary: "Performs arbitrary read-only bitfield integer operations on strings.",
            complexity: "O(1) for each subcommand specified", handler: bitfieldReadOnly),
    ]

    static let bitOffsetError: StaticString = "ERR bit offset is not an integer or out of range"

    /// A bit offset argument (`#n` multiplies by `width` where allowed), checked against
    /// `proto-max-bulk-len` as Redis checks it; nil after replying the error.
    private static func bitOffset(_ context: inout CommandContext, _ index: Int, hashWidth: Int? = nil) -> Int? {
        var text = context.arguments[index]
        var multiplier = 1
        if let hashWidth, text.first == UInt8(ascii: "#") {
            text = UnsafeRawBufferPointer(rebasing: text[1...])
            multiplier = hashWidth
        }
        guard let parsed = DecimalInteger.parse(text), parsed >= 0 else {
            context.reply.writeError(bitOffsetError)
            return nil
        }
        let (offset, overflow) = parsed.multipliedReportingOverflow(by: Int64(multiplier))
        let limit = Int64(context.settings.protoMaxBulkLength.load(ordering: .relaxed))
        guard !overflow, offset >> 3 < limit else {
            context.reply.writeError(bitOffsetError)
            return nil
        }
        return Int(offset)
    }

    // MARK: SETBIT GETBIT

    static func setbit(_ context: inout CommandContext) {
        guard let offset = bitOffset(&context, 2) else { return }
        let bitArgument = context.arguments[3]
        guard bitArgument.count == 1, bitArgument[0] == UInt8(ascii: "0") || bitArgument[0] == UInt8(ascii: "1") else {
            return context.reply.writeError("ERR bit is not an integer or out of range")
        }
        let on = bitArgument[0] == UInt8(ascii: "1")
        context.withTypedKey(.string, read: false) { context, shard, key, hash, slot in
            let storage = context.growableString(shard, key, hash: hash, slot: slot, length: offset >> 3 + 1)
            let mask = UInt8(0x80) >> UInt8(offset & 7)
            // One access to the array for the read and the write.
            let old = storage.bytes.withUnsafeMutableBufferPointer { bytes in
                let byte = bytes[offset >> 3]
                bytes[offset >> 3] = on ? byte | mask : byte & ~mask
                return byte & mask != 0
            }
            context.reply.writeInteger(old ? 1 : 0)
            context.logCommand()
            context.notify(KeyspaceEvents.string, "setbit", key)
        }
    }

    static func getbit(_ context: inout CommandContext) {
        guard let offset = bitOffset(&context, 2) else { return }
        context.withTypedKey(.string, read: true) { context, shard, _, _, slot in
            guard let slot else { return context.reply.writeInteger(0) }
            let set = shard.entry(at: slot).withStringBytes { bytes in
                offset >> 3 < bytes.count && BitOperations.bit(at: offset, in: bytes)
            }
            context.reply.writeInteger(set ? 1 : 0)
        }
    }

    // MARK: BITCOUNT BITPOS

    /// An optional `BYTE|BIT` unit at `index`; nil after a syntax error.
    private static func rangeUnit(_ context: inout CommandContext, _ index: Int) -> Bool? {
        guard index < context.arguments.count else { return false }
        if context.arguments[index].equalsIgnoringCase("BYTE") { return false }
        if context.arguments[index].equalsIgnoringCase("BIT") { return true }
        context.replySyntaxError()
        return nil
    }

    /// Redis's conversion of a possibly negative `start`/`end` pair into positions within
    /// `total` units; nil when the range is empty.
    private static func clampRange(_ start: Int64, _ end: Int64, total: Int) -> (Int, Int)? {
        let total = Int64(total)
        if start < 0 && end < 0 && start > end { return nil }
        var start = start < 0 ? total + start : start
        var end = end < 0 ? total + end : end
        start = max(start, 0)
        end = max(end, 0)
        end = min(end, total - 1)
        guard start <= end else { return nil }
        return (Int(start), Int(end))
    }

    static func bitcount(_ context: inout CommandContext) {
        let count = context.arguments.count
        var start: Int64 = 0
        var end: Int64 = -1
        var inBits = false
        if count == 4 || count == 5 {
            guard let first = context.integerArgument(2), let last = context.integerArgument(3) else { return }
            guard let unit = rangeUnit(&context, 4) else { return }
            (start, end, inBits) = (first, last, unit)
        } else if count != 2 {
            return context.replySyntaxError()
        }
        context.withTypedKey(.string, read: true) { context, shard, _, _, slot in
            guard let slot else { return context.reply.writeInteger(0) }
            let result = shard.entry(at: slot).withStringBytes { bytes -> Int in
                guard let (first, last) = clampRange(start, end, total: inBits ? bytes.count * 8 : bytes.count) else {
                    return 0
                }
                if inBits { return BitOperations.popcount(bytes, bits: first, through: last) }
                return BitOperations.popcount(UnsafeRawBufferPointer(rebasing: bytes[first...last]))
            }
            context.reply.writeInteger(result)
        }
    }

    static func bitpos(_ context: inout CommandContext) {
        let count = context.arguments.count
        guard let bitValue = context.integerArgument(2) else { return }
        guard bitValue == 0 || bitValue == 1 else {
            return context.reply.writeError("ERR The bit argument must be 1 or 0.")
        }
        let bit = bitValue == 1
        context.withTypedKey(.string, read: true) { context, shard, _, _, slot in
            guard let slot else { return context.reply.writeInteger(bit ? -1 : 0) }
            var start: Int64 = 0
            var end: Int64 = -1
            var inBits = false
            let endGiven = count >= 5
            if count >= 4 && count <= 6 {
                guard let first = context.integerArgument(3) else { return }
                start = first
                if count == 6 {
                    guard let unit = rangeUnit(&context, 5) else { return }
                    inBits = unit
                }
                if endGiven {
                    guard let last = context.integerArgument(4) else { return }
                    end = last
                }
            } else if count != 3 {
                return context.replySyntaxError()
            }
            let position = shard.entry(at: slot).withStringBytes { bytes -> Int in
                let totalBits = bytes.count * 8
                guard let (first, last) = clampRange(start, end, total: inBits ? totalBits : bytes.count) else {
                    return -1
                }
                let (firstBit, lastBit) = inBits ? (first, last) : (first * 8, last * 8 + 7)
                if let found = BitOperations.firstBit(bit, in: bytes, bits: firstBit, through: lastBit) {
                    return found
                }
                // Looking for a clear bit without an explicit end, the string counts as
                // padded with zeros on the right.
                return bit || endGiven ? -1 : lastBit + 1
            }
            context.reply.writeInteger(position)
        }
    }

    // MARK: BITOP

    private enum Operation { case and, or, xor, not }

    static func bitop(_ context: inout CommandContext) {
        let name = context.arguments[1]
        let operation: Operation
        if name.equalsIgnoringCase("AND") {
            operation = .and
        } else if name.equalsIgnoringCase("OR") {
            operation = .or
        } else if name.equalsIgnoringCase("XOR") {
            operation = .xor
        } else if name.equalsIgnoringCase("NOT") {
            operation = .not
        } else {
            return context.replySyntaxError()
        }
        if operation == .not && context.arguments.count != 4 {
            return context.reply.writeError("ERR BITOP NOT must be called with a single source key.")
        }
        let database = context.database
        let selection = context.lockShards(ofKeysAt: Array(2..<context.arguments.count))
        defer { context.unlock(selection, in: database) }
        var sources: [[UInt8]] = []
        for index in 3..<context.arguments.count {
            let key = context.arguments[index]
            let hash = context.hash(key)
            guard let entry = context.lookupRead(database.shard(for: hash), key, hash: hash) else {
                sources.append([])
                continue
            }
            guard entry.isString else { return context.replyWrongType() }
            sources.append(entry.stringBytes)
        }
        let result = Self.combine(sources, operation)
        let destination = context.arguments[2]
        let hash = context.hash(destination)
        let shard = database.shard(for: hash)
        let slot = shard.lookup(destination, hash: hash, now: context.now)
        if result.isEmpty {
            if let slot {
                shard.remove(at: slot)
                context.logCommand()
                context.notify(KeyspaceEvents.generic, "del", destination)
            }
            return context.reply.writeInteger(0)
        }
        let entry = result.withUnsafeBytes {
            Entry.makeRawString(key: destination, value: $0, expireAt: nil, access: context.initialAccessClock)
        }
        if let slot { shard.replace(at: slot, with: entry) } else { shard.insert(entry, hash: hash) }
        context.reply.writeInteger(result.count)
        context.logCommand()
        context.notify(KeyspaceEvents.string, "set", destination)
    }

    /// The operation over the sources, each zero-padded to the longest, a word at a time.
    private static func combine(_ sources: [[UInt8]], _ operation: Operation) -> [UInt8] {
        let length = sources.map(\.count).max() ?? 0
        var result = [UInt8](repeating: 0, count: length)
        guard length > 0 else { return result }
        result.withUnsafeMutableBytes { target in
            let base = target.baseAddress!
            if let first = sources.first { first.withUnsafeBytes { target.copyMemory(from: $0) } }
            if operation == .not {
                var index = 0
                while index + 8 <= length {
                    base.storeBytes(
                        of: ~base.loadUnaligned(fromByteOffset: index, as: UInt64.self), toByteOffset: index,
                        as: UInt64.self)
                    index += 8
                }
                while index < length {
                    target[index] = ~target[index]
                    index += 1
                }
                return
            }
            for source in sources.dropFirst() {
                source.withUnsafeBytes { bytes in
                    Self.apply(operation, from: bytes, to: target)
                }
            }
        }
        return result
    }

    private static func apply(
        _ operation: Operation, from source: UnsafeRawBufferPointer, to target: UnsafeMutableRawBufferPointer
    ) {
        let base = target.baseAddress!
        let common = source.count
        var index = 0
        while index + 8 <= common {
            let a = base.loadUnaligned(fromByteOffset: index, as: UInt64.self)
            let b = source.loadUnaligned(fromByteOffset: index, as: UInt64.self)
            let value: UInt64
            switch operation {
            case .and: value = a & b
            case .or: value = a | b
            case .xor: value = a ^ b
            case .not: value = ~a
            }
            base.storeBytes(of: value, toByteOffset: index, as: UInt64.self)
            index += 8
        }
        while index < common {
            switch operation {
            case .and: target[index] &= source[index]
            case .or: target[index] |= source[index]
            case .xor: target[index] ^= source[index]
            case .not: break
            }
            index += 1
        }
        // A shorter source counts as zeros: only AND changes the rest (to zero).
        if operation == .and && common < target.count {
            (base + common).initializeMemory(as: UInt8.self, repeating: 0, count: target.count - common)
        }
    }

    // MARK: BITFIELD

    fileprivate enum FieldOperation {
        case get(BitFieldType, Int)
        case set(BitFieldType, Int, Int64, BitFieldOverflow)
        case incrby(BitFieldType, Int, Int64, BitFieldOverflow)
    }

    static func bitfield(_ context: inout CommandContext) {
        self.bitfield(&context, readOnly: false)
    }

    static func bitfieldReadOnly(_ context: inout CommandContext) {
        self.bitfield(&context, readOnly: true)
    }

    /// Parses every operation first, so a bad one fails the command before anything runs.
    private static func parseFieldOperations(_ context: inout CommandContext, readOnly: Bool) -> [FieldOperation]? {
        var operations: [FieldOperation] = []
        var overflow = BitFieldOverflow.wrap
        var index = 2
        let count = context.arguments.count
        while index < count {
            let word = context.arguments[index]
            let remaining = count - index - 1
            if word.equalsIgnoringCase("OVERFLOW") && remaining >= 1 {
                let mode = context.arguments[index + 1]
                if mode.equalsIgnoringCase("WRAP") {
                    overflow = .wrap
                } else if mode.equalsIgnoringCase("SAT") {
                    overflow = .saturate
                } else if mode.equalsIgnoringCase("FAIL") {
                    overflow = .fail
                } else {
                    context.reply.writeError("ERR Invalid OVERFLOW type specified")
                    return nil
                }
                index += 2
                continue
            }
            let isGet = word.equalsIgnoringCase("GET") && remaining >= 2
            let isSet = word.equalsIgnoringCase("SET") && remaining >= 3
            let isIncr = word.equalsIgnoringCase("INCRBY") && remaining >= 3
            guard isGet || isSet || isIncr else {
                context.replySyntaxError()
                return nil
            }
            guard let type = BitFieldType(context.arguments[index + 1]) else {
                context.reply.writeError(
                    "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.")
                return nil
            }
            guard let offset = bitOffset(&context, index + 2, hashWidth: type.width) else { return nil }
            if isGet {
                operations.append(.get(type, offset))
                index += 3
                continue
            }
            if readOnly {
                context.reply.writeError("ERR BITFIELD_RO only supports the GET subcommand")
                return nil
            }
            guard let value = context.integerArgument(index + 3) else { return nil }
            operations.append(isSet ? .set(type, offset, value, overflow) : .incrby(type, offset, value, overflow))
            index += 4
        }
        return operations
    }

    private static func bitfield(_ context: inout CommandContext, readOnly: Bool) {
        guard let operations = parseFieldOperations(&context, readOnly: readOnly) else { return }
        var highestWrittenBit = -1
        for operation in operations {
            switch operation {
            case .get: break
            case .set(let type, let offset, _, _), .incrby(let type, let offset, _, _):
                highestWrittenBit = max(highestWrittenBit, offset + type.width - 1)
            }
        }
        let writes = highestWrittenBit >= 0
        context.withTypedKey(.string, read: !writes) { context, shard, key, hash, slot in
            guard writes else {
                context.reply.writeArrayHeader(count: operations.count)
                guard let slot else {
                    return Self.replyFields(
                        &context.reply, operations, from: UnsafeRawBufferPointer(start: nil, count: 0))
                }
                shard.entry(at: slot).withStringBytes { Self.replyFields(&context.reply, operations, from: $0) }
                return
            }
            // As Redis does, the string grows to hold every written field before any runs.
            let storage = context.growableString(shard, key, hash: hash, slot: slot, length: highestWrittenBit >> 3 + 1)
            context.reply.writeArrayHeader(count: operations.count)
            storage.bytes.withUnsafeMutableBytes { bytes in
                for operation in operations {
                    switch operation {
                    case .get(let type, let offset):
                        let bits = BitOperations.read(UnsafeRawBufferPointer(bytes), offset: offset, width: type.width)
                        context.reply.writeInteger(type.value(ofBits: bits))
                    case .set(let type, let offset, let value, let overflow):
                        let old = type.value(
                            ofBits: BitOperations.read(UnsafeRawBufferPointer(bytes), offset: offset, width: type.width)
                        )
                        guard let stored = overflow.fit(value, type: type) else {
                            context.reply.writeNull()
                            continue
                        }
                        BitOperations.write(type.bits(of: stored), to: bytes, offset: offset, width: type.width)
                        context.reply.writeInteger(old)
                    case .incrby(let type, let offset, let increment, let overflow):
                        let old = type.value(
                            ofBits: BitOperations.read(UnsafeRawBufferPointer(bytes), offset: offset, width: type.width)
                        )
                        guard let new = overflow.add(old, increment, type: type) else {
                            context.reply.writeNull()
                            continue
                        }
                        BitOperations.write(type.bits(of: new), to: bytes, offset: offset, width: type.width)
                        context.reply.writeInteger(new)
                    }
                }
            }
            context.logCommand()
            context.notify(KeyspaceEvents.string, "setbit", key)
        }
    }
}

extension BitmapCommands {
    /// The replies of read-only BITFIELD operations (all GETs).
    fileprivate static func replyFields(
        _ reply: inout RESPReplyWriter, _ operations: [FieldOperation], from bytes: UnsafeRawBufferPointer
    ) {
        for case .get(let type, let offset) in operations {
            reply.writeInteger(type.value(ofBits: BitOperations.read(bytes, offset: offset, width: type.width)))
        }
    }
}

extension CommandContext {
    /// The string at `slot` (an empty one for a missing key) as a growable string at least
    /// `length` bytes long, padded with zero bytes, ready to change in place. The key's
    /// expiry is kept.
    package mutating func growableString(
        _ shard: Shard, _ key: UnsafeRawBufferPointer, hash: UInt64, slot: Int?, length: Int
    ) -> GrowableString {
        // No local reference to the entry before mutableEntry: it would look shared and be copied.
        if let slot, shard.entry(at: slot).kind == .growableString {
            let storage = shard.mutableEntry(at: slot).payload(as: GrowableString.self)
            if storage.bytes.count < length {
                storage.bytes.append(contentsOf: repeatElement(0, count: length - storage.bytes.count))
            }
            return storage
        }
        var bytes = slot.map { shard.entry(at: $0).stringBytes } ?? []
        if bytes.count < length { bytes.append(contentsOf: repeatElement(0, count: length - bytes.count)) }
        let storage = GrowableString(bytes: bytes)
        self.store(shard, key, hash: hash, slot: slot, kind: .growableString, payload: storage)
        return storage
    }
}
