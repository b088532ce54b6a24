import Atomics
import WharfProtocol
import WharfStorage

/// Set commands. A set of canonical integers is an intset (sorted `Int64`s in the entry)
/// until it passes `set-max-intset-entries` or gains a non-integer; then a table of member
/// records.
///
/// Effect rule (for the write-ahead log): deterministic commands are logged as received;
/// SPOP is logged as the `SREM` of the members it chose (or `DEL` when it emptied the
/// set), so replay removes the same ones. SRANDMEMBER changes nothing.
enum SetCommands {
    static let declarations: [CommandSpec] = [
        CommandSpec(
            "sadd", arity: -3, flags: [.write, .denyOOM, .fast], keys: .single, acl: [.set], group: .set,
            since: "1.0.0", summary: "Adds one or more members to a set. Creates the key if it doesn't exist.",
            complexity:
                "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.",
            handler: sadd),
        CommandSpec(
            "srem", arity: -3, flags: [.write, .fast], keys: .single, acl: [.set], group: .set,
            since: "1.0.0",
            summary: "Removes one or more members from a set. Deletes the set if the last member was removed.",
            complexity: "O(N) where N is the number of members to be removed.", handler: srem),
        CommandSpec(
            "smembers", arity: 2, flags: [.readonly], keys: .single, acl: [.set], group: .set,
            since: "1.0.0", summary: "Returns all members of a set.",
            complexity: "O(N) where N is the set cardinality.", handler: smembers),
        CommandSpec(
            "sismember", arity: 3, flags: [.readonly, .fast], keys: .single, acl: [.set], group: .set,
            since: "1.0.0", summary: "Determines whether a member belongs to a set.", handler: sismember),
        CommandSpec(
            "smismember", arity: -3, flags: [.readonly, .fast], keys: .single, acl: [.set], group: .set,
            since: "6.2.0", summary: "Determines whether multiple members belong to a set.",
            complexity: "O(N) where N is the number of elements being checked for membership", handler: smismember),
        CommandSpec(
            "scard", arity: 2, flags: [.readonly, .fast], keys: .single, acl: [.set], group: .set,
            since: "1.0.0", summary: "Returns the number of members in a set.", handler: scard),
        CommandSpec(
            "spop", arity: -2, flags: [.write, .fast], keys: .single, acl: [.set], group: .set,
            since: "1.0.0",
            summary:
                "Returns one or more random members from a set after removing them. Deletes the set if the last member was popped.",
            complexity: "Without the count argument O(1), otherwise O(N) where N is the value of the passed count.",
            handler: spop),
        CommandSpec(
            "srandmember", arity: -2, flags: [.readonly], keys: .single, acl: [.set], group: .set,
            since: "1.0.0", summary: "Get one or multiple random members from a set",
            complexity:
                "Without the count argument O(1), otherwise O(N) where N is the absolute value of the passed count.",
            handler: srandmember),
        CommandSpec(
            "smove", arity: 4, flags: [.write, .fast], keys: .two, acl: [.set], group: .set,
            since: "1.0.0", summary: "Moves a member from one set to another.", handler: smove),
        CommandSpec(
            "sinter", arity: -2, flags: [.readonly], keys: .all, acl: [.set], group: .set,
            since: "1.0.0", summary: "Returns the intersect of multiple sets.",
            complexity: "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets.",
            handler: { algebra(&$0, .intersection, store: false) }),
        CommandSpec(
            "sinterstore", arity: -3, flags: [.write, .denyOOM], keys: .all, acl: [.set], group: .set,
            since: "1.0.0", summary: "Stores the intersect of multiple sets in a key.",
            complexity: "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets.",
            handler: { algebra(&$0, .intersection, store: true) }),
        CommandSpec(
            "sunion", arity: -2, flags: [.readonly], keys: .all, acl: [.set], group: .set,
            since: "1.0.0", summary: "Returns the union of multiple sets.",
            complexity: "O(N) where N is the total number of elements in all given sets.",
            handler: { algebra(&$0, .union, store: false) }),
        CommandSpec(
            "sunionstore", arity: -3, flags: [.write, .denyOOM], keys: .all, acl: [.set], group: .set,
            since: "1.0.0", summary: "Stores the union of multiple sets in a key.",
            complexity: "O(N) where N is the total number of elements in all given sets.",
            handler: { algebra(&$0, .union, store: true) }),
        CommandSpec(
            "sdiff", arity: -2, flags: [.readonly], keys: .all, acl: [.set], group: .set,
            since: "1.0.0", summary: "Returns the difference of multiple sets.",
            complexity: "O(N) where N is the total number of elements in all given sets.",
            handler: { algebra(&$0, .difference, store: false) }),
        CommandSpec(
            "sdiffstore", arity: -3, flags: [.write, .denyOOM], keys: .all, acl: [.set], group: .set,
            since: "1.0.0", summary: "Stores the difference of multiple sets in a key.",
            complexity: "O(N) where N is the total number of elements in all given sets.",
            handler: { algebra(&$0, .difference, store: true) }),
        CommandSpec(
            "sintercard", arity: -3, flags: [.readonly, .movableKeys], acl: [.set], group: .set,
            since: "7.0.0", summary: "Returns the number of members of the intersect of multiple sets.",
            complexity: "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets.",
            handler: sintercard),
        CommandSpec(
            "sscan", arity: -3, flags: [.readonly], keys: .single, acl: [.set], group: .set,
            since: "2.8.0", summary: "Iterates over members of a set.",
            complexity:
                "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection.",
            handler: sscan),
    ]

