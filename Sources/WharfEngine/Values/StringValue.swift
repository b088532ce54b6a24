package import WharfProtocol

/// The bytes of a string grown by APPEND or SETRANGE. Kept outside the entry in an array
/// with spare capacity, so repeated appends cost amortised O(1) instead of a reallocation
/// of the whole entry each time (Redis's `raw` encoding with sds preallocation).
package final class GrowableString: EntryPayload {
    // Unchecked: changed only under its key's shard lock.
    @exclusivity(unchecked) package var bytes: [UInt8]

    package init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    override package func copy() -> EntryPayload {
        GrowableString(bytes: self.bytes)
    }
}

extension Entry {
    /// Whether the value is a string in any of its encodings.
    @inline(__always)
    package var isString: Bool {
        self.kind.rawValue <= ValueKind.growableString.rawValue
    }

    /// The payload of a large collection, typed.
    @inline(__always)
    package func payload<P: EntryPayload>(as type: P.Type) -> P {
        unsafeDowncast(self.payload, to: P.self)
    }

    /// Length of a string value in bytes (an integer counts its decimal digits).
    package var stringLength: Int {
        switch self.kind {
        case .string: return self.rawValueBytes.count
        case .integer: return DecimalInteger.width(of: self.integerValue)
        case .growableString: return self.payload(as: GrowableString.self).bytes.count
        default: preconditionFailure("not a string")
        }
    }

    /// Calls `body` with the bytes of a string value; integers are formatted on the stack.
    package func withStringBytes<Result>(_ body: (UnsafeRawBufferPointer) -> Result) -> Result {
        switch self.kind {
        case .string:
            return body(self.rawValueBytes)
        case .integer:
            return withUnsafeTemporaryAllocation(byteCount: 20, alignment: 1) { buffer in
                let count = DecimalInteger.write(self.integerValue, to: buffer.baseAddress!)
                return body(UnsafeRawBufferPointer(start: buffer.baseAddress!, count: count))
            }
        case .growableString:
            return self.payload(as: GrowableString.self).bytes.withUnsafeBytes(body)
        default:
            preconditionFailure("not a string")
        }
    }

    /// The string value as a fresh array.
    package var stringBytes: [UInt8] {
        self.withStringBytes { Array($0) }
    }

    /// Redis's name for how the value is stored (OBJECT ENCODING).
    package var encodingName: String {
        switch self.kind {
        case .string: return self.rawValueBytes.count <= 44 ? "embstr" : "raw"
        case .integer: return "int"
        case .growableString: return "raw"
        case .packedList, .packedHash, .packedSortedSet: return "listpack"
        case .list: return "quicklist"
        case .hash, .set: return "hashtable"
        case .intset: return "intset"
        // Redis's name for the large sorted-set encoding; Wharf's is a B+ tree with a table.
        case .sortedSet: return "skiplist"
        case .stream: return "stream"
        }
    }
}

extension RESPReplyWriter {
    /// Writes a string entry's value as a bulk string.
    @inline(__always)
    package mutating func writeBulkString(_ entry: Entry) {
        switch entry.kind {
        case .string: self.writeBulkString(entry.rawValueBytes)
        case .integer: self.writeBulkInteger(entry.integerValue)
        case .growableString:
            entry.payload(as: GrowableString.self).bytes.withUnsafeBytes { self.writeBulkString($0) }
        default:
            preconditionFailure("not a string")
        }
    }
}
