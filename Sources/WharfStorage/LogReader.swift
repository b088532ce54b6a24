/// Damage in the middle of the log: start-up stops here unless asked to repair.
public struct LogDamage: Error, Sendable, CustomStringConvertible {
    public let path: String
    public let offset: Int
    public let reason: String
    /// Bytes of log after the damage (this segment's rest plus later segments).
    public let bytesAfter: Int

    public var description: String {
        "log damaged in \(self.path) at offset \(self.offset) (\(self.reason)); \(self.bytesAfter) bytes follow it. "
            + "Start with --repair to keep everything before the damage and drop those bytes."
    }
}

/// What reading the log found.
public struct LogScanResult: Sendable {
    public var records = 0
    /// The LSN just past the last good record: where appending resumes.
    public var endLSN: UInt64
    /// The segment that ends at `endLSN`, to continue appending to (nil: start a new one).
    public var lastSegment: (start: UInt64, path: String)?
    /// A torn final record that was (or, in a dry run, would be) cut off.
    public var tornTail: (path: String, offset: Int, bytes: Int)?
    /// Damage that `repair` cut off.
    public var repaired: (path: String, offset: Int, droppedBytes: Int, reason: String)?
    /// Log bytes read.
    public var bytes: Int = 0
}

/// Reads the log back for recovery and `wharf check`.
///
/// An incomplete or checksum-failing record at the very end of the last segment is a torn
/// write from a crash: it is truncated (its acknowledgement can never have been sent, since
/// replies wait for the write). Anything else that fails — a bad record followed by more
/// data, a gap between segments, a bad segment header — is damage.
public enum LogReader {
    /// Reads every record from `lsn` on, calling `body` for each.
    ///
    /// - Parameters:
    ///   - repair: cut the log at damage instead of failing.
    ///   - modify: truncate torn tails and repaired damage on disk (false for `wharf check`).
    public static func read(
        _ layout: StorageLayout, from lsn: UInt64, repair: Bool, modify: Bool = true,
        _ body: (LogRecord) throws -> Void
    ) throws -> LogScanResult {
        let segments = try layout.segments()
        var result = LogScanResult(endLSN: lsn)
        guard let firstIndex = segments.lastIndex(where: { $0.start <= lsn }) else {
            if let first = segments.first {
                let damage = LogDamage(
                    path: first.path, offset: 0, reason: "log starts at \(first.start) but recovery needs \(lsn)",
                    bytesAfter: segments.reduce(0) { $0 + StorageFiles.size($1.path) })
                if !repair { throw damage }
                if modify { for segment in segments { try StorageFiles.remove(segment.path) } }
                result.repaired = (first.path, 0, damage.bytesAfter, damage.reason)
            }
            return result
        }
        var position = lsn
        var index = firstIndex
        while index < segments.count {
            let segment = segments[index]
            let end = index == segments.count - 1 ? nil : segments[index + 1].start
            if segment.start != position && index != firstIndex {
                let damage = LogDamage(
                    path: segment.path, offset: 0,
                    reason: "segment starts at \(segment.start), previous ended at \(position)",
                    bytesAfter: Self.bytes(of: segments[index...]))
                try Self.handle(
                    damage, repair: repair, modify: modify, directory: layout.directory, segments: segments,
                    from: index, cutAt: nil, result: &result)
                return result
            }
            let outcome = try Self.readSegment(
                segment, from: position, until: end, modify: modify, result: &result, body)
            switch outcome {
            case .complete(let end):
                position = end
                result.endLSN = end
                result.lastSegment = segment
            case .removed(let end):
                // Appending continues in the previous segment, which ends there.
                position = end
                result.endLSN = end
            case .damaged(let damage, let cutOffset, let end):
                result.endLSN = end
                result.lastSegment = segment
                try Self.handle(
                    damage, repair: repair, modify: modify, directory: layout.directory, segments: segments,
                    from: index + 1, cutAt: (segment.path, cutOffset), result: &result)
                return result
            }
            index += 1
        }
        return result
    }

