public import NIOCore

/// A value that can be one argument of a command: written as a RESP bulk string.
public protocol RESPArgument: Sendable {
    /// Writes the argument's bytes (without the bulk-string framing).
    func writeRESPArgumentBytes(into buffer: inout ByteBuffer)
    /// The number of bytes ``writeRESPArgumentBytes(into:)`` writes.
    var respArgumentByteCount: Int { get }
    /// Copies the argument's bytes to `destination`, which holds exactly
    /// ``respArgumentByteCount`` bytes (a faster path for batches; it has a default).
    func copyRESPArgumentBytes(to destination: UnsafeMutableRawBufferPointer)
}

extension RESPArgument {
    public func copyRESPArgumentBytes(to destination: UnsafeMutableRawBufferPointer) {
        var buffer = ByteBuffer()
        self.writeRESPArgumentBytes(into: &buffer)
        buffer.withUnsafeReadableBytes { destination.copyMemory(from: $0) }
    }
}

/// Writes `value` in decimal at the start of `destination`; returns the bytes written.
@inline(__always)
package func writeDecimal(_ value: Int, to destination: UnsafeMutableRawBufferPointer) -> Int {
    var magnitude = value.magnitude
    let count = value.respArgumentByteCount
    var index = count
    repeat {
        index -= 1
        destination[index] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: magnitude % 10)
        magnitude /= 10
    } while magnitude > 0
    if value < 0 { destination[0] = UInt8(ascii: "-") }
    return count
}

/// A command ready to send: its arguments already framed as RESP bulk strings.
///
/// ```swift
/// var command = RESPCommand("MSET")
/// for (key, value) in pairs { command.append(key); command.append(value) }
/// let reply = try await client.send(command)
/// ```
public struct RESPCommand: Sendable, CustomStringConvertible {
    /// The arguments, each as `$<length>\r\n<bytes>\r\n`; the array header is written when sent.
    package private(set) var body: ByteBuffer
    /// The number of arguments, including the command name.
    public private(set) var count: Int
    /// The command's name as given (for errors, tracing and metrics).
    public let name: String

    public init(_ name: String, _ arguments: any RESPArgument...) {
        self.init(name, arguments: arguments)
    }

    public init(_ name: String, arguments: [any RESPArgument]) {
        self.name = name
        self.count = 0
        self.body = ByteBuffer()
        self.body.reserveCapacity(16 + name.utf8.count + arguments.count * 16)
        self.append(name)
        for argument in arguments { self.append(argument) }
    }

    /// Adds one argument.
    public mutating func append(_ argument: some RESPArgument) {
        let length = argument.respArgumentByteCount
        self.body.writeInteger(UInt8(ascii: "$"))
        self.body.writeDecimal(length)
        self.body.writeInteger(UInt16(0x0D0A))
        argument.writeRESPArgumentBytes(into: &self.body)
        self.body.writeInteger(UInt16(0x0D0A))
        self.count += 1
    }

    /// Adds every argument of a sequence.
    public mutating func append<S: Sequence>(contentsOf arguments: S) where S.Element: RESPArgument {
        for argument in arguments { self.append(argument) }
    }

    /// Writes the whole command (array header and arguments) into `buffer`.
    package func write(into buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt8(ascii: "*"))
        buffer.writeDecimal(self.count)
        buffer.writeInteger(UInt16(0x0D0A))
        buffer.writeImmutableBuffer(self.body)
    }

    /// The command's arguments, decoded back (for errors and debugging, not the hot path).
    public var arguments: [[UInt8]] {
        var reader = self.body
        var result: [[UInt8]] = []
        while reader.readInteger(as: UInt8.self) == UInt8(ascii: "$"),
            let line = reader.readableBytesView.firstIndex(of: UInt8(ascii: "\r")),
            let length = reader.readString(length: line - reader.readerIndex).flatMap({ Int($0) })
        {
            reader.moveReaderIndex(forwardBy: 2)
            result.append(reader.readBytes(length: length) ?? [])
            reader.moveReaderIndex(forwardBy: 2)
        }
        return result
    }

    public var description: String {
        self.arguments.map { String(decoding: $0, as: UTF8.self) }.joined(separator: " ")
    }
}

extension ByteBuffer {
    /// Writes a non-negative or negative integer in decimal without allocating a String.
    package mutating func writeDecimal(_ value: Int) {
        if value >= 0 && value < 10 {
            self.writeInteger(UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: value))
            return
        }
        var magnitude = value.magnitude
        if value < 0 { self.writeInteger(UInt8(ascii: "-")) }
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: room for 20 digits
        let count = withUnsafeMutableBytes(of: &digits) { raw -> Int in
            var index = raw.count
            repeat {
                index -= 1
                raw[index] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: magnitude % 10)
                magnitude /= 10
            } while magnitude > 0
            return raw.count - index
        }
        _ = withUnsafeBytes(of: &digits) { raw in
            self.writeBytes(UnsafeRawBufferPointer(rebasing: raw[(raw.count - count)...]))
        }
    }
}

extension String: RESPArgument {
    public func writeRESPArgumentBytes(into buffer: inout ByteBuffer) { buffer.writeString(self) }
    public var respArgumentByteCount: Int { self.utf8.count }
    public func copyRESPArgumentBytes(to destination: UnsafeMutableRawBufferPointer) {
        var copy = self
        copy.withUTF8 { destination.copyMemory(from: UnsafeRawBufferPointer($0)) }
    }
}

extension Substring: RESPArgument {
    public func writeRESPArgumentBytes(into buffer: inout ByteBuffer) { buffer.writeSubstring(self) }
    public var respArgumentByteCount: Int { self.utf8.count }
}

extension Array: RESPArgument where Element == UInt8 {
    public func writeRESPArgumentBytes(into buffer: inout ByteBuffer) { buffer.writeBytes(self) }
    public var respArgumentByteCount: Int { self.count }
    public func copyRESPArgumentBytes(to destination: UnsafeMutableRawBufferPointer) {
        self.withUnsafeBytes { destination.copyMemory(from: $0) }
    }
}

extension ByteBuffer: RESPArgument {
    public func writeRESPArgumentBytes(into buffer: inout ByteBuffer) { buffer.writeImmutableBuffer(self) }
    public var respArgumentByteCount: Int { self.readableBytes }
}

extension Int: RESPArgument {
    public func writeRESPArgumentBytes(into buffer: inout ByteBuffer) { buffer.writeDecimal(self) }
    public func copyRESPArgumentBytes(to destination: UnsafeMutableRawBufferPointer) {
        _ = writeDecimal(self, to: destination)
    }
    public var respArgumentByteCount: Int {
        var count = self < 0 ? 2 : 1
        var rest = self.magnitude / 10
        while rest > 0 {
            count += 1
            rest /= 10
        }
        return count
    }
}

extension Int64: RESPArgument {
    public func writeRESPArgumentBytes(into buffer: inout ByteBuffer) { buffer.writeDecimal(Int(self)) }
    public var respArgumentByteCount: Int { Int(self).respArgumentByteCount }
}

extension Double: RESPArgument {
    /// Redis's spelling: `inf`, `-inf`, and the shortest text that reads back the same.
    var respText: String {
        if self == .infinity { return "+inf" }
        if self == -.infinity { return "-inf" }
        if self == self.rounded(), abs(self) < 1e17 { return String(Int64(self)) }
        return "\(self)"
    }
    public func writeRESPArgumentBytes(into buffer: inout ByteBuffer) { buffer.writeString(self.respText) }
    public var respArgumentByteCount: Int { self.respText.utf8.count }
}
