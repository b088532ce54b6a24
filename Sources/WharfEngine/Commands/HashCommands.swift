import Atomics
import WharfProtocol
import WharfStorage

/// Hash commands. A small hash is packed into its entry (fields in insertion order, as a
/// listpack keeps them) until it passes `hash-max-listpack-entries` fields or a field or
/// value passes `hash-max-listpack-value` bytes; then a table of field records.
///
/// Effect rule (for the write-ahead log): commands are logged as received, except
/// HINCRBYFLOAT, logged as the `HSET` of the value it produced (float formatting is not
/// redone on replay). HRANDFIELD changes nothing.
enum HashCommands {
    static let declarations: [CommandSpec] = [
        CommandSpec(
            "hset", arity: -4, flags: [.write, .denyOOM, .fast], keys: .single, acl: [.hash], group: .hash,
            since: "2.0.0", summary: "Creates or modifies the value of a field in a hash.",
            complexity:
                "O(1) for each field/value pair added, so O(N) to add N field/value pairs when the command is called with multiple field/value pairs.",
            handler: { hset(&$0, replyOK: false) }),
        CommandSpec(
            "hmset", arity: -4, flags: [.write, .denyOOM, .fast], keys: .single, acl: [.hash], group: .hash,
            since: "2.0.0", summary: "Sets the values of multiple fields.",
            complexity: "O(N) where N is the number of fields being set.", handler: { hset(&$0, replyOK: true) }),
        CommandSpec(
            "hsetnx", arity: 4, flags: [.write, .denyOOM, .fast], keys: .single, acl: [.hash], group: .hash,
            since: "2.0.0", summary: "Sets the value of a field in a hash only when the field doesn't exist.",
            handler: hsetnx),
        CommandSpec(
            "hget", arity: 3, flags: [.readonly, .fast], keys: .single, acl: [.hash], group: .hash,
            since: "2.0.0", summary: "Returns the value of a field in a hash.", handler: hget),
        CommandSpec(
            "hmget", arity: -3, flags: [.readonly, .fast], keys: .single, acl: [.hash], group: .hash,
            since: "2.0.0", summary: "Returns the values of all fields in a hash.",
            complexity: "O(N) where N is the number of fields being requested.", handler: hmget),
        CommandSpec(
            "hdel", arity: -3, flags: [.write, .fast], keys: .single, acl: [.hash], group: .hash,
            since: "2.0.0",
            summary: "Deletes one or more fields and their values from a hash. Deletes the hash if no fields remain.",
            complexity: "O(N) where N is the number of fields to be removed.", handler: hdel),
        CommandSpec(
            "hlen", arity: 2, flags: [.readonly, .fast], keys: .single, acl: [.hash], group: .hash,
            since: "2.0.0", summary: "Returns the number of fields in a hash.", handler: hlen),
        CommandSpec(
            "hexists", arity: 3, flags: [.readonly, .fast], keys: .single, acl: [.hash], group: .hash,
            since: "2.0.0", summary: "Determines whether a field exists in a hash.", handler: hexists),
        CommandSpec(
            "hkeys", arity: 2, flags: [.readonly], keys: .single, acl: [.hash], group: .hash,
            since: "2.0.0", summary: "Returns all fields in a hash.",
            complexity: "O(N) where N is the size of the hash.", handler: { hgetall(&$0, fields: true, values: false) }),
        CommandSpec(
            "hvals", arity: 2, flags: [.readonly], keys: .single, acl: [.hash], group: .hash,
            since: "2.0.0", summary: "Returns all values in a hash.",
            complexity: "O(N) where N is the size of the hash.", handler: { hgetall(&$0, fields: false, values: true) }),
        CommandSpec(
            "hgetall", arity: 2, flags: [.readonly], keys: .single, acl: [.hash], group: .hash,
            since: "2.0.0", summary: "Returns all fields and values in a hash.",
            complexity: "O(N) where N is the size of the hash.", handler: { hgetall(&$0, fields: true, values: true) }),
        CommandSpec(
            "hincrby", arity: 4, flags: [.write, .denyOOM, .fast], keys: .single, acl: [.hash], group: .hash,
            since: "2.0.0",
            summary:
                "Increments the integer value of a field in a hash by a number. Uses 0 as initial value if the field doesn't exist.",
            handler: hincrby),
        CommandSpec(
            "hincrbyfloat", arity: 4, flags: [.write, .denyOOM, .fast], keys: .single, acl: [.hash], group: .hash,
            since: "2.6.0",
            summary:
                "Increments the floating point value of a field by a number. Uses 0 as initial value if the field doesn't exist.",
            handler: hincrbyfloat),
        CommandSpec(
            "hstrlen", arity: 3, flags: [.readonly, .fast], keys: .single, acl: [.hash], group: .hash,
            since: "3.2.0", summary: "Returns the length of the value of a field.", handler: hstrlen),
        CommandSpec(
            "hrandfield", arity: -2, flags: [.readonly], keys: .single, acl: [.hash], group: .hash,
            since: "6.2.0", summary: "Returns one or more random fields from a hash.",
            complexity: "O(N) where N is the number of fields returned", handler: hrandfield),
        CommandSpec(
            "hscan", arity: -3, flags: [.readonly], keys: .single, acl: [.hash], group: .hash,
            since: "2.8.0", summary: "Iterates over fields and values of a hash.",
            complexity:
                "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection.",
            handler: hscan),
    ]

