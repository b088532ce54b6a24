/// One complete command found in the input.
public struct RESPFrame: Sendable, Hashable {
    /// Bytes of input the frame occupies, from its first byte through its final CRLF.
    public let length: Int
    /// Number of arguments, the command name included. Zero for frames Redis ignores
    /// (`*0`, `*-1`, an empty inline line).
    public let argumentCount: Int
    /// Whether the command came as an inline line (its arguments are unescaped copies).
    public let isInline: Bool
}

/// Decodes client requests — RESP multibulk arrays and inline lines — out of the
/// connection's input without copying argument bytes.
///
/// The decoder is resumable at every byte boundary: when input ends inside a command it
/// remembers how far it got (relative to the command's first byte) and continues from there
/// when more bytes arrive, so a large command arriving in small reads is scanned once.
/// The caller keeps the unconsumed command's bytes at the front of its buffer and passes
/// the same `frameStart` until a frame is returned.
///
/// ```swift
/// let decoder = RESPCommandDecoder(limits: RESPRequestLimits())
/// try buffer.withUnsafeBytes { bytes in
///     var start = 0
///     while let frame = try decoder.decode(bytes, frameStart: start) {
///         let arguments = decoder.arguments(of: frame, in: bytes, frameStart: start)
///         // run the command …
///         start += frame.length
///     }
/// }
/// ```
public final class RESPCommandDecoder {
    // Exclusivity checks are off for the decoder's state: one connection's thread owns the
    // decoder, and the checks were a measurable share of each request.
    @exclusivity(unchecked) public var limits: RESPRequestLimits
    /// Before authentication Redis caps argument count and bulk size much lower.
    @exclusivity(unchecked) public var isAuthenticated: Bool

    @exclusivity(unchecked) private var spans: UnsafeMutablePointer<ArgumentSpan>
    @exclusivity(unchecked) private var spanCapacity: Int
    @exclusivity(unchecked) private var scratch: UnsafeMutableRawPointer
    @exclusivity(unchecked) private var scratchCapacity: Int

    // State of a multibulk command that is only partly in the buffer, relative to its start.
    @exclusivity(unchecked) private var inMultibulk = false
    @exclusivity(unchecked) private var expectedArguments = 0
    @exclusivity(unchecked) private var parsedArguments = 0
    @exclusivity(unchecked) private var cursor = 0
    @exclusivity(unchecked) private var pendingBulkLength = -1

    public init(limits: RESPRequestLimits = RESPRequestLimits(), isAuthenticated: Bool = true) {
        self.limits = limits
        self.isAuthenticated = isAuthenticated
        self.spanCapacity = 16
        self.spans = .allocate(capacity: 16)
        self.scratchCapacity = 256
        self.scratch = .allocate(byteCount: 256, alignment: 8)
    }

    deinit {
        self.spans.deallocate()
        self.scratch.deallocate()
    }

    /// Whether a command has been partly decoded and is waiting for more input.
    public var hasPartialFrame: Bool { self.inMultibulk }

    /// Forgets any partly decoded command (used when the connection discards its input).
    public func reset() {
        self.inMultibulk = false
        self.expectedArguments = 0
        self.parsedArguments = 0
        self.cursor = 0
        self.pendingBulkLength = -1
    }

    /// The arguments of `frame`, valid while `bytes` is and until the next call to `decode`.
    @inlinable
    public func arguments(of frame: RESPFrame, in bytes: UnsafeRawBufferPointer, frameStart: Int) -> CommandArguments {
        if frame.isInline {
            return CommandArguments(
                base: UnsafeRawPointer(self.scratchBase), spans: self.spanBase, count: frame.argumentCount)
        }
        return CommandArguments(base: bytes.baseAddress! + frameStart, spans: self.spanBase, count: frame.argumentCount)
    }

    @usableFromInline var spanBase: UnsafePointer<ArgumentSpan> { UnsafePointer(self.spans) }
    @usableFromInline var scratchBase: UnsafeMutableRawPointer { self.scratch }

