/// Glob matching with Redis's rules (`stringmatchlen`), for KEYS, SCAN MATCH, CONFIG GET and
/// COMMAND LIST: `*` any run, `?` any byte, `[abc]`, `[^a-z]` (a reversed range is
/// swapped, an unterminated class ends at the pattern's end), `\x` a literal `x`.
///
/// Every token other than `*` consumes exactly one byte, so the classic single-backtrack
/// algorithm is exact and runs in O(pattern × subject) at worst, never exponentially.
package enum GlobPattern {
    package static func matches(
        _ pattern: UnsafeRawBufferPointer, _ subject: UnsafeRawBufferPointer, ignoringCase: Bool = false
    ) -> Bool {
        var p = 0
        var s = 0
        var starPattern = -1
        var starSubject = 0
        let plen = pattern.count
        let slen = subject.count
        @inline(__always) func fold(_ byte: UInt8) -> UInt8 {
            ignoringCase ? asciiLower(byte) : byte
        }
        while s < slen {
            if p < plen {
                let token = pattern[p]
                if token == UInt8(ascii: "*") {
                    while p < plen && pattern[p] == UInt8(ascii: "*") { p += 1 }
                    if p == plen { return true }
                    starPattern = p
                    starSubject = s
                    continue
                }
                if let next = self.matchOne(pattern, at: p, byte: subject[s], fold: fold) {
                    p = next
                    s += 1
                    continue
                }
            }
            // Mismatch: let the last star absorb one more byte and retry after it.
            guard starPattern >= 0 else { return false }
            starSubject += 1
            s = starSubject
            p = starPattern
        }
        while p < plen && pattern[p] == UInt8(ascii: "*") { p += 1 }
        return p == plen
    }

    /// If the single-byte token at `p` matches `byte`, the index after the token.
    private static func matchOne(_ pattern: UnsafeRawBufferPointer, at start: Int, byte: UInt8, fold: (UInt8) -> UInt8)
        -> Int?
    {
        let plen = pattern.count
        var p = start
        let c = fold(byte)
        switch pattern[p] {
        case UInt8(ascii: "?"):
            return p + 1
        case UInt8(ascii: "["):
            p += 1
            let negate = p < plen && pattern[p] == UInt8(ascii: "^")
            if negate { p += 1 }
            var matched = false
            while p < plen {
                let token = pattern[p]
                if token == UInt8(ascii: "\\") && p + 1 < plen {
                    if fold(pattern[p + 1]) == c { matched = true }
                    p += 2
                } else if token == UInt8(ascii: "]") {
                    break
                } else if p + 2 < plen && pattern[p + 1] == UInt8(ascii: "-") {
                    var low = fold(token)
                    var high = fold(pattern[p + 2])
                    if low > high { swap(&low, &high) }
                    if c >= low && c <= high { matched = true }
                    p += 3
                } else {
                    if fold(token) == c { matched = true }
                    p += 1
                }
            }
            if negate { matched.toggle() }
            guard matched else { return nil }
            // Past the closing bracket, or at the end when the class is unterminated.
            return min(p + 1, plen)
        case UInt8(ascii: "\\") where p + 1 < plen:
            return fold(pattern[p + 1]) == c ? p + 2 : nil
        default:
            return fold(pattern[p]) == c ? p + 1 : nil
        }
    }

    package static func matches(_ pattern: String, _ subject: String, ignoringCase: Bool = false) -> Bool {
        var pattern = pattern
        var subject = subject
        return pattern.withUTF8 { p in
            subject.withUTF8 { s in
                matches(UnsafeRawBufferPointer(p), UnsafeRawBufferPointer(s), ignoringCase: ignoringCase)
            }
        }
    }

    @inline(__always)
    private static func asciiLower(_ byte: UInt8) -> UInt8 {
        (byte >= 65 && byte <= 90) ? byte | 0x20 : byte
    }
}
