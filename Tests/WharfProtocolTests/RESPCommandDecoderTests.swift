import NIOCore
import Testing
import WharfProtocol

/// Decodes everything in `bytes`, feeding it in the given chunk sizes, the way a connection
/// does: unconsumed bytes stay at the front and the decoder resumes.
private func decodeAll(_ bytes: [UInt8], chunks: [Int], limits: RESPRequestLimits = RESPRequestLimits())
    throws(RESPProtocolError) -> [[String]]
{
    let decoder = RESPCommandDecoder(limits: limits)
    var buffer = ByteBuffer()
    var commands: [[String]] = []
    var offset = 0
    var chunkIndex = 0
    while offset < bytes.count {
        let size = chunks.isEmpty ? bytes.count : max(1, chunks[chunkIndex % chunks.count])
        chunkIndex += 1
        let end = min(bytes.count, offset + size)
        buffer.writeBytes(bytes[offset..<end])
        offset = end
        var consumed = 0
        var failure: RESPProtocolError?
        buffer.withUnsafeReadableBytes { raw in
            while true {
                do throws(RESPProtocolError) {
                    guard let frame = try decoder.decode(raw, frameStart: consumed) else { return }
                    if frame.argumentCount > 0 {
                        let arguments = decoder.arguments(of: frame, in: raw, frameStart: consumed)
                        commands.append((0..<arguments.count).map { String(decoding: arguments[$0], as: UTF8.self) })
                    }
                    consumed += frame.length
                } catch {
                    failure = error
                    return
                }
            }
        }
        if let failure { throw failure }
        buffer.moveReaderIndex(forwardBy: consumed)
        buffer.discardReadBytes()
    }
    #expect(buffer.readableBytes == 0, "bytes left undecoded")
    return commands
}

private func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

@Suite("RESP command decoder")
struct RESPCommandDecoderTests {
    static let pipeline =
        "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n*2\r\n$3\r\nGET\r\n$3\r\nkey\r\nPING\r\n*0\r\n*1\r\n$4\r\nPING\r\necho \"a b\" 'c d'\n*2\r\n$4\r\nECHO\r\n$0\r\n\r\n"
    static let expected: [[String]] = [
        ["SET", "key", "value"], ["GET", "key"], ["PING"], ["PING"], ["echo", "a b", "c d"], ["ECHO", ""],
    ]

    @Test("a pipelined stream decodes identically at every split point")
    func everySplitPoint() throws {
        let input = bytes(Self.pipeline)
        #expect(try decodeAll(input, chunks: []) == Self.expected)
        for split in 1..<input.count {
            #expect(try decodeAll(input, chunks: [split, input.count]) == Self.expected, "split at \(split)")
        }
    }

    @Test("byte-by-byte and shuffled chunk sizes give the same commands")
    func byteByByteAndShuffled() throws {
        let input = bytes(Self.pipeline)
        #expect(try decodeAll(input, chunks: [1]) == Self.expected)
        var generator = SeededGenerator(seed: 7)
        for _ in 0..<200 {
            let chunks = (0..<8).map { _ in Int.random(in: 1...9, using: &generator) }
            #expect(try decodeAll(input, chunks: chunks) == Self.expected)
        }
    }

    @Test("binary arguments with NUL, CR and LF round-trip")
    func binarySafe() throws {
        let value: [UInt8] = [0, 13, 10, 0xFF, 0x24, 13, 10, 42]
        var input = bytes("*2\r\n$4\r\nECHO\r\n$\(value.count)\r\n")
        input += value + bytes("\r\n")
        let decoder = RESPCommandDecoder()
        var seen: [UInt8] = []
        input.withUnsafeBytes { raw in
            let frame = try! decoder.decode(raw, frameStart: 0)!
            seen = Array(decoder.arguments(of: frame, in: raw, frameStart: 0)[1])
        }
        #expect(seen == value)
    }

    @Test("inline commands follow redis-cli quoting")
    func inlineQuoting() throws {
        let commands = try decodeAll(bytes("set k \"a\\x41\\n\\\"q\"\r\nget 'it\\'s'\n  \r\n"), chunks: [])
        #expect(commands == [["set", "k", "aA\n\"q"], ["get", "it's"]])
    }

    @Test(
        "malformed input is a protocol error with Redis's message",
        arguments: [
            ("*abc\r\n", "invalid multibulk length"),
            ("*1\r\n$-2\r\n", "invalid bulk length"),
            ("*1\r\n$-1\r\n", "invalid bulk length"),
            ("*1\r\n$abc\r\n", "invalid bulk length"),
            ("*1\r\n+PING\r\n", "expected '$', got '+'"),
            ("*2\rX$4\r\n", "expected CRLF after length"),
            ("set \"unterminated\r\n", "unbalanced quotes in request"),
            ("set \"a\"b\r\n", "unbalanced quotes in request"),
            ("*3000000000\r\n", "invalid multibulk length"),
            ("*1\r\n$536870913\r\n", "invalid bulk length"),
        ])
    func malformed(input: String, message: String) {
        #expect(throws: RESPProtocolError(message)) { try decodeAll(bytes(input), chunks: []) }
        // Fed byte by byte the error is the same.
        #expect(throws: RESPProtocolError(message)) { try decodeAll(bytes(input), chunks: [1]) }
    }

