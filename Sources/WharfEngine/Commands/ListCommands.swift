import Atomics
import DequeModule
import WharfProtocol
import WharfStorage

/// List commands, blocking ones included.
///
/// Effect rule (for the write-ahead log): list commands are deterministic given the list,
/// so they are logged as received; a blocking pop that is served later is logged as the
/// plain pop or move it performed (`LPOP key`, `LMOVE …`), and LMPOP as the `LPOP key count`
/// it did on the key it chose.
enum ListCommands {
    static let declarations: [CommandSpec] = [
        CommandSpec(
            "lpush", arity: -3, flags: [.write, .denyOOM, .fast], keys: .single, acl: [.list], group: .list,
            since: "1.0.0", summary: "Prepends one or more elements to a list. Creates the key if it doesn't exist.",
            complexity: "O(1) for each element added", handler: { push(&$0, left: true, onlyIfExists: false) }),
        CommandSpec(
            "rpush", arity: -3, flags: [.write, .denyOOM, .fast], keys: .single, acl: [.list], group: .list,
            since: "1.0.0", summary: "Appends one or more elements to a list. Creates the key if it doesn't exist.",
            complexity: "O(1) for each element added", handler: { push(&$0, left: false, onlyIfExists: false) }),
        CommandSpec(
            "lpushx", arity: -3, flags: [.write, .denyOOM, .fast], keys: .single, acl: [.list], group: .list,
            since: "2.2.0", summary: "Prepends one or more elements to a list only when the list exists.",
            complexity: "O(1) for each element added", handler: { push(&$0, left: true, onlyIfExists: true) }),
        CommandSpec(
            "rpushx", arity: -3, flags: [.write, .denyOOM, .fast], keys: .single, acl: [.list], group: .list,
            since: "2.2.0", summary: "Appends an element to a list only when the list exists.",
            complexity: "O(1) for each element added", handler: { push(&$0, left: false, onlyIfExists: true) }),
        CommandSpec(
            "lpop", arity: -2, flags: [.write, .fast], keys: .single, acl: [.list], group: .list,
            since: "1.0.0",
            summary:
                "Returns the first elements in a list after removing it. Deletes the list if the last element was popped.",
            complexity: "O(N) where N is the number of elements returned", handler: { pop(&$0, left: true) }),
        CommandSpec(
            "rpop", arity: -2, flags: [.write, .fast], keys: .single, acl: [.list], group: .list,
            since: "1.0.0",
            summary:
                "Returns and removes the last elements of a list. Deletes the list if the last element was popped.",
            complexity: "O(N) where N is the number of elements returned", handler: { pop(&$0, left: false) }),
        CommandSpec(
            "llen", arity: 2, flags: [.readonly, .fast], keys: .single, acl: [.list], group: .list,
            since: "1.0.0", summary: "Returns the length of a list.", handler: llen),
        CommandSpec(
            "lrange", arity: 4, flags: [.readonly], keys: .single, acl: [.list], group: .list,
            since: "1.0.0", summary: "Returns a range of elements from a list.",
            complexity:
                "O(S+N) where S is the distance of start offset from HEAD for small lists, from nearest end (HEAD or TAIL) for large lists; and N is the number of elements in the specified range.",
            handler: lrange),
        CommandSpec(
            "lindex", arity: 3, flags: [.readonly], keys: .single, acl: [.list], group: .list,
            since: "1.0.0", summary: "Returns an element from a list by its index.",
            complexity: "O(N) where N is the number of elements to traverse to get to the element at index.",
            handler: lindex),
        CommandSpec(
            "lset", arity: 4, flags: [.write, .denyOOM], keys: .single, acl: [.list], group: .list,
            since: "1.0.0", summary: "Sets the value of an element in a list by its index.",
            complexity: "O(N) where N is the length of the list.", handler: lset),
        CommandSpec(
            "linsert", arity: 5, flags: [.write, .denyOOM], keys: .single, acl: [.list], group: .list,
            since: "2.2.0", summary: "Inserts an element before or after another element in a list.",
            complexity: "O(N) where N is the number of elements to traverse before seeing the value pivot.",
            handler: linsert),
        CommandSpec(
            "lrem", arity: 4, flags: [.write], keys: .single, acl: [.list], group: .list,
            since: "1.0.0", summary: "Removes elements from a list. Deletes the list if the last element was removed.",
            complexity: "O(N+M) where N is the length of the list and M is the number of elements removed.",
            handler: lrem),
        CommandSpec(
            "ltrim", arity: 4, flags: [.write], keys: .single, acl: [.list], group: .list,
            since: "1.0.0",
            summary: "Removes elements from both ends a list. Deletes the list if all elements were trimmed.",
            complexity: "O(N) where N is the number of elements to be removed by the operation.", handler: ltrim),
        CommandSpec(
            "lpos", arity: -3, flags: [.readonly], keys: .single, acl: [.list], group: .list,
            since: "6.0.6", summary: "Returns the index of matching elements in a list.",
            complexity: "O(N) where N is the number of elements in the list, for the average case.", handler: lpos),
        CommandSpec(
            "lmove", arity: 5, flags: [.write, .denyOOM], keys: .two, acl: [.list], group: .list,
            since: "6.2.0",
            summary:
                "Returns an element after popping it from one list and pushing it to another. Deletes the list if the last element was moved.",
            handler: lmove),
        CommandSpec(
            "rpoplpush", arity: 3, flags: [.write, .denyOOM], keys: .two, acl: [.list], group: .list,
            since: "1.2.0",
            summary:
                "Returns the last element of a list after removing and pushing it to another list. Deletes the list if the last element was popped.",
            handler: rpoplpush),
        CommandSpec(
            "lmpop", arity: -4, flags: [.write, .movableKeys], acl: [.list], group: .list,
            since: "7.0.0",
            summary:
                "Returns multiple elements from a list after removing them. Deletes the list if the last element was popped.",
            complexity: "O(N+M) where N is the number of provided keys and M is the number of elements returned.",
            handler: { lmpop(&$0, blocking: false) }),
        CommandSpec(
            "blpop", arity: -3, flags: [.write, .noScript, .blocking], keys: KeyPositions(first: 1, last: -2, step: 1),
            acl: [.list], group: .list,
            since: "2.0.0",
            summary:
                "Removes and returns the first element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.",
            complexity: "O(N) where N is the number of provided keys.", handler: { bpop(&$0, left: true) }),
        CommandSpec(
            "brpop", arity: -3, flags: [.write, .noScript, .blocking], keys: KeyPositions(first: 1, last: -2, step: 1),
            acl: [.list], group: .list,
            since: "2.0.0",
            summary:
                "Removes and returns the last element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.",
            complexity: "O(N) where N is the number of provided keys.", handler: { bpop(&$0, left: false) }),
        CommandSpec(
            "blmove", arity: 6, flags: [.write, .denyOOM, .noScript, .blocking], keys: .two, acl: [.list], group: .list,
            since: "6.2.0",
            summary:
                "Pops an element from a list, pushes it to another list and returns it. Blocks until an element is available otherwise. Deletes the list if the last element was moved.",
            handler: blmove),
        CommandSpec(
            "brpoplpush", arity: 4, flags: [.write, .denyOOM, .noScript, .blocking], keys: .two, acl: [.list],
            group: .list,
            since: "2.2.0",
            summary:
                "Pops an element from a list, pushes it to another list and returns it. Block until an element is available otherwise. Deletes the list if the last element was popped.",
            handler: brpoplpush),
        CommandSpec(
            "blmpop", arity: -5, flags: [.write, .blocking, .movableKeys], acl: [.list], group: .list,
            since: "7.0.0",
            summary:
                "Pops the first element from one of multiple lists. Blocks until an element is available otherwise. Deletes the list if the last element was popped.",
            complexity: "O(N+M) where N is the number of provided keys and M is the number of elements returned.",
            handler: { lmpop(&$0, blocking: true) }),
    ]

