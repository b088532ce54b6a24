import Logging
import NIOCore
import NIOEmbedded
import Testing
import WharfEngine
import WharfProtocol

@testable import WharfServer

/// Drives the SwiftNIO connection handler on an EmbeddedChannel: bytes in, bytes out.
private final class Connection {
    let engine: Engine
    let channel = EmbeddedChannel()

    init(settings: EngineSettings = EngineSettings(databases: 16, shards: 4)) throws {
        self.engine = Engine(settings: settings)
        let info = ClientInfo(
            id: self.engine.clients.makeID(), address: "test:1", localAddress: "test:2", createdAt: 0, close: nil)
        _ = self.engine.clients.register(info, limit: 100)
        let session = self.engine.makeSession(info: info)
        let engine = self.engine
        try self.channel.pipeline.syncOperations.addHandler(
            RESPConnectionHandler(
                engine: engine, session: session, allocator: self.channel.allocator, logger: Logger(label: "test")
            ) {
                engine.clients.unregister(id: info.id)
            })
        try self.channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
    }

    func send(_ text: String) throws {
        try self.send(Array(text.utf8))
    }

    func send(_ bytes: [UInt8]) throws {
        try self.channel.writeInbound(self.channel.allocator.buffer(bytes: bytes))
        self.channel.pipeline.fireChannelReadComplete()
    }

    /// Everything written back so far, as text.
    func received() throws -> String {
        var text = ""
        while let buffer = try self.channel.readOutbound(as: ByteBuffer.self) {
            text += String(buffer: buffer)
        }
        return text
    }
}

@Suite("NIO connection handler")
struct NIOConnectionHandlerTests {
    @Test("pipelined commands are answered in order, in one flush")
    func pipeline() throws {
        let connection = try Connection()
        try connection.send("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\nPING\r\n")
        #expect(try connection.received() == "+OK\r\n$1\r\nv\r\n+PONG\r\n")
    }

    @Test("a command split across reads is answered once complete")
    func splitCommand() throws {
        let connection = try Connection()
        try connection.send("*2\r\n$4\r\nECHO\r\n$5\r\nhel")
        #expect(try connection.received() == "")
        try connection.send("lo\r\n")
        #expect(try connection.received() == "$5\r\nhello\r\n")
    }

    @Test("a protocol error is answered and the connection closed")
    func protocolError() throws {
        let connection = try Connection()
        try connection.send("PING\r\n*1\r\n$-2\r\n")
        #expect(try connection.received() == "+PONG\r\n-ERR Protocol error: invalid bulk length\r\n")
        #expect(!connection.channel.isActive)
        #expect(connection.engine.clients.count == 0)
    }

    @Test("QUIT replies OK and closes")
    func quit() throws {
        let connection = try Connection()
        try connection.send("QUIT\r\nPING\r\n")
        #expect(try connection.received() == "+OK\r\n")
        #expect(!connection.channel.isActive)
    }

    @Test("input over client-query-buffer-limit is refused with the limit named")
    func queryBufferLimit() throws {
        let settings = EngineSettings(databases: 16, shards: 4)
        try EngineParameters.set("client-query-buffer-limit", "1mb", on: settings)
        let connection = try Connection(settings: settings)
        try connection.send("*1\r\n$1048576\r\n")
        for _ in 0..<17 { try connection.send([UInt8](repeating: 120, count: 65536)) }
        #expect(
            try connection.received()
                == "-ERR Protocol error: client query buffer exceeds client-query-buffer-limit (1048576 bytes)\r\n")
        #expect(!connection.channel.isActive)
    }
}
