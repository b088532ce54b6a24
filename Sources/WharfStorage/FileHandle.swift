#if canImport(Glibc)
    import Glibc
#endif

/// A POSIX file descriptor with the few operations storage needs, each throwing a
/// ``StorageError`` that names the file.
public final class StorageFile: @unchecked Sendable {
    public let path: String
    public private(set) var descriptor: Int32

    private init(path: String, descriptor: Int32) {
        self.path = path
        self.descriptor = descriptor
    }

    deinit {
        if self.descriptor >= 0 { _ = Glibc.close(self.descriptor) }
    }

    /// Opens for appending, creating the file if needed.
    public static func openForAppend(_ path: String) throws(StorageError) -> StorageFile {
        let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .system("open", path: path, errno: errno) }
        return StorageFile(path: path, descriptor: fd)
    }

    /// Creates (or empties) a file for appending.
    public static func createForAppend(_ path: String) throws(StorageError) -> StorageFile {
        let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .system("create", path: path, errno: errno) }
        return StorageFile(path: path, descriptor: fd)
    }

    /// Creates (or empties) a file for reading and writing (mappable).
    public static func createReadWrite(_ path: String) throws(StorageError) -> StorageFile {
        let fd = Glibc.open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .system("create", path: path, errno: errno) }
        return StorageFile(path: path, descriptor: fd)
    }

    /// Creates (or empties) a file.
    public static func create(_ path: String) throws(StorageError) -> StorageFile {
        let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .system("create", path: path, errno: errno) }
        return StorageFile(path: path, descriptor: fd)
    }

    public static func openForReading(_ path: String) throws(StorageError) -> StorageFile {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .system("open", path: path, errno: errno) }
        return StorageFile(path: path, descriptor: fd)
    }

    public static func openForReadWrite(_ path: String) throws(StorageError) -> StorageFile {
        let fd = Glibc.open(path, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { throw .system("open", path: path, errno: errno) }
        return StorageFile(path: path, descriptor: fd)
    }

    /// Writes all bytes (retrying short writes and EINTR).
    public func write(_ bytes: UnsafeRawBufferPointer) throws(StorageError) {
        var offset = 0
        while offset < bytes.count {
            let written = Glibc.write(self.descriptor, bytes.baseAddress! + offset, bytes.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                throw .system("write", path: self.path, errno: errno)
            }
            offset += written
        }
    }

    public func write(_ bytes: [UInt8]) throws(StorageError) {
        var failure: StorageError?
        bytes.withUnsafeBytes { raw in
            do throws(StorageError) { try self.write(raw) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    /// Reads up to `count` bytes at `offset`; fewer only at end of file.
    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) throws(StorageError) -> Int {
        var total = 0
        while total < buffer.count {
            let count = pread(self.descriptor, buffer.baseAddress! + total, buffer.count - total, off_t(offset + total))
            if count < 0 {
                if errno == EINTR { continue }
                throw .system("read", path: self.path, errno: errno)
            }
            if count == 0 { break }
            total += count
        }
        return total
    }

    /// Up to `count` bytes at `offset`; fewer only at end of file.
    public func read(count: Int, at offset: Int) throws(StorageError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var failure: StorageError?
        let read = bytes.withUnsafeMutableBytes { raw -> Int in
            do throws(StorageError) { return try self.read(into: raw, at: offset) } catch {
                failure = error
                return 0
            }
        }
        if let failure { throw failure }
        return Array(bytes.prefix(read))
    }

    /// Forces written data (not necessarily metadata that is not needed to read it) to disk.
    public func syncData() throws(StorageError) {
        if fdatasync(self.descriptor) != 0 { throw .system("fdatasync", path: self.path, errno: errno) }
    }

    public func sync() throws(StorageError) {
        if fsync(self.descriptor) != 0 { throw .system("fsync", path: self.path, errno: errno) }
    }

    public func size() throws(StorageError) -> Int {
        var info = stat()
        if fstat(self.descriptor, &info) != 0 { throw .system("stat", path: self.path, errno: errno) }
        return Int(info.st_size)
    }

    /// Cuts the file to `length` bytes and moves the write position there, so the next
    /// write continues at the new end rather than leaving a hole of zeros.
    public func truncate(to length: Int) throws(StorageError) {
        if ftruncate(self.descriptor, off_t(length)) != 0 { throw .system("truncate", path: self.path, errno: errno) }
        if lseek(self.descriptor, off_t(length), SEEK_SET) < 0 { throw .system("seek", path: self.path, errno: errno) }
    }

    public func close() {
        if self.descriptor >= 0 {
            _ = Glibc.close(self.descriptor)
            self.descriptor = -1
        }
    }

    /// A second descriptor for the same open file, so another thread can fsync it while
    /// this one may be closed.
    public func duplicate() throws(StorageError) -> StorageFile {
        let fd = dup(self.descriptor)
        guard fd >= 0 else { throw .system("dup", path: self.path, errno: errno) }
        return StorageFile(path: self.path, descriptor: fd)
    }
}

/// Directory-level file operations.
public enum StorageFiles {
    public static func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    public static func createDirectory(_ path: String) throws(StorageError) {
        var components: [String] = []
        for part in path.split(separator: "/", omittingEmptySubsequences: false) {
            components.append(String(part))
            let prefix = components.joined(separator: "/")
            if prefix.isEmpty || prefix == "." { continue }
            if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
                throw .system("create directory", path: path, errno: errno)
            }
        }
    }

    /// File names (not paths) in `directory`.
    public static func list(_ directory: String) throws(StorageError) -> [String] {
        guard let handle = opendir(directory) else { throw .system("list", path: directory, errno: errno) }
        defer { closedir(handle) }
        var names: [String] = []
        while let entry = readdir(handle) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    public static func rename(_ from: String, to: String) throws(StorageError) {
        if Glibc.rename(from, to) != 0 { throw .system("rename to \(to)", path: from, errno: errno) }
    }

    public static func remove(_ path: String) throws(StorageError) {
        if unlink(path) != 0 && errno != ENOENT { throw .system("remove", path: path, errno: errno) }
    }

    /// Makes a directory's entries (new, renamed or removed files) durable.
    public static func syncDirectory(_ path: String) throws(StorageError) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw .system("open directory", path: path, errno: errno) }
        defer { _ = Glibc.close(fd) }
        if fsync(fd) != 0 { throw .system("fsync directory", path: path, errno: errno) }
    }

    public static func size(_ path: String) -> Int {
        var info = stat()
        return stat(path, &info) == 0 ? Int(info.st_size) : 0
    }
}