    // MARK: Storage

    /// Whether a list of `count` elements taking `bytes` packed bytes stays packed
    /// (`list-max-listpack-size`: negative sizes are 4–64 KB, positive ones element counts).
    static func fitsPacked(_ settings: EngineSettings, count: Int, bytes: Int) -> Bool {
        let limit = settings.listMaxListpackSize.load(ordering: .relaxed)
        if limit >= 0 { return count <= limit }
        return bytes <= 4096 << (min(-limit, 5) - 1)
    }

    /// Runs `body` on the list at `slot` (a new empty list when nil): in place for a large
    /// list, on a decoded copy for a packed one, which is then packed again or converted.
    /// An emptied list is deleted.
    static func modify<Result>(
        _ context: inout CommandContext, _ shard: Shard, _ key: UnsafeRawBufferPointer, hash: UInt64, slot: Int?,
        _ body: (inout Deque<CompactBytes>) -> Result
    ) -> Result {
        if let slot, shard.entry(at: slot).kind == .list {
            let payload = shard.mutableEntry(at: slot).payload(as: ListPayload.self)
            let result = body(&payload.items)
            if payload.items.isEmpty { shard.remove(at: slot) }
            return result
        }
        var items = Deque<CompactBytes>()
        if let slot {
            let bytes = shard.entry(at: slot).rawValueBytes
            items.reserveCapacity(Packed.count(bytes))
            Packed.forEachListItem(bytes) { item in
                items.append(CompactBytes(item))
                return true
            }
        }
        let result = body(&items)
        if items.isEmpty {
            if let slot { shard.remove(at: slot) }
            return result
        }
        var size = 4
        for item in items { size += Packed.encodedLength(item.count) }
        if Self.fitsPacked(context.settings, count: items.count, bytes: size) {
            var builder = PackedBuilder(capacity: size)
            builder.startCounted()
            for item in items { item.withBytes { builder.appendItem($0) } }
            builder.setCount(items.count)
            builder.bytes.withUnsafeBytes {
                context.store(shard, key, hash: hash, slot: slot, kind: .packedList, bytes: $0)
            }
        } else {
            context.store(shard, key, hash: hash, slot: slot, kind: .list, payload: ListPayload(items: items))
        }
        return result
    }

