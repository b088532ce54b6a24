/// The framing of the write-ahead log.
///
/// A segment file starts with a 16-byte header (`WHRFWAL2` and its start LSN). Records
/// follow back to back:
///
/// ```
/// crc:    UInt32 LE   CRC-32C of the length field and the payload, XOR the low 32 bits of
///                     the record's own LSN (where it starts)
/// length: UInt32 LE   bytes of payload
/// payload:
///   time:     Int64 LE   Unix ms the command ran at (replay uses it, so expiry is exact)
///   database: UInt32 LE
///   count:    UInt32 LE  number of arguments
///   count × (length: UInt32 LE, bytes)
/// ```
///
/// Covering the length with the checksum means a torn or flipped length is detected too.
/// Keying the checksum with the LSN means a record only checks out where it was written:
/// segment files are reused once a snapshot covers them, and the old records left behind
/// the new ones (written at other LSNs) can never pass for new ones. Version 1 segments
/// (`WHRFWAL1`, written before reuse existed) have unkeyed checksums and are still read.
public enum LogRecordFormat {
    public static let segmentMagic: [UInt8] = Array("WHRFWAL2".utf8)
    /// The magic of segments whose checksums are not keyed by LSN.
    public static let segmentMagicVersion1: [UInt8] = Array("WHRFWAL1".utf8)
    public static let segmentHeaderSize = 16
    public static let headerSize = 8
    /// Payload bytes before the arguments.
    public static let payloadPrefixSize = 16
    /// Largest payload a reader accepts; anything bigger is damage.
    public static let maximumPayload = 1 << 34

    /// The stored checksum of a record starting at `lsn` whose length field and payload
    /// have CRC-32C `crc`.
    @inline(__always)
    public static func keyedChecksum(_ crc: UInt32, lsn: UInt64) -> UInt32 {
        crc ^ UInt32(truncatingIfNeeded: lsn)
    }

    /// The version of a segment header (its first 16 bytes) for a segment starting at
    /// `start`: 2 or 1, nil if it is not the header of that segment.
    public static func version(ofHeader header: [UInt8], start: UInt64) -> Int? {
        guard header.count >= Self.segmentHeaderSize else { return nil }
        let expectedStart = withUnsafeBytes(of: start.littleEndian) { Array($0) }
        guard Array(header[8..<16]) == expectedStart else { return nil }
        switch Array(header[0..<8]) {
        case Self.segmentMagic: return 2
        case Self.segmentMagicVersion1: return 1
        default: return nil
        }
    }
}

/// Writes the arguments of one record into the log's append buffer.
public struct LogRecordWriter {
    var buffer: UnsafeMutablePointer<AppendBuffer>
    var count: UInt32 = 0

    init(buffer: UnsafeMutablePointer<AppendBuffer>) {
        self.buffer = buffer
    }

    public mutating func argument(_ bytes: UnsafeRawBufferPointer) {
        self.buffer.pointee.reserve(4 + bytes.count)
        self.buffer.pointee.append(UInt32(truncatingIfNeeded: bytes.count))
        self.buffer.pointee.append(bytes)
        self.count += 1
    }

    public mutating func argument(_ text: StaticString) {
        self.argument(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    /// An integer, as its decimal text (how commands take numbers).
    public mutating func argument(_ value: Int64) {
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)
        withUnsafeMutableBytes(of: &digits) { raw in
            var magnitude = value.magnitude
            var position = 24
            repeat {
                position -= 1
                raw[position] = UInt8(truncatingIfNeeded: magnitude % 10) &+ 48
                magnitude /= 10
            } while magnitude > 0
            if value < 0 {
                position -= 1
                raw[position] = UInt8(ascii: "-")
            }
            self.argument(UnsafeRawBufferPointer(rebasing: raw[position..<24]))
        }
    }
}

/// One record read back from the log.
public struct LogRecord {
    public let time: Int64
    public let database: Int
    /// The arguments, as slices of the reader's buffer (valid until the next record).
    public let arguments: [UnsafeRawBufferPointer]
    /// LSN just past this record.
    public let endLSN: UInt64
}
