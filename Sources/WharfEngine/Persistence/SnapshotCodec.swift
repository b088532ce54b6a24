package import WharfStorage

/// A value type kept outside its entry that knows how to write itself into a snapshot and
/// read itself back. Every such type registers its decoder in ``SnapshotCodec/payloadDecoders``
/// under a tag of its own; lists, hashes, sets, sorted sets, streams and job queues plug in
/// here.
package protocol SnapshotEncodable: EntryPayload {
    /// The type tag in the snapshot (16 and above; lower tags are the inline encodings).
    static var snapshotTag: UInt8 { get }
    /// The entry kind a decoded value is stored under.
    static var entryKind: ValueKind { get }
    func encode(into writer: SnapshotWriter)
    static func decode(from reader: SnapshotReader) throws -> EntryPayload
}

/// How entries are laid out inside a snapshot body.
///
/// ```
/// database marker: 0xFD | index: UInt32
/// entry:           tag: UInt8 | flags: UInt8 (bit 0: has expiry) | [expireAt: Int64]
///                  | key: length-prefixed bytes | value (by tag)
/// tags:            0 string (length-prefixed bytes), 1 integer (Int64),
///                  16+ payload types (their own encoding)
/// end of body:     0xFF
/// ```
package enum SnapshotCodec {
    static let databaseMarker: UInt8 = 0xFD
    static let endMarker: UInt8 = 0xFF
    static let stringTag: UInt8 = 0
    static let integerTag: UInt8 = 1

    /// Packed collections are stored as their bytes under these tags.
    static let packedTags: [(ValueKind, UInt8)] = [
        (.packedList, 2), (.packedHash, 3), (.intset, 4), (.packedSortedSet, 5),
    ]

    /// Every value type kept outside its entry. Each new type adds itself here.
    static let payloadTypes: [any SnapshotEncodable.Type] = [
        ListPayload.self, HashPayload.self, SetPayload.self, SortedSetPayload.self, StreamPayload.self,
    ]

    /// Decoders of payload types by tag.
    nonisolated(unsafe) static let payloadDecoders:
        [UInt8: (kind: ValueKind, decode: (SnapshotReader) throws -> EntryPayload)] = {
            var decoders: [UInt8: (kind: ValueKind, decode: (SnapshotReader) throws -> EntryPayload)] = [:]
            for type in payloadTypes { decoders[type.snapshotTag] = (type.entryKind, type.decode(from:)) }
            return decoders
        }()

    static func writeDatabase(_ index: Int, into writer: SnapshotWriter) {
        writer.write(Self.databaseMarker)
        writer.write(UInt32(index))
    }

    static func write(_ entry: Entry, into writer: SnapshotWriter) {
        let expireAt = entry.expireAt
        switch entry.kind {
        case .string:
            Self.header(Self.stringTag, expireAt, entry.key, writer)
            writer.writeBytes(entry.rawValueBytes)
        case .integer:
            Self.header(Self.integerTag, expireAt, entry.key, writer)
            writer.write(entry.integerValue)
        case .growableString:
            // Loaded back as a plain string: the spare capacity is not worth keeping.
            Self.header(Self.stringTag, expireAt, entry.key, writer)
            (entry.payload as! GrowableString).bytes.withUnsafeBytes { writer.writeBytes($0) }
        case .packedList, .packedHash, .intset, .packedSortedSet:
            let tag = Self.packedTags.first { $0.0 == entry.kind }!.1
            Self.header(tag, expireAt, entry.key, writer)
            writer.writeBytes(entry.rawValueBytes)
        case .list, .hash, .set, .sortedSet, .stream:
            let payload = entry.payload as! any SnapshotEncodable
            Self.header(type(of: payload).snapshotTag, expireAt, entry.key, writer)
            payload.encode(into: writer)
        }
    }

    private static func header(
        _ tag: UInt8, _ expireAt: Int64?, _ key: UnsafeRawBufferPointer, _ writer: SnapshotWriter
    ) {
        writer.write(tag)
        if let expireAt {
            writer.write(UInt8(1))
            writer.write(expireAt)
        } else {
            writer.write(UInt8(0))
        }
        writer.writeBytes(key)
    }

    static func finishBody(into writer: SnapshotWriter) {
        writer.write(Self.endMarker)
    }

    /// One item read from a snapshot body.
    enum Item {
        case database(Int)
        case entry(Entry)
        case end
    }

    static func read(from reader: SnapshotReader, access: UInt32) throws -> Item {
        let tag: UInt8 = try reader.read()
        switch tag {
        case Self.databaseMarker:
            return .database(Int(try reader.read(UInt32.self)))
        case Self.endMarker:
            return .end
        default:
            let flags: UInt8 = try reader.read()
            let expireAt: Int64? = flags & 1 != 0 ? try reader.read(Int64.self) : nil
            let keyLength = try reader.readLength()
            // The key is copied before the value is read: both come from the reader's window.
            let key = Array(try reader.readBytes(keyLength))
            return try key.withUnsafeBytes { key in
                switch tag {
                case Self.stringTag:
                    let value = try reader.readBytes()
                    return .entry(Entry.makeRawString(key: key, value: value, expireAt: expireAt, access: access))
                case Self.integerTag:
                    return .entry(
                        Entry.makeInteger(
                            key: key, value: try reader.read(Int64.self), expireAt: expireAt, access: access))
                case 2...5:
                    let kind = Self.packedTags.first { $0.1 == tag }!.0
                    return .entry(
                        Entry.makeBytes(
                            kind: kind, key: key, value: try reader.readBytes(), expireAt: expireAt, access: access))
                default:
                    guard let decoder = Self.payloadDecoders[tag] else {
                        throw SnapshotDamage(path: reader.path, offset: 0, reason: "unknown value type \(tag)")
                    }
                    let payload = try decoder.decode(reader)
                    return .entry(
                        Entry.makeObject(
                            key: key, kind: decoder.kind, payload: payload, expireAt: expireAt, access: access))
                }
            }
        }
    }
}