    /// Cuts the log back to `lsn` (dropping everything after it, later segments included),
    /// so appending resumes there. Returns the segment that now ends at `lsn`.
    public static func truncate(_ layout: StorageLayout, to lsn: UInt64) throws -> (start: UInt64, path: String)? {
        let segments = try layout.segments()
        guard let index = segments.lastIndex(where: { $0.start <= lsn }) else { return nil }
        let segment = segments[index]
        let file = try StorageFile.openForReadWrite(segment.path)
        try file.truncate(to: LogRecordFormat.segmentHeaderSize + Int(lsn - segment.start))
        try file.syncData()
        for later in segments[(index + 1)...] { try StorageFiles.remove(later.path) }
        try StorageFiles.syncDirectory(layout.directory)
        return segment
    }

    private static func bytes(of segments: ArraySlice<(start: UInt64, path: String)>) -> Int {
        segments.reduce(0) { $0 + StorageFiles.size($1.path) }
    }

    private static func handle(
        _ damage: LogDamage, repair: Bool, modify: Bool, directory: String, segments: [(start: UInt64, path: String)],
        from laterIndex: Int,
        cutAt: (path: String, offset: Int)?, result: inout LogScanResult
    ) throws {
        guard repair else { throw damage }
        if modify {
            if let cutAt {
                let file = try StorageFile.openForReadWrite(cutAt.path)
                try file.truncate(to: cutAt.offset)
                try file.syncData()
            }
            for segment in segments[laterIndex...] { try StorageFiles.remove(segment.path) }
            try StorageFiles.syncDirectory(directory)
        }
        result.repaired = (damage.path, damage.offset, damage.bytesAfter, damage.reason)
    }

    private enum SegmentOutcome {
        case complete(end: UInt64)
        /// The segment held nothing acknowledged and was deleted.
        case removed(end: UInt64)
        case damaged(LogDamage, cutOffset: Int, end: UInt64)
    }

    private static func readSegment(
        _ segment: (start: UInt64, path: String), from lsn: UInt64, until end: UInt64?, modify: Bool,
        result: inout LogScanResult, _ body: (LogRecord) throws -> Void
    ) throws -> SegmentOutcome {
        let isLast = end == nil
        let file = try StorageFile.openForReading(segment.path)
        let size = try file.size()
        let reader = ChunkedReader(file: file, size: size)
        // Header.
        var header = [UInt8](repeating: 0, count: LogRecordFormat.segmentHeaderSize)
        let headerRead = try header.withUnsafeMutableBytes { try reader.read(into: $0, at: 0) }
        guard headerRead == header.count, let version = LogRecordFormat.version(ofHeader: header, start: segment.start)
        else {
            // The last segment, created at the crash: its header never reached the disk (the
            // file is short, or still holds the zeros or the old header of a prepared or
            // reused file). Nothing in it was acknowledged, since a sync writes the header
            // before any record.
            if isLast
                && (headerRead < header.count || header.allSatisfy({ $0 == 0 })
                    || LogRecordFormat.version(ofHeader: header, start: Self.headerStart(header)) != nil)
            {
                result.tornTail = (segment.path, 0, size)
                guard modify else { return .complete(end: segment.start) }
                try StorageFiles.remove(segment.path)
                return .removed(end: segment.start)
            }
            return .damaged(
                LogDamage(path: segment.path, offset: 0, reason: "bad segment header", bytesAfter: size), cutOffset: 0,
                end: lsn)
        }
        var offset = LogRecordFormat.segmentHeaderSize + Int(lsn - segment.start)
        var position = lsn
        while offset < size {
            // A finished segment may keep the zeros or old records of a prepared or reused
            // file after its own: the next segment's start says where they end.
            if let end, position >= end { break }
            let problem: String
            if size - offset < LogRecordFormat.headerSize {
                problem = "incomplete record header"
            } else {
                let stored = try reader.loadUInt32(at: offset)
                let length = Int(try reader.loadUInt32(at: offset + 4))
                if length < LogRecordFormat.payloadPrefixSize || length > LogRecordFormat.maximumPayload {
                    problem = "impossible record length \(length)"
                } else if offset + LogRecordFormat.headerSize + length > size {
                    problem = "record runs past the end of the file"
                } else {
                    let covered = try reader.slice(at: offset + 4, count: length + 4)
                    let payload = UnsafeRawBufferPointer(rebasing: covered[4...])
                    let crc = CRC32C.checksum(covered)
                    if (version == 1 ? crc : LogRecordFormat.keyedChecksum(crc, lsn: position)) != stored {
                        problem = "checksum mismatch"
                    } else if let record = Self.decode(
                        payload, end: position + UInt64(LogRecordFormat.headerSize + length))
                    {
                        try body(record)
                        result.records += 1
                        result.bytes += LogRecordFormat.headerSize + length
                        offset += LogRecordFormat.headerSize + length
                        position += UInt64(LogRecordFormat.headerSize + length)
                        continue
                    } else {
                        problem = "malformed record"
                    }
                }
            }
            // Zeros from here on are space reserved for the segment and never written: the
            // normal end of the records (in a finished segment, after a crash while rotating).
            if try reader.isZero(from: offset) {
                if isLast && modify {
                    let writable = try StorageFile.openForReadWrite(segment.path)
                    try writable.truncate(to: offset)
                    try writable.syncData()
                }
                return .complete(end: position)
            }
            // A bad record at the end of the last segment is a write torn by the crash. In a
            // version 1 segment only zeros may follow it; in a reused segment the old records
            // behind it may, but no record written at this segment's LSNs.
            let torn: Bool
            if !isLast {
                torn = false
            } else if version == 1 {
                let recordEnd = Self.recordEnd(reader, at: offset, size: size)
                torn = recordEnd >= size ? true : try reader.isZero(from: recordEnd)
            } else {
                torn = try !Self.recordFollows(reader, after: offset, segmentStart: segment.start)
            }
            if torn {
                if modify {
                    let writable = try StorageFile.openForReadWrite(segment.path)
                    try writable.truncate(to: offset)
                    try writable.syncData()
                }
                result.tornTail = (segment.path, offset, size - offset)
                return .complete(end: position)
            }
            return .damaged(
                LogDamage(path: segment.path, offset: offset, reason: problem, bytesAfter: size - offset),
                cutOffset: offset, end: position)
        }
        return .complete(end: position)
    }

