import CWharfSystem

/// CRC-32C, the checksum of every log record and snapshot (hardware-accelerated on x86-64).
public enum CRC32C {
    @inline(__always)
    public static func checksum(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return crc }
        return wharf_crc32c(crc, base, bytes.count)
    }

    public static func checksum(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { self.checksum($0) }
    }
}
