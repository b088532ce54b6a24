import WharfProtocol
import WharfStorage

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Geo commands: GEOADD GEOPOS GEODIST GEOHASH GEOSEARCH GEOSEARCHSTORE and the deprecated
/// GEORADIUS, GEORADIUSBYMEMBER and their `_RO` forms.
///
/// A geo set is a sorted set whose scores are 52-bit geohashes (``GeoHash``). A search
/// visits the same cells in the same order as Redis and filters by the same distance
/// formula, so results, their unsorted order and every printed digit agree.
enum GeoCommands {
    static let declarations: [CommandSpec] = [
        CommandSpec(
            "geoadd", arity: -5, flags: [.write, .denyOOM], keys: .single, acl: [.geo], group: .geo,
            since: "3.2.0",
            summary: "Adds one or more members to a geospatial index. The key is created if it doesn't exist.",
            complexity: "O(log(N)) for each item added, where N is the number of elements in the sorted set.",
            handler: geoadd),
        CommandSpec(
            "geopos", arity: -2, flags: [.readonly], keys: .single, acl: [.geo], group: .geo,
            since: "3.2.0", summary: "Returns the longitude and latitude of members from a geospatial index.",
            complexity: "O(1) for each member requested.", handler: geopos),
        CommandSpec(
            "geodist", arity: -4, flags: [.readonly], keys: .single, acl: [.geo], group: .geo,
            since: "3.2.0", summary: "Returns the distance between two members of a geospatial index.",
            complexity: "O(1)", handler: geodist),
        CommandSpec(
            "geohash", arity: -2, flags: [.readonly], keys: .single, acl: [.geo], group: .geo,
            since: "3.2.0", summary: "Returns members from a geospatial index as geohash strings.",
            complexity: "O(1) for each member requested.", handler: geohash),
        CommandSpec(
            "geosearch", arity: -7, flags: [.readonly], keys: .single, acl: [.geo], group: .geo,
            since: "6.2.0", summary: "Queries a geospatial index for members inside an area of a box or a circle.",
            complexity: searchComplexity, handler: geosearch),
        CommandSpec(
            "geosearchstore", arity: -8, flags: [.write, .denyOOM], keys: .two, acl: [.geo], group: .geo,
            since: "6.2.0",
            summary:
                "Queries a geospatial index for members inside an area of a box or a circle, optionally stores the result.",
            complexity: searchComplexity, handler: geosearchstore),
        CommandSpec(
            "georadius", arity: -6, flags: [.write, .denyOOM, .movableKeys], keys: .single, acl: [.geo], group: .geo,
            since: "3.2.0",
            summary:
                "Queries a geospatial index for members within a distance from a coordinate, optionally stores the result.",
            complexity: searchComplexity, handler: georadius),
        CommandSpec(
            "georadius_ro", arity: -6, flags: [.readonly], keys: .single, acl: [.geo], group: .geo,
            since: "3.2.10",
            summary: "Returns members from a geospatial index that are within a distance from a coordinate.",
            complexity: searchComplexity, handler: georadiusReadOnly),
        CommandSpec(
            "georadiusbymember", arity: -5, flags: [.write, .denyOOM, .movableKeys], keys: .single, acl: [.geo],
            group: .geo,
            since: "3.2.0",
            summary:
                "Queries a geospatial index for members within a distance from a member, optionally stores the result.",
            complexity: searchComplexity, handler: georadiusbymember),
        CommandSpec(
            "georadiusbymember_ro", arity: -5, flags: [.readonly], keys: .single, acl: [.geo], group: .geo,
            since: "3.2.10",
            summary: "Returns members from a geospatial index that are within a distance from a member.",
            complexity: searchComplexity, handler: georadiusbymemberReadOnly),
    ]

    static let searchComplexity =
        "O(N+log(M)) where N is the number of elements in the grid-aligned bounding box area around the shape provided as the filter and M is the number of items inside the shape"

    // MARK: Arguments

