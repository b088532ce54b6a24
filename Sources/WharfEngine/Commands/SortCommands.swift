import DequeModule
import WharfProtocol
import WharfStorage

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// SORT and SORT_RO: the elements of a list, set or sorted set, sorted numerically or
/// lexicographically, by themselves or by other keys (`BY weight_*`, `BY h_*->field`),
/// with `GET` patterns, LIMIT, and STORE into a list.
///
/// BY and GET patterns name keys that are known only once the elements are read, so a
/// SORT that uses them locks every shard of the database for its duration (as EXEC does
/// for a transaction); one without patterns locks only its source and destination.
enum SortCommands {
    static let declarations: [CommandSpec] = [
        CommandSpec(
            "sort", arity: -2, flags: [.write, .denyOOM, .movableKeys], keys: .single,
            acl: [.set, .sortedSet, .list, .dangerous], group: .generic,
            since: "1.0.0",
            summary: "Sorts the elements in a list, a set, or a sorted set, optionally storing the result.",
            complexity:
                "O(N+M*log(M)) where N is the number of elements in the list or set to sort, and M the number of returned elements. When the elements are not sorted, complexity is O(N).",
            handler: sort),
        CommandSpec(
            "sort_ro", arity: -2, flags: [.readonly, .movableKeys], keys: .single,
            acl: [.set, .sortedSet, .list, .dangerous], group: .generic,
            since: "7.0.0", summary: "Returns the sorted elements of a list, a set, or a sorted set.",
            complexity:
                "O(N+M*log(M)) where N is the number of elements in the list or set to sort, and M the number of returned elements. When the elements are not sorted, complexity is O(N).",
            handler: sortReadOnly),
    ]

    static func sort(_ context: inout CommandContext) { self.sort(&context, readOnly: false) }
    static func sortReadOnly(_ context: inout CommandContext) { self.sort(&context, readOnly: true) }

    private struct Request {
        var descending = false
        var alpha = false
        var limitStart = 0
        var limitCount = -1
        var store: Int?
        var by: [UInt8]?
        var dontSort = false
        var gets: [[UInt8]] = []

        /// Whether a BY or GET pattern may read other keys.
        var readsOtherKeys: Bool {
            (self.by != nil && !self.dontSort)
                || self.gets.contains { $0 != Array("#".utf8) && $0.contains(UInt8(ascii: "*")) }
        }
    }

    private static func parse(_ context: inout CommandContext, readOnly: Bool) -> Request? {
        var request = Request()
        var index = 2
        let count = context.arguments.count
        while index < count {
            let word = context.arguments[index]
            let remaining = count - index - 1
            if word.equalsIgnoringCase("ASC") {
                request.descending = false
            } else if word.equalsIgnoringCase("DESC") {
                request.descending = true
            } else if word.equalsIgnoringCase("ALPHA") {
                request.alpha = true
            } else if word.equalsIgnoringCase("LIMIT") && remaining >= 2 {
                guard let start = context.integerArgument(index + 1), let limit = context.integerArgument(index + 2)
                else {
                    return nil
                }
                request.limitStart = Int(clamping: start)
                request.limitCount = Int(clamping: limit)
                index += 2
            } else if !readOnly && word.equalsIgnoringCase("STORE") && remaining >= 1 {
                request.store = index + 1
                index += 1
            } else if word.equalsIgnoringCase("BY") && remaining >= 1 {
                let pattern = Array(context.arguments[index + 1])
                request.by = pattern
                // A pattern without `*` (`nosort`, by convention) means: do not sort.
                request.dontSort = !pattern.contains(UInt8(ascii: "*"))
                index += 1
            } else if word.equalsIgnoringCase("GET") && remaining >= 1 {
                request.gets.append(Array(context.arguments[index + 1]))
                index += 1
            } else {
                context.replySyntaxError()
                return nil
            }
            index += 1
        }
        return request
    }