    /// The start LSN a segment header names (whether or not its magic is valid).
    private static func headerStart(_ header: [UInt8]) -> UInt64 {
        header.count < LogRecordFormat.segmentHeaderSize
            ? 0 : header[8..<16].reversed().reduce(0) { $0 << 8 | UInt64($1) }
    }

    /// Whether a record that checks out at its own LSN starts anywhere after `offset` in a
    /// version 2 segment starting at `segmentStart` — that is, whether a bad record is
    /// damage with good records after it rather than the end of what was written.
    static func recordFollows(_ reader: ChunkedReader, after offset: Int, segmentStart: UInt64) throws(StorageError)
        -> Bool
    {
        let size = reader.size
        let minimum = LogRecordFormat.headerSize + LogRecordFormat.payloadPrefixSize
        // Candidates are checked through a window of their own, so the scan's stays put.
        let checker = ChunkedReader(file: reader.file, size: size)
        var at = offset + 1
        while at + minimum <= size {
            let window = try reader.slice(at: at, count: min(size - at, 1 << 20))
            var index = 0
            while index + minimum <= window.count {
                let length = Int(UInt32(littleEndian: window.loadUnaligned(fromByteOffset: index + 4, as: UInt32.self)))
                if length >= LogRecordFormat.payloadPrefixSize
                    && at + index + LogRecordFormat.headerSize + length <= size,
                    try Self.checksOut(
                        checker, at: at + index, length: length,
                        lsn: segmentStart + UInt64(at + index - LogRecordFormat.segmentHeaderSize))
                {
                    return true
                }
                index += 1
            }
            at += index
        }
        return false
    }

    /// Whether a whole record of payload `length` starting at `offset`, written at `lsn`,
    /// is there. Its arguments must fill the payload exactly before its checksum is worth
    /// computing: most places in old bytes fail that after a read or two, so the scan never
    /// checksums megabytes for a length field that only looks plausible.
    private static func checksOut(_ reader: ChunkedReader, at offset: Int, length: Int, lsn: UInt64)
        throws(StorageError) -> Bool
    {
        let payload = offset + LogRecordFormat.headerSize
        let end = payload + length
        var count = Int(try reader.loadUInt32(at: payload + 12))
        // Each argument takes at least its 4-byte length.
        guard count > 0, count <= (length - LogRecordFormat.payloadPrefixSize) / 4 else { return false }
        var position = payload + LogRecordFormat.payloadPrefixSize
        while count > 0 {
            guard position + 4 <= end else { return false }
            position += 4 + Int(try reader.loadUInt32(at: position))
            count -= 1
        }
        guard position == end else { return false }
        let stored = try reader.loadUInt32(at: offset)
        let covered = try reader.slice(at: offset + 4, count: length + 4)
        return LogRecordFormat.keyedChecksum(CRC32C.checksum(covered), lsn: lsn) == stored
    }

