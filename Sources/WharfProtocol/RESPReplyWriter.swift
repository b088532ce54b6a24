public import NIOCore

/// Writes replies in RESP2 or RESP3 straight into an outbound buffer.
///
/// Command handlers call it once per element; nothing is built in between. Where RESP2 has
/// no equivalent of a RESP3 type, the writer maps it the way Redis does: maps become flat
/// arrays of key/value pairs, sets become arrays, doubles become bulk strings, booleans
/// become `:1`/`:0`, push messages become arrays.
///
/// ```swift
/// var writer = RESPReplyWriter(buffer: buffer, version: .resp3)
/// writer.writeMapHeader(count: 1)
/// writer.writeBulkString("proto")
/// writer.writeInteger(3)
/// ```
public struct RESPReplyWriter {
    public var buffer: ByteBuffer
    public var version: RESPVersion

    @inlinable
    public init(buffer: ByteBuffer, version: RESPVersion = .resp2) {
        self.buffer = buffer
        self.version = version
    }

    // MARK: Simple types

    @inlinable
    public mutating func writeOK() {
        self.buffer.writeStaticString("+OK\r\n")
    }

    /// A simple string (`+text`). CR and LF in `text` are replaced by spaces, as Redis does.
    @inlinable
    public mutating func writeSimpleString(_ text: StaticString) {
        self.buffer.writeInteger(UInt8(ascii: "+"))
        self.buffer.writeStaticString(text)
        self.buffer.writeStaticString("\r\n")
    }

    public mutating func writeSimpleString(_ text: String) {
        self.buffer.writeInteger(UInt8(ascii: "+"))
        self.writeLineSafe(text)
        self.buffer.writeStaticString("\r\n")
    }

    /// An error reply. `message` starts with the error code, e.g. `ERR syntax error` or
    /// `WRONGTYPE Operation against a key holding the wrong kind of value`.
    public mutating func writeError(_ message: String) {
        self.buffer.writeInteger(UInt8(ascii: "-"))
        self.writeLineSafe(message)
        self.buffer.writeStaticString("\r\n")
    }

    @inlinable
    public mutating func writeError(_ message: StaticString) {
        self.buffer.writeInteger(UInt8(ascii: "-"))
        self.buffer.writeStaticString(message)
        self.buffer.writeStaticString("\r\n")
    }

