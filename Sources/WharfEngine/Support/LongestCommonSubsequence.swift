import WharfProtocol

/// The dynamic-programming table behind LCS and the three ways Redis reports from it.
struct LongestCommonSubsequence {
    let a: [UInt8]
    let b: [UInt8]
    /// `table[i * (b.count + 1) + j]` is the LCS length of `a[..<i]` and `b[..<j]`.
    private var table: [UInt32]

    init(a: [UInt8], b: [UInt8]) {
        self.a = a
        self.b = b
        let width = b.count + 1
        var table = [UInt32](repeating: 0, count: (a.count + 1) * width)
        if !a.isEmpty && !b.isEmpty {
            for i in 1...a.count {
                for j in 1...b.count {
                    if a[i - 1] == b[j - 1] {
                        table[i * width + j] = table[(i - 1) * width + j - 1] + 1
                    } else {
                        table[i * width + j] = max(table[(i - 1) * width + j], table[i * width + j - 1])
                    }
                }
            }
        }
        self.table = table
    }

    private func cell(_ i: Int, _ j: Int) -> UInt32 {
        self.table[i * (self.b.count + 1) + j]
    }

    var length: Int { Int(self.cell(self.a.count, self.b.count)) }

    struct Match {
        var aRange: (Int, Int)
        var bRange: (Int, Int)
        var length: Int { aRange.1 - aRange.0 + 1 }
    }

    /// Walks the table back from the end, collecting the subsequence and its contiguous
    /// matching ranges (last ones first, as Redis reports them).
    func backtrack(minimumMatchLength: Int) -> (text: [UInt8], matches: [Match]) {
        var text = [UInt8](repeating: 0, count: self.length)
        var matches: [Match] = []
        var i = self.a.count
        var j = self.b.count
        var remaining = self.length
        var current: Match?
        while i > 0 && j > 0 {
            var emit = false
            if self.a[i - 1] == self.b[j - 1] {
                text[remaining - 1] = self.a[i - 1]
                if var range = current {
                    // Extend the range backwards while the matches stay contiguous in both strings.
                    if range.aRange.0 == i && range.bRange.0 == j {
                        range.aRange.0 -= 1
                        range.bRange.0 -= 1
                        current = range
                    } else {
                        emit = true
                    }
                } else {
                    current = Match(aRange: (i - 1, i - 1), bRange: (j - 1, j - 1))
                }
                if let range = current, range.aRange.0 == 0 || range.bRange.0 == 0 { emit = true }
                remaining -= 1
                i -= 1
                j -= 1
            } else {
                if self.cell(i - 1, j) > self.cell(i, j - 1) { i -= 1 } else { j -= 1 }
                if current != nil { emit = true }
            }
            if emit, let range = current {
                if minimumMatchLength == 0 || range.length >= minimumMatchLength { matches.append(range) }
                current = nil
            }
        }
        return (text, matches)
    }

    func reply(
        into reply: inout RESPReplyWriter, length: Bool, indexes: Bool, withMatchLength: Bool, minimumMatchLength: Int
    ) {
        if length && !indexes {
            reply.writeInteger(self.length)
            return
        }
        let (text, matches) = self.backtrack(minimumMatchLength: minimumMatchLength)
        guard indexes else {
            reply.writeBulkString(text)
            return
        }
        reply.writeMapHeader(count: 2)
        reply.writeBulkString("matches")
        reply.writeArrayHeader(count: matches.count)
        for match in matches {
            reply.writeArrayHeader(count: withMatchLength ? 3 : 2)
            reply.writeArrayHeader(count: 2)
            reply.writeInteger(match.aRange.0)
            reply.writeInteger(match.aRange.1)
            reply.writeArrayHeader(count: 2)
            reply.writeInteger(match.bRange.0)
            reply.writeInteger(match.bRange.1)
            if withMatchLength { reply.writeInteger(match.length) }
        }
        reply.writeBulkString("len")
        reply.writeInteger(self.length)
    }
}
