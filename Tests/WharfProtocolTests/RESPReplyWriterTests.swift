import NIOCore
import Testing
import WharfProtocol

@Suite("RESP reply writer")
struct RESPReplyWriterTests {
    private func written(_ version: RESPVersion, _ body: (inout RESPReplyWriter) -> Void) -> String {
        var writer = RESPReplyWriter(buffer: ByteBuffer(), version: version)
        body(&writer)
        return String(buffer: writer.buffer)
    }

    @Test("scalars")
    func scalars() {
        #expect(written(.resp2) { $0.writeOK() } == "+OK\r\n")
        #expect(written(.resp2) { $0.writeInteger(-42) } == ":-42\r\n")
        #expect(written(.resp2) { $0.writeInteger(Int64.min) } == ":-9223372036854775808\r\n")
        #expect(written(.resp2) { $0.writeBulkString("héllo") } == "$6\r\nhéllo\r\n")
        #expect(written(.resp2) { $0.writeBulkInteger(12345) } == "$5\r\n12345\r\n")
        #expect(written(.resp2) { $0.writeError("ERR bad\r\nthing") } == "-ERR bad  thing\r\n")
    }

    @Test("RESP3 types and their RESP2 forms")
    func resp3Mapping() {
        #expect(written(.resp3) { $0.writeNull() } == "_\r\n")
        #expect(written(.resp2) { $0.writeNull() } == "$-1\r\n")
        #expect(written(.resp2) { $0.writeNullArray() } == "*-1\r\n")
        #expect(written(.resp3) { $0.writeMapHeader(count: 2) } == "%2\r\n")
        #expect(written(.resp2) { $0.writeMapHeader(count: 2) } == "*4\r\n")
        #expect(written(.resp3) { $0.writeSetHeader(count: 3) } == "~3\r\n")
        #expect(written(.resp2) { $0.writeSetHeader(count: 3) } == "*3\r\n")
        #expect(written(.resp3) { $0.writePushHeader(count: 3) } == ">3\r\n")
        #expect(written(.resp3) { $0.writeBoolean(true) } == "#t\r\n")
        #expect(written(.resp2) { $0.writeBoolean(false) } == ":0\r\n")
        #expect(written(.resp3) { $0.writeDouble(1.5) } == ",1.5\r\n")
        #expect(written(.resp2) { $0.writeDouble(1.5) } == "$3\r\n1.5\r\n")
        #expect(written(.resp3) { $0.writeDouble(.infinity) } == ",inf\r\n")
        #expect(written(.resp2) { $0.writeDouble(-.infinity) } == "$4\r\n-inf\r\n")
        #expect(written(.resp3) { $0.writeVerbatimString("hi") } == "=6\r\ntxt:hi\r\n")
        #expect(written(.resp2) { $0.writeVerbatimString("hi") } == "$2\r\nhi\r\n")
    }

    @Test("doubles use Redis 7.0's %.17g form")
    func doubleFormat() {
        #expect(RESPDouble.format(1.1) == "1.1000000000000001")
        #expect(RESPDouble.format(3) == "3")
        #expect(RESPDouble.format(-0.5) == "-0.5")
    }

    @Test("the reply decoder reads back what the writer wrote")
    func roundTrip() throws {
        var writer = RESPReplyWriter(buffer: ByteBuffer(), version: .resp3)
        writer.writeMapHeader(count: 2)
        writer.writeBulkString("a")
        writer.writeArrayHeader(count: 2)
        writer.writeInteger(1)
        writer.writeNull()
        writer.writeSimpleString("b")
        writer.writeDouble(2.5)
        var buffer = writer.buffer
        let value = try RESPValueDecoder().decode(&buffer)
        #expect(
            value
                == .map([.bulkString(Array("a".utf8)), .array([.integer(1), .null]), .simpleString("b"), .double(2.5)]))
        #expect(buffer.readableBytes == 0)
    }

    @Test("a partial reply decodes to nil and leaves the buffer untouched")
    func partialReply() throws {
        let text = "*2\r\n$3\r\nfoo\r\n$3\r\nba"
        var buffer = ByteBuffer(string: text)
        #expect(try RESPValueDecoder().decode(&buffer) == nil)
        #expect(buffer.readableBytes == text.utf8.count)
    }

    @Test(
        "integers parse with Redis's strict rules",
        arguments: [
            ("0", Int64(0)), ("-1", -1), ("9223372036854775807", .max), ("-9223372036854775808", .min),
        ])
    func integerParsing(text: String, value: Int64) {
        #expect(Array(text.utf8).withUnsafeBytes { DecimalInteger.parse($0) } == value)
    }

    @Test(
        "non-canonical integers are rejected",
        arguments: ["", "-", "+1", " 1", "1 ", "01", "-0", "9223372036854775808", "1a", "1.0"])
    func integerRejection(text: String) {
        #expect(Array(text.utf8).withUnsafeBytes { DecimalInteger.parse($0) } == nil)
    }
}
