#if canImport(Glibc)
import Glibc
#endif

/// One log segment file, preallocated and mapped into memory.
///
/// Writing a record is a copy into the mapping: the bytes are in the operating system's
/// page cache as soon as the copy ends, so they survive a crash of the process without a
/// `write` system call per batch, and the flusher makes them durable with `fdatasync`.
/// Space is reserved with `fallocate` when the segment is created, so a full disk shows up
/// then (as an error the log can report and retry), never as a fault while copying.
final class MappedSegment {
    let path: String
    let start: UInt64
    let file: StorageFile
    private var base: UnsafeMutableRawPointer?
    private let mappedSize: Int
    /// Bytes of records written after the header.
    private(set) var used: Int
    /// Mapped pages behind this offset have been released from the process (the data stays
    /// in the page cache), so the log does not grow the server's resident memory.
    private var releasedUpTo: Int

    /// Room for records.
    var capacity: Int { self.mappedSize - LogRecordFormat.segmentHeaderSize }

    static let releaseChunk = 1 << 20

    private init(path: String, start: UInt64, file: StorageFile, size: Int, used: Int) throws(StorageError) {
        self.path = path
        self.start = start
        self.file = file
        self.mappedSize = size
        self.used = used
        let pointer = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, file.descriptor, 0)
        guard let pointer, pointer != MAP_FAILED else { throw .system("map", path: path, errno: errno) }
        self.base = pointer
        self.releasedUpTo = (LogRecordFormat.segmentHeaderSize + used) / Self.releaseChunk * Self.releaseChunk
    }

    deinit {
        self.unmap()
    }

    private func unmap() {
        if let base = self.base {
            munmap(base, self.mappedSize)
            self.base = nil
        }
    }

    /// Creates a segment of `size` bytes (header included) starting at LSN `start`.
    static func create(layout: StorageLayout, start: UInt64, size: Int) throws(StorageError) -> MappedSegment {
        let path = layout.segmentPath(startingAt: start)
        let file = try StorageFile.createReadWrite(path)
        do throws(StorageError) {
            try Self.reserve(file, size: size)
            var header = LogRecordFormat.segmentMagic
            withUnsafeBytes(of: start.littleEndian) { header.append(contentsOf: $0) }
            let written = header.withUnsafeBytes { pwrite(file.descriptor, $0.baseAddress, $0.count, 0) }
            if written != header.count { throw StorageError.system("write header", path: path, errno: errno) }
            return try MappedSegment(path: path, start: start, file: file, size: size, used: 0)
        } catch {
            file.close()
            try? StorageFiles.remove(path)
            throw error
        }
    }

    /// Opens an existing segment whose records end after `used` bytes, to append to it.
    static func open(path: String, start: UInt64, used: Int, size: Int) throws(StorageError) -> MappedSegment {
        let file = try StorageFile.openForReadWrite(path)
        let needed = max(size, LogRecordFormat.segmentHeaderSize + used)
        try Self.reserve(file, size: needed)
        return try MappedSegment(path: path, start: start, file: file, size: needed, used: used)
    }

    private static func reserve(_ file: StorageFile, size: Int) throws(StorageError) {
        let result = posix_fallocate(file.descriptor, 0, off_t(size))
        if result != 0 { throw .system("reserve \(size) bytes for", path: file.path, errno: result) }
    }

    /// Copies `bytes` after the records already there; false if they do not fit.
    func append(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let base = self.base, self.used + bytes.count <= self.capacity else { return false }
        (base + LogRecordFormat.segmentHeaderSize + self.used).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
        self.used += bytes.count
        let filled = (LogRecordFormat.segmentHeaderSize + self.used) / Self.releaseChunk * Self.releaseChunk
        if filled > self.releasedUpTo {
            madvise(base + self.releasedUpTo, filled - self.releasedUpTo, MADV_DONTNEED)
            self.releasedUpTo = filled
        }
        return true
    }

    /// Stops appending: unmaps and cuts the file to its records (the unused reservation
    /// goes). The file stays open so it can still be synced.
    func finish() throws(StorageError) {
        self.unmap()
        if ftruncate(self.file.descriptor, off_t(LogRecordFormat.segmentHeaderSize + self.used)) != 0 {
            throw .system("truncate", path: self.path, errno: errno)
        }
    }
}
