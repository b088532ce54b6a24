import WharfProtocol

/// HSCAN, SSCAN and ZSCAN: the cursor walk over a collection's record table (the same
/// reverse-binary cursor as SCAN), or the whole collection at once when it is packed, as
/// Redis does for listpacks and intsets.
enum CollectionScan {
    struct Options {
        var count = 10
        var pattern: [UInt8]?

        static func parse(_ context: inout CommandContext, from start: Int) -> Options? {
            var options = Options()
            var index = start
            while index < context.arguments.count {
                let word = context.arguments[index]
                guard index + 1 < context.arguments.count else {
                    context.replySyntaxError()
                    return nil
                }
                if word.equalsIgnoringCase("COUNT") {
                    guard let count = context.integerArgument(index + 1) else { return nil }
                    guard count >= 1 else {
                        context.replySyntaxError()
                        return nil
                    }
                    options.count = Int(min(count, Int64(Int32.max)))
                } else if word.equalsIgnoringCase("MATCH") {
                    let pattern = context.arguments.bytes(index + 1)
                    options.pattern = pattern == [UInt8(ascii: "*")] ? nil : pattern
                } else {
                    context.replySyntaxError()
                    return nil
                }
                index += 2
            }
            return options
        }

        func matches(_ bytes: UnsafeRawBufferPointer) -> Bool {
            guard let pattern else { return true }
            return pattern.withUnsafeBytes { GlobPattern.matches($0, bytes) }
        }
    }

    static func cursorArgument(_ context: inout CommandContext, _ index: Int) -> UInt64? {
        if let cursor = UInt64(context.arguments.string(index)) { return cursor }
        context.reply.writeError("ERR invalid cursor")
        return nil
    }

    static func writeEmpty(_ context: inout CommandContext) {
        context.reply.writeArrayHeader(count: 2)
        context.reply.writeBulkString("0")
        context.reply.writeArrayHeader(count: 0)
    }

    /// Visits home buckets from `cursor` until about `count` records were seen; returns the
    /// next cursor (0 when done).
    static func scan(_ table: RecordTable, cursor: UInt64, count: Int, _ body: (Record) -> Void) -> UInt64 {
        let mask = UInt64(table.capacity - 1)
        var bucket = cursor
        var seen = 0
        var visits = 0
        // A table that fits in one COUNT is walked whole, however sparse after deletions.
        let whole = cursor == 0 && table.count <= count
        repeat {
            table.forEachEntry(inHomeBucket: Int(bucket & mask)) { record in
                seen += 1
                body(record)
            }
            visits += 1
            bucket = ScanCursor.next(bucket, mask: mask)
        } while bucket != 0 && (whole || (seen < count && visits < count * 10))
        return bucket
    }
}

/// The positions SRANDMEMBER, HRANDFIELD and ZRANDMEMBER return for a count: distinct
/// positions for a positive count (all of them when it exceeds the size), positions that
/// may repeat for a negative one.
enum RandomPick {
    static func indices(count: Int64, from size: Int) -> [Int] {
        if count == 0 || size == 0 { return [] }
        var generator = SystemRandomNumberGenerator()
        if count < 0 {
            return (0..<Int(count.magnitude)).map { _ in Int.random(in: 0..<size, using: &generator) }
        }
        if count >= Int64(size) { return Array(0..<size) }
        let wanted = Int(count)
        if wanted * 3 > size {
            // Most of the collection: shuffle and keep a prefix.
            var all = Array(0..<size)
            all.shuffle(using: &generator)
            return Array(all.prefix(wanted))
        }
        var chosen = Set<Int>()
        var order: [Int] = []
        while order.count < wanted {
            let index = Int.random(in: 0..<size, using: &generator)
            if chosen.insert(index).inserted { order.append(index) }
        }
        return order
    }
}