    /// Where the record at `offset` would end according to its length field.
    private static func recordEnd(_ reader: ChunkedReader, at offset: Int, size: Int) -> Int {
        if size - offset < LogRecordFormat.headerSize { return size }
        guard let length = try? reader.loadUInt32(at: offset + 4) else { return size }
        return min(size, offset + LogRecordFormat.headerSize + Int(length))
    }

    /// Splits a checked payload into time, database and arguments.
    static func decode(_ payload: UnsafeRawBufferPointer, end: UInt64) -> LogRecord? {
        let time = Int64(littleEndian: payload.loadUnaligned(fromByteOffset: 0, as: Int64.self))
        let database = Int(UInt32(littleEndian: payload.loadUnaligned(fromByteOffset: 8, as: UInt32.self)))
        let count = Int(UInt32(littleEndian: payload.loadUnaligned(fromByteOffset: 12, as: UInt32.self)))
        var offset = LogRecordFormat.payloadPrefixSize
        var arguments: [UnsafeRawBufferPointer] = []
        arguments.reserveCapacity(count)
        for _ in 0..<count {
            guard offset + 4 <= payload.count else { return nil }
            let length = Int(UInt32(littleEndian: payload.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
            offset += 4
            guard offset + length <= payload.count else { return nil }
            arguments.append(UnsafeRawBufferPointer(rebasing: payload[offset..<(offset + length)]))
            offset += length
        }
        guard offset == payload.count, count > 0 else { return nil }
        return LogRecord(time: time, database: database, arguments: arguments, endLSN: end)
    }
}

/// Reads a file through a window of a few megabytes, so records are checked and replayed
/// without loading whole segments.
final class ChunkedReader {
    let file: StorageFile
    let size: Int
    private var window: UnsafeMutableRawBufferPointer
    private var windowStart = 0
    private var windowCount = 0

    init(file: StorageFile, size: Int) {
        self.file = file
        self.size = size
        self.window = .allocate(byteCount: 4 << 20, alignment: 8)
    }

    deinit {
        self.window.deallocate()
    }

    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) throws(StorageError) -> Int {
        try self.file.read(into: buffer, at: offset)
    }

    /// `count` bytes at `offset`, valid until the next call.
    func slice(at offset: Int, count: Int) throws(StorageError) -> UnsafeRawBufferPointer {
        if offset < self.windowStart || offset + count > self.windowStart + self.windowCount {
            if count > self.window.count {
                self.window.deallocate()
                self.window = .allocate(byteCount: count, alignment: 8)
            }
            self.windowStart = offset
            self.windowCount = try self.file.read(into: self.window, at: offset)
            if self.windowCount < count {
                throw StorageError(path: self.file.path, operation: "read", reason: "file shorter than expected")
            }
        }
        return UnsafeRawBufferPointer(
            rebasing: UnsafeRawBufferPointer(self.window)[
                (offset - self.windowStart)..<(offset - self.windowStart + count)])
    }

    func loadUInt32(at offset: Int) throws(StorageError) -> UInt32 {
        UInt32(littleEndian: try self.slice(at: offset, count: 4).loadUnaligned(as: UInt32.self))
    }

    func isZero(from offset: Int) throws(StorageError) -> Bool {
        var position = offset
        while position < self.size {
            let count = min(1 << 20, self.size - position)
            let bytes = try self.slice(at: position, count: count)
            var index = 0
            while index + 8 <= bytes.count {
                if bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self) != 0 { return false }
                index += 8
            }
            while index < bytes.count {
                if bytes[index] != 0 { return false }
                index += 1
            }
            position += count
        }
        return true
    }
}