    // MARK: Reading a hash

    /// Read access to a hash, packed or not.
    struct View {
        let packed: UnsafeRawBufferPointer?
        let payload: HashPayload?

        init(_ entry: Entry) {
            if entry.kind == .hash {
                self.packed = nil
                self.payload = entry.payload(as: HashPayload.self)
            } else {
                self.packed = entry.rawValueBytes
                self.payload = nil
            }
        }

        var count: Int { self.payload?.fields.count ?? Packed.count(self.packed!) }

        func value(of field: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
            if let payload { return payload.fields.record(field)?.value }
            var found: UnsafeRawBufferPointer?
            Packed.forEachPair(self.packed!) { name, value in
                if name.equalsBytesShared(field) {
                    found = value
                    return false
                }
                return true
            }
            return found
        }

        func forEach(_ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Void) {
            if let payload {
                payload.fields.forEachEntry { body($0.key, $0.value) }
                return
            }
            Packed.forEachPair(self.packed!) { field, value in
                body(field, value)
                return true
            }
        }
    }

    // MARK: Changing a hash

    /// A hash's fields while a command changes it. A packed hash is decoded into pointer
    /// pairs (into the entry and the arguments) and encoded again on commit; a table is
    /// changed in place.
    struct Editor {
        var pairs: [(field: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer)]
        let payload: HashPayload?

        var count: Int { self.payload?.fields.count ?? self.pairs.count }

        func value(of field: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
            if let payload { return payload.fields.record(field)?.value }
            return self.pairs.first { $0.field.equalsBytesShared(field) }?.value
        }

        /// Sets `field`; returns whether it is new. Pointers must stay valid until commit.
        mutating func set(_ field: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) -> Bool {
            if let payload { return payload.fields.set(Record.make(key: field, value: value)) == nil }
            if let index = self.pairs.firstIndex(where: { $0.field.equalsBytesShared(field) }) {
                self.pairs[index].value = value
                return false
            }
            self.pairs.append((field, value))
            return true
        }

        mutating func remove(_ field: UnsafeRawBufferPointer) -> Bool {
            if let payload { return payload.fields.remove(field) != nil }
            guard let index = self.pairs.firstIndex(where: { $0.field.equalsBytesShared(field) }) else { return false }
            self.pairs.remove(at: index)
            return true
        }
    }

    static func editor(_ shard: Shard, slot: Int?) -> Editor {
        guard let slot else { return Editor(pairs: [], payload: nil) }
        // No local reference to the entry before mutableEntry: it would look shared and be copied.
        if shard.entry(at: slot).kind == .hash {
            return Editor(pairs: [], payload: shard.mutableEntry(at: slot).payload(as: HashPayload.self))
        }
        var pairs: [(field: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer)] = []
        let bytes = shard.entry(at: slot).rawValueBytes
        pairs.reserveCapacity(Packed.count(bytes) + 1)
        Packed.forEachPair(bytes) { field, value in
            pairs.append((field, value))
            return true
        }
        return Editor(pairs: pairs, payload: nil)
    }

