import WharfProtocol

/// What an entry's value is and how it is stored.
///
/// Small collections are packed into the entry's own bytes, as Redis packs them into a
/// listpack or intset (one allocation per key; a change makes a new entry); past the
/// configured thresholds they move to a payload object built for size.
package enum ValueKind: UInt8, Sendable {
    /// A string whose bytes live inside the entry (Redis's `embstr`/`raw`).
    case string = 0
    /// A string that is a canonical decimal integer, stored as an `Int64` (Redis's `int`).
    case integer = 1
    /// A string grown by APPEND or SETRANGE, held in a growable buffer (Redis's `raw`).
    case growableString = 2
    /// A small list packed into the entry (`listpack`).
    case packedList = 3
    /// A list in a ``ListPayload`` (`quicklist`).
    case list = 4
    /// A small hash packed into the entry (`listpack`).
    case packedHash = 5
    /// A hash in a ``HashPayload`` (`hashtable`).
    case hash = 6
    /// A small set of integers packed into the entry (`intset`).
    case intset = 7
    /// A set in a ``SetPayload`` (`hashtable`).
    case set = 8
    /// A small sorted set packed into the entry (`listpack`).
    case packedSortedSet = 9
    /// A sorted set in a ``SortedSetPayload`` (`skiplist` in Redis's terms).
    case sortedSet = 10
    /// A stream in a ``StreamPayload`` (`stream`).
    case stream = 11

    /// Whether the entry holds a reference to a separate value object.
    @inline(__always)
    package var hasPayload: Bool {
        switch self {
        case .growableString, .list, .hash, .set, .sortedSet, .stream: return true
        default: return false
        }
    }

    /// Whether the value's bytes are stored inside the entry.
    @inline(__always)
    package var storesBytes: Bool {
        switch self {
        case .string, .packedList, .packedHash, .intset, .packedSortedSet: return true
        default: return false
        }
    }

    /// The type, as TYPE and SCAN TYPE name it.
    package var family: ValueFamily {
        switch self {
        case .string, .integer, .growableString: return .string
        case .packedList, .list: return .list
        case .packedHash, .hash: return .hash
        case .intset, .set: return .set
        case .packedSortedSet, .sortedSet: return .sortedSet
        case .stream: return .stream
        }
    }

    package var typeName: String { self.family.rawValue }
}

/// The data types, as clients see them.
package enum ValueFamily: String, Sendable {
    case string, list, hash, set, stream
    case sortedSet = "zset"
}

/// A value held outside its entry (a growable string, later lists, hashes and so on).
///
/// Entries are shared with snapshots copy-on-write, so a payload can be copied when the
/// entry that owns it must change while a snapshot still reads the old one.
package class EntryPayload {
    package init() {}

    /// A copy that can be changed without affecting this one.
    package func copy() -> EntryPayload {
        preconditionFailure("\(type(of: self)) must override copy()")
    }
}

/// The packed metadata word of an entry.
package struct EntryHeader {
    var bits: UInt64

    static let shortKeyShift: UInt64 = 0
    static let shortValueShift: UInt64 = 16
    static let accessShift: UInt64 = 32
    static let kindShift: UInt64 = 56
    static let expiryBit: UInt64 = 1 << 60
    static let longLengthsBit: UInt64 = 1 << 61
    static let accessMask: UInt64 = 0xFF_FFFF
}

