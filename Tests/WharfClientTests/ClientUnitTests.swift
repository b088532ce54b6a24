import NIOCore
import Testing
import WharfProtocol

@testable import WharfClient

@Suite struct URLConfigurationTests {
    @Test func fullRedisURL() throws {
        let configuration = try WharfClientConfiguration(
            url: "redis://app:s%40cret@cache.local:6380/3?protocol=2&name=web")
        #expect(configuration.connection.host == "cache.local")
        #expect(configuration.connection.port == 6380)
        #expect(configuration.connection.username == "app")
        #expect(configuration.connection.password == "s@cret")
        #expect(configuration.connection.database == 3)
        #expect(configuration.connection.protocolVersion == 2)
        #expect(configuration.connection.clientName == "web")
        #expect(!configuration.requiresTLS)
    }

    @Test func defaultsAndAliases() throws {
        let wharf = try WharfClientConfiguration(url: "wharf://localhost")
        #expect(wharf.connection.host == "localhost")
        #expect(wharf.connection.port == 6379)
        #expect(wharf.connection.database == 0)
        #expect(wharf.connection.password == nil)
        let tls = try WharfClientConfiguration(url: "rediss://:token@[::1]:7000")
        #expect(tls.requiresTLS)
        #expect(tls.connection.host == "::1")
        #expect(tls.connection.port == 7000)
        #expect(tls.connection.username == nil)
        #expect(tls.connection.password == "token")
    }

    @Test(arguments: [
        "http://x", "redis:/x", "redis://h:0", "redis://h:99999", "redis://h/db", "redis://h?protocol=4",
        "redis://h?color=red", "redis://%zz@h",
    ])
    func rejectsInvalidURLs(_ url: String) {
        #expect(throws: WharfClientError.self) { try WharfClientConfiguration(url: url) }
        do {
            _ = try WharfClientConfiguration(url: url)
        } catch {
            #expect(error.code == .invalidConfiguration)
            #expect(error.message.contains(url))
        }
    }
}

@Suite struct CommandEncodingTests {
    @Test func encodesArgumentsAsBulkStrings() {
        var command = RESPCommand("SET", "key", 42)
        command.append([UInt8]([0, 255]))
        command.append(-7)
        command.append(1.5)
        var buffer = ByteBuffer()
        command.write(into: &buffer)
        var expected = Array("*6\r\n$3\r\nSET\r\n$3\r\nkey\r\n$2\r\n42\r\n$2\r\n".utf8)
        expected += [0, 255]
        expected += Array("\r\n$2\r\n-7\r\n$3\r\n1.5\r\n".utf8)
        #expect(Array(buffer.readableBytesView) == expected)
        #expect(command.count == 6)
        #expect(command.arguments.map { $0.count } == [3, 3, 2, 2, 2, 3])
        #expect(command.name == "SET")
    }

    @Test(arguments: [0, 9, 10, 99, 12345, -1, -10, Int.max, Int.min + 1])
    func integersMatchTheirDecimalText(_ value: Int) {
        var buffer = ByteBuffer()
        buffer.writeDecimal(value)
        #expect(String(buffer: buffer) == String(value))
        #expect(value.respArgumentByteCount == String(value).utf8.count)
    }

    @Test func doublesUseRedisSpelling() {
        #expect(Double.infinity.respText == "+inf")
        #expect((-Double.infinity).respText == "-inf")
        #expect(3.0.respText == "3")
        #expect(0.25.respText == "0.25")
    }
}

@Suite struct ReplyDecodingTests {
    @Test func decodesScalarReplies() throws {
        #expect(try String(reply: .bulkString(Array("hi".utf8))) == "hi")
        #expect(try String?(reply: .null) == nil)
        #expect(try Int(reply: .integer(5)) == 5)
        #expect(try Int(reply: .bulkString(Array("12".utf8))) == 12)
        #expect(try Double(reply: .bulkString(Array("-inf".utf8))) == -.infinity)
        #expect(try Double(reply: .double(2.5)) == 2.5)
        #expect(try Bool(reply: .simpleString("OK")))
        #expect(try !Bool(reply: .integer(0)))
        #expect(try [UInt8](reply: .bulkString([1, 2])) == [1, 2])
    }

    @Test func decodesMapsFromBothProtocols() throws {
        let resp2 = RESPValue.array([.bulkString(Array("a".utf8)), .bulkString(Array("1".utf8))])
        let resp3 = RESPValue.map([.bulkString(Array("a".utf8)), .bulkString(Array("1".utf8))])
        #expect(try [String: String](reply: resp2) == ["a": "1"])
        #expect(try [String: String](reply: resp3) == ["a": "1"])
    }

    @Test func mismatchIsAnUnexpectedReplyError() {
        do {
            _ = try Int(reply: .array([]))
            Issue.record("decoding an array as Int succeeded")
        } catch {
            #expect(error.code == .unexpectedReply)
        }
    }