    private static func sort(_ context: inout CommandContext, readOnly: Bool) {
        guard var request = parse(&context, readOnly: readOnly) else { return }
        let database = context.database
        var selection = ShardSelection()
        if request.readsOtherKeys {
            for shard in 0..<database.shards.count { selection.insert(shard) }
        } else {
            selection.insert(database.shardIndex(for: context.hash(context.arguments[1])))
            if let store = request.store {
                selection.insert(database.shardIndex(for: context.hash(context.arguments[store])))
            }
        }
        context.lock(selection, in: database)
        defer { context.unlock(selection, in: database) }

        let key = context.arguments[1]
        let hash = context.hash(key)
        let entry = context.lookupRead(database.shard(for: hash), key, hash: hash)
        if let entry, ![.list, .set, .sortedSet].contains(entry.kind.family) { return context.replyWrongType() }
        // A set has no order of its own: stored or unsorted, it is sorted by its members so
        // the result does not depend on the table's layout.
        if request.dontSort, entry?.kind.family == .set, request.store != nil {
            request.dontSort = false
            request.alpha = true
            request.by = nil
        }
        let total = entry.map { Self.count(of: $0) } ?? 0
        var start = min(max(request.limitStart, 0), total)
        let limit = min(max(request.limitCount, -1), total)
        var end = limit < 0 ? total - 1 : start + limit - 1
        if start >= total {
            start = total - 1
            end = total - 2
        }
        if end >= total { end = total - 1 }

        var elements =
            entry.map { Self.elements(of: $0, descendingNative: request.dontSort && request.descending) } ?? []
        if !request.dontSort {
            guard let sorted = Self.sorted(&context, elements, request) else {
                return context.reply.writeError("ERR One or more scores can't be converted into double")
            }
            elements = sorted
        }
        let chosen = end >= start ? Array(elements[start...end]) : []
        guard let store = request.store else {
            context.reply.writeArrayHeader(
                count: request.gets.isEmpty ? chosen.count : chosen.count * request.gets.count)
            for element in chosen {
                if request.gets.isEmpty { context.reply.writeBulkString(element) }
                for pattern in request.gets {
                    if let value = lookup(&context, pattern, element) {
                        context.reply.writeBulkString(value)
                    } else {
                        context.reply.writeNull()
                    }
                }
            }
            return
        }
        var output: [[UInt8]] = []
        for element in chosen {
            if request.gets.isEmpty { output.append(element) }
            for pattern in request.gets { output.append(lookup(&context, pattern, element) ?? []) }
        }
        self.storeList(&context, context.arguments[store], output)
        context.reply.writeInteger(output.count)
    }

    private static func count(of entry: Entry) -> Int {
        switch entry.kind.family {
        case .list: return ListCommands.View(entry).count
        case .set: return SetCommands.View(entry).count
        default: return SortedSetHandle(entry).count
        }
    }

    /// The elements in the value's own order (lists by index, sorted sets by score, sets as
    /// stored); `descendingNative` reverses lists and sorted sets, for DESC without sorting.
    private static func elements(of entry: Entry, descendingNative: Bool) -> [[UInt8]] {
        var elements: [[UInt8]] = []
        switch entry.kind.family {
        case .list:
            let view = ListCommands.View(entry)
            if view.count > 0 {
                view.forEach(in: 0...(view.count - 1)) { _, item in
                    elements.append(Array(item))
                    return true
                }
            }
        case .set:
            SetCommands.View(entry).forEach { elements.append(Array($0)) }
            return elements
        default:
            SortedSetHandle(entry).forEach(from: 0) { item in
                elements.append(Array(item.member))
                return true
            }
        }
        return descendingNative ? elements.reversed() : elements
    }

    /// What an element sorts by: itself or the value its BY pattern names.
    private enum SortKey {
        case number(Double)
        case text([UInt8]?)
    }

    /// The elements sorted as Redis sorts them; nil when a numeric sort meets a value that
    /// is not a number.
    private static func sorted(_ context: inout CommandContext, _ elements: [[UInt8]], _ request: Request) -> [[UInt8]]?
    {
        var keys: [SortKey] = []
        keys.reserveCapacity(elements.count)
        var unconvertible = false
        for element in elements {
            var value: [UInt8]? = element
            if let pattern = request.by { value = lookup(&context, pattern, element) }
            if request.alpha {
                keys.append(.text(request.by == nil ? element : value))
                continue
            }
            // A missing BY value sorts as 0.
            guard let value else {
                keys.append(.number(0))
                continue
            }
            guard let number = Self.parseNumber(value) else {
                unconvertible = true
                keys.append(.number(0))
                continue
            }
            keys.append(.number(number))
        }
        if unconvertible { return nil }
        let order = elements.indices.sorted { left, right in
            var comparison = 0
            switch (keys[left], keys[right]) {
            case (.number(let a), .number(let b)):
                // Equal scores fall back to the elements' bytes, so the result is deterministic.
                comparison = a > b ? 1 : a < b ? -1 : compareBytes(elements[left], elements[right])
            case (.text(let a), .text(let b)):
                if let a, let b {
                    comparison = compareBytes(a, b)
                } else {
                    comparison = a == nil ? (b == nil ? 0 : -1) : 1
                }
            default:
                break
            }
            if request.descending { comparison = -comparison }
            return comparison != 0 ? comparison < 0 : left < right
        }
        return order.map { elements[$0] }
    }