    /// Read access to a list, packed or not.
    enum View {
        case packed(UnsafeRawBufferPointer)
        case large(Deque<CompactBytes>)

        init(_ entry: Entry) {
            self =
                entry.kind == .list ? .large(entry.payload(as: ListPayload.self).items) : .packed(entry.rawValueBytes)
        }

        var count: Int {
            switch self {
            case .packed(let bytes): return Packed.count(bytes)
            case .large(let items): return items.count
            }
        }

        /// Calls `body` with elements `range`, in order, with their indices.
        func forEach(in range: ClosedRange<Int>, _ body: (Int, UnsafeRawBufferPointer) -> Bool) {
            switch self {
            case .packed(let bytes):
                var index = 0
                Packed.forEachListItem(bytes) { item in
                    defer { index += 1 }
                    if index < range.lowerBound { return true }
                    if index > range.upperBound { return false }
                    return body(index, item)
                }
            case .large(let items):
                for index in range where index < items.count {
                    let keepGoing = items[index].withBytes { body(index, $0) }
                    if !keepGoing { return }
                }
            }
        }

        func element(at index: Int) -> [UInt8]? {
            guard index >= 0 && index < self.count else { return nil }
            var found: [UInt8]?
            self.forEach(in: index...index) { _, item in
                found = Array(item)
                return false
            }
            return found
        }
    }

    /// Clamps Redis's start/stop (negative from the end) to a range, or nil when empty.
    static func range(start: Int64, stop: Int64, count: Int) -> ClosedRange<Int>? {
        let length = Int64(count)
        var start = start < 0 ? length + start : start
        var stop = stop < 0 ? length + stop : stop
        if start < 0 { start = 0 }
        if start > stop || start >= length { return nil }
        if stop >= length { stop = length - 1 }
        return Int(start)...Int(stop)
    }

    // MARK: Push and pop

    static func push(_ context: inout CommandContext, left: Bool, onlyIfExists: Bool) {
        context.withTypedKey(.list, read: false) { context, shard, key, hash, slot in
            if slot == nil && onlyIfExists { return context.reply.writeInteger(0) }
            let arguments = context.arguments
            let length =
                Self.pushPacked(&context, shard, key, hash: hash, slot: slot, left: left)
                ?? Self.modify(&context, shard, key, hash: hash, slot: slot) { items in
                    for index in 2..<arguments.count {
                        let element = CompactBytes(arguments[index])
                        if left { items.prepend(element) } else { items.append(element) }
                    }
                    return items.count
                }
            context.reply.writeInteger(length)
            context.logCommand()
            context.notify(KeyspaceEvents.list, left ? "lpush" : "rpush", key)
            context.signalReady(key)
        }
    }

    /// LPUSH/RPUSH onto a packed (or new) list that stays packed: the new layout is built
    /// from the old bytes in one pass, without decoding the elements. Returns the new length,
    /// or nil when the list is large or would outgrow the packed form (then `modify` runs).
    private static func pushPacked(
        _ context: inout CommandContext, _ shard: Shard, _ key: UnsafeRawBufferPointer, hash: UInt64, slot: Int?,
        left: Bool
    ) -> Int? {
        let old: UnsafeRawBufferPointer
        if let slot {
            guard shard.entry(at: slot).kind == .packedList else { return nil }
            old = shard.entry(at: slot).rawValueBytes
        } else {
            old = UnsafeRawBufferPointer(start: nil, count: 0)
        }
        let arguments = context.arguments
        let oldCount = Packed.count(old)
        let oldItems =
            old.count > 4 ? UnsafeRawBufferPointer(rebasing: old[4...]) : UnsafeRawBufferPointer(start: nil, count: 0)
        var size = 4 + oldItems.count
        for index in 2..<arguments.count { size += Packed.encodedLength(arguments[index].count) }
        let count = oldCount + arguments.count - 2
        guard Self.fitsPacked(context.settings, count: count, bytes: size) else { return nil }
        var builder = PackedBuilder(capacity: size)
        builder.startCounted()
        if left {
            // LPUSH a b c makes c b a the list's head.
            for index in stride(from: arguments.count - 1, through: 2, by: -1) { builder.appendItem(arguments[index]) }
            builder.appendRaw(oldItems)
        } else {
            builder.appendRaw(oldItems)
            for index in 2..<arguments.count { builder.appendItem(arguments[index]) }
        }
        builder.setCount(count)
        builder.bytes.withUnsafeBytes {
            context.store(shard, key, hash: hash, slot: slot, kind: .packedList, bytes: $0)
        }
        return count
    }

