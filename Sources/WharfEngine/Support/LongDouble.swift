#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// The extended-precision arithmetic INCRBYFLOAT and HINCRBYFLOAT use, as Redis does with
/// C's `long double`, so `10.5 + 0.1` is stored as `10.6` exactly as Redis stores it.
#if arch(x86_64) && !os(Windows)
    package typealias LongDouble = Float80
#else
    package typealias LongDouble = Double
#endif

package enum LongDoubleText {
    /// Parses like Redis's `string2ld`: no leading space, the whole text a number, no NaN,
    /// no overflow or underflow to zero.
    package static func parse(_ bytes: UnsafeRawBufferPointer) -> LongDouble? {
        if bytes.count == 0 || bytes.count >= 5 * 1024 { return nil }
        let first = bytes[0]
        if first == 0x20 || (first >= 0x09 && first <= 0x0D) { return nil }
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: bytes.count + 1) { buffer in
            for index in 0..<bytes.count {
                if bytes[index] == 0 { return nil }
                buffer[index] = CChar(bitPattern: bytes[index])
            }
            buffer[bytes.count] = 0
            var end: UnsafeMutablePointer<CChar>? = nil
            errno = 0
            #if arch(x86_64) && !os(Windows)
                let value = strtold(buffer.baseAddress!, &end)
            #else
                let value = strtod(buffer.baseAddress!, &end)
            #endif
            guard let end, end - buffer.baseAddress! == bytes.count else { return nil }
            if value.isNaN { return nil }
            if errno == ERANGE && (value.isInfinite || value == 0) { return nil }
            return value
        }
    }

    /// Formats like Redis's human-friendly `ld2string`: 17 decimals, trailing zeros removed.
    package static func format(_ value: LongDouble) -> String {
        let capacity = 5 * 1024
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: capacity) { buffer in
            #if arch(x86_64) && !os(Windows)
                let written = withVaList([value]) { vsnprintf(buffer.baseAddress!, capacity, "%.17Lf", $0) }
            #else
                let written = withVaList([value]) { vsnprintf(buffer.baseAddress!, capacity, "%.17f", $0) }
            #endif
            var length = Int(min(written, Int32(capacity - 1)))
            let bytes = UnsafeRawBufferPointer(start: buffer.baseAddress!, count: length)
            if bytes.contains(UInt8(ascii: ".")) {
                while length > 0 && bytes[length - 1] == UInt8(ascii: "0") { length -= 1 }
                if length > 0 && bytes[length - 1] == UInt8(ascii: ".") { length -= 1 }
            }
            var text = String(
                decoding: UnsafeRawBufferPointer(start: buffer.baseAddress!, count: length), as: UTF8.self)
            if text == "-0" { text = "0" }
            return text
        }
    }
}