    private static func compareBytes(_ a: [UInt8], _ b: [UInt8]) -> Int {
        let common = min(a.count, b.count)
        for index in 0..<common where a[index] != b[index] { return a[index] < b[index] ? -1 : 1 }
        return a.count == b.count ? 0 : (a.count < b.count ? -1 : 1)
    }

    /// `strtod` over the whole value, as Redis converts sort keys (leading blanks allowed,
    /// an empty value is 0, NaN and out-of-range values refused).
    static func parseNumber(_ bytes: [UInt8]) -> Double? {
        guard !bytes.contains(0) else { return nil }
        return (bytes + [0]).withUnsafeBufferPointer { buffer -> Double? in
            buffer.withMemoryRebound(to: CChar.self) { text in
                var end: UnsafeMutablePointer<CChar>?
                errno = 0
                let value = strtod(text.baseAddress!, &end)
                guard let end, end.pointee == 0, errno != ERANGE, !value.isNaN else { return nil }
                return value
            }
        }
    }

    /// The value a BY or GET pattern names for `element`: `#` is the element itself; the
    /// first `*` is replaced by the element; `key->field` reads a hash field. Nil when the
    /// pattern has no `*`, or the key is missing or of another type.
    private static func lookup(_ context: inout CommandContext, _ pattern: [UInt8], _ element: [UInt8]) -> [UInt8]? {
        if pattern == [UInt8(ascii: "#")] { return element }
        guard let star = pattern.firstIndex(of: UInt8(ascii: "*")) else { return nil }
        var field: [UInt8]?
        var keyEnd = pattern.count
        var arrow = star + 1
        while arrow + 1 < pattern.count {
            if pattern[arrow] == UInt8(ascii: "-") && pattern[arrow + 1] == UInt8(ascii: ">") {
                if arrow + 2 < pattern.count {
                    field = Array(pattern[(arrow + 2)...])
                    keyEnd = arrow
                }
                break
            }
            arrow += 1
        }
        let key = Array(pattern[..<star]) + element + Array(pattern[(star + 1)..<keyEnd])
        return key.withUnsafeBytes { key -> [UInt8]? in
            let hash = context.hash(key)
            guard let entry = context.lookupRead(context.database.shard(for: hash), key, hash: hash) else { return nil }
            if let field {
                guard entry.kind.family == .hash else { return nil }
                return field.withUnsafeBytes { HashCommands.View(entry).value(of: $0).map { Array($0) } }
            }
            guard entry.isString else { return nil }
            return entry.stringBytes
        }
    }

    /// STORE: the result replaces the destination as a list (an empty one deletes it).
    private static func storeList(_ context: inout CommandContext, _ key: UnsafeRawBufferPointer, _ items: [[UInt8]]) {
        let hash = context.hash(key)
        let shard = context.database.shard(for: hash)
        let existing = shard.lookup(key, hash: hash, now: context.now)
        if let existing { shard.remove(at: existing) }
        guard !items.isEmpty else {
            if existing != nil {
                context.logEffect { log in
                    log.argument("DEL")
                    log.argument(key)
                }
                context.notify(KeyspaceEvents.generic, "del", key)
            }
            return
        }
        ListCommands.modify(&context, shard, key, hash: hash, slot: nil) { list in
            for item in items { item.withUnsafeBytes { list.append(CompactBytes($0)) } }
        }
        context.logTogether { context in
            context.logEffect { log in
                log.argument("DEL")
                log.argument(key)
            }
            context.logEffect { log in
                log.argument("RPUSH")
                log.argument(key)
                for item in items { item.withUnsafeBytes { log.argument($0) } }
            }
        }
        context.notify(KeyspaceEvents.list, "sortstore", key)
        context.signalReady(key)
    }
}