    // MARK: Reading a set

    /// Read access to a set, intset or table.
    struct View {
        let intset: UnsafeRawBufferPointer?
        let payload: SetPayload?

        init(_ entry: Entry) {
            if entry.kind == .set {
                self.intset = nil
                self.payload = entry.payload(as: SetPayload.self)
            } else {
                self.intset = entry.rawValueBytes
                self.payload = nil
            }
        }

        var count: Int { self.payload?.members.count ?? Packed.intsetCount(self.intset!) }

        func contains(_ member: UnsafeRawBufferPointer) -> Bool {
            if let payload { return payload.members.record(member) != nil }
            guard let value = DecimalInteger.parse(member) else { return false }
            return Packed.intsetSearch(self.intset!, value) >= 0
        }

        /// Calls `body` with every member (intset members as their decimal text).
        func forEach(_ body: (UnsafeRawBufferPointer) -> Void) {
            if let payload {
                payload.members.forEachEntry { body($0.key) }
                return
            }
            let bytes = self.intset!
            for index in 0..<Packed.intsetCount(bytes) {
                SetCommands.withDecimal(Packed.intsetValue(bytes, at: index), body)
            }
        }

        var members: [[UInt8]] {
            var all: [[UInt8]] = []
            all.reserveCapacity(self.count)
            self.forEach { all.append(Array($0)) }
            return all
        }
    }