    /// Decodes the command that starts at `frameStart` in `bytes`.
    ///
    /// - Returns: the frame, or `nil` when more input is needed.
    /// - Throws: ``RESPProtocolError`` when the input cannot be a valid request; the
    ///   connection must reply with it and close.
    public func decode(_ bytes: UnsafeRawBufferPointer, frameStart: Int) throws(RESPProtocolError) -> RESPFrame? {
        if !self.inMultibulk {
            guard frameStart < bytes.count else { return nil }
            if bytes[frameStart] != UInt8(ascii: "*") {
                return try self.decodeInline(bytes, frameStart: frameStart)
            }
            guard let header = try self.decodeMultibulkHeader(bytes, frameStart: frameStart) else { return nil }
            if header.count <= 0 {
                return RESPFrame(length: header.end - frameStart, argumentCount: 0, isInline: false)
            }
            self.inMultibulk = true
            self.expectedArguments = header.count
            self.parsedArguments = 0
            self.cursor = header.end - frameStart
            self.pendingBulkLength = -1
        }
        return try self.decodeBulks(bytes, frameStart: frameStart)
    }

    // MARK: Multibulk

    /// The common case of a header line: one to eighteen digits, no leading zero, then CRLF,
    /// all present. Returns nil for anything else, which the general path then decodes or
    /// reports exactly.
    @inline(__always)
    private static func fastLength(_ bytes: UnsafeRawBufferPointer, from start: Int) -> (value: Int, end: Int)? {
        let limit = min(bytes.count, start + 20)
        var index = start
        var value = 0
        while index < limit {
            let digit = bytes[index] &- UInt8(ascii: "0")
            if digit > 9 { break }
            value = value &* 10 &+ Int(digit)
            index += 1
        }
        let digits = index - start
        guard digits > 0, digits <= 18, digits == 1 || bytes[start] != UInt8(ascii: "0"),
            index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\r"), bytes[index + 1] == UInt8(ascii: "\n")
        else { return nil }
        return (value, index + 2)
    }

    private func decodeMultibulkHeader(_ bytes: UnsafeRawBufferPointer, frameStart: Int) throws(RESPProtocolError) -> (
        count: Int, end: Int
    )? {
        if let fast = Self.fastLength(bytes, from: frameStart + 1), fast.value > 0,
            fast.value <= self.limits.maxArguments,
            self.isAuthenticated || fast.value <= RESPRequestLimits.unauthenticatedMaxArguments
        {
            return (fast.value, fast.end)
        }
        guard let line = try self.headerLine(bytes, from: frameStart + 1, tooBig: "too big mbulk count string") else {
            return nil
        }
        guard let value = DecimalInteger.parse(bytes, from: frameStart + 1, to: line.crIndex) else {
            throw RESPProtocolError("invalid multibulk length")
        }
        if value <= 0 {
            // Redis skips an empty or negative count (`*0`, `*-1`, `*-10`) and reads on.
            return (0, line.end)
        }
        if value > Int64(Int32.max) {
            // Redis's own bound, with its exact message.
            throw RESPProtocolError("invalid multibulk length")
        }
        if value > Int64(self.limits.maxArguments) {
            // Wharf's configurable bound (Redis has none below INT_MAX), named in the error.
            throw RESPProtocolError("invalid multibulk length (proto-max-multibulk-len is \(self.limits.maxArguments))")
        }
        if !self.isAuthenticated && value > Int64(RESPRequestLimits.unauthenticatedMaxArguments) {
            throw RESPProtocolError("unauthenticated multibulk length")
        }
        return (Int(value), line.end)
    }

    /// Finds the CRLF that ends a `*`/`$` header line starting at `from`.
    @inline(__always)
    private func headerLine(_ bytes: UnsafeRawBufferPointer, from: Int, tooBig: StaticString) throws(RESPProtocolError)
        -> (crIndex: Int, end: Int)?
    {
        let limit = min(bytes.count, from + self.limits.maxInlineLength)
        var index = from
        while index < limit {
            if bytes[index] == UInt8(ascii: "\r") {
                if index + 1 >= bytes.count { return nil }
                if bytes[index + 1] != UInt8(ascii: "\n") {
                    throw RESPProtocolError("expected CRLF after length")
                }
                return (index, index + 2)
            }
            index += 1
        }
        if bytes.count - from >= self.limits.maxInlineLength {
            throw RESPProtocolError("\(tooBig)")
        }
        return nil
    }

