/// Where one argument lies: `length` bytes starting `offset` bytes after the arguments' base.
public struct ArgumentSpan: Sendable, Hashable {
    public var offset: Int
    public var length: Int

    @inlinable
    public init(offset: Int, length: Int) {
        self.offset = offset
        self.length = length
    }
}

/// The arguments of one decoded command, as slices of the connection's input buffer.
///
/// Nothing is copied: each argument is a view into bytes that stay valid only while the
/// command runs. Whatever outlives the command (a stored value, a queued transaction)
/// must copy the bytes it keeps.
public struct CommandArguments {
    @usableFromInline let base: UnsafeRawPointer
    @usableFromInline let spans: UnsafePointer<ArgumentSpan>
    /// Number of arguments, the command name included.
    public let count: Int

    @inlinable
    public init(base: UnsafeRawPointer, spans: UnsafePointer<ArgumentSpan>, count: Int) {
        self.base = base
        self.spans = spans
        self.count = count
    }

    /// The bytes of argument `index` (0 is the command name).
    @inlinable
    public subscript(index: Int) -> UnsafeRawBufferPointer {
        precondition(index >= 0 && index < self.count, "argument index out of range")
        let span = self.spans[index]
        return UnsafeRawBufferPointer(start: self.base + span.offset, count: span.length)
    }

    /// Argument `index` decoded as UTF-8 text (invalid sequences repaired); for names and
    /// options, not for values on the hot path.
    public func string(_ index: Int) -> String {
        String(decoding: self[index], as: UTF8.self)
    }

    /// Argument `index` as a fresh byte array.
    public func bytes(_ index: Int) -> [UInt8] {
        [UInt8](self[index])
    }
}

extension UnsafeRawBufferPointer {
    /// Compares with an ASCII literal ignoring case, as Redis compares command names and options.
    @inlinable
    package func equalsIgnoringCase(_ literal: StaticString) -> Bool {
        let count = literal.utf8CodeUnitCount
        if self.count != count { return false }
        let other = literal.utf8Start
        for index in 0..<count {
            if asciiLowercased(self[index]) != asciiLowercased(other[index]) { return false }
        }
        return true
    }

    /// Compares with another byte view ignoring ASCII case.
    @inlinable
    package func equalsIgnoringCase(_ other: UnsafeRawBufferPointer) -> Bool {
        if self.count != other.count { return false }
        for index in 0..<self.count {
            if asciiLowercased(self[index]) != asciiLowercased(other[index]) { return false }
        }
        return true
    }

    /// Byte-for-byte equality.
    @inlinable
    package func equalsBytes(_ other: UnsafeRawBufferPointer) -> Bool {
        if self.count != other.count { return false }
        if self.count == 0 { return true }
        return memcmpBytes(self.baseAddress!, other.baseAddress!, self.count) == 0
    }
}

@inlinable
package func asciiLowercased(_ byte: UInt8) -> UInt8 {
    (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z")) ? byte | 0x20 : byte
}

/// `memcmp` without importing libc into every file.
@inlinable
package func memcmpBytes(_ lhs: UnsafeRawPointer, _ rhs: UnsafeRawPointer, _ count: Int) -> Int32 {
    var index = 0
    // Word-at-a-time for the common prefix; byte order only matters for the first difference.
    while index + 8 <= count {
        let a = lhs.loadUnaligned(fromByteOffset: index, as: UInt64.self)
        let b = rhs.loadUnaligned(fromByteOffset: index, as: UInt64.self)
        if a != b {
            let aBig = UInt64(bigEndian: a)
            let bBig = UInt64(bigEndian: b)
            return aBig < bBig ? -1 : 1
        }
        index += 8
    }
    while index < count {
        let a = lhs.load(fromByteOffset: index, as: UInt8.self)
        let b = rhs.load(fromByteOffset: index, as: UInt8.self)
        if a != b { return a < b ? -1 : 1 }
        index += 1
    }
    return 0
}