    @Test("null, empty and negative-count arrays are ignored, as Redis does")
    func emptyFrames() throws {
        #expect(try decodeAll(bytes("*0\r\n*-1\r\n*-10\r\n\r\nPING\r\n"), chunks: []) == [["PING"]])
    }

    @Test("the two bytes after a bulk are taken as its CRLF unchecked, as Redis takes them")
    func bulkTerminatorUnchecked() throws {
        #expect(try decodeAll(bytes("*1\r\n$4\r\nPINGxxPING\r\n"), chunks: []) == [["PING"], ["PING"]])
        #expect(try decodeAll(bytes("*1\r\n$4\r\nPINGxxPING\r\n"), chunks: [1]) == [["PING"], ["PING"]])
    }

    @Test("an argument count over a lowered proto-max-multibulk-len names the limit")
    func argumentLimit() {
        let limits = RESPRequestLimits(maxArguments: 1000)
        #expect(throws: RESPProtocolError("invalid multibulk length (proto-max-multibulk-len is 1000)")) {
            try decodeAll(bytes("*2000\r\n"), chunks: [], limits: limits)
        }
    }

    @Test("an inline line longer than the limit is refused even without a newline")
    func inlineTooLong() {
        let limits = RESPRequestLimits(maxInlineLength: 1024)
        let input = [UInt8](repeating: UInt8(ascii: "a"), count: 4096)
        #expect(throws: RESPProtocolError("too big inline request")) {
            try decodeAll(input, chunks: [100], limits: limits)
        }
    }

    @Test("a header line without CRLF longer than the limit is refused")
    func headerTooLong() {
        let limits = RESPRequestLimits(maxInlineLength: 1024)
        let input = bytes("*1\r\n$") + [UInt8](repeating: UInt8(ascii: "1"), count: 2000)
        #expect(throws: RESPProtocolError("too big bulk count string")) {
            try decodeAll(input, chunks: [64], limits: limits)
        }
    }

    @Test("before authentication, argument count and bulk size are capped")
    func unauthenticatedLimits() {
        let decoder = RESPCommandDecoder(isAuthenticated: false)
        #expect(throws: RESPProtocolError("unauthenticated multibulk length")) {
            try bytes("*11\r\n").withUnsafeBytes { try decoder.decode($0, frameStart: 0) }
        }
        let second = RESPCommandDecoder(isAuthenticated: false)
        #expect(throws: RESPProtocolError("unauthenticated bulk length")) {
            try bytes("*1\r\n$16385\r\n").withUnsafeBytes { try second.decode($0, frameStart: 0) }
        }
    }

    @Test("a large command arriving in small pieces is decoded once, with all arguments")
    func manyArguments() throws {
        var text = "*1001\r\n$5\r\nRPUSH\r\n"
        for index in 0..<1000 { text += "$\(String(index).count)\r\n\(index)\r\n" }
        let commands = try decodeAll(bytes(text), chunks: [7, 13, 64])
        #expect(commands.count == 1)
        #expect(commands[0].count == 1001)
        #expect(commands[0][1000] == "999")
    }
}

/// A small deterministic generator (SplitMix64) so shuffled tests are reproducible.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { self.state = seed }
    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite("RESP command decoder, random input")
struct RESPCommandDecoderFuzzTests {
    @Test("random bytes never crash the decoder; it decodes, waits or reports an error", arguments: 0..<20)
    func randomBytes(seed: UInt64) {
        var generator = SeededGenerator(seed: seed)
        let alphabet: [UInt8] = Array("*$\r\n0123456789-abc \"'\\x".utf8) + [0, 255]
        for _ in 0..<500 {
            let length = Int.random(in: 0...64, using: &generator)
            let input = (0..<length).map { _ in alphabet.randomElement(using: &generator)! }
            let chunk = Int.random(in: 1...8, using: &generator)
            do {
                _ = try decodeAllLeavingRemainder(input, chunk: chunk)
            } catch {
                #expect(!error.message.isEmpty)
            }
        }
    }
}

/// Like `decodeAll` but tolerates an incomplete command at the end.
private func decodeAllLeavingRemainder(_ bytes: [UInt8], chunk: Int) throws(RESPProtocolError) -> Int {
    let decoder = RESPCommandDecoder(limits: RESPRequestLimits(maxInlineLength: 32))
    var buffer = ByteBuffer()
    var frames = 0
    var offset = 0
    while offset < bytes.count {
        let end = min(bytes.count, offset + chunk)
        buffer.writeBytes(bytes[offset..<end])
        offset = end
        var consumed = 0
        var failure: RESPProtocolError?
        buffer.withUnsafeReadableBytes { raw in
            while true {
                do throws(RESPProtocolError) {
                    guard let frame = try decoder.decode(raw, frameStart: consumed) else { return }
                    let arguments = decoder.arguments(of: frame, in: raw, frameStart: consumed)
                    for index in 0..<arguments.count { _ = arguments[index].count }
                    consumed += frame.length
                    frames += 1
                } catch {
                    failure = error
                    return
                }
            }
        }
        if let failure { throw failure }
        buffer.moveReaderIndex(forwardBy: consumed)
        buffer.discardReadBytes()
    }
    return frames
}