    private func decodeBulks(_ bytes: UnsafeRawBufferPointer, frameStart: Int) throws(RESPProtocolError) -> RESPFrame? {
        let available = bytes.count - frameStart
        while self.parsedArguments < self.expectedArguments {
            if self.pendingBulkLength < 0 {
                let at = frameStart + self.cursor
                guard at < bytes.count else { return nil }
                let marker = bytes[at]
                if marker != UInt8(ascii: "$") {
                    throw RESPProtocolError("expected '$', got '\(Self.printable(marker))'")
                }
                if let fast = Self.fastLength(bytes, from: at + 1), fast.value <= self.limits.maxBulkLength,
                    self.isAuthenticated || fast.value <= RESPRequestLimits.unauthenticatedMaxBulkLength
                {
                    self.pendingBulkLength = fast.value
                    self.cursor = fast.end - frameStart
                } else {
                    guard let line = try self.headerLine(bytes, from: at + 1, tooBig: "too big bulk count string")
                    else { return nil }
                    guard let value = DecimalInteger.parse(bytes, from: at + 1, to: line.crIndex), value >= 0 else {
                        throw RESPProtocolError("invalid bulk length")
                    }
                    if value > Int64(self.limits.maxBulkLength) {
                        // Redis's exact text, although the bound is proto-max-bulk-len.
                        throw RESPProtocolError("invalid bulk length")
                    }
                    if !self.isAuthenticated && value > Int64(RESPRequestLimits.unauthenticatedMaxBulkLength) {
                        throw RESPProtocolError("unauthenticated bulk length")
                    }
                    self.pendingBulkLength = Int(value)
                    self.cursor = line.end - frameStart
                }
            }
            let length = self.pendingBulkLength
            if available - self.cursor < length + 2 { return nil }
            // Like Redis, the two bytes after a bulk are taken as its CRLF without a check.
            self.appendSpan(ArgumentSpan(offset: self.cursor, length: length), at: self.parsedArguments)
            self.parsedArguments += 1
            self.cursor += length + 2
            self.pendingBulkLength = -1
        }
        let frame = RESPFrame(length: self.cursor, argumentCount: self.expectedArguments, isInline: false)
        self.inMultibulk = false
        return frame
    }

    @inline(__always)
    private func appendSpan(_ span: ArgumentSpan, at index: Int) {
        if index == self.spanCapacity { self.growSpans() }
        self.spans[index] = span
    }

    private func growSpans() {
        let newCapacity = self.spanCapacity * 2
        let newSpans = UnsafeMutablePointer<ArgumentSpan>.allocate(capacity: newCapacity)
        newSpans.initialize(from: self.spans, count: self.spanCapacity)
        self.spans.deallocate()
        self.spans = newSpans
        self.spanCapacity = newCapacity
    }

    private static func printable(_ byte: UInt8) -> String {
        (byte >= 0x20 && byte < 0x7F) ? String(UnicodeScalar(byte)) : "\\x" + String(byte, radix: 16)
    }

    // MARK: Inline

    private func decodeInline(_ bytes: UnsafeRawBufferPointer, frameStart: Int) throws(RESPProtocolError) -> RESPFrame?
    {
        let limit = min(bytes.count, frameStart + self.limits.maxInlineLength)
        var newline = frameStart
        while newline < limit && bytes[newline] != UInt8(ascii: "\n") { newline += 1 }
        if newline == limit {
            if bytes.count - frameStart >= self.limits.maxInlineLength {
                throw RESPProtocolError("too big inline request")
            }
            return nil
        }
        var lineEnd = newline
        if lineEnd > frameStart && bytes[lineEnd - 1] == UInt8(ascii: "\r") { lineEnd -= 1 }
        let count = try self.splitInline(UnsafeRawBufferPointer(rebasing: bytes[frameStart..<lineEnd]))
        return RESPFrame(length: newline + 1 - frameStart, argumentCount: count, isInline: true)
    }