    private mutating func writeLineSafe(_ text: String) {
        var text = text
        _ = text.withUTF8 { utf8 in
            self.buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: utf8.count) { out in
                for index in 0..<utf8.count {
                    let byte = utf8[index]
                    out[index] = (byte == 0x0D || byte == 0x0A) ? 0x20 : byte
                }
                return utf8.count
            }
        }
    }

    @inlinable
    public mutating func writeInteger(_ value: Int64) {
        self.writeLine(prefix: UInt8(ascii: ":"), value)
    }

    @inlinable
    public mutating func writeInteger(_ value: Int) {
        self.writeLine(prefix: UInt8(ascii: ":"), Int64(value))
    }

    // MARK: Bulk strings

    /// Header, bytes and CRLF in one write: each separate ByteBuffer call costs an
    /// exclusivity check and a uniqueness check, which dominate short replies.
    @inlinable
    public mutating func writeBulkString(_ bytes: UnsafeRawBufferPointer) {
        self.buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: bytes.count + 24) { out in
            let base = out.baseAddress!
            base.storeBytes(of: UInt8(ascii: "$"), as: UInt8.self)
            var offset = 1 + DecimalInteger.write(Int64(bytes.count), to: base + 1)
            base.storeBytes(of: UInt16(0x0A0D).littleEndian, toByteOffset: offset, as: UInt16.self)
            offset += 2
            if bytes.count > 0 {
                (base + offset).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
                offset += bytes.count
            }
            base.storeBytes(of: UInt16(0x0A0D).littleEndian, toByteOffset: offset, as: UInt16.self)
            return offset + 2
        }
    }

    @inlinable
    public mutating func writeBulkString(_ bytes: some Collection<UInt8>) {
        self.writeLine(prefix: UInt8(ascii: "$"), Int64(bytes.count))
        self.buffer.writeBytes(bytes)
        self.buffer.writeStaticString("\r\n")
    }

    public mutating func writeBulkString(_ text: String) {
        var text = text
        text.withUTF8 { self.writeBulkString(UnsafeRawBufferPointer($0)) }
    }

    /// An integer as a bulk string (`$2\r\n42\r\n`), as GET returns an integer-encoded value.
    @inlinable
    public mutating func writeBulkInteger(_ value: Int64) {
        let width = DecimalInteger.width(of: value)
        self.buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 48) { out in
            let base = out.baseAddress!
            base.storeBytes(of: UInt8(ascii: "$"), as: UInt8.self)
            var offset = 1 + DecimalInteger.write(Int64(width), to: base + 1)
            base.storeBytes(of: UInt16(0x0A0D).littleEndian, toByteOffset: offset, as: UInt16.self)
            offset += 2
            offset += DecimalInteger.write(value, to: base + offset)
            base.storeBytes(of: UInt16(0x0A0D).littleEndian, toByteOffset: offset, as: UInt16.self)
            return offset + 2
        }
    }

    /// The null bulk string: `$-1` in RESP2, `_` in RESP3.
    @inlinable
    public mutating func writeNull() {
        if self.version == .resp3 {
            self.buffer.writeStaticString("_\r\n")
        } else {
            self.buffer.writeStaticString("$-1\r\n")
        }
    }

    /// The null array: `*-1` in RESP2, `_` in RESP3.
    @inlinable
    public mutating func writeNullArray() {
        if self.version == .resp3 {
            self.buffer.writeStaticString("_\r\n")
        } else {
            self.buffer.writeStaticString("*-1\r\n")
        }
    }

    // MARK: Aggregates

    @inlinable
    public mutating func writeArrayHeader(count: Int) {
        self.writeLine(prefix: UInt8(ascii: "*"), Int64(count))
    }

    /// A map of `count` key/value pairs; in RESP2 an array of `2 * count` elements.
    @inlinable
    public mutating func writeMapHeader(count: Int) {
        if self.version == .resp3 {
            self.writeLine(prefix: UInt8(ascii: "%"), Int64(count))
        } else {
            self.writeLine(prefix: UInt8(ascii: "*"), Int64(count * 2))
        }
    }

    /// A set; in RESP2 an array.
    @inlinable
    public mutating func writeSetHeader(count: Int) {
        self.writeLine(prefix: self.version == .resp3 ? UInt8(ascii: "~") : UInt8(ascii: "*"), Int64(count))
    }

    /// An out-of-band push message (pub/sub, invalidation); in RESP2 an array.
    @inlinable
    public mutating func writePushHeader(count: Int) {
        self.writeLine(prefix: self.version == .resp3 ? UInt8(ascii: ">") : UInt8(ascii: "*"), Int64(count))
    }

    // MARK: RESP3 scalars

    /// A double: `,1.5` in RESP3, a bulk string in RESP2. Formatted as Redis formats scores.
    public mutating func writeDouble(_ value: Double) {
        // Integral scores (the common case) print as `%.17g` would, without formatting.
        if value.magnitude < 1e15, value == value.rounded(.towardZero), !(value == 0 && value.sign == .minus) {
            let integer = Int64(value)
            if self.version == .resp3 {
                self.writeLine(prefix: UInt8(ascii: ","), integer)
            } else {
                self.writeBulkInteger(integer)
            }
            return
        }
        self.writeDouble(text: RESPDouble.format(value))
    }

    /// A double already formatted by the caller (GEOPOS's long-double text, say): `,text`
    /// in RESP3, a bulk string in RESP2.
    public mutating func writeDouble(text: String) {
        if self.version == .resp3 {
            self.buffer.writeInteger(UInt8(ascii: ","))
            self.buffer.writeString(text)
            self.buffer.writeStaticString("\r\n")
        } else {
            self.writeBulkString(text)
        }
    }

    /// A boolean: `#t`/`#f` in RESP3, `:1`/`:0` in RESP2.
    @inlinable
    public mutating func writeBoolean(_ value: Bool) {
        if self.version == .resp3 {
            self.buffer.writeStaticString(value ? "#t\r\n" : "#f\r\n")
        } else {
            self.buffer.writeStaticString(value ? ":1\r\n" : ":0\r\n")
        }
    }

    /// A verbatim string (`=len\r\ntxt:...`) in RESP3, a bulk string in RESP2.
    public mutating func writeVerbatimString(_ text: String, format: StaticString = "txt") {
        if self.version == .resp3 {
            var text = text
            text.withUTF8 { utf8 in
                self.writeLine(prefix: UInt8(ascii: "="), Int64(utf8.count + 4))
                self.buffer.writeStaticString(format)
                self.buffer.writeInteger(UInt8(ascii: ":"))
                self.buffer.writeBytes(UnsafeRawBufferPointer(utf8))
                self.buffer.writeStaticString("\r\n")
            }
        } else {
            self.writeBulkString(text)
        }
    }

    // MARK: Helpers

    @inlinable
    mutating func writeLine(prefix: UInt8, _ value: Int64) {
        self.buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 24) { out in
            let base = out.baseAddress!
            base.storeBytes(of: prefix, as: UInt8.self)
            let width = DecimalInteger.write(value, to: base + 1)
            base.storeBytes(of: UInt16(0x0A0D).littleEndian, toByteOffset: width + 1, as: UInt16.self)
            return width + 3
        }
    }

    @inlinable
    mutating func writeDecimal(_ value: Int64) {
        self.buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 20) { out in
            DecimalInteger.write(value, to: out.baseAddress!)
        }
    }
}
