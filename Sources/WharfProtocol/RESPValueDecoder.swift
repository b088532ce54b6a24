public import NIOCore

/// Decodes replies (any RESP2 or RESP3 value) from a buffer; for clients and tests.
///
/// It decodes a whole value or nothing: when the buffer holds only part of a value the
/// reader index is left where it was and `nil` is returned. Nesting is capped so a hostile
/// server cannot exhaust the stack.
public struct RESPValueDecoder: Sendable {
    public var maxDepth: Int

    public init(maxDepth: Int = 64) {
        self.maxDepth = maxDepth
    }

    public func decode(_ buffer: inout ByteBuffer) throws(RESPProtocolError) -> RESPValue? {
        var copy = buffer
        guard let value = try self.decodeValue(&copy, depth: 0) else { return nil }
        buffer = copy
        return value
    }

    /// What ``skip(_:)`` saw of the value it stepped over.
    public enum SkippedValue: Sendable, Hashable {
        case value
        /// An error reply, with its line (these are rare, so building the text costs nothing).
        case error(String)
    }

    /// Steps over one whole value without building it (no allocation for strings and
    /// aggregates), for callers that only need to know whether a reply was an error. Returns
    /// nil and leaves the buffer alone if the value is incomplete. The caller routes push
    /// messages (`>`) to ``decode(_:)`` instead, by looking at the first byte.
    public func skip(_ buffer: inout ByteBuffer) throws(RESPProtocolError) -> SkippedValue? {
        var copy = buffer
        guard let skipped = try self.skipValue(&copy, depth: 0) else { return nil }
        buffer = copy
        return skipped
    }

