/// The container format of a snapshot: a header, a body the engine writes, and a checksummed
/// trailer.
///
/// ```
/// header:  "WHRFSNP1" | version: UInt32 | flags: UInt32 | lsn: UInt64 | created: Int64 (Unix ms)
/// body:    engine records (see WharfEngine's SnapshotCodec)
/// trailer: entries: UInt64 | crc: UInt32 (CRC-32C of every byte before it) | "WHRFEND1"
/// ```
///
/// Snapshots are written to `<name>.tmp`, fsynced, renamed into place and the directory
/// fsynced, so a crash leaves either the old snapshot or the complete new one.
public enum SnapshotFormat {
    public static let magic: [UInt8] = Array("WHRFSNP1".utf8)
    public static let endMagic: [UInt8] = Array("WHRFEND1".utf8)
    public static let version: UInt32 = 1
    public static let headerSize = 32
    public static let trailerSize = 20
}

/// A snapshot that cannot be used, with where and why.
public struct SnapshotDamage: Error, Sendable, CustomStringConvertible {
    public let path: String
    public let offset: Int
    public let reason: String

    public init(path: String, offset: Int, reason: String) {
        self.path = path
        self.offset = offset
        self.reason = reason
    }

    public var description: String { "snapshot \(self.path) is damaged at offset \(self.offset): \(self.reason)" }
}

/// Writes one snapshot through a buffer, checksumming as it goes.
public final class SnapshotWriter {
    public let finalPath: String
    public let temporaryPath: String
    private let file: StorageFile
    private let directory: String
    private var buffer = AppendBuffer(capacity: 1 << 20)
    private var crc: UInt32 = 0
    public private(set) var bytesWritten = 0

    public init(layout: StorageLayout, lsn: UInt64, createdAt: Int64) throws(StorageError) {
        self.finalPath = layout.snapshotPath(at: lsn)
        self.temporaryPath = self.finalPath + ".tmp"
        self.directory = layout.directory
        self.file = try StorageFile.create(self.temporaryPath)
        self.append(SnapshotFormat.magic)
        self.write(SnapshotFormat.version)
        self.write(UInt32(0))
        self.write(lsn)
        self.write(createdAt)
    }

    /// Writes to an explicit path (backups), still through a temporary file.
    public init(path: String, lsn: UInt64, createdAt: Int64) throws(StorageError) {
        self.finalPath = path
        self.temporaryPath = path + ".tmp"
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        self.directory = parts.count > 1 ? parts.dropLast().joined(separator: "/") : "."
        self.file = try StorageFile.create(self.temporaryPath)
        self.append(SnapshotFormat.magic)
        self.write(SnapshotFormat.version)
        self.write(UInt32(0))
        self.write(lsn)
        self.write(createdAt)
    }

    deinit {
        self.buffer.deallocate()
    }

    private func append(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { self.write($0) }
    }

    @inline(__always)
    public func write<T: FixedWidthInteger>(_ value: T) {
        self.buffer.append(value)
    }

    /// A length as LEB128 (one byte below 128).
    @inline(__always)
    public func writeLength(_ value: Int) {
        var remaining = UInt64(value)
        while remaining >= 0x80 {
            self.buffer.append(UInt8(truncatingIfNeeded: remaining) | 0x80)
            remaining >>= 7
        }
        self.buffer.append(UInt8(remaining))
    }

    @inline(__always)
    public func write(_ bytes: UnsafeRawBufferPointer) {
        self.buffer.append(bytes)
    }

    /// A length-prefixed byte string.
    @inline(__always)
    public func writeBytes(_ bytes: UnsafeRawBufferPointer) {
        self.writeLength(bytes.count)
        self.buffer.append(bytes)
    }

    /// Sends the buffer to the file when it is full; call between records.
    @inline(__always)
    public func flushIfNeeded() throws(StorageError) {
        if self.buffer.count >= 1 << 20 { try self.flush() }
    }

    private func flush() throws(StorageError) {
        guard self.buffer.count > 0 else { return }
        self.crc = CRC32C.checksum(self.buffer.bytes, continuing: self.crc)
        try self.file.write(self.buffer.bytes)
        self.bytesWritten += self.buffer.count
        self.buffer.reset(keeping: 8 << 20)
    }

    /// Writes the trailer, makes the file durable and moves it into place.
    ///
    /// - Returns: the snapshot's size in bytes.
    @discardableResult
    public func finish(entries: UInt64) throws(StorageError) -> Int {
        self.write(entries)
        try self.flush()
        var trailer: [UInt8] = []
        withUnsafeBytes(of: self.crc.littleEndian) { trailer.append(contentsOf: $0) }
        trailer.append(contentsOf: SnapshotFormat.endMagic)
        try self.file.write(trailer)
        self.bytesWritten += trailer.count
        try self.file.sync()
        self.file.close()
        try StorageFiles.rename(self.temporaryPath, to: self.finalPath)
        try StorageFiles.syncDirectory(self.directory)
        return self.bytesWritten
    }

