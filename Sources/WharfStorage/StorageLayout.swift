/// The files of a data directory: log segments `wal-<start LSN>.log` and snapshots
/// `snapshot-<LSN>.wsnap`, LSNs in 16 hex digits so names sort in log order.
///
/// A log sequence number (LSN) is a byte offset in the whole log, across segments. A
/// snapshot named with LSN `n` holds the state after every record that ends at or before `n`.
public struct StorageLayout: Sendable {
    public let directory: String

    public init(directory: String) {
        self.directory = directory
    }

    public func segmentPath(startingAt lsn: UInt64) -> String {
        "\(self.directory)/wal-\(Self.hex(lsn)).log"
    }

    public func snapshotPath(at lsn: UInt64) -> String {
        "\(self.directory)/snapshot-\(Self.hex(lsn)).wsnap"
    }

    static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: max(0, 16 - digits.count)) + digits
    }

    /// Log segments, by start LSN, ascending.
    public func segments() throws(StorageError) -> [(start: UInt64, path: String)] {
        try self.files(prefix: "wal-", suffix: ".log")
    }

    /// Snapshots, by LSN, ascending.
    public func snapshots() throws(StorageError) -> [(lsn: UInt64, path: String)] {
        try self.files(prefix: "snapshot-", suffix: ".wsnap").map { ($0.start, $0.path) }
    }

    private func files(prefix: String, suffix: String) throws(StorageError) -> [(start: UInt64, path: String)] {
        var found: [(start: UInt64, path: String)] = []
        for name in try StorageFiles.list(self.directory) where name.hasPrefix(prefix) && name.hasSuffix(suffix) {
            let digits = name.dropFirst(prefix.count).dropLast(suffix.count)
            if digits.count == 16, let value = UInt64(digits, radix: 16) {
                found.append((value, "\(self.directory)/\(name)"))
            }
        }
        return found.sorted { $0.start < $1.start }
    }

    /// Leftover temporary files of an interrupted snapshot.
    public func temporaryFiles() throws(StorageError) -> [String] {
        try StorageFiles.list(self.directory).filter { $0.hasSuffix(".tmp") }.map { "\(self.directory)/\($0)" }
    }
}
