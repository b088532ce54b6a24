/// Decimal integer parsing and formatting with Redis's rules, on raw bytes.
public enum DecimalInteger {
    /// Parses a signed 64-bit integer exactly as Redis's `string2ll` does: an optional `-`,
    /// then digits, no leading zeros (except `0` itself), no `+`, no spaces, no overflow.
    @inlinable
    public static func parse(_ bytes: UnsafeRawBufferPointer) -> Int64? {
        let count = bytes.count
        if count == 0 || count > 20 { return nil }
        var index = 0
        var negative = false
        if bytes[0] == UInt8(ascii: "-") {
            negative = true
            index = 1
            if count == 1 { return nil }
        }
        let first = bytes[index]
        if first == UInt8(ascii: "0") {
            // "0" is valid; "-0", "01" are not.
            return (count == 1) ? 0 : nil
        }
        if first < UInt8(ascii: "1") || first > UInt8(ascii: "9") { return nil }
        var magnitude: UInt64 = 0
        while index < count {
            let digit = bytes[index] &- UInt8(ascii: "0")
            if digit > 9 { return nil }
            let (times10, overflow1) = magnitude.multipliedReportingOverflow(by: 10)
            if overflow1 { return nil }
            let (sum, overflow2) = times10.addingReportingOverflow(UInt64(digit))
            if overflow2 { return nil }
            magnitude = sum
            index += 1
        }
        if negative {
            if magnitude > UInt64(Int64.max) + 1 { return nil }
            return magnitude == UInt64(Int64.max) + 1 ? Int64.min : -Int64(magnitude)
        }
        if magnitude > UInt64(Int64.max) { return nil }
        return Int64(magnitude)
    }

    /// Parses a non-negative length as it appears in a RESP header (`*3`, `$5`); `-1` is allowed
    /// because RESP uses it for null.
    @inlinable
    public static func parse(_ bytes: UnsafeRawBufferPointer, from start: Int, to end: Int) -> Int64? {
        parse(UnsafeRawBufferPointer(rebasing: bytes[start..<end]))
    }

    /// Number of decimal digits (and sign) needed to print `value`.
    @inlinable
    public static func width(of value: Int64) -> Int {
        var magnitude = value.magnitude
        var digits = 1
        while magnitude >= 10 {
            magnitude /= 10
            digits += 1
        }
        return value < 0 ? digits + 1 : digits
    }

    /// Writes `value` in decimal at `destination`, which must hold `width(of: value)` bytes.
    /// Returns the number of bytes written.
    @inlinable
    @discardableResult
    public static func write(_ value: Int64, to destination: UnsafeMutableRawPointer) -> Int {
        let width = Self.width(of: value)
        var magnitude = value.magnitude
        var position = width
        repeat {
            position -= 1
            destination.storeBytes(
                of: UInt8(truncatingIfNeeded: magnitude % 10) &+ UInt8(ascii: "0"), toByteOffset: position,
                as: UInt8.self)
            magnitude /= 10
        } while magnitude > 0
        if value < 0 {
            destination.storeBytes(of: UInt8(ascii: "-"), toByteOffset: 0, as: UInt8.self)
        }
        return width
    }

    /// The decimal text of `value` as bytes.
    public static func bytes(of value: Int64) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: 20) { buffer, count in
            count = write(value, to: UnsafeMutableRawPointer(buffer.baseAddress!))
        }
    }
}
