#if canImport(Glibc)
    import Glibc
#endif
/// A byte string in 16 bytes: up to 14 bytes stored inline, longer ones in a shared heap
/// block. List elements use it so that short values (the common case) cost no allocation.
package enum CompactBytes: Hashable {
    /// 14 bytes of data and their length, in 15 bytes.
    case small(SmallBytes)
    case large(HeapBytes)

    package static let inlineCapacity = 14

    package init(_ bytes: UnsafeRawBufferPointer) {
        if bytes.count <= Self.inlineCapacity {
            self = .small(SmallBytes(bytes))
        } else {
            self = .large(HeapBytes.make(bytes))
        }
    }

    package init(_ bytes: [UInt8]) {
        self = bytes.withUnsafeBytes { CompactBytes($0) }
    }

    @inline(__always)
    package func withBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        switch self {
        case .small(let small): return try small.withBytes(body)
        case .large(let heap): return try heap.withBytes(body)
        }
    }

    package var count: Int {
        switch self {
        case .small(let small): return Int(small.count)
        case .large(let heap): return heap.count
        }
    }

    package var array: [UInt8] { self.withBytes { Array($0) } }

    package static func == (lhs: CompactBytes, rhs: CompactBytes) -> Bool {
        lhs.withBytes { a in rhs.withBytes { b in a.equalsBytesShared(b) } }
    }

    package func hash(into hasher: inout Hasher) {
        self.withBytes { hasher.combine(bytes: $0) }
    }

    package func equals(_ bytes: UnsafeRawBufferPointer) -> Bool {
        self.withBytes { $0.equalsBytesShared(bytes) }
    }
}

/// Up to 14 bytes inline.
package struct SmallBytes {
    var storage: (UInt64, UInt32, UInt16)
    var count: UInt8

    init(_ bytes: UnsafeRawBufferPointer) {
        self.storage = (0, 0, 0)
        self.count = UInt8(bytes.count)
        if bytes.count > 0 {
            withUnsafeMutableBytes(of: &self.storage) { raw in
                raw.baseAddress!.copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
            }
        }
    }

    @inline(__always)
    func withBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        var copy = self.storage
        return try withUnsafeBytes(of: &copy) { raw in
            try body(UnsafeRawBufferPointer(rebasing: raw[0..<Int(self.count)]))
        }
    }
}

/// An immutable heap byte string: one allocation holding its length and bytes.
package final class HeapBytes: ManagedBuffer<Int, UInt8> {
    package static func make(_ bytes: UnsafeRawBufferPointer) -> HeapBytes {
        let buffer = unsafeDowncast(
            HeapBytes.create(minimumCapacity: bytes.count) { _ in bytes.count }, to: HeapBytes.self)
        if bytes.count > 0 {
            buffer.withUnsafeMutablePointerToElements {
                $0.update(from: bytes.bindMemory(to: UInt8.self).baseAddress!, count: bytes.count)
            }
        }
        return buffer
    }

    package var count: Int { self.header }

    @inline(__always)
    package func withBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        try self.withUnsafeMutablePointerToElements { try body(UnsafeRawBufferPointer(start: $0, count: self.header)) }
    }
}

extension UnsafeRawBufferPointer {
    /// Byte-for-byte equality (the engine's own, independent of the protocol module's).
    @inline(__always)
    func equalsBytesShared(_ other: UnsafeRawBufferPointer) -> Bool {
        if self.count != other.count { return false }
        if self.count == 0 { return true }
        return memcmp(self.baseAddress!, other.baseAddress!, self.count) == 0
    }

    /// Lexicographic byte order (memcmp, then length), as Redis compares members.
    func compareBytes(_ other: UnsafeRawBufferPointer) -> Int {
        let common = Swift.min(self.count, other.count)
        if common > 0 {
            let result = memcmp(self.baseAddress!, other.baseAddress!, common)
            if result != 0 { return Int(result) }
        }
        return self.count - other.count
    }
}