    /// Calls `body` with the decimal text of `value`, formatted on the stack.
    static func withDecimal<Result>(_ value: Int64, _ body: (UnsafeRawBufferPointer) -> Result) -> Result {
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)
        return withUnsafeMutableBytes(of: &digits) { raw in
            let width = DecimalInteger.width(of: value)
            DecimalInteger.write(value, to: raw.baseAddress!)
            return body(UnsafeRawBufferPointer(rebasing: raw[0..<width]))
        }
    }

    // MARK: Storing a set

    /// A set's members while a command changes it: the integers of an intset, or the table.
    struct Editor {
        var integers: [Int64]?
        var payload: SetPayload?

        init(integers: [Int64]) {
            self.integers = integers
        }

        init(payload: SetPayload) {
            self.payload = payload
        }

        var count: Int { self.payload?.members.count ?? self.integers!.count }

        /// Adds `member`; returns whether it was new. Converts to a table when needed.
        mutating func add(_ member: UnsafeRawBufferPointer, intsetLimit: Int) -> Bool {
            if var integers = self.integers {
                if let value = DecimalInteger.parse(member) {
                    let position = Self.search(integers, value)
                    if position >= 0 { return false }
                    if integers.count < intsetLimit {
                        self.integers = nil
                        integers.insert(value, at: -position - 1)
                        self.integers = integers
                        return true
                    }
                }
                self.convert()
            }
            return self.payload!.members.insertIfAbsent(member) { Record.make(key: member) }
        }

        mutating func remove(_ member: UnsafeRawBufferPointer) -> Bool {
            if var integers = self.integers {
                guard let value = DecimalInteger.parse(member) else { return false }
                let position = Self.search(integers, value)
                if position < 0 { return false }
                self.integers = nil
                integers.remove(at: position)
                self.integers = integers
                return true
            }
            return self.payload!.members.remove(member) != nil
        }

        mutating func convert() {
            guard let integers = self.integers else { return }
            var members = RecordTable()
            for value in integers {
                SetCommands.withDecimal(value) { _ = members.set(Record.make(key: $0)) }
            }
            self.integers = nil
            self.payload = SetPayload(members: members)
        }

        static func search(_ integers: [Int64], _ value: Int64) -> Int {
            var low = 0
            var high = integers.count
            while low < high {
                let middle = (low + high) / 2
                if integers[middle] == value { return middle }
                if integers[middle] < value { low = middle + 1 } else { high = middle }
            }
            return -low - 1
        }
    }

    /// The set at `slot` (or a new one), ready to be changed.
    static func editor(_ shard: Shard, slot: Int?) -> Editor {
        guard let slot else { return Editor(integers: []) }
        // No local reference to the entry before mutableEntry: it would look shared and be copied.
        if shard.entry(at: slot).kind == .set {
            return Editor(payload: shard.mutableEntry(at: slot).payload(as: SetPayload.self))
        }
        let bytes = shard.entry(at: slot).rawValueBytes
        var integers: [Int64] = []
        integers.reserveCapacity(Packed.intsetCount(bytes) + 1)
        for index in 0..<Packed.intsetCount(bytes) { integers.append(Packed.intsetValue(bytes, at: index)) }
        return Editor(integers: integers)
    }

    /// Stores the edited set as the value of `key` (deleting it when empty).
    static func commit(
        _ context: CommandContext, _ shard: Shard, _ key: UnsafeRawBufferPointer, hash: UInt64, slot: Int?,
        _ editor: Editor
    ) {
        if editor.count == 0 {
            if let slot { shard.remove(at: slot) }
            return
        }
        if let integers = editor.integers {
            integers.withUnsafeBytes { bytes in
                context.store(shard, key, hash: hash, slot: slot, kind: .intset, bytes: bytes)
            }
            return
        }
        if let slot, shard.entry(at: slot).kind == .set { return }
        context.store(shard, key, hash: hash, slot: slot, kind: .set, payload: editor.payload!)
    }

    /// Builds a set from `members` for a new key (the STORE commands).
    static func makeEditor(_ members: [[UInt8]], intsetLimit: Int) -> Editor {
        var editor = Editor(integers: [])
        for member in members { member.withUnsafeBytes { _ = editor.add($0, intsetLimit: intsetLimit) } }
        return editor
    }

    static func intsetLimit(_ context: CommandContext) -> Int {
        context.settings.setMaxIntsetEntries.load(ordering: .relaxed)
    }

    // MARK: Commands

    static func sadd(_ context: inout CommandContext) {
        context.withTypedKey(.set, read: false) { context, shard, key, hash, slot in
            var editor = Self.editor(shard, slot: slot)
            let limit = Self.intsetLimit(context)
            var added = 0
            for index in 2..<context.arguments.count where editor.add(context.arguments[index], intsetLimit: limit) {
                added += 1
            }
            if added > 0 {
                Self.commit(context, shard, key, hash: hash, slot: slot, editor)
                context.logCommand()
                context.notify(KeyspaceEvents.set, "sadd", key)
            }
            context.reply.writeInteger(added)
        }
    }

    static func srem(_ context: inout CommandContext) {
        context.withTypedKey(.set, read: false) { context, shard, key, hash, slot in
            guard let slot else { return context.reply.writeInteger(0) }
            var editor = Self.editor(shard, slot: slot)
            var removed = 0
            for index in 2..<context.arguments.count where editor.remove(context.arguments[index]) { removed += 1 }
            if removed > 0 {
                Self.commit(context, shard, key, hash: hash, slot: slot, editor)
                context.logCommand()
                context.notifyChange(KeyspaceEvents.set, "srem", key, in: shard, hash: hash)
            }
            context.reply.writeInteger(removed)
        }
    }

    static func smembers(_ context: inout CommandContext) {
        context.withTypedKey(.set, read: true) { context, shard, _, _, slot in
            guard let slot else { return context.reply.writeSetHeader(count: 0) }
            let view = View(shard.entry(at: slot))
            context.reply.writeSetHeader(count: view.count)
            view.forEach { context.reply.writeBulkString($0) }
        }
    }

    static func sismember(_ context: inout CommandContext) {
        context.withTypedKey(.set, read: true) { context, shard, _, _, slot in
            guard let slot else { return context.reply.writeInteger(0) }
            context.reply.writeInteger(View(shard.entry(at: slot)).contains(context.arguments[2]) ? 1 : 0)
        }
    }

    static func smismember(_ context: inout CommandContext) {
        context.withTypedKey(.set, read: true) { context, shard, _, _, slot in
            let view = slot.map { View(shard.entry(at: $0)) }
            context.reply.writeArrayHeader(count: context.arguments.count - 2)
            for index in 2..<context.arguments.count {
                context.reply.writeInteger(view?.contains(context.arguments[index]) == true ? 1 : 0)
            }
        }
    }

    static func scard(_ context: inout CommandContext) {
        context.withTypedKey(.set, read: true) { context, shard, _, _, slot in
            context.reply.writeInteger(slot.map { View(shard.entry(at: $0)).count } ?? 0)
        }
    }

    static func spop(_ context: inout CommandContext) {
        if context.arguments.count > 3 { return context.replySyntaxError() }
        var count: Int?
        if context.arguments.count == 3 {
            guard let parsed = context.positiveCount(2) else { return }
            count = parsed
        }
        context.withTypedKey(.set, read: false) { context, shard, key, hash, slot in
            guard let slot else {
                return count == nil ? context.reply.writeNull() : context.reply.writeSetHeader(count: 0)
            }
            if count == 0 { return context.reply.writeSetHeader(count: 0) }
            var editor = Self.editor(shard, slot: slot)
            let total = editor.count
            let wanted = min(count ?? 1, total)
            var popped: [[UInt8]] = []
            popped.reserveCapacity(wanted)
            if wanted == total {
                popped = View(shard.entry(at: slot)).members
                shard.remove(at: slot)
                context.logEffect { log in
                    log.argument("DEL")
                    log.argument(key)
                }
            } else {
                var generator = SystemRandomNumberGenerator()
                while popped.count < wanted {
                    let member: [UInt8]
                    if let integers = editor.integers {
                        member = Self.withDecimal(integers[Int.random(in: 0..<integers.count, using: &generator)]) {
                            Array($0)
                        }
                    } else {
                        let members = editor.payload!.members
                        member = Array(members.element(at: members.randomOccupiedSlot(using: &generator)!).key)
                    }
                    _ = member.withUnsafeBytes { editor.remove($0) }
                    popped.append(member)
                }
                Self.commit(context, shard, key, hash: hash, slot: slot, editor)
                context.logEffect { log in
                    log.argument("SREM")
                    log.argument(key)
                    for member in popped { member.withUnsafeBytes { log.argument($0) } }
                }
            }
            context.notifyChange(KeyspaceEvents.set, "spop", key, in: shard, hash: hash)
            if count == nil {
                context.reply.writeBulkString(popped[0])
            } else {
                context.reply.writeSetHeader(count: popped.count)
                for member in popped { context.reply.writeBulkString(member) }
            }
        }
    }

    static func srandmember(_ context: inout CommandContext) {
        if context.arguments.count > 3 { return context.replySyntaxError() }
        var count: Int64?
        if context.arguments.count == 3 {
            guard let parsed = context.integerArgument(2) else { return }
            if parsed < -Int64(Int32.max) * 1024 { return context.reply.writeError("ERR value is out of range") }
            count = parsed
        }
        context.withTypedKey(.set, read: true) { context, shard, _, _, slot in
            guard let slot else {
                return count == nil ? context.reply.writeNull() : context.reply.writeArrayHeader(count: 0)
            }
            let entry = shard.entry(at: slot)
            let view = View(entry)
            // Members by position: the intset's order, or a snapshot of the table.
            let members: [[UInt8]]? =
                view.payload != nil && (count.map { $0.magnitude > 1 } ?? false) ? view.members : nil
            func member(at index: Int) -> [UInt8] {
                if let members { return members[index] }
                if let intset = view.intset {
                    return Self.withDecimal(Packed.intsetValue(intset, at: index)) { Array($0) }
                }
                var generator = SystemRandomNumberGenerator()
                let table = view.payload!.members
                return Array(table.element(at: table.randomOccupiedSlot(using: &generator)!).key)
            }
            guard let count else { return context.reply.writeBulkString(member(at: Int.random(in: 0..<view.count))) }
            let indices = RandomPick.indices(count: count, from: view.count)
            context.reply.writeArrayHeader(count: indices.count)
            for index in indices { context.reply.writeBulkString(member(at: index)) }
        }
    }

    static func smove(_ context: inout CommandContext) {
        let source = context.arguments[1]
        let destination = context.arguments[2]
        let member = context.arguments[3]
        let database = context.database
        let sourceHash = context.hash(source)
        let destinationHash = context.hash(destination)
        let selection = context.lockShards(of: sourceHash, destinationHash)
        defer { context.unlock(selection, in: database) }
        let sourceShard = database.shard(for: sourceHash)
        let destinationShard = database.shard(for: destinationHash)
        guard let sourceLocated = context.locate(source, hash: sourceHash, in: sourceShard, as: .set) else { return }
        guard
            let destinationLocated = context.locate(destination, hash: destinationHash, in: destinationShard, as: .set)
        else { return }
        guard case .at(let sourceSlot) = sourceLocated, View(sourceShard.entry(at: sourceSlot)).contains(member) else {
            return context.reply.writeInteger(0)
        }
        if source.equalsBytesShared(destination) { return context.reply.writeInteger(1) }
        var sourceEditor = Self.editor(sourceShard, slot: sourceSlot)
        _ = sourceEditor.remove(member)
        Self.commit(context, sourceShard, source, hash: sourceHash, slot: sourceSlot, sourceEditor)
        // Removing the source may have moved the destination within a shared shard.
        var destinationSlot: Int?
        if case .at = destinationLocated {
            destinationSlot = destinationShard.table.find(destination, hash: destinationHash)
        }
        var destinationEditor = Self.editor(destinationShard, slot: destinationSlot)
        let added = destinationEditor.add(member, intsetLimit: Self.intsetLimit(context))
        if added {
            Self.commit(
                context, destinationShard, destination, hash: destinationHash, slot: destinationSlot, destinationEditor)
        }
        context.reply.writeInteger(1)
        context.logCommand()
        context.notifyChange(KeyspaceEvents.set, "srem", source, in: sourceShard, hash: sourceHash)
        // As Redis: the destination hears of it only when the member is new there.
        if added { context.notify(KeyspaceEvents.set, "sadd", destination) }
    }

    // MARK: Intersection, union, difference

    enum Operation { case intersection, union, difference }

    /// The members of the sets at `keyIndices` combined by `operation`, with their shards
    /// locked by the caller. Nil after replying WRONGTYPE.
    static func combine(_ context: inout CommandContext, keyIndices: [Int], _ operation: Operation, limit: Int = 0)
        -> [[UInt8]]?
    {
        let database = context.database
        var views: [View?] = []
        for keyIndex in keyIndices {
            let key = context.arguments[keyIndex]
            let hash = context.hash(key)
            let shard = database.shard(for: hash)
            guard let located = context.locate(key, hash: hash, in: shard, as: .set, read: true) else { return nil }
            if case .at(let slot) = located { views.append(View(shard.entry(at: slot))) } else { views.append(nil) }
        }
        var result: [[UInt8]] = []
        switch operation {
        case .intersection:
            if views.contains(where: { $0 == nil }) { return [] }
            let sets = views.map { $0! }.sorted { $0.count < $1.count }
            sets[0].forEach { member in
                if limit > 0 && result.count >= limit { return }
                if sets.dropFirst().allSatisfy({ $0.contains(member) }) { result.append(Array(member)) }
            }
        case .union:
            var seen = Set<[UInt8]>()
            for view in views.compactMap({ $0 }) {
                view.forEach { member in
                    let bytes = Array(member)
                    if seen.insert(bytes).inserted { result.append(bytes) }
                }
            }
        case .difference:
            guard let first = views[0] else { return [] }
            let others = views.dropFirst().compactMap { $0 }
            first.forEach { member in
                if !others.contains(where: { $0.contains(member) }) { result.append(Array(member)) }
            }
        }
        return result
    }

    static func algebra(_ context: inout CommandContext, _ operation: Operation, store: Bool) {
        let first = store ? 2 : 1
        let keyIndices = Array(first..<context.arguments.count)
        let selection = context.lockShards(ofKeysAt: store ? [1] + keyIndices : keyIndices)
        defer { context.unlock(selection, in: context.database) }
        guard let members = Self.combine(&context, keyIndices: keyIndices, operation) else { return }
        guard store else {
            context.reply.writeSetHeader(count: members.count)
            for member in members { context.reply.writeBulkString(member) }
            return
        }
        let destination = context.arguments[1]
        let hash = context.hash(destination)
        let shard = context.database.shard(for: hash)
        let slot = shard.lookup(destination, hash: hash, now: context.now)
        let editor = Self.makeEditor(members, intsetLimit: Self.intsetLimit(context))
        if editor.count == 0 {
            if let slot { shard.remove(at: slot) }
        } else {
            // The destination is replaced whatever it held, without keeping its expiry.
            if let slot { shard.remove(at: slot) }
            Self.commit(context, shard, destination, hash: hash, slot: nil, editor)
        }
        context.reply.writeInteger(members.count)
        context.logCommand()
        if editor.count > 0 {
            let event: StaticString =
                operation == .intersection ? "sinterstore" : operation == .union ? "sunionstore" : "sdiffstore"
            context.notify(KeyspaceEvents.set, event, destination)
        } else if slot != nil {
            context.notify(KeyspaceEvents.generic, "del", destination)
        }
    }

    static func sintercard(_ context: inout CommandContext) {
        guard let (keyIndices, limit) = context.intersectionCardinalityArguments(sortedSets: false) else { return }
        let selection = context.lockShards(ofKeysAt: keyIndices)
        defer { context.unlock(selection, in: context.database) }
        guard let members = Self.combine(&context, keyIndices: keyIndices, .intersection, limit: limit) else { return }
        context.reply.writeInteger(members.count)
    }

    static func sscan(_ context: inout CommandContext) {
        guard let cursor = CollectionScan.cursorArgument(&context, 2),
            let options = CollectionScan.Options.parse(&context, from: 3)
        else { return }
        context.withTypedKey(.set, read: true) { context, shard, _, _, slot in
            guard let slot else { return CollectionScan.writeEmpty(&context) }
            let view = View(shard.entry(at: slot))
            var found: [[UInt8]] = []
            var next: UInt64 = 0
            if let payload = view.payload {
                next = CollectionScan.scan(payload.members, cursor: cursor, count: options.count) { record in
                    if options.matches(record.key) { found.append(Array(record.key)) }
                }
            } else {
                view.forEach { member in
                    if options.matches(member) { found.append(Array(member)) }
                }
            }
            context.reply.writeArrayHeader(count: 2)
            context.reply.writeBulkString(String(next))
            context.reply.writeArrayHeader(count: found.count)
            for member in found { context.reply.writeBulkString(member) }
        }
    }
}
