package import WharfProtocol

/// A stream entry ID: milliseconds and a sequence number, ordered as a pair.
package struct StreamID: Comparable, Hashable, Sendable, CustomStringConvertible {
    package var ms: UInt64
    package var seq: UInt64

    package init(ms: UInt64, seq: UInt64) {
        self.ms = ms
        self.seq = seq
    }

    package static let zero = StreamID(ms: 0, seq: 0)
    package static let max = StreamID(ms: .max, seq: .max)

    package static func < (lhs: StreamID, rhs: StreamID) -> Bool {
        lhs.ms != rhs.ms ? lhs.ms < rhs.ms : lhs.seq < rhs.seq
    }

    /// The next ID, or nil after the largest.
    package var successor: StreamID? {
        if self.seq < .max { return StreamID(ms: self.ms, seq: self.seq + 1) }
        if self.ms < .max { return StreamID(ms: self.ms + 1, seq: 0) }
        return nil
    }

    /// The previous ID, or nil before 0-0.
    package var predecessor: StreamID? {
        if self.seq > 0 { return StreamID(ms: self.ms, seq: self.seq - 1) }
        if self.ms > 0 { return StreamID(ms: self.ms - 1, seq: .max) }
        return nil
    }

    package var description: String { "\(self.ms)-\(self.seq)" }

    /// Parses `ms[-seq]`, or `-` and `+` unless `strict`; a missing sequence is
    /// `missingSequence`. Nil for anything else.
    package static func parse(_ bytes: UnsafeRawBufferPointer, missingSequence: UInt64 = 0, strict: Bool = false)
        -> StreamID?
    {
        if bytes.count == 1 && !strict {
            if bytes[0] == UInt8(ascii: "-") { return .zero }
            if bytes[0] == UInt8(ascii: "+") { return .max }
        }
        guard let dash = bytes.firstIndex(of: UInt8(ascii: "-")) else {
            guard let ms = parseUnsigned(bytes) else { return nil }
            return StreamID(ms: ms, seq: missingSequence)
        }
        guard let ms = parseUnsigned(UnsafeRawBufferPointer(rebasing: bytes[..<dash])),
            let seq = parseUnsigned(UnsafeRawBufferPointer(rebasing: bytes[(dash + 1)...]))
        else { return nil }
        return StreamID(ms: ms, seq: seq)
    }

    /// A decimal `UInt64` of digits only (Redis's `string2ull`).
    package static func parseUnsigned(_ bytes: UnsafeRawBufferPointer) -> UInt64? {
        guard !bytes.isEmpty, bytes.count <= 20 else { return nil }
        var value: UInt64 = 0
        for byte in bytes {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            let (times, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times.addingReportingOverflow(UInt64(byte - UInt8(ascii: "0")))
            if overflow1 || overflow2 { return nil }
            value = sum
        }
        return value
    }

    /// Writes `ms-seq` into `buffer` (at most 41 bytes) and returns the length.
    @inline(__always)
    package func format(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        var length = Self.writeDecimal(self.ms, into: buffer, at: 0)
        buffer[length] = UInt8(ascii: "-")
        length += 1
        return Self.writeDecimal(self.seq, into: buffer, at: length)
    }

    private static func writeDecimal(_ value: UInt64, into buffer: UnsafeMutableRawBufferPointer, at start: Int) -> Int
    {
        var digits = 1
        var probe = value
        while probe >= 10 {
            probe /= 10
            digits += 1
        }
        var remaining = value
        var index = start + digits - 1
        repeat {
            buffer[index] = UInt8(ascii: "0") + UInt8(remaining % 10)
            remaining /= 10
            index -= 1
        } while remaining > 0
        return start + digits
    }
}

extension RESPReplyWriter {
    /// Writes a stream ID as a bulk string.
    @inline(__always)
    package mutating func writeStreamID(_ id: StreamID) {
        withUnsafeTemporaryAllocation(byteCount: 48, alignment: 1) { buffer in
            let length = id.format(into: buffer)
            self.writeBulkString(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(buffer)[..<length]))
        }
    }
}