    /// A longitude/latitude pair at `index`, validated as Redis validates it.
    private static func coordinates(_ context: inout CommandContext, at index: Int) -> (Double, Double)? {
        guard let longitude = RESPDouble.parse(context.arguments[index]),
            let latitude = RESPDouble.parse(context.arguments[index + 1])
        else {
            context.replyNotFloat()
            return nil
        }
        guard GeoHash.isValid(longitude: longitude, latitude: latitude) else {
            context.reply.writeError(
                "ERR invalid longitude,latitude pair \(formatFixed(longitude, 6)),\(formatFixed(latitude, 6))")
            return nil
        }
        return (longitude, latitude)
    }

    /// Meters per unit, or nil after Redis's error.
    private static func unit(_ context: inout CommandContext, at index: Int) -> Double? {
        let word = context.arguments[index]
        if word.equalsIgnoringCase("m") { return 1 }
        if word.equalsIgnoringCase("km") { return 1000 }
        if word.equalsIgnoringCase("ft") { return 0.3048 }
        if word.equalsIgnoringCase("mi") { return 1609.34 }
        context.reply.writeError("ERR unsupported unit provided. please use M, KM, FT, MI")
        return nil
    }

    /// A number argument, or nil after Redis's `need numeric …` error.
    private static func number(_ context: inout CommandContext, at index: Int, what: String) -> Double? {
        guard let value = RESPDouble.parse(context.arguments[index]) else {
            context.reply.writeError("ERR need numeric \(what)")
            return nil
        }
        return value
    }