    /// LPOP/RPOP from a packed list: writes the reply from the entry's bytes and stores the
    /// rest, without decoding the elements. Returns false when the list is not packed.
    private static func popPacked(
        _ context: inout CommandContext, _ shard: Shard, _ key: UnsafeRawBufferPointer, hash: UInt64, slot: Int,
        left: Bool, count wanted: Int?
    ) -> Bool {
        guard shard.entry(at: slot).kind == .packedList else { return false }
        let bytes = shard.entry(at: slot).rawValueBytes
        let total = Packed.count(bytes)
        let taking = Swift.min(wanted ?? 1, total)
        // The popped run is the first `taking` items (left) or the last ones (right).
        let firstPopped = left ? 0 : total - taking
        var offset = 4
        var runStart = 4
        var runEnd = bytes.count
        for index in 0..<total {
            if index == firstPopped { runStart = offset }
            if left && index == taking {
                runEnd = offset
                break
            }
            offset = Packed.item(bytes, at: offset).1
        }
        if left && taking == total { runEnd = bytes.count }
        let run = UnsafeRawBufferPointer(rebasing: bytes[runStart..<runEnd])
        if wanted == nil {
            context.reply.writeBulkString(Packed.item(bytes, at: runStart).0)
        } else {
            context.reply.writeArrayHeader(count: taking)
            if left {
                var position = runStart
                for _ in 0..<taking {
                    let (item, next) = Packed.item(bytes, at: position)
                    context.reply.writeBulkString(item)
                    position = next
                }
            } else {
                // RPOP with a count answers from the tail inwards.
                var offsets: [Int] = []
                offsets.reserveCapacity(taking)
                var position = runStart
                for _ in 0..<taking {
                    offsets.append(position)
                    position = Packed.item(bytes, at: position).1
                }
                for start in offsets.reversed() { context.reply.writeBulkString(Packed.item(bytes, at: start).0) }
            }
        }
        if taking == total {
            shard.remove(at: slot)
            return true
        }
        var builder = PackedBuilder(capacity: bytes.count - run.count)
        builder.startCounted()
        if left {
            builder.appendRaw(UnsafeRawBufferPointer(rebasing: bytes[runEnd...]))
        } else {
            builder.appendRaw(UnsafeRawBufferPointer(rebasing: bytes[4..<runStart]))
        }
        builder.setCount(total - taking)
        builder.bytes.withUnsafeBytes {
            context.store(shard, key, hash: hash, slot: slot, kind: .packedList, bytes: $0)
        }
        return true
    }

    /// Pops up to `count` elements from the list at `slot`.
    static func popElements(
        _ context: inout CommandContext, _ shard: Shard, _ key: UnsafeRawBufferPointer, hash: UInt64, slot: Int,
        left: Bool, count: Int
    ) -> [CompactBytes] {
        Self.modify(&context, shard, key, hash: hash, slot: slot) { items in
            var popped: [CompactBytes] = []
            popped.reserveCapacity(min(count, items.count))
            while popped.count < count, let element = left ? items.popFirst() : items.popLast() {
                popped.append(element)
            }
            return popped
        }
    }

    static func pop(_ context: inout CommandContext, left: Bool) {
        if context.arguments.count > 3 { return context.replySyntaxError() }
        var count: Int?
        if context.arguments.count == 3 {
            guard let parsed = context.positiveCount(2) else { return }
            count = parsed
        }
        context.withTypedKey(.list, read: false) { context, shard, key, hash, slot in
            guard let slot else {
                return count == nil ? context.reply.writeNull() : context.reply.writeNullArray()
            }
            if count == 0 { return context.reply.writeArrayHeader(count: 0) }
            if !Self.popPacked(&context, shard, key, hash: hash, slot: slot, left: left, count: count) {
                let popped = Self.popElements(
                    &context, shard, key, hash: hash, slot: slot, left: left, count: count ?? 1)
                if count == nil {
                    popped[0].withBytes { context.reply.writeBulkString($0) }
                } else {
                    context.reply.writeArrayHeader(count: popped.count)
                    for element in popped { element.withBytes { context.reply.writeBulkString($0) } }
                }
            }
            context.logCommand()
            context.notifyChange(KeyspaceEvents.list, left ? "lpop" : "rpop", key, in: shard, hash: hash)
        }
    }

    // MARK: Reading

    static func llen(_ context: inout CommandContext) {
        context.withTypedKey(.list, read: true) { context, shard, key, hash, slot in
            guard let slot else { return context.reply.writeInteger(0) }
            context.reply.writeInteger(View(shard.entry(at: slot)).count)
        }
    }

