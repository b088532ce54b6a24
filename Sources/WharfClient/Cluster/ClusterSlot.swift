/// Redis Cluster's key-to-slot mapping: CRC16 (XMODEM) of the key, or of its hash tag —
/// the part between the first `{` and the next `}`, when that part is not empty — modulo
/// 16384.
public enum ClusterSlot {
    public static let count = 16384

    /// The slot of `key`.
    public static func of(_ key: some Collection<UInt8>) -> Int {
        var tagged: ArraySlice<UInt8>?
        let bytes = Array(key)
        if let open = bytes.firstIndex(of: UInt8(ascii: "{")),
            let close = bytes[(open + 1)...].firstIndex(of: UInt8(ascii: "}")), close > open + 1
        {
            tagged = bytes[(open + 1)..<close]
        }
        return Int(Self.crc16(tagged ?? bytes[...]) & 0x3FFF)
    }

    public static func of(_ key: String) -> Int { Self.of(Array(key.utf8)) }

    /// CRC-16/XMODEM (polynomial 0x1021, initial value 0), as Redis Cluster uses.
    static func crc16(_ bytes: ArraySlice<UInt8>) -> UInt16 {
        var crc: UInt16 = 0
        for byte in bytes {
            crc = (crc << 8) ^ Self.table[Int(UInt8(truncatingIfNeeded: crc >> 8) ^ byte)]
        }
        return crc
    }

    private static let table: [UInt16] = (0..<256).map { index -> UInt16 in
        var crc = UInt16(index) << 8
        for _ in 0..<8 { crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1 }
        return crc
    }
}