    /// Stores the edited hash as the value of `key`, packed while it fits the thresholds.
    static func commit(
        _ context: CommandContext, _ shard: Shard, _ key: UnsafeRawBufferPointer, hash: UInt64, slot: Int?,
        _ editor: Editor
    ) {
        if editor.count == 0 {
            if let slot { shard.remove(at: slot) }
            return
        }
        if editor.payload != nil { return }
        let settings = context.settings
        let maxEntries = settings.hashMaxListpackEntries.load(ordering: .relaxed)
        let maxValue = settings.hashMaxListpackValue.load(ordering: .relaxed)
        var fits = editor.pairs.count <= maxEntries
        var size = 4
        if fits {
            for pair in editor.pairs {
                if pair.field.count > maxValue || pair.value.count > maxValue {
                    fits = false
                    break
                }
                size += Packed.encodedLength(pair.field.count) + Packed.encodedLength(pair.value.count)
            }
        }
        if fits {
            var builder = PackedBuilder(capacity: size)
            builder.startCounted()
            for pair in editor.pairs {
                builder.appendItem(pair.field)
                builder.appendItem(pair.value)
            }
            builder.setCount(editor.pairs.count)
            builder.bytes.withUnsafeBytes {
                context.store(shard, key, hash: hash, slot: slot, kind: .packedHash, bytes: $0)
            }
            return
        }
        var fields = RecordTable()
        for pair in editor.pairs { fields.set(Record.make(key: pair.field, value: pair.value)) }
        context.store(shard, key, hash: hash, slot: slot, kind: .hash, payload: HashPayload(fields: fields))
    }

    /// Sets an existing field of a packed hash to a value of the same length by writing
    /// over the old bytes, when no snapshot shares the entry. Returns false when it cannot.
    static func overwriteInPlace(
        _ shard: Shard, slot: Int, field: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer
    ) -> Bool {
        guard shard.entry(at: slot).kind == .packedHash else { return false }
        var valueStart = -1
        let bytes = shard.entry(at: slot).rawValueBytes
        var offset = 4
        for _ in 0..<Packed.count(bytes) {
            let (name, afterField) = Packed.item(bytes, at: offset)
            let (current, next) = Packed.item(bytes, at: afterField)
            if name.equalsBytesShared(field) {
                if current.count != value.count { return false }
                valueStart = next - current.count
                break
            }
            offset = next
        }
        guard valueStart >= 0 else { return false }
        let target = shard.mutableEntry(at: slot)
        if value.count > 0 {
            (target.valuePointer + valueStart).copyMemory(from: value.baseAddress!, byteCount: value.count)
        }
        return true
    }

    // MARK: Commands

    static func hset(_ context: inout CommandContext, replyOK: Bool) {
        if context.arguments.count % 2 != 0 {
            let name = replyOK ? "hmset" : "hset"
            return context.reply.writeError("ERR wrong number of arguments for '\(name)' command")
        }
        context.withTypedKey(.hash, read: false) { context, shard, key, hash, slot in
            if context.arguments.count == 4, let slot,
                Self.overwriteInPlace(shard, slot: slot, field: context.arguments[2], value: context.arguments[3])
            {
                replyOK ? context.reply.writeOK() : context.reply.writeInteger(0)
                context.logCommand()
                context.notify(KeyspaceEvents.hash, "hset", key)
                return
            }
            var editor = Self.editor(shard, slot: slot)
            var added = 0
            var index = 2
            while index < context.arguments.count {
                if editor.set(context.arguments[index], context.arguments[index + 1]) { added += 1 }
                index += 2
            }
            Self.commit(context, shard, key, hash: hash, slot: slot, editor)
            replyOK ? context.reply.writeOK() : context.reply.writeInteger(added)
            context.logCommand()
            context.notify(KeyspaceEvents.hash, "hset", key)
        }
    }