    static func lrange(_ context: inout CommandContext) {
        guard let start = context.integerArgument(2), let stop = context.integerArgument(3) else { return }
        context.withTypedKey(.list, read: true) { context, shard, key, hash, slot in
            guard let slot else { return context.reply.writeArrayHeader(count: 0) }
            let view = View(shard.entry(at: slot))
            guard let range = Self.range(start: start, stop: stop, count: view.count) else {
                return context.reply.writeArrayHeader(count: 0)
            }
            context.reply.writeArrayHeader(count: range.count)
            view.forEach(in: range) { _, item in
                context.reply.writeBulkString(item)
                return true
            }
        }
    }

    static func lindex(_ context: inout CommandContext) {
        guard let index = context.integerArgument(2) else { return }
        context.withTypedKey(.list, read: true) { context, shard, key, hash, slot in
            guard let slot else { return context.reply.writeNull() }
            let view = View(shard.entry(at: slot))
            let position = index < 0 ? Int64(view.count) + index : index
            guard position >= 0 && position < Int64(view.count), let element = view.element(at: Int(position)) else {
                return context.reply.writeNull()
            }
            context.reply.writeBulkString(element)
        }
    }

    static func lpos(_ context: inout CommandContext) {
        var rank: Int64 = 1
        var matches: Int64?
        var maxLength: Int64 = 0
        var index = 3
        while index < context.arguments.count {
            guard index + 1 < context.arguments.count else { return context.replySyntaxError() }
            let option = context.arguments[index]
            if option.equalsIgnoringCase("RANK") {
                guard let value = context.integerArgument(index + 1) else { return }
                if value == 0 {
                    return context.reply.writeError(
                        "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list"
                    )
                }
                if value == Int64.min {
                    return context.reply.writeError(
                        "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807")
                }
                rank = value
            } else if option.equalsIgnoringCase("COUNT") {
                guard let value = context.integerArgument(index + 1) else { return }
                if value < 0 { return context.reply.writeError("ERR COUNT can't be negative") }
                matches = value
            } else if option.equalsIgnoringCase("MAXLEN") {
                guard let value = context.integerArgument(index + 1) else { return }
                if value < 0 { return context.reply.writeError("ERR MAXLEN can't be negative") }
                maxLength = value
            } else {
                return context.replySyntaxError()
            }
            index += 2
        }
        let element = context.arguments[2]
        context.withTypedKey(.list, read: true) { context, shard, key, hash, slot in
            guard let slot else {
                return matches == nil ? context.reply.writeNull() : context.reply.writeArrayHeader(count: 0)
            }
            let view = View(shard.entry(at: slot))
            let total = view.count
            var found: [Int] = []
            var skip = abs(rank) - 1
            let wanted = matches.map { $0 == 0 ? Int.max : Int($0) } ?? 1
            var scanned = 0
            let limit = maxLength == 0 ? Int.max : Int(maxLength)
            // Scanning backwards for a negative rank visits elements from the tail.
            let indices: [Int] = rank > 0 ? Array(0..<total) : Array((0..<total).reversed())
            if case .large(let items) = view {
                for position in indices {
                    if scanned >= limit || found.count >= wanted { break }
                    scanned += 1
                    if items[position].equals(element) {
                        if skip > 0 { skip -= 1 } else { found.append(position) }
                    }
                }
            } else {
                var elements: [[UInt8]] = []
                view.forEach(in: 0...max(total - 1, 0)) { _, item in
                    elements.append(Array(item))
                    return true
                }
                for position in indices {
                    if scanned >= limit || found.count >= wanted { break }
                    scanned += 1
                    if elements[position].withUnsafeBytes({ $0.equalsBytesShared(element) }) {
                        if skip > 0 { skip -= 1 } else { found.append(position) }
                    }
                }
            }
            if matches == nil {
                if let first = found.first { context.reply.writeInteger(first) } else { context.reply.writeNull() }
            } else {
                context.reply.writeArrayHeader(count: found.count)
                for position in found { context.reply.writeInteger(position) }
            }
        }
    }

    // MARK: Changing elements

    static func lset(_ context: inout CommandContext) {
        guard let index = context.integerArgument(2) else { return }
        context.withTypedKey(.list, read: false) { context, shard, key, hash, slot in
            guard let slot else { return context.reply.writeError("ERR no such key") }
            let value = CompactBytes(context.arguments[3])
            let done = Self.modify(&context, shard, key, hash: hash, slot: slot) { items -> Bool in
                let position = index < 0 ? Int64(items.count) + index : index
                guard position >= 0 && position < Int64(items.count) else { return false }
                items[Int(position)] = value
                return true
            }
            guard done else { return context.reply.writeError("ERR index out of range") }
            context.reply.writeOK()
            context.logCommand()
            context.notify(KeyspaceEvents.list, "lset", key)
        }
    }