    @Test func serverErrorsKeepTheirPrefix() {
        let error = WharfClientError(.server, "WRONGTYPE Operation against a key holding the wrong kind of value")
        #expect(error.serverErrorPrefix == "WRONGTYPE")
        #expect(WharfClientError(.timeout, "x").serverErrorPrefix == nil)
    }

    @Test func scoredMembersFromBothProtocols() throws {
        let resp2 = RESPValue.array([.bulkString(Array("a".utf8)), .bulkString(Array("1.5".utf8))])
        let resp3 = RESPValue.array([.array([.bulkString(Array("a".utf8)), .double(1.5)])])
        #expect(try ScoredMember.list(from: resp2) == [ScoredMember("a", score: 1.5)])
        #expect(try ScoredMember.list(from: resp3) == [ScoredMember("a", score: 1.5)])
    }
}

@Suite struct BackoffTests {
    @Test func growsExponentiallyUpToTheCapWithJitter() {
        let backoff = Backoff(initial: .milliseconds(100), maximum: .seconds(1), multiplier: 2, jitter: 0.2)
        for _ in 0..<50 {
            let first = backoff.delay(afterAttempt: 1)
            #expect(first <= .milliseconds(100) && first >= .milliseconds(80))
            let third = backoff.delay(afterAttempt: 3)
            #expect(third <= .milliseconds(400) && third >= .milliseconds(320))
            let late = backoff.delay(afterAttempt: 30)
            #expect(late <= .seconds(1) && late >= .milliseconds(800))
        }
    }
}

@Suite struct ClusterRoutingTests {
    @Test func slotsMatchRedisCluster() {
        #expect(ClusterSlot.crc16(ArraySlice(Array("123456789".utf8))) == 0x31C3)
        #expect(ClusterSlot.of("foo") == 12182)
        #expect(ClusterSlot.of("bar") == 5061)
        #expect(ClusterSlot.of("{user1000}.following") == ClusterSlot.of("{user1000}.followers"))
        #expect(ClusterSlot.of("{user1000}.following") == ClusterSlot.of("user1000"))
        // An empty tag does not count: the whole key is hashed; only the first `{` opens a tag.
        #expect(ClusterSlot.of("foo{}{bar}") == Int(ClusterSlot.crc16(ArraySlice(Array("foo{}{bar}".utf8))) & 0x3FFF))
        #expect(ClusterSlot.of("foo{{bar}}zap") == ClusterSlot.of("{bar"))
        #expect(ClusterSlot.of("foo{bar}{zap}") == ClusterSlot.of("bar"))
    }

    @Test func keysOfCommandsWithUnusualKeyPositions() throws {
        func keys(_ command: RESPCommand) -> [String] {
            ClusterKeys.keys(command.arguments).map { String(decoding: $0, as: UTF8.self) }
        }
        #expect(keys(RESPCommand("GET", "a")) == ["a"])
        #expect(keys(RESPCommand("MSET", "a", "1", "b", "2")) == ["a", "b"])
        #expect(keys(RESPCommand("BLPOP", "a", "b", "0")) == ["a", "b"])
        #expect(
            keys(RESPCommand("XREADGROUP", "GROUP", "g", "c", "COUNT", "5", "STREAMS", "s1", "s2", ">", ">"))
                == ["s1", "s2"])
        #expect(keys(RESPCommand("EVAL", "return 1", "2", "k1", "k2", "arg")) == ["k1", "k2"])
        #expect(keys(RESPCommand("LMPOP", "2", "l1", "l2", "LEFT")) == ["l1", "l2"])
        #expect(keys(RESPCommand("PING")).isEmpty)
        #expect(keys(RESPCommand("LMOVE", "a", "b", "LEFT", "RIGHT")) == ["a", "b"])
        #expect(try ClusterKeys.slot(of: RESPCommand("MGET", "{u}a", "{u}b")) == ClusterSlot.of("u"))
        #expect(try ClusterKeys.slot(of: RESPCommand("PING")) == nil)
        do {
            _ = try ClusterKeys.slot(of: RESPCommand("MGET", "foo", "bar"))
            Issue.record("keys in different slots were accepted")
        } catch {
            #expect(error.code == .crossSlot)
            #expect(error.message.contains("hash tag"))
        }
    }

    @Test func redirectionsAreParsed() {
        guard case .moved(3999, let address)? = ClusterRouter.Redirect(.error("MOVED 3999 127.0.0.1:6381")) else {
            Issue.record("MOVED not parsed")
            return
        }
        #expect(address == ServerAddress(host: "127.0.0.1", port: 6381))
        guard case .ask(let target)? = ClusterRouter.Redirect(.error("ASK 3999 :6382")) else {
            Issue.record("ASK not parsed")
            return
        }
        #expect(target.port == 6382)
        guard case .tryAgain? = ClusterRouter.Redirect(.error("TRYAGAIN Multiple keys request during rehashing"))
        else {
            Issue.record("TRYAGAIN not parsed")
            return
        }
        #expect(ClusterRouter.Redirect(.error("ERR wrong")) == nil)
        #expect(ClusterRouter.Redirect(.simpleString("OK")) == nil)
    }
}