    static func hsetnx(_ context: inout CommandContext) {
        context.withTypedKey(.hash, read: false) { context, shard, key, hash, slot in
            var editor = Self.editor(shard, slot: slot)
            if editor.value(of: context.arguments[2]) != nil { return context.reply.writeInteger(0) }
            _ = editor.set(context.arguments[2], context.arguments[3])
            Self.commit(context, shard, key, hash: hash, slot: slot, editor)
            context.reply.writeInteger(1)
            context.logCommand()
            context.notify(KeyspaceEvents.hash, "hset", key)
        }
    }

    static func hget(_ context: inout CommandContext) {
        context.withTypedKey(.hash, read: true) { context, shard, _, _, slot in
            guard let slot, let value = View(shard.entry(at: slot)).value(of: context.arguments[2]) else {
                return context.reply.writeNull()
            }
            context.reply.writeBulkString(value)
        }
    }

    static func hmget(_ context: inout CommandContext) {
        context.withTypedKey(.hash, read: true) { context, shard, _, _, slot in
            let view = slot.map { View(shard.entry(at: $0)) }
            context.reply.writeArrayHeader(count: context.arguments.count - 2)
            for index in 2..<context.arguments.count {
                if let value = view?.value(of: context.arguments[index]) {
                    context.reply.writeBulkString(value)
                } else {
                    context.reply.writeNull()
                }
            }
        }
    }

    static func hdel(_ context: inout CommandContext) {
        context.withTypedKey(.hash, read: false) { context, shard, key, hash, slot in
            guard let slot else { return context.reply.writeInteger(0) }
            var editor = Self.editor(shard, slot: slot)
            var removed = 0
            for index in 2..<context.arguments.count where editor.remove(context.arguments[index]) { removed += 1 }
            if removed > 0 {
                Self.commit(context, shard, key, hash: hash, slot: slot, editor)
                context.logCommand()
                context.notifyChange(KeyspaceEvents.hash, "hdel", key, in: shard, hash: hash)
            }
            context.reply.writeInteger(removed)
        }
    }

    static func hlen(_ context: inout CommandContext) {
        context.withTypedKey(.hash, read: true) { context, shard, _, _, slot in
            context.reply.writeInteger(slot.map { View(shard.entry(at: $0)).count } ?? 0)
        }
    }

    static func hexists(_ context: inout CommandContext) {
        context.withTypedKey(.hash, read: true) { context, shard, _, _, slot in
            let found = slot.map { View(shard.entry(at: $0)).value(of: context.arguments[2]) != nil } ?? false
            context.reply.writeInteger(found ? 1 : 0)
        }
    }

    static func hstrlen(_ context: inout CommandContext) {
        context.withTypedKey(.hash, read: true) { context, shard, _, _, slot in
            context.reply.writeInteger(
                slot.flatMap { View(shard.entry(at: $0)).value(of: context.arguments[2])?.count } ?? 0)
        }
    }

    static func hgetall(_ context: inout CommandContext, fields: Bool, values: Bool) {
        context.withTypedKey(.hash, read: true) { context, shard, _, _, slot in
            guard let slot else {
                return fields && values
                    ? context.reply.writeMapHeader(count: 0) : context.reply.writeArrayHeader(count: 0)
            }
            let view = View(shard.entry(at: slot))
            if fields && values {
                context.reply.writeMapHeader(count: view.count)
            } else {
                context.reply.writeArrayHeader(count: view.count)
            }
            view.forEach { field, value in
                if fields { context.reply.writeBulkString(field) }
                if values { context.reply.writeBulkString(value) }
            }
        }
    }

    static func hincrby(_ context: inout CommandContext) {
        guard let increment = context.integerArgument(3) else { return }
        context.withTypedKey(.hash, read: false) { context, shard, key, hash, slot in
            var editor = Self.editor(shard, slot: slot)
            let field = context.arguments[2]
            var current: Int64 = 0
            if let value = editor.value(of: field) {
                guard let parsed = DecimalInteger.parse(value) else {
                    return context.reply.writeError("ERR hash value is not an integer")
                }
                current = parsed
            }
            let (result, overflow) = current.addingReportingOverflow(increment)
            if overflow { return context.reply.writeError("ERR increment or decrement would overflow") }
            SetCommands.withDecimal(result) { text in
                _ = editor.set(field, text)
                Self.commit(context, shard, key, hash: hash, slot: slot, editor)
            }
            context.reply.writeInteger(result)
            context.logCommand()
            context.notify(KeyspaceEvents.hash, "hincrby", key)
        }
    }