    /// Gives up: removes the temporary file.
    public func abandon() {
        self.file.close()
        try? StorageFiles.remove(self.temporaryPath)
    }
}

/// Reads a snapshot front to back, checksumming what it reads; ``finish()`` confirms the
/// checksum, so a caller that applied entries as it read them knows they were all intact.
public final class SnapshotReader {
    public let path: String
    public let lsn: UInt64
    public let createdAt: Int64
    public let fileSize: Int
    private let reader: ChunkedReader
    private var offset: Int
    private var crc: UInt32 = 0
    private var checksummedUpTo = 0
    private let bodyEnd: Int

    public init(path: String) throws {
        self.path = path
        let file = try StorageFile.openForReading(path)
        self.fileSize = try file.size()
        self.reader = ChunkedReader(file: file, size: self.fileSize)
        guard self.fileSize >= SnapshotFormat.headerSize + SnapshotFormat.trailerSize else {
            throw SnapshotDamage(path: path, offset: 0, reason: "file too short (\(self.fileSize) bytes)")
        }
        let header = try self.reader.slice(at: 0, count: SnapshotFormat.headerSize)
        guard Array(header[0..<8]) == SnapshotFormat.magic else {
            throw SnapshotDamage(path: path, offset: 0, reason: "not a Wharf snapshot")
        }
        let version = UInt32(littleEndian: header.loadUnaligned(fromByteOffset: 8, as: UInt32.self))
        guard version == SnapshotFormat.version else {
            throw SnapshotDamage(path: path, offset: 8, reason: "unsupported snapshot version \(version)")
        }
        self.lsn = UInt64(littleEndian: header.loadUnaligned(fromByteOffset: 16, as: UInt64.self))
        self.createdAt = Int64(littleEndian: header.loadUnaligned(fromByteOffset: 24, as: Int64.self))
        self.offset = SnapshotFormat.headerSize
        self.bodyEnd = self.fileSize - SnapshotFormat.trailerSize + 8
        self.crc = CRC32C.checksum(header)
        self.checksummedUpTo = SnapshotFormat.headerSize
    }

    /// Whether the body has been read completely.
    public var atEnd: Bool { self.offset >= self.bodyEnd - 8 }

    private func damage(_ reason: String) -> SnapshotDamage {
        SnapshotDamage(path: self.path, offset: self.offset, reason: reason)
    }

    private func take(_ count: Int) throws -> UnsafeRawBufferPointer {
        guard count >= 0, self.offset + count <= self.bodyEnd else { throw self.damage("truncated record") }
        let bytes = try self.reader.slice(at: self.offset, count: count)
        self.crc = CRC32C.checksum(bytes, continuing: self.crc)
        self.offset += count
        self.checksummedUpTo = self.offset
        return bytes
    }

    public func read<T: FixedWidthInteger>(_ type: T.Type = T.self) throws -> T {
        T(littleEndian: try self.take(MemoryLayout<T>.size).loadUnaligned(as: T.self))
    }

    public func readLength() throws -> Int {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let byte: UInt8 = try self.read()
            value |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { break }
            shift += 7
            if shift > 56 { throw self.damage("length too long") }
        }
        guard value <= UInt64(self.bodyEnd - self.offset) else {
            throw self.damage("length \(value) beyond end of file")
        }
        return Int(value)
    }

    /// The next `count` bytes, valid until the next read.
    public func readBytes(_ count: Int) throws -> UnsafeRawBufferPointer {
        try self.take(count)
    }

    /// A length-prefixed byte string, valid until the next read.
    public func readBytes() throws -> UnsafeRawBufferPointer {
        try self.take(try self.readLength())
    }

    /// Checks the trailer against everything read; returns the entry count it records.
    @discardableResult
    public func finish() throws -> UInt64 {
        guard self.offset == self.bodyEnd - 8 else {
            throw self.damage("\(self.bodyEnd - 8 - self.offset) unread bytes before the trailer")
        }
        let entries: UInt64 = try self.read()
        let trailer = try self.reader.slice(at: self.offset, count: 12)
        let stored = UInt32(littleEndian: trailer.loadUnaligned(as: UInt32.self))
        guard Array(trailer[4..<12]) == SnapshotFormat.endMagic else { throw self.damage("missing end marker") }
        guard stored == self.crc else { throw self.damage("checksum mismatch") }
        return entries
    }

    /// Checks a snapshot's checksum without interpreting its body.
    public static func validate(path: String) throws -> (lsn: UInt64, entries: UInt64, createdAt: Int64, size: Int) {
        let reader = try SnapshotReader(path: path)
        while reader.offset < reader.bodyEnd - 8 {
            _ = try reader.take(min(1 << 20, reader.bodyEnd - 8 - reader.offset))
        }
        let entries = try reader.finish()
        return (reader.lsn, entries, reader.createdAt, reader.fileSize)
    }
}