    private func skipValue(_ buffer: inout ByteBuffer, depth: Int) throws(RESPProtocolError) -> SkippedValue? {
        if depth > self.maxDepth { throw RESPProtocolError("reply nested deeper than \(self.maxDepth)") }
        guard let marker = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) else { return nil }
        switch marker {
        case UInt8(ascii: "-"), UInt8(ascii: "!"):
            guard let value = try self.decodeValue(&buffer, depth: depth) else { return nil }
            return .error(value.string ?? "")
        case UInt8(ascii: "$"), UInt8(ascii: "="), UInt8(ascii: "*"), UInt8(ascii: "~"), UInt8(ascii: ">"),
            UInt8(ascii: "%"), UInt8(ascii: "|"):
            buffer.moveReaderIndex(forwardBy: 1)
            guard let length = try Self.readLength(&buffer) else { return nil }
            if marker == UInt8(ascii: "$") || marker == UInt8(ascii: "=") {
                if length < 0 { return .value }
                guard buffer.readableBytes >= length + 2 else { return nil }
                buffer.moveReaderIndex(forwardBy: length + 2)
                return .value
            }
            if length < 0 { return .value }
            let elements = (marker == UInt8(ascii: "%") || marker == UInt8(ascii: "|")) ? length * 2 : length
            for _ in 0..<elements {
                guard try self.skipValue(&buffer, depth: depth + 1) != nil else { return nil }
            }
            if marker == UInt8(ascii: "|") { return try self.skipValue(&buffer, depth: depth) }
            return .value
        case UInt8(ascii: "+"), UInt8(ascii: ":"), UInt8(ascii: "("), UInt8(ascii: ","), UInt8(ascii: "#"),
            UInt8(ascii: "_"):
            // One line; its content is not needed: find its end in place.
            let consumed = buffer.withUnsafeReadableBytes { bytes -> Int? in
                var index = 1
                while index + 1 < bytes.count {
                    if bytes[index] == UInt8(ascii: "\r") { return index + 2 }
                    index += 1
                }
                return nil
            }
            guard let consumed else { return nil }
            buffer.moveReaderIndex(forwardBy: consumed)
            return .value
        default:
            throw RESPProtocolError("unknown reply type byte \(marker)")
        }
    }

    /// Reads `<digits>\r\n` (with an optional minus) without making a String, scanning the
    /// bytes in place and moving the reader index once.
    private static func readLength(_ buffer: inout ByteBuffer) throws(RESPProtocolError) -> Int? {
        let scanned = buffer.withUnsafeReadableBytes { bytes -> (value: Int, consumed: Int)?? in
            var value = 0
            var negative = false
            var digits = 0
            var index = 0
            while index < bytes.count {
                let byte = bytes[index]
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"):
                    guard digits < 18 else { return .some(nil) }
                    value = value &* 10 &+ Int(byte &- UInt8(ascii: "0"))
                    digits += 1
                case UInt8(ascii: "-") where digits == 0 && !negative:
                    negative = true
                case UInt8(ascii: "\r"):
                    guard index + 1 < bytes.count else { return nil }
                    guard bytes[index + 1] == UInt8(ascii: "\n"), digits > 0 else { return .some(nil) }
                    return .some((negative ? -value : value, index + 2))
                default:
                    return .some(nil)
                }
                index += 1
            }
            return nil
        }
        guard let scanned else { return nil }  // incomplete
        guard let (value, consumed) = scanned else { throw RESPProtocolError("invalid length") }
        buffer.moveReaderIndex(forwardBy: consumed)
        return value
    }

    private func decodeValue(_ buffer: inout ByteBuffer, depth: Int) throws(RESPProtocolError) -> RESPValue? {
        if depth > self.maxDepth { throw RESPProtocolError("reply nested deeper than \(self.maxDepth)") }
        guard let marker = buffer.readInteger(as: UInt8.self) else { return nil }
        guard let line = Self.readLine(&buffer) else { return nil }
        switch marker {
        case UInt8(ascii: "+"): return .simpleString(line)
        case UInt8(ascii: "-"): return .error(line)
        case UInt8(ascii: ":"):
            guard let value = Int64(line) else { throw RESPProtocolError("invalid integer '\(line)'") }
            return .integer(value)
        case UInt8(ascii: "("): return .bigNumber(line)
        case UInt8(ascii: ","):
            switch line {
            case "inf": return .double(.infinity)
            case "-inf": return .double(-.infinity)
            case "nan": return .double(.nan)
            default:
                guard let value = Double(line) else { throw RESPProtocolError("invalid double '\(line)'") }
                return .double(value)
            }
        case UInt8(ascii: "#"):
            switch line {
            case "t": return .boolean(true)
            case "f": return .boolean(false)
            default: throw RESPProtocolError("invalid boolean '\(line)'")
            }
        case UInt8(ascii: "_"): return .null
        case UInt8(ascii: "$"), UInt8(ascii: "="), UInt8(ascii: "!"):
            guard let length = Int(line) else { throw RESPProtocolError("invalid bulk length '\(line)'") }
            if length < 0 { return .null }
            guard buffer.readableBytes >= length + 2, let bytes = buffer.readBytes(length: length) else { return nil }
            buffer.moveReaderIndex(forwardBy: 2)
            if marker == UInt8(ascii: "!") { return .error(String(decoding: bytes, as: UTF8.self)) }
            if marker == UInt8(ascii: "=") {
                let format = String(decoding: bytes.prefix(3), as: UTF8.self)
                return .verbatimString(format: format, text: Array(bytes.dropFirst(4)))
            }
            return .bulkString(bytes)
        case UInt8(ascii: "*"), UInt8(ascii: "~"), UInt8(ascii: ">"), UInt8(ascii: "%"), UInt8(ascii: "|"):
            guard let count = Int(line) else { throw RESPProtocolError("invalid aggregate length '\(line)'") }
            if count < 0 { return .null }
            let elements = (marker == UInt8(ascii: "%") || marker == UInt8(ascii: "|")) ? count * 2 : count
            var values: [RESPValue] = []
            values.reserveCapacity(min(elements, 1024))
            for _ in 0..<elements {
                guard let value = try self.decodeValue(&buffer, depth: depth + 1) else { return nil }
                values.append(value)
            }
            switch marker {
            case UInt8(ascii: "~"): return .set(values)
            case UInt8(ascii: ">"): return .push(values)
            case UInt8(ascii: "%"): return .map(values)
            case UInt8(ascii: "|"):
                // An attribute precedes the value it describes; return the value.
                return try self.decodeValue(&buffer, depth: depth)
            default: return .array(values)
            }
        default:
            throw RESPProtocolError("unknown reply type byte \(marker)")
        }
    }

    private static func readLine(_ buffer: inout ByteBuffer) -> String? {
        guard let crlf = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\r")) else { return nil }
        let length = crlf - buffer.readerIndex
        guard buffer.readableBytes >= length + 2 else { return nil }
        let line = buffer.readString(length: length)
        buffer.moveReaderIndex(forwardBy: 2)
        return line
    }
}