    static func linsert(_ context: inout CommandContext) {
        let whereWord = context.arguments[2]
        let before: Bool
        if whereWord.equalsIgnoringCase("BEFORE") {
            before = true
        } else if whereWord.equalsIgnoringCase("AFTER") {
            before = false
        } else {
            return context.replySyntaxError()
        }
        context.withTypedKey(.list, read: false) { context, shard, key, hash, slot in
            guard let slot else { return context.reply.writeInteger(0) }
            let pivot = context.arguments[3]
            let element = CompactBytes(context.arguments[4])
            let length = Self.modify(&context, shard, key, hash: hash, slot: slot) { items -> Int in
                guard let position = items.firstIndex(where: { $0.equals(pivot) }) else { return -1 }
                items.insert(element, at: before ? position : position + 1)
                return items.count
            }
            context.reply.writeInteger(length)
            if length > 0 {
                context.logCommand()
                context.notify(KeyspaceEvents.list, "linsert", key)
            }
        }
    }

    static func lrem(_ context: inout CommandContext) {
        guard let count = context.integerArgument(2) else { return }
        context.withTypedKey(.list, read: false) { context, shard, key, hash, slot in
            guard let slot else { return context.reply.writeInteger(0) }
            let element = context.arguments[3]
            let removed = Self.modify(&context, shard, key, hash: hash, slot: slot) { items -> Int in
                var removed = 0
                let limit = count == 0 ? Int.max : Int(count.magnitude)
                if count >= 0 {
                    var index = 0
                    while index < items.count && removed < limit {
                        if items[index].equals(element) {
                            items.remove(at: index)
                            removed += 1
                        } else {
                            index += 1
                        }
                    }
                } else {
                    var index = items.count - 1
                    while index >= 0 && removed < limit {
                        if items[index].equals(element) {
                            items.remove(at: index)
                            removed += 1
                        }
                        index -= 1
                    }
                }
                return removed
            }
            context.reply.writeInteger(removed)
            if removed > 0 {
                context.logCommand()
                context.notifyChange(KeyspaceEvents.list, "lrem", key, in: shard, hash: hash)
            }
        }
    }

    static func ltrim(_ context: inout CommandContext) {
        guard let start = context.integerArgument(2), let stop = context.integerArgument(3) else { return }
        context.withTypedKey(.list, read: false) { context, shard, key, hash, slot in
            guard let slot else { return context.reply.writeOK() }
            Self.modify(&context, shard, key, hash: hash, slot: slot) { items in
                guard let range = Self.range(start: start, stop: stop, count: items.count) else {
                    items.removeAll()
                    return
                }
                items.removeLast(items.count - 1 - range.upperBound)
                items.removeFirst(range.lowerBound)
            }
            context.reply.writeOK()
            context.logCommand()
            context.notifyChange(KeyspaceEvents.list, "ltrim", key, in: shard, hash: hash)
        }
    }

    // MARK: Moving between lists

    static func direction(_ word: UnsafeRawBufferPointer) -> Bool? {
        if word.equalsIgnoringCase("LEFT") { return true }
        if word.equalsIgnoringCase("RIGHT") { return false }
        return nil
    }

    static func lmove(_ context: inout CommandContext) {
        guard let fromLeft = Self.direction(context.arguments[3]), let toLeft = Self.direction(context.arguments[4])
        else {
            return context.replySyntaxError()
        }
        Self.move(&context, fromLeft: fromLeft, toLeft: toLeft, blockTimeout: nil)
    }

    static func rpoplpush(_ context: inout CommandContext) {
        Self.move(&context, fromLeft: false, toLeft: true, blockTimeout: nil)
    }

    static func blmove(_ context: inout CommandContext) {
        guard let fromLeft = Self.direction(context.arguments[3]), let toLeft = Self.direction(context.arguments[4])
        else {
            return context.replySyntaxError()
        }
        guard let timeout = context.timeoutArgument(5) else { return }
        Self.move(&context, fromLeft: fromLeft, toLeft: toLeft, blockTimeout: timeout)
    }

    static func brpoplpush(_ context: inout CommandContext) {
        guard let timeout = context.timeoutArgument(3) else { return }
        Self.move(&context, fromLeft: false, toLeft: true, blockTimeout: timeout)
    }