    /// `%.Nf` as C prints it.
    static func formatFixed(_ value: Double, _ decimals: Int) -> String {
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: 512) { buffer in
            let written = withVaList([value]) { vsnprintf(buffer.baseAddress!, 512, "%.\(decimals)f", $0) }
            return String(
                decoding: UnsafeRawBufferPointer(start: buffer.baseAddress!, count: Int(min(written, 511))),
                as: UTF8.self)
        }
    }

    /// The position a member's score stands for, if the member exists.
    private static func position(of member: UnsafeRawBufferPointer, in handle: SortedSetHandle) -> (Double, Double)? {
        guard let score = handle.score(of: member) else { return nil }
        let (longitude, latitude) = GeoHash.position(ofScore: score)
        return (longitude, latitude)
    }

    private static func writeCoordinate(_ reply: inout RESPReplyWriter, _ value: Double) {
        reply.writeDouble(text: LongDoubleText.format(LongDouble(value)))
    }

    // MARK: GEOADD GEOPOS GEODIST GEOHASH

    static func geoadd(_ context: inout CommandContext) {
        var onlyNew = false
        var onlyExisting = false
        var changed = false
        var index = 2
        while index < context.arguments.count {
            let word = context.arguments[index]
            if word.equalsIgnoringCase("NX") {
                onlyNew = true
            } else if word.equalsIgnoringCase("XX") {
                onlyExisting = true
            } else if word.equalsIgnoringCase("CH") {
                changed = true
            } else {
                break
            }
            index += 1
        }
        let remaining = context.arguments.count - index
        if remaining % 3 != 0 || (onlyNew && onlyExisting) || remaining == 0 { return context.replySyntaxError() }
        var scores: [Double] = []
        var position = index
        while position < context.arguments.count {
            guard let (longitude, latitude) = coordinates(&context, at: position) else { return }
            scores.append(Double(GeoHash.score(longitude: longitude, latitude: latitude) ?? 0))
            position += 3
        }
        let firstTriple = index
        context.withTypedKey(.sortedSet, read: false) { context, shard, key, hash, slot in
            if slot == nil && onlyExisting { return context.reply.writeInteger(0) }
            var handle = context.sortedSetForWriting(shard, slot: slot)
            var added = 0
            var updated = 0
            for (number, score) in scores.enumerated() {
                let member = context.arguments[firstTriple + number * 3 + 2]
                if let current = handle.score(of: member) {
                    if onlyNew || current == score { continue }
                    handle.set(member, score: score)
                    updated += 1
                } else {
                    if onlyExisting { continue }
                    handle.set(member, score: score)
                    added += 1
                }
            }
            if added + updated > 0 {
                context.commitSortedSet(shard, key, hash: hash, slot: slot, handle)
                context.logCommand()
                context.notify(KeyspaceEvents.sortedSet, "zadd", key)
                if added > 0 { context.signalReady(key) }
            }
            context.reply.writeInteger(changed ? added + updated : added)
        }
    }

    /// Runs `body` with the geo set at argument 1 (nil: missing) under its shard's lock.
    private static func withGeoSet(
        _ context: inout CommandContext, _ body: (inout CommandContext, SortedSetHandle?) -> Void
    ) {
        context.withTypedKey(.sortedSet, read: true) { context, shard, _, _, slot in
            body(&context, slot.map { SortedSetHandle(shard.entry(at: $0)) })
        }
    }

    static func geopos(_ context: inout CommandContext) {
        withGeoSet(&context) { context, handle in
            context.reply.writeArrayHeader(count: context.arguments.count - 2)
            for index in 2..<context.arguments.count {
                guard let handle, let (longitude, latitude) = position(of: context.arguments[index], in: handle) else {
                    context.reply.writeNullArray()
                    continue
                }
                context.reply.writeArrayHeader(count: 2)
                writeCoordinate(&context.reply, longitude)
                writeCoordinate(&context.reply, latitude)
            }
        }
    }

    static func geodist(_ context: inout CommandContext) {
        var conversion = 1.0
        if context.arguments.count == 5 {
            guard let value = unit(&context, at: 4) else { return }
            conversion = value
        } else if context.arguments.count > 5 {
            return context.replySyntaxError()
        }
        withGeoSet(&context) { context, handle in
            guard let handle, let first = position(of: context.arguments[2], in: handle),
                let second = position(of: context.arguments[3], in: handle)
            else { return context.reply.writeNull() }
            let meters = GeoHash.distance(
                longitude1: first.0, latitude1: first.1, longitude2: second.0, latitude2: second.1)
            context.reply.writeBulkString(formatFixed(meters / conversion, 4))
        }
    }

    static func geohash(_ context: inout CommandContext) {
        withGeoSet(&context) { context, handle in
            context.reply.writeArrayHeader(count: context.arguments.count - 2)
            for index in 2..<context.arguments.count {
                guard let handle, let score = handle.score(of: context.arguments[index]) else {
                    context.reply.writeNull()
                    continue
                }
                context.reply.writeBulkString(GeoHash.text(ofScore: score))
            }
        }
    }

    // MARK: Searches

    private struct SearchForm: OptionSet {
        let rawValue: Int
        static let byCoordinates = SearchForm(rawValue: 1 << 0)
        static let byMember = SearchForm(rawValue: 1 << 1)
        static let noStore = SearchForm(rawValue: 1 << 2)
        static let search = SearchForm(rawValue: 1 << 3)
        static let searchStore = SearchForm(rawValue: 1 << 4)
    }

    static func geosearch(_ context: inout CommandContext) { search(&context, source: 1, form: .search) }
    static func geosearchstore(_ context: inout CommandContext) {
        search(&context, source: 2, form: [.search, .searchStore])
    }
    static func georadius(_ context: inout CommandContext) { search(&context, source: 1, form: .byCoordinates) }
    static func georadiusReadOnly(_ context: inout CommandContext) {
        search(&context, source: 1, form: [.byCoordinates, .noStore])
    }
    static func georadiusbymember(_ context: inout CommandContext) { search(&context, source: 1, form: .byMember) }
    static func georadiusbymemberReadOnly(_ context: inout CommandContext) {
        search(&context, source: 1, form: [.byMember, .noStore])
    }

    /// A match. `member` points into the sorted set, valid while the search holds its lock
    /// (copying every member cost a fifth of a large search).
    private struct Point {
        var longitude: Double
        var latitude: Double
        var distance: Double
        var score: Double
        var member: UnsafeRawBufferPointer
    }

    private enum Order { case none, ascending, descending }

    /// Everything after the search is parsed: what to reply or store.
    private struct SearchRequest {
        var shape = GeoShape()
        var withDistance = false, withHash = false, withCoordinates = false
        var order = Order.none
        var any = false
        var count = 0
        var storeKey: Int?
        var storeDistance = false
    }

    private static func search(_ context: inout CommandContext, source: Int, form: SearchForm) {
        let database = context.database
        var keyIndices = [source]
        if form.contains(.searchStore) { keyIndices.append(1) }
        // STORE's key is found while parsing; lock the keyspace of every argument that
        // could name it (a store search is rare and short).
        if form.contains(.byCoordinates) || form.contains(.byMember), !form.contains(.noStore) {
            keyIndices = Array(1..<context.arguments.count)
        }
        let selection = context.lockShards(ofKeysAt: keyIndices)
        defer { context.unlock(selection, in: database) }
        let sourceKey = context.arguments[source]
        let sourceHash = context.hash(sourceKey)
        let sourceShard = database.shard(for: sourceHash)
        guard let located = context.locate(sourceKey, hash: sourceHash, in: sourceShard, as: .sortedSet, read: true)
        else { return }
        var handle: SortedSetHandle?
        // Held to the end: matches point into it, even when STORE replaces this very key.
        var source: Entry?
        if case .at(let slot) = located {
            source = sourceShard.entry(at: slot)
            handle = SortedSetHandle(source!)
        }
        defer { withExtendedLifetime(source) {} }
        guard var request = parseSearch(&context, form: form, source: handle) else { return }
        if form.contains(.searchStore) { request.storeKey = 1 }
        guard let handle else {
            if let storeKey = request.storeKey {
                deleteStoreKey(&context, context.arguments[storeKey])
                return context.reply.writeInteger(0)
            }
            return context.reply.writeArrayHeader(count: 0)
        }
        if request.count != 0 && request.order == .none && !request.any { request.order = .ascending }
        var points = collect(handle, request.shape, limit: request.any ? request.count : 0)
        let returned = request.count == 0 ? points.count : min(points.count, request.count)
        switch request.order {
        case .none: break
        case .ascending: points.sort { $0.distance < $1.distance }
        case .descending: points.sort { $0.distance > $1.distance }
        }
        let conversion = request.shape.conversion
        guard let storeKey = request.storeKey else {
            let options =
                (request.withDistance ? 1 : 0) + (request.withHash ? 1 : 0) + (request.withCoordinates ? 1 : 0)
            context.reply.writeArrayHeader(count: returned)
            for point in points.prefix(returned) {
                if options > 0 { context.reply.writeArrayHeader(count: options + 1) }
                context.reply.writeBulkString(point.member)
                if request.withDistance { context.reply.writeBulkString(formatFixed(point.distance / conversion, 4)) }
                if request.withHash { context.reply.writeInteger(Int64(point.score)) }
                if request.withCoordinates {
                    context.reply.writeArrayHeader(count: 2)
                    writeCoordinate(&context.reply, point.longitude)
                    writeCoordinate(&context.reply, point.latitude)
                }
            }
            return
        }
        let destination = context.arguments[storeKey]
        guard returned > 0 else {
            deleteStoreKey(&context, destination)
            return context.reply.writeInteger(0)
        }
        let destinationHash = context.hash(destination)
        let destinationShard = database.shard(for: destinationHash)
        let slot = destinationShard.lookup(destination, hash: destinationHash, now: context.now)
        var stored = SortedSetHandle()
        let chosen = Array(points.prefix(returned))
        for point in chosen {
            _ = stored.set(point.member, score: request.storeDistance ? point.distance / conversion : point.score)
        }
        // A stored set replaces the key whole (its TTL goes), as SET would.
        if let slot { destinationShard.remove(at: slot) }
        withExtendedLifetime(chosen) {
            context.commitSortedSet(destinationShard, destination, hash: destinationHash, slot: nil, stored)
        }
        context.logTogether { context in
            context.logEffect { log in
                log.argument("DEL")
                log.argument(destination)
            }
            self.logStoredSet(&context, destination, chosen, distances: request.storeDistance, conversion: conversion)
        }
        context.notify(
            KeyspaceEvents.sortedSet, form.contains(.search) ? "geosearchstore" : "georadiusstore", destination)
        context.reply.writeInteger(returned)
    }

    /// Parses everything after the fixed arguments, in Redis's order of checks.
    private static func parseSearch(_ context: inout CommandContext, form: SearchForm, source: SortedSetHandle?)
        -> SearchRequest?
    {
        var request = SearchRequest()
        var first: Int
        if form.contains(.byCoordinates) {
            first = 6
            guard let (longitude, latitude) = coordinates(&context, at: 2) else { return nil }
            (request.shape.longitude, request.shape.latitude) = (longitude, latitude)
            guard parseRadius(&context, at: 4, into: &request.shape) else { return nil }
        } else if form.contains(.byMember) {
            first = 5
            if let source {
                guard let (longitude, latitude) = position(of: context.arguments[2], in: source) else {
                    context.reply.writeError("ERR could not decode requested zset member")
                    return nil
                }
                (request.shape.longitude, request.shape.latitude) = (longitude, latitude)
                guard parseRadius(&context, at: 3, into: &request.shape) else { return nil }
            }
        } else {
            first = form.contains(.searchStore) ? 3 : 2
        }
        var fromMember = false
        var fromCoordinates = false
        var byRadius = false
        var byBox = false
        let count = context.arguments.count
        var index = first
        while index < count {
            let word = context.arguments[index]
            let remaining = count - index - 1
            let isSearch = form.contains(.search)
            if word.equalsIgnoringCase("WITHDIST") {
                request.withDistance = true
            } else if word.equalsIgnoringCase("WITHHASH") {
                request.withHash = true
            } else if word.equalsIgnoringCase("WITHCOORD") {
                request.withCoordinates = true
            } else if word.equalsIgnoringCase("ANY") {
                request.any = true
            } else if word.equalsIgnoringCase("ASC") {
                request.order = .ascending
            } else if word.equalsIgnoringCase("DESC") {
                request.order = .descending
            } else if word.equalsIgnoringCase("COUNT") && remaining >= 1 {
                guard let value = context.integerArgument(index + 1) else { return nil }
                guard value > 0 else {
                    context.reply.writeError("ERR COUNT must be > 0")
                    return nil
                }
                request.count = Int(value)
                index += 1
            } else if (word.equalsIgnoringCase("STORE") || word.equalsIgnoringCase("STOREDIST")) && remaining >= 1
                && !form.contains(.noStore) && !isSearch
            {
                request.storeKey = index + 1
                request.storeDistance = word.equalsIgnoringCase("STOREDIST")
                index += 1
            } else if word.equalsIgnoringCase("STOREDIST") && form.contains(.searchStore) {
                request.storeDistance = true
            } else if word.equalsIgnoringCase("FROMMEMBER") && remaining >= 1 && isSearch && !fromCoordinates {
                if let source {
                    guard let (longitude, latitude) = position(of: context.arguments[index + 1], in: source) else {
                        context.reply.writeError("ERR could not decode requested zset member")
                        return nil
                    }
                    (request.shape.longitude, request.shape.latitude) = (longitude, latitude)
                }
                fromMember = true
                index += 1
            } else if word.equalsIgnoringCase("FROMLONLAT") && remaining >= 2 && isSearch && !fromMember {
                guard let (longitude, latitude) = coordinates(&context, at: index + 1) else { return nil }
                (request.shape.longitude, request.shape.latitude) = (longitude, latitude)
                fromCoordinates = true
                index += 2
            } else if word.equalsIgnoringCase("BYRADIUS") && remaining >= 2 && isSearch && !byBox {
                guard parseRadius(&context, at: index + 1, into: &request.shape) else { return nil }
                byRadius = true
                index += 2
            } else if word.equalsIgnoringCase("BYBOX") && remaining >= 3 && isSearch && !byRadius {
                guard let width = number(&context, at: index + 1, what: "width"),
                    let height = number(&context, at: index + 2, what: "height")
                else { return nil }
                if width < 0 || height < 0 {
                    context.reply.writeError("ERR height or width cannot be negative")
                    return nil
                }
                guard let conversion = unit(&context, at: index + 3) else { return nil }
                request.shape.isCircle = false
                (request.shape.width, request.shape.height, request.shape.conversion) = (width, height, conversion)
                byBox = true
                index += 3
            } else {
                context.replySyntaxError()
                return nil
            }
            index += 1
        }
        let storing = request.storeKey != nil || form.contains(.searchStore)
        if storing && (request.withDistance || request.withHash || request.withCoordinates) {
            let name = form.contains(.searchStore) ? "GEOSEARCHSTORE" : "STORE option in GEORADIUS"
            context.reply.writeError("ERR \(name) is not compatible with WITHDIST, WITHHASH and WITHCOORD options")
            return nil
        }
        let commandName = context.arguments.string(0)
        if form.contains(.search) && !(fromMember || fromCoordinates) {
            context.reply.writeError("ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for \(commandName)")
            return nil
        }
        if form.contains(.search) && !(byRadius || byBox) {
            context.reply.writeError("ERR exactly one of BYRADIUS and BYBOX can be specified for \(commandName)")
            return nil
        }
        if request.any && request.count == 0 {
            context.reply.writeError("ERR the ANY argument requires COUNT argument")
            return nil
        }
        return request
    }

    private static func parseRadius(_ context: inout CommandContext, at index: Int, into shape: inout GeoShape) -> Bool
    {
        guard let radius = number(&context, at: index, what: "radius") else { return false }
        guard radius >= 0 else {
            context.reply.writeError("ERR radius cannot be negative")
            return false
        }
        guard let conversion = unit(&context, at: index + 1) else { return false }
        shape.isCircle = true
        (shape.radius, shape.conversion) = (radius, conversion)
        return true
    }

    /// The members inside the shape, cell by cell in Redis's order (a cell equal to the one
    /// visited just before is skipped), each cell's members by score; stops at `limit`.
    private static func collect(_ handle: SortedSetHandle, _ shape: GeoShape, limit: Int) -> [Point] {
        let cells = GeoHash.searchCells(shape)
        var points: [Point] = []
        var lastVisited = 0
        for (index, cell) in cells.enumerated() where !cell.isZero {
            if lastVisited != 0 && cell == cells[lastVisited] { continue }
            if !points.isEmpty && limit > 0 && points.count >= limit { break }
            let (minimum, maximum) = cell.scoreRange
            let low = Double(minimum)
            let high = Double(maximum)
            let start = handle.countBefore { $0.score < low }
            handle.forEach(from: start) { item in
                guard item.score < high else { return false }
                let (longitude, latitude) = GeoHash.position(ofScore: item.score)
                if let distance = shape.distanceIfInside(longitude: longitude, latitude: latitude) {
                    points.append(
                        Point(
                            longitude: longitude, latitude: latitude, distance: distance, score: item.score,
                            member: item.member))
                }
                return !(limit > 0 && points.count >= limit)
            }
            lastVisited = index
        }
        return points
    }

    private static func deleteStoreKey(_ context: inout CommandContext, _ key: UnsafeRawBufferPointer) {
        let hash = context.hash(key)
        let shard = context.database.shard(for: hash)
        guard let slot = shard.lookup(key, hash: hash, now: context.now) else { return }
        shard.remove(at: slot)
        context.logEffect { log in
            log.argument("DEL")
            log.argument(key)
        }
        context.notify(KeyspaceEvents.generic, "del", key)
    }

    /// Logs a stored result as the sorted set it is: `DEL key` then `ZADD key score member …`.
    private static func logStoredSet(
        _ context: inout CommandContext, _ key: UnsafeRawBufferPointer, _ points: [Point], distances: Bool,
        conversion: Double
    ) {
        context.logEffect { log in
            log.argument("ZADD")
            log.argument(key)
            for point in points {
                let score = distances ? point.distance / conversion : point.score
                Array(RESPDouble.format(score).utf8).withUnsafeBytes { log.argument($0) }
                log.argument(point.member)
            }
        }
    }
}