    /// Splits an inline line into arguments with the quoting rules of redis-cli and Redis
    /// (`"..."` with escapes, `'...'` with only `\'`), writing unescaped bytes to scratch.
    private func splitInline(_ line: UnsafeRawBufferPointer) throws(RESPProtocolError) -> Int {
        if line.count > self.scratchCapacity {
            self.scratch.deallocate()
            self.scratchCapacity = line.count
            self.scratch = .allocate(byteCount: line.count, alignment: 8)
        }
        var out = 0
        var count = 0
        var index = 0
        let n = line.count
        func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0B || b == 0x0C || b == 0x0D }
        func hexValue(_ b: UInt8) -> UInt8? {
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return b - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return b - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): return b - UInt8(ascii: "A") + 10
            default: return nil
            }
        }
        let unbalanced = RESPProtocolError("unbalanced quotes in request")
        while true {
            while index < n && isSpace(line[index]) { index += 1 }
            if index >= n { break }
            let start = out
            var inDouble = false
            var inSingle = false
            var done = false
            while !done {
                if inDouble {
                    guard index < n else { throw unbalanced }
                    let b = line[index]
                    if b == UInt8(ascii: "\\") && index + 3 < n && line[index + 1] == UInt8(ascii: "x"),
                        let high = hexValue(line[index + 2]), let low = hexValue(line[index + 3])
                    {
                        self.scratch.storeBytes(of: high << 4 | low, toByteOffset: out, as: UInt8.self)
                        out += 1
                        index += 4
                        continue
                    }
                    if b == UInt8(ascii: "\\") && index + 1 < n {
                        let escaped = line[index + 1]
                        let value: UInt8
                        switch escaped {
                        case UInt8(ascii: "n"): value = 0x0A
                        case UInt8(ascii: "r"): value = 0x0D
                        case UInt8(ascii: "t"): value = 0x09
                        case UInt8(ascii: "b"): value = 0x08
                        case UInt8(ascii: "a"): value = 0x07
                        default: value = escaped
                        }
                        self.scratch.storeBytes(of: value, toByteOffset: out, as: UInt8.self)
                        out += 1
                        index += 2
                        continue
                    }
                    if b == UInt8(ascii: "\"") {
                        // A closing quote must be followed by a space or the end of the line.
                        if index + 1 < n && !isSpace(line[index + 1]) { throw unbalanced }
                        done = true
                        index += 1
                        continue
                    }
                    self.scratch.storeBytes(of: b, toByteOffset: out, as: UInt8.self)
                    out += 1
                    index += 1
                } else if inSingle {
                    guard index < n else { throw unbalanced }
                    let b = line[index]
                    if b == UInt8(ascii: "\\") && index + 1 < n && line[index + 1] == UInt8(ascii: "'") {
                        self.scratch.storeBytes(of: UInt8(ascii: "'"), toByteOffset: out, as: UInt8.self)
                        out += 1
                        index += 2
                        continue
                    }
                    if b == UInt8(ascii: "'") {
                        if index + 1 < n && !isSpace(line[index + 1]) { throw unbalanced }
                        done = true
                        index += 1
                        continue
                    }
                    self.scratch.storeBytes(of: b, toByteOffset: out, as: UInt8.self)
                    out += 1
                    index += 1
                } else {
                    if index >= n {
                        done = true
                        continue
                    }
                    let b = line[index]
                    if isSpace(b) {
                        done = true
                    } else if b == UInt8(ascii: "\"") {
                        inDouble = true
                    } else if b == UInt8(ascii: "'") {
                        inSingle = true
                    } else {
                        self.scratch.storeBytes(of: b, toByteOffset: out, as: UInt8.self)
                        out += 1
                    }
                    index += 1
                }
            }
            if count >= self.limits.maxArguments {
                throw RESPProtocolError(
                    "invalid multibulk length (proto-max-multibulk-len is \(self.limits.maxArguments))")
            }
            self.appendSpan(ArgumentSpan(offset: start, length: out - start), at: count)
            count += 1
        }
        return count
    }
}