    /// LMOVE and its relatives: pop from `source`, push to `destination`, reply the element.
    static func move(_ context: inout CommandContext, fromLeft: Bool, toLeft: Bool, blockTimeout: Double?) {
        let source = context.arguments[1]
        let destination = context.arguments[2]
        let database = context.database
        let sourceHash = context.hash(source)
        let destinationHash = context.hash(destination)
        let selection = context.lockShards(of: sourceHash, destinationHash)
        defer { context.unlock(selection, in: database) }
        guard
            let element = Self.moveLocked(
                &context, source: source, sourceHash: sourceHash, destination: destination,
                destinationHash: destinationHash, fromLeft: fromLeft, toLeft: toLeft)
        else {
            return
        }
        guard let element = element else {
            if let blockTimeout {
                context.block(
                    keys: [1], timeout: blockTimeout,
                    operation: .listMove(destination: Array(destination), fromLeft: fromLeft, toLeft: toLeft))
            } else {
                context.reply.writeNull()
            }
            return
        }
        element.withBytes { context.reply.writeBulkString($0) }
        context.logEffect { log in
            log.argument("LMOVE")
            log.argument(source)
            log.argument(destination)
            log.argument(fromLeft ? "LEFT" : "RIGHT")
            log.argument(toLeft ? "LEFT" : "RIGHT")
        }
    }

    /// The move itself, with both shards locked. Returns nil after replying an error,
    /// `.some(nil)` when the source is empty, and the element moved otherwise.
    static func moveLocked(
        _ context: inout CommandContext, source: UnsafeRawBufferPointer, sourceHash: UInt64,
        destination: UnsafeRawBufferPointer,
        destinationHash: UInt64, fromLeft: Bool, toLeft: Bool
    ) -> CompactBytes?? {
        let database = context.database
        let sourceShard = database.shard(for: sourceHash)
        let destinationShard = database.shard(for: destinationHash)
        guard let sourceLocated = context.locate(source, hash: sourceHash, in: sourceShard, as: .list) else {
            return nil
        }
        guard case .at(let sourceSlot) = sourceLocated else { return .some(nil) }
        guard
            let destinationLocated = context.locate(destination, hash: destinationHash, in: destinationShard, as: .list)
        else { return nil }
        let element = Self.popElements(
            &context, sourceShard, source, hash: sourceHash, slot: sourceSlot, left: fromLeft, count: 1)[0]
        // The source may have been removed (emptied) or shifted in a shared shard: look again.
        var destinationSlot: Int?
        if case .at = destinationLocated {
            destinationSlot = destinationShard.table.find(destination, hash: destinationHash)
        }
        Self.modify(&context, destinationShard, destination, hash: destinationHash, slot: destinationSlot) { items in
            if toLeft { items.prepend(element) } else { items.append(element) }
        }
        context.notifyChange(KeyspaceEvents.list, fromLeft ? "lpop" : "rpop", source, in: sourceShard, hash: sourceHash)
        context.notify(KeyspaceEvents.list, toLeft ? "lpush" : "rpush", destination)
        context.signalReady(destination)
        return .some(element)
    }

    // MARK: LMPOP, BLPOP, BRPOP, BLMPOP

    /// LMPOP and BLMPOP: `[BLMPOP timeout] numkeys key … LEFT|RIGHT [COUNT count]`.
    static func lmpop(_ context: inout CommandContext, blocking: Bool) {
        var timeout = 0.0
        var index = 1
        if blocking {
            guard let parsed = context.timeoutArgument(1) else { return }
            timeout = parsed
            index = 2
        }
        guard let keyCount = context.integerArgument(index) else { return }
        guard keyCount > 0 && keyCount <= Int64(Int32.max) else {
            return context.reply.writeError("ERR numkeys should be greater than 0")
        }
        let firstKey = index + 1
        let directionIndex = firstKey + Int(keyCount)
        guard directionIndex < context.arguments.count, let fromLeft = Self.direction(context.arguments[directionIndex])
        else {
            return context.replySyntaxError()
        }
        guard let count = context.popCountOption(from: directionIndex + 1) else { return }
        Self.popFirstNonEmpty(
            &context, keyIndices: Array(firstKey..<directionIndex), fromLeft: fromLeft, count: count, multi: true,
            blockTimeout: blocking ? timeout : nil)
    }

    static func bpop(_ context: inout CommandContext, left: Bool) {
        guard let timeout = context.timeoutArgument(context.arguments.count - 1) else { return }
        Self.popFirstNonEmpty(
            &context, keyIndices: Array(1..<(context.arguments.count - 1)), fromLeft: left, count: 1, multi: false,
            blockTimeout: timeout)
    }

