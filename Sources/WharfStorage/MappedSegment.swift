import CWharfSystem

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
///
/// When every batch is synced (`appendfsync always`) the records are `pwrite`n instead, into
/// a segment whose blocks were written with zeros beforehand (``SegmentPreparer``). Measured
/// on ext4: an `fdatasync` after copying into a mapping or writing into `fallocate`d
/// (unwritten) blocks costs ~200 µs and ~90 µs of CPU — the mapped pages must be
/// write-protected again, the unwritten extents converted in a journal commit — against
/// ~110 µs and ~45 µs after a `pwrite` into zero-filled blocks. A segment file a snapshot
/// has made obsolete serves the same purpose without being zero-filled again (its old
/// records cannot pass for new ones: see ``LogRecordFormat``).
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
    /// Every block of the file has been written (zeros, or records of a reused file): it
    /// keeps its size when finished, so it can be reused in turn.
    let keepsBlocks: Bool

    /// Room for records.
    var capacity: Int { self.mappedSize - LogRecordFormat.segmentHeaderSize }

    static let releaseChunk = 1 << 20

    private init(path: String, start: UInt64, file: StorageFile, size: Int, used: Int, keepsBlocks: Bool)
        throws(StorageError)
    {
        self.path = path
        self.keepsBlocks = keepsBlocks
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

    /// Creates a segment of `size` bytes (header included) starting at LSN `start`; with
    /// `zeroFilled`, its blocks are written with zeros first.
    static func create(layout: StorageLayout, start: UInt64, size: Int, zeroFilled: Bool = false) throws(StorageError)
        -> MappedSegment
    {
        let path = layout.segmentPath(startingAt: start)
        let file = try StorageFile.createReadWrite(path)
        do throws(StorageError) {
            try Self.reserve(file, size: size)
            if zeroFilled { try Self.fillWithZeros(file, from: 0, to: size) }
            return try Self.start(file, path: path, start: start, size: size, keepsBlocks: zeroFilled)
        } catch {
            file.close()
            try? StorageFiles.remove(path)
            throw error
        }
    }

    /// Makes a prepared file (zero-filled or reused, see ``SegmentPreparer``) the segment
    /// starting at LSN `start`.
    static func adopt(_ prepared: SegmentPreparer.Prepared, layout: StorageLayout, start: UInt64) throws(StorageError)
        -> MappedSegment
    {
        let path = layout.segmentPath(startingAt: start)
        if rename(prepared.file.path, path) != 0 {
            let error = errno
            prepared.file.close()
            throw .system("rename", path: prepared.file.path, errno: error)
        }
        do throws(StorageError) {
            return try Self.start(prepared.file, path: path, start: start, size: prepared.size, keepsBlocks: true)
        } catch {
            prepared.file.close()
            try? StorageFiles.remove(path)
            throw error
        }
    }

    /// Writes the header of a reserved file and maps it (the caller cleans up on failure).
    private static func start(_ file: StorageFile, path: String, start: UInt64, size: Int, keepsBlocks: Bool)
        throws(StorageError) -> MappedSegment
    {
        var header = LogRecordFormat.segmentMagic
        withUnsafeBytes(of: start.littleEndian) { header.append(contentsOf: $0) }
        let written = header.withUnsafeBytes { pwrite(file.descriptor, $0.baseAddress, $0.count, 0) }
        if written != header.count { throw StorageError.system("write header", path: path, errno: errno) }
        return try MappedSegment(path: path, start: start, file: file, size: size, used: 0, keepsBlocks: keepsBlocks)
    }

    /// Opens an existing segment whose records end after `used` bytes, to append to it;
    /// with `zeroFilled`, the space after them is written with zeros first.
    static func open(path: String, start: UInt64, used: Int, size: Int, zeroFilled: Bool = false) throws(StorageError)
        -> MappedSegment
    {
        let file = try StorageFile.openForReadWrite(path)
        let needed = max(size, LogRecordFormat.segmentHeaderSize + used)
        try Self.reserve(file, size: needed)
        if zeroFilled { try Self.fillWithZeros(file, from: LogRecordFormat.segmentHeaderSize + used, to: needed) }
        return try MappedSegment(
            path: path, start: start, file: file, size: needed, used: used, keepsBlocks: zeroFilled)
    }

    static func reserve(_ file: StorageFile, size: Int) throws(StorageError) {
        let result = posix_fallocate(file.descriptor, 0, off_t(size))
        if result != 0 { throw .system("reserve \(size) bytes for", path: file.path, errno: result) }
    }

    /// Writes zeros over `[from, to)` and syncs them, so later writes there change data only.
    /// `gradually` hands each megabyte to the disk as it is written and lets at most two be
    /// in flight, so a background fill never queues 64 MB ahead of the log's own syncs.
    /// `abandon` is asked between megabytes; when it says yes the fill stops unfinished and
    /// returns false.
    @discardableResult
    static func fillWithZeros(
        _ file: StorageFile, from: Int, to: Int, gradually: Bool = false, abandon: () -> Bool = { false }
    ) throws(StorageError) -> Bool {
        let chunk = 1 << 20
        let zeros = UnsafeMutableRawPointer.allocate(byteCount: chunk, alignment: 4096)
        zeros.initializeMemory(as: UInt8.self, repeating: 0, count: chunk)
        defer { zeros.deallocate() }
        var offset = from
        while offset < to {
            if abandon() { return false }
            let result = pwrite(file.descriptor, zeros, min(chunk, to - offset), off_t(offset))
            if result < 0 {
                if errno == EINTR { continue }
                throw .system("fill with zeros", path: file.path, errno: errno)
            }
            if gradually {
                _ = wharf_write_back(file.descriptor, Int64(offset), Int64(result), 0)
                if offset - from >= chunk {
                    _ = wharf_write_back(file.descriptor, Int64(offset - chunk), Int64(chunk), 1)
                }
            }
            offset += result
        }
        try file.syncData()
        return true
    }

    /// Adds `bytes` after the records already there, copied into the mapping or, with
    /// `writing`, written with `pwrite`; false if they do not fit.
    func append(_ bytes: UnsafeRawBufferPointer, writing: Bool = false) throws(StorageError) -> Bool {
        guard let base = self.base, self.used + bytes.count <= self.capacity else { return false }
        if writing {
            var done = 0
            while done < bytes.count {
                let offset = off_t(LogRecordFormat.segmentHeaderSize + self.used + done)
                let result = pwrite(self.file.descriptor, bytes.baseAddress! + done, bytes.count - done, offset)
                if result < 0 {
                    if errno == EINTR { continue }
                    // Nothing counts as written: the same bytes go to the same place on retry.
                    throw .system("write", path: self.path, errno: errno)
                }
                done += result
            }
        } else {
            (base + LogRecordFormat.segmentHeaderSize + self.used).copyMemory(
                from: bytes.baseAddress!, byteCount: bytes.count)
        }
        self.used += bytes.count
        let filled = (LogRecordFormat.segmentHeaderSize + self.used) / Self.releaseChunk * Self.releaseChunk
        if filled > self.releasedUpTo {
            madvise(base + self.releasedUpTo, filled - self.releasedUpTo, MADV_DONTNEED)
            self.releasedUpTo = filled
        }
        return true
    }

    /// Stops appending: unmaps and, with `truncating`, cuts the file to its records (the
    /// unused reservation goes). The file stays open so it can still be synced.
    func finish(truncating: Bool) throws(StorageError) {
        self.unmap()
        guard truncating else { return }
        if ftruncate(self.file.descriptor, off_t(LogRecordFormat.segmentHeaderSize + self.used)) != 0 {
            throw .system("truncate", path: self.path, errno: errno)
        }
    }
}
