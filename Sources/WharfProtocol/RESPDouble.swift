#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Text forms of floating-point numbers, matching Redis 7.0.
public enum RESPDouble {
    /// How Redis 7.0 replies with a double (`%.17g`; `inf`, `-inf`, `nan`).
    public static func format(_ value: Double) -> String {
        if value.isInfinite { return value > 0 ? "inf" : "-inf" }
        if value.isNaN { return "nan" }
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: 64) { buffer in
            let written = withVaList([value]) { vsnprintf(buffer.baseAddress!, 64, "%.17g", $0) }
            return String(
                decoding: UnsafeRawBufferPointer(start: buffer.baseAddress!, count: Int(written)), as: UTF8.self)
        }
    }

    /// Parses a double the way Redis's `string2d` does for scores and increments: the whole
    /// argument must be a number (no spaces), `inf`/`+inf`/`-inf` are accepted, NaN is not.
    public static func parse(_ bytes: UnsafeRawBufferPointer) -> Double? {
        if bytes.count == 0 || bytes.count > 256 { return nil }
        if Self.isSpace(bytes[0]) || Self.isSpace(bytes[bytes.count - 1]) { return nil }
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: bytes.count + 1) { buffer in
            for index in 0..<bytes.count {
                if bytes[index] == 0 { return nil }
                buffer[index] = CChar(bitPattern: bytes[index])
            }
            buffer[bytes.count] = 0
            var end: UnsafeMutablePointer<CChar>? = nil
            errno = 0
            let value = strtod(buffer.baseAddress!, &end)
            guard let end, end - buffer.baseAddress! == bytes.count else { return nil }
            if value.isNaN { return nil }
            // Like Redis: overflow to infinity and underflow to zero are range errors.
            if errno == ERANGE && (value.isInfinite || value == 0) { return nil }
            return value
        }
    }

    @inline(__always)
    static func isSpace(_ byte: UInt8) -> Bool {
        byte == 0x20 || (byte >= 0x09 && byte <= 0x0D)
    }
}