    static func hincrbyfloat(_ context: inout CommandContext) {
        guard let increment = LongDoubleText.parse(context.arguments[3]) else { return context.replyNotFloat() }
        context.withTypedKey(.hash, read: false) { context, shard, key, hash, slot in
            var editor = Self.editor(shard, slot: slot)
            let field = context.arguments[2]
            var current: LongDouble = 0
            if let value = editor.value(of: field) {
                guard let parsed = LongDoubleText.parse(value) else {
                    return context.reply.writeError("ERR hash value is not a float")
                }
                current = parsed
            }
            let result = current + increment
            if result.isNaN || result.isInfinite {
                return context.reply.writeError("ERR increment would produce NaN or Infinity")
            }
            var text = LongDoubleText.format(result)
            text.withUTF8 { utf8 in
                let value = UnsafeRawBufferPointer(utf8)
                _ = editor.set(field, value)
                Self.commit(context, shard, key, hash: hash, slot: slot, editor)
                context.reply.writeBulkString(value)
                context.logEffect { log in
                    log.argument("HSET")
                    log.argument(key)
                    log.argument(field)
                    log.argument(value)
                }
                context.notify(KeyspaceEvents.hash, "hincrbyfloat", key)
            }
        }
    }

    static func hrandfield(_ context: inout CommandContext) {
        var count: Int64?
        var withValues = false
        if context.arguments.count >= 3 {
            guard let parsed = context.integerArgument(2) else { return }
            count = parsed
            if context.arguments.count == 4 {
                guard context.arguments[3].equalsIgnoringCase("WITHVALUES") else { return context.replySyntaxError() }
                withValues = true
            } else if context.arguments.count > 4 {
                return context.replySyntaxError()
            }
            if parsed < -Int64(Int32.max) * 1024 || (withValues && parsed < -Int64(Int32.max) * 512) {
                return context.reply.writeError("ERR value is out of range")
            }
        }
        context.withTypedKey(.hash, read: true) { context, shard, _, _, slot in
            guard let slot else {
                return count == nil ? context.reply.writeNull() : context.reply.writeArrayHeader(count: 0)
            }
            var pairs: [(UnsafeRawBufferPointer, UnsafeRawBufferPointer)] = []
            let view = View(shard.entry(at: slot))
            pairs.reserveCapacity(view.count)
            view.forEach { pairs.append(($0, $1)) }
            guard let count else { return context.reply.writeBulkString(pairs.randomElement()!.0) }
            let indices = RandomPick.indices(count: count, from: pairs.count)
            let nested = withValues && context.reply.version == .resp3
            context.reply.writeArrayHeader(count: withValues && !nested ? indices.count * 2 : indices.count)
            for index in indices {
                if nested { context.reply.writeArrayHeader(count: 2) }
                context.reply.writeBulkString(pairs[index].0)
                if withValues { context.reply.writeBulkString(pairs[index].1) }
            }
        }
    }

    static func hscan(_ context: inout CommandContext) {
        guard let cursor = CollectionScan.cursorArgument(&context, 2),
            let options = CollectionScan.Options.parse(&context, from: 3)
        else { return }
        context.withTypedKey(.hash, read: true) { context, shard, _, _, slot in
            guard let slot else { return CollectionScan.writeEmpty(&context) }
            let view = View(shard.entry(at: slot))
            var found: [([UInt8], [UInt8])] = []
            var next: UInt64 = 0
            if let payload = view.payload {
                next = CollectionScan.scan(payload.fields, cursor: cursor, count: options.count) { record in
                    if options.matches(record.key) { found.append((Array(record.key), Array(record.value))) }
                }
            } else {
                view.forEach { field, value in
                    if options.matches(field) { found.append((Array(field), Array(value))) }
                }
            }
            context.reply.writeArrayHeader(count: 2)
            context.reply.writeBulkString(String(next))
            context.reply.writeArrayHeader(count: found.count * 2)
            for (field, value) in found {
                context.reply.writeBulkString(field)
                context.reply.writeBulkString(value)
            }
        }
    }
}