    /// Pops from the first non-empty list among `keyIndices`; blocks on them all when every
    /// one is empty and `blockTimeout` is given.
    static func popFirstNonEmpty(
        _ context: inout CommandContext, keyIndices: [Int], fromLeft: Bool, count: Int, multi: Bool,
        blockTimeout: Double?
    ) {
        let database = context.database
        let (selection, hashes) = context.shards(ofKeysAt: keyIndices)
        context.lock(selection, in: database)
        defer { context.unlock(selection, in: database) }
        for (position, keyIndex) in keyIndices.enumerated() {
            let key = context.arguments[keyIndex]
            let shard = database.shard(for: hashes[position])
            guard let located = context.locate(key, hash: hashes[position], in: shard, as: .list) else { return }
            guard case .at(let slot) = located else { continue }
            let popped = Self.popElements(
                &context, shard, key, hash: hashes[position], slot: slot, left: fromLeft, count: count)
            Self.writePopReply(&context.reply, key: key, elements: popped, multi: multi)
            context.logEffect { log in
                log.argument(fromLeft ? "LPOP" : "RPOP")
                log.argument(key)
                if multi { log.argument(Int64(count)) }
            }
            context.notifyChange(
                KeyspaceEvents.list, fromLeft ? "lpop" : "rpop", key, in: shard, hash: hashes[position])
            return
        }
        if let blockTimeout {
            context.block(
                keys: keyIndices, timeout: blockTimeout,
                operation: .listPop(fromLeft: fromLeft, count: multi ? count : nil))
        } else {
            context.reply.writeNullArray()
        }
    }

    static func writePopReply(
        _ reply: inout RESPReplyWriter, key: UnsafeRawBufferPointer, elements: [CompactBytes], multi: Bool
    ) {
        reply.writeArrayHeader(count: 2)
        reply.writeBulkString(key)
        if multi {
            reply.writeArrayHeader(count: elements.count)
            for element in elements { element.withBytes { reply.writeBulkString($0) } }
        } else {
            elements[0].withBytes { reply.writeBulkString($0) }
        }
    }

    // MARK: Serving blocked clients

    /// Serves a BLPOP/BRPOP/BLMPOP waiter from `key` (see ``Engine/serveReadyKeys(_:)``).
    static func serve(
        _ context: inout CommandContext, _ waiter: Waiter, key: UnsafeRawBufferPointer, fromLeft: Bool, count: Int?,
        reply: inout RESPReplyWriter
    ) -> ServeOutcome {
        let hash = context.hash(key)
        let shard = context.database.shard(for: hash)
        context.lock(shard)
        defer { context.unlock(shard) }
        guard let slot = shard.lookup(key, hash: hash, now: context.now), shard.entry(at: slot).kind.family == .list
        else { return .empty }
        guard waiter.claim() else { return .finishedElsewhere }
        let popped = Self.popElements(&context, shard, key, hash: hash, slot: slot, left: fromLeft, count: count ?? 1)
        Self.writePopReply(&reply, key: key, elements: popped, multi: count != nil)
        // (The reply is the waiter's; the log record is written under this shard lock.)
        context.logEffect { log in
            log.argument(fromLeft ? "LPOP" : "RPOP")
            log.argument(key)
            if let count { log.argument(Int64(count)) }
        }
        context.notifyChange(KeyspaceEvents.list, fromLeft ? "lpop" : "rpop", key, in: shard, hash: hash)
        return .served
    }

    /// Serves a BLMOVE/BRPOPLPUSH waiter whose source is `key`.
    static func serveMove(
        _ context: inout CommandContext, _ waiter: Waiter, key: UnsafeRawBufferPointer,
        destination: UnsafeRawBufferPointer,
        fromLeft: Bool, toLeft: Bool, reply: inout RESPReplyWriter
    ) -> ServeOutcome {
        let database = context.database
        let sourceHash = context.hash(key)
        let destinationHash = context.hash(destination)
        let selection = context.lockShards(of: sourceHash, destinationHash)
        defer { context.unlock(selection, in: database) }
        let sourceShard = database.shard(for: sourceHash)
        let destinationShard = database.shard(for: destinationHash)
        guard let slot = sourceShard.lookup(key, hash: sourceHash, now: context.now),
            sourceShard.entry(at: slot).kind.family == .list
        else {
            return .empty
        }
        guard waiter.claim() else { return .finishedElsewhere }
        if let destinationSlot = destinationShard.lookup(destination, hash: destinationHash, now: context.now),
            destinationShard.entry(at: destinationSlot).kind.family != .list
        {
            // As Redis 7.2, which runs the command again when the key is ready: WRONGTYPE.
            reply.writeError("WRONGTYPE Operation against a key holding the wrong kind of value")
            return .served
        }
        context.writing(into: &reply) { context in
            guard
                case .some(.some(let element)) = Self.moveLocked(
                    &context, source: key, sourceHash: sourceHash, destination: destination,
                    destinationHash: destinationHash, fromLeft: fromLeft, toLeft: toLeft)
            else { return }
            element.withBytes { context.reply.writeBulkString($0) }
            context.logEffect { log in
                log.argument("LMOVE")
                log.argument(key)
                log.argument(destination)
                log.argument(fromLeft ? "LEFT" : "RIGHT")
                log.argument(toLeft ? "LEFT" : "RIGHT")
            }
        }
        return .served
    }
}
