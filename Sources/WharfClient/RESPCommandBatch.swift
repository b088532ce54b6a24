package import NIOCore

/// Commands encoded back to back into one buffer, to send as a pipeline without building a
/// ``RESPCommand`` per command. Reuse one batch (``removeAll()``) to avoid allocating at all.
///
/// ```swift
/// var batch = RESPCommandBatch()
/// for key in keys { batch.append("GET", key) }
/// let values = try await connection.pipeline(batch)
/// ```
public struct RESPCommandBatch: Sendable {
    package private(set) var bytes: ByteBuffer
    /// The number of commands.
    public private(set) var count: Int

    public init(capacity: Int = 256) {
        self.bytes = ByteBuffer()
        self.bytes.reserveCapacity(capacity)
        self.count = 0
    }

    public var isEmpty: Bool { self.count == 0 }

    /// Appends a command from its name and arguments.
    public mutating func append<each Argument: RESPArgument>(_ name: String, _ arguments: repeat each Argument) {
        var argumentCount = 1
        var total = Self.framedSize(name.utf8.count)
        for argument in repeat each arguments {
            argumentCount += 1
            total += Self.framedSize(argument.respArgumentByteCount)
        }
        self.write(argumentCount, total) { raw, offset in
            offset += Self.writeFramed(name, to: raw, at: offset)
            for argument in repeat each arguments { offset += Self.writeFramed(argument, to: raw, at: offset) }
        }
    }

    // Fixed-arity forms: a call through the variadic one with two or more arguments looks its
    // tuple type up at run time (a locked cache), which costs more than the encoding.

    public mutating func append(_ name: String) {
        self.write(1, Self.framedSize(name.utf8.count)) { raw, offset in
            offset += Self.writeFramed(name, to: raw, at: offset)
        }
    }

    public mutating func append(_ name: String, _ first: some RESPArgument) {
        let total = Self.framedSize(name.utf8.count) + Self.framedSize(first.respArgumentByteCount)
        self.write(2, total) { raw, offset in
            offset += Self.writeFramed(name, to: raw, at: offset)
            offset += Self.writeFramed(first, to: raw, at: offset)
        }
    }

    public mutating func append(_ name: String, _ first: some RESPArgument, _ second: some RESPArgument) {
        let total =
            Self.framedSize(name.utf8.count) + Self.framedSize(first.respArgumentByteCount)
            + Self.framedSize(second.respArgumentByteCount)
        self.write(3, total) { raw, offset in
            offset += Self.writeFramed(name, to: raw, at: offset)
            offset += Self.writeFramed(first, to: raw, at: offset)
            offset += Self.writeFramed(second, to: raw, at: offset)
        }
    }

    public mutating func append(
        _ name: String, _ first: some RESPArgument, _ second: some RESPArgument, _ third: some RESPArgument
    ) {
        let total =
            Self.framedSize(name.utf8.count) + Self.framedSize(first.respArgumentByteCount)
            + Self.framedSize(second.respArgumentByteCount) + Self.framedSize(third.respArgumentByteCount)
        self.write(4, total) { raw, offset in
            offset += Self.writeFramed(name, to: raw, at: offset)
            offset += Self.writeFramed(first, to: raw, at: offset)
            offset += Self.writeFramed(second, to: raw, at: offset)
            offset += Self.writeFramed(third, to: raw, at: offset)
        }
    }

    /// Writes the array header, then lets `body` write the framed arguments: sizes first, then
    /// one write into the buffer, because each separate ByteBuffer write pays for a
    /// uniqueness check and a dynamic exclusivity check.
    @inline(__always)
    private mutating func write(
        _ argumentCount: Int, _ argumentBytes: Int, _ body: (UnsafeMutableRawBufferPointer, inout Int) -> Void
    ) {
        let total = argumentBytes + 3 + argumentCount.respArgumentByteCount
        self.bytes.writeWithUnsafeMutableBytes(minimumWritableBytes: total) { raw in
            raw[0] = UInt8(ascii: "*")
            var offset = 1 + writeDecimal(argumentCount, to: UnsafeMutableRawBufferPointer(rebasing: raw[1...]))
            raw[offset] = 0x0D
            raw[offset + 1] = 0x0A
            offset += 2
            body(raw, &offset)
            return offset
        }
        self.count += 1
    }

    /// `$<length>\r\n<bytes>\r\n`: the bytes one argument takes.
    private static func framedSize(_ length: Int) -> Int { 5 + length + length.respArgumentByteCount }

    @inline(__always)
    private static func writeFramed(
        _ argument: some RESPArgument, to buffer: UnsafeMutableRawBufferPointer, at start: Int
    )
        -> Int
    {
        let raw = UnsafeMutableRawBufferPointer(rebasing: buffer[start...])
        let length = argument.respArgumentByteCount
        raw[0] = UInt8(ascii: "$")
        var offset = 1 + writeDecimal(length, to: UnsafeMutableRawBufferPointer(rebasing: raw[1...]))
        raw[offset] = 0x0D
        raw[offset + 1] = 0x0A
        offset += 2
        argument.copyRESPArgumentBytes(to: UnsafeMutableRawBufferPointer(rebasing: raw[offset..<(offset + length)]))
        offset += length
        raw[offset] = 0x0D
        raw[offset + 1] = 0x0A
        return offset + 2
    }

    /// Appends a command built as a ``RESPCommand``.
    public mutating func append(_ command: RESPCommand) {
        command.write(into: &self.bytes)
        self.count += 1
    }

    /// Empties the batch, keeping its storage when nothing else holds it.
    public mutating func removeAll() {
        self.bytes.clear()
        self.count = 0
    }

}