/// One key and its value, in a single allocation.
///
/// A small string entry is one heap block: the object header, one word of packed metadata
/// (lengths, kind, flags, access clock) and a tail holding, in order, the expiry time (only
/// when the key has one), 32-bit lengths (only when a length exceeds 65,535), the payload
/// reference (only for values held outside), the key bytes and the value bytes. A 16-byte
/// key with a 32-byte value therefore costs 72 bytes before the allocator's rounding, where
/// Redis spends a dict entry, a key string and a value object.
///
/// Entries are immutable except where the keyspace has checked that nobody else (a
/// snapshot) holds them: the integer of an `.integer` entry, the expiry time in place, the
/// access clock, and a payload's contents.
package final class Entry: ManagedBuffer<EntryHeader, UInt8> {
    deinit {
        if self.kind.hasPayload {
            Unmanaged<EntryPayload>.fromOpaque(self.payloadPointer.load(as: UnsafeMutableRawPointer.self)).release()
        }
    }

    // MARK: Creating

    static func allocate(
        kind: ValueKind, key: UnsafeRawBufferPointer, valueLength: Int, expireAt: Int64?, access: UInt32
    ) -> Entry {
        let long = key.count > 0xFFFF || valueLength > 0xFFFF
        var tail = key.count
        if expireAt != nil { tail += 8 }
        if long { tail += 8 }
        if kind.hasPayload { tail += 8 }
        tail += (kind == .integer) ? 8 : (kind.storesBytes ? valueLength : 0)
        var bits =
            UInt64(kind.rawValue) << EntryHeader.kindShift
            | (UInt64(access) & EntryHeader.accessMask) << EntryHeader.accessShift
        if expireAt != nil { bits |= EntryHeader.expiryBit }
        if long {
            bits |= EntryHeader.longLengthsBit
        } else {
            bits |= UInt64(key.count) | UInt64(kind.storesBytes ? valueLength : 0) << EntryHeader.shortValueShift
        }
        let entry = unsafeDowncast(Entry.create(minimumCapacity: tail) { _ in EntryHeader(bits: bits) }, to: Entry.self)
        entry.withUnsafeMutablePointerToElements { elements in
            let raw = UnsafeMutableRawPointer(elements)
            var offset = 0
            if let expireAt {
                raw.storeBytes(of: expireAt, toByteOffset: offset, as: Int64.self)
                offset += 8
            }
            if long {
                raw.storeBytes(of: UInt32(key.count), toByteOffset: offset, as: UInt32.self)
                raw.storeBytes(
                    of: UInt32(kind.storesBytes ? valueLength : 0), toByteOffset: offset + 4, as: UInt32.self)
                offset += 8
            }
            if kind.hasPayload { offset += 8 }
            if key.count > 0 {
                (raw + offset).copyMemory(from: key.baseAddress!, byteCount: key.count)
            }
        }
        return entry
    }

    /// A string entry. Canonical decimal integers are stored as integers, as Redis does.
    package static func makeString(
        key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, expireAt: Int64?, access: UInt32
    ) -> Entry {
        if value.count <= 20, let integer = DecimalInteger.parse(value) {
            return makeInteger(key: key, value: integer, expireAt: expireAt, access: access)
        }
        let entry = allocate(kind: .string, key: key, valueLength: value.count, expireAt: expireAt, access: access)
        if value.count > 0 {
            entry.valuePointer.copyMemory(from: value.baseAddress!, byteCount: value.count)
        }
        return entry
    }

    /// A string entry holding exactly these bytes, never integer-encoded.
    package static func makeRawString(
        key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, expireAt: Int64?, access: UInt32
    ) -> Entry {
        self.makeBytes(kind: .string, key: key, value: value, expireAt: expireAt, access: access)
    }

    /// An entry of a kind that stores its value's bytes (a string or a packed collection).
    package static func makeBytes(
        kind: ValueKind, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, expireAt: Int64?, access: UInt32
    ) -> Entry {
        precondition(kind.storesBytes)
        let entry = allocate(kind: kind, key: key, valueLength: value.count, expireAt: expireAt, access: access)
        if value.count > 0 {
            entry.valuePointer.copyMemory(from: value.baseAddress!, byteCount: value.count)
        }
        return entry
    }

    package static func makeInteger(key: UnsafeRawBufferPointer, value: Int64, expireAt: Int64?, access: UInt32)
        -> Entry
    {
        let entry = allocate(kind: .integer, key: key, valueLength: 8, expireAt: expireAt, access: access)
        entry.valuePointer.storeBytes(of: value, as: Int64.self)
        return entry
    }

    /// An entry whose value lives in `payload`.
    package static func makeObject(
        key: UnsafeRawBufferPointer, kind: ValueKind, payload: EntryPayload, expireAt: Int64?, access: UInt32
    ) -> Entry {
        precondition(kind.hasPayload)
        let entry = allocate(kind: kind, key: key, valueLength: 0, expireAt: expireAt, access: access)
        entry.payloadPointer.storeBytes(
            of: Unmanaged.passRetained(payload).toOpaque(), as: UnsafeMutableRawPointer.self)
        return entry
    }

    /// The same key and value with another expiry (nil: none).
    package func withExpiry(_ expireAt: Int64?) -> Entry {
        self.rebuilt(key: self.key, expireAt: expireAt, copyPayload: false)
    }

    /// A copy that can be changed while a snapshot keeps this one; payloads are copied too.
    package func clone() -> Entry {
        self.rebuilt(key: self.key, expireAt: self.expireAt, copyPayload: true)
    }

    /// The same value and expiry under another key (RENAME, COPY). A renamed entry may take
    /// the payload over; a copy needs its own.
    package func renamed(to key: UnsafeRawBufferPointer, copyingPayload: Bool) -> Entry {
        self.rebuilt(key: key, expireAt: self.expireAt, copyPayload: copyingPayload)
    }

    private func rebuilt(key: UnsafeRawBufferPointer, expireAt: Int64?, copyPayload: Bool) -> Entry {
        let kind = self.kind
        switch kind {
        case .string, .packedList, .packedHash, .intset, .packedSortedSet:
            return Entry.makeBytes(
                kind: kind, key: key, value: self.rawValueBytes, expireAt: expireAt, access: self.accessClock)
        case .integer:
            return Entry.makeInteger(key: key, value: self.integerValue, expireAt: expireAt, access: self.accessClock)
        default:
            let payload = copyPayload ? self.payload.copy() : self.payload
            return Entry.makeObject(
                key: key, kind: kind, payload: payload, expireAt: expireAt, access: self.accessClock)
        }
    }

    // MARK: Reading

    /// The header's bits, read and written through the header's pointer: `header` is a class
    /// stored property, and every access to it would pay a runtime exclusivity check, on
    /// every command (an entry is changed only under its shard's lock).
    @inline(__always)
    var headerBits: UInt64 {
        get { self.withUnsafeMutablePointerToHeader { $0.pointee.bits } }
        set { self.withUnsafeMutablePointerToHeader { $0.pointee.bits = newValue } }
    }

    package var kind: ValueKind {
        ValueKind(rawValue: UInt8(truncatingIfNeeded: self.headerBits >> EntryHeader.kindShift) & 0x0F)
            .unsafelyUnwrapped
    }

    package var hasExpiry: Bool { self.headerBits & EntryHeader.expiryBit != 0 }

    var hasLongLengths: Bool { self.headerBits & EntryHeader.longLengthsBit != 0 }

    var tail: UnsafeMutableRawPointer {
        self.withUnsafeMutablePointerToElements { UnsafeMutableRawPointer($0) }
    }

    var lengthsOffset: Int { self.hasExpiry ? 8 : 0 }

    package var keyLength: Int {
        if self.hasLongLengths {
            return Int(self.tail.loadUnaligned(fromByteOffset: self.lengthsOffset, as: UInt32.self))
        }
        return Int(truncatingIfNeeded: self.headerBits & 0xFFFF)
    }

    var keyOffset: Int {
        var offset = self.lengthsOffset
        if self.hasLongLengths { offset += 8 }
        if self.kind.hasPayload { offset += 8 }
        return offset
    }

    /// The key's bytes, valid while the entry is alive.
    package var key: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: self.tail + self.keyOffset, count: self.keyLength)
    }

    package func keyEquals(_ other: UnsafeRawBufferPointer) -> Bool {
        let bits = self.headerBits
        if bits & EntryHeader.longLengthsBit == 0 {
            // Fast path: the length is in the header word, so a mismatch costs no tail read.
            if Int(truncatingIfNeeded: bits & 0xFFFF) != other.count { return false }
        }
        return self.key.equalsBytes(other)
    }

    /// Absolute expiry time in Unix milliseconds, or nil.
    package var expireAt: Int64? {
        self.hasExpiry ? self.tail.loadUnaligned(as: Int64.self) : nil
    }

    /// Changes the expiry time of an entry that already has one (it must be uniquely held).
    package func overwriteExpiry(_ expireAt: Int64) {
        precondition(self.hasExpiry)
        self.tail.storeBytes(of: expireAt, as: Int64.self)
    }

    var valuePointer: UnsafeMutableRawPointer {
        self.tail + self.keyOffset + self.keyLength
    }

    var payloadPointer: UnsafeMutableRawPointer {
        self.tail + self.lengthsOffset + (self.hasLongLengths ? 8 : 0)
    }

    /// The payload object of an entry that has one.
    package var payload: EntryPayload {
        let raw = self.payloadPointer.load(as: UnsafeMutableRawPointer.self)
        return Unmanaged<EntryPayload>.fromOpaque(raw).takeUnretainedValue()
    }

    /// The bytes of an entry whose kind stores bytes (a string or a packed collection).
    package var rawValueBytes: UnsafeRawBufferPointer {
        let length: Int
        if self.hasLongLengths {
            length = Int(self.tail.loadUnaligned(fromByteOffset: self.lengthsOffset + 4, as: UInt32.self))
        } else {
            length = Int(truncatingIfNeeded: (self.headerBits >> EntryHeader.shortValueShift) & 0xFFFF)
        }
        return UnsafeRawBufferPointer(start: self.valuePointer, count: length)
    }

    /// The value of an `.integer` entry.
    package var integerValue: Int64 {
        self.valuePointer.loadUnaligned(as: Int64.self)
    }

    /// Overwrites the value of an `.integer` entry (it must be uniquely held).
    package func overwriteInteger(_ value: Int64) {
        self.valuePointer.storeBytes(of: value, as: Int64.self)
    }

    // MARK: Access clock

    /// 24 bits of LRU time (seconds) or LFU data, as Redis keeps per object.
    package var accessClock: UInt32 {
        get { UInt32(truncatingIfNeeded: (self.headerBits >> EntryHeader.accessShift) & EntryHeader.accessMask) }
        set {
            let cleared = self.headerBits & ~(EntryHeader.accessMask << EntryHeader.accessShift)
            self.headerBits = cleared | (UInt64(newValue) & EntryHeader.accessMask) << EntryHeader.accessShift
        }
    }
}
