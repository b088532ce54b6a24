import Testing
import WharfEngine
import WharfProtocol

@Suite("Connection and server commands")
struct ConnectionAndServerTests {
    @Test("unknown commands and wrong arity get Redis's exact errors")
    func errors() {
        let h = EngineHarness()
        #expect(h.run("FOO") == .error("ERR unknown command 'FOO', with args beginning with: "))
        #expect(h.run("foo", "a", "b") == .error("ERR unknown command 'foo', with args beginning with: 'a' 'b' "))
        #expect(h.run("GET") == .error("ERR wrong number of arguments for 'get' command"))
        #expect(h.run("get", "a", "b") == .error("ERR wrong number of arguments for 'get' command"))
        #expect(h.run("CLIENT") == .error("ERR wrong number of arguments for 'client' command"))
        #expect(h.run("CLIENT", "SETNAME") == .error("ERR wrong number of arguments for 'client|setname' command"))
        #expect(h.run("CLIENT", "bogus") == .error("ERR unknown subcommand 'bogus'. Try CLIENT HELP."))
        let long = String(repeating: "a", count: 300)
        guard case .error(let message) = h.run("FOO", long) else {
            Issue.record("no error")
            return
        }
        #expect(message.count < 300)
    }

    @Test("PING, ECHO, SELECT, QUIT and RESET")
    func basics() {
        let h = EngineHarness()
        #expect(h.run("PING") == .simple("PONG"))
        #expect(h.run("PING", "hi") == .bulk("hi"))
        #expect(h.run("PING", "a", "b") == .error("ERR wrong number of arguments for 'ping' command"))
        #expect(h.run("ECHO", "x") == .bulk("x"))
        #expect(h.run("SELECT", "15") == .ok)
        #expect(h.run("SELECT", "16") == .error("ERR DB index is out of range"))
        #expect(h.run("SELECT", "x") == .error("ERR value is not an integer or out of range"))
        #expect(h.run("RESET") == .simple("RESET"))
        #expect(h.session.database == 0)
        #expect(h.run("QUIT") == .ok)
        #expect(h.session.closeAfterReply)
    }

    @Test("HELLO switches protocol and reports the server")
    func hello() {
        let h = EngineHarness()
        guard case .array(let fields) = h.run("HELLO") else {
            Issue.record("HELLO reply")
            return
        }
        #expect(fields[0] == .bulk("server"))
        #expect(fields[3] == .bulk("7.0.15"))
        #expect(fields[5] == .integer(2))
        guard case .map(let map) = h.run("HELLO", "3", "SETNAME", "me") else {
            Issue.record("HELLO 3 reply")
            return
        }
        #expect(map[5] == .integer(3))
        #expect(h.run("CLIENT", "GETNAME") == .bulk("me"))
        #expect(h.run("GET", "nothing") == .null)
        #expect(h.run("HELLO", "4") == .error("NOPROTO unsupported protocol version"))
        #expect(h.run("HELLO", "x") == .error("ERR Protocol version is not an integer or out of range"))
        #expect(h.run("HELLO", "3", "BOGUS") == .error("ERR Syntax error in HELLO option 'BOGUS'"))
    }

    @Test("requirepass: NOAUTH until AUTH, WRONGPASS on a bad password")
    func authentication() {
        let settings = EngineSettings(databases: 16, shards: 8)
        try! EngineParameters.set("requirepass", "secret", on: settings)
        let h = EngineHarness(settings: settings)
        #expect(h.run("GET", "k") == .error("NOAUTH Authentication required."))
        #expect(h.run("PING") == .error("NOAUTH Authentication required."))
        #expect(
            h.run("HELLO", "3")
                == .error(
                    "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time"
                ))
        #expect(h.run("AUTH", "wrong") == .error("WRONGPASS invalid username-password pair or user is disabled."))
        #expect(
            h.run("AUTH", "other", "secret") == .error("WRONGPASS invalid username-password pair or user is disabled."))
        #expect(h.run("AUTH", "secret") == .ok)
        #expect(h.run("PING") == .simple("PONG"))
        #expect(h.run("RESET") == .simple("RESET"))
        #expect(h.run("PING") == .error("NOAUTH Authentication required."))
        #expect(h.run("AUTH", "default", "secret") == .ok)
    }

    @Test("AUTH without a configured password is an error")
    func authWithoutPassword() {
        let h = EngineHarness()
        #expect(
            h.run("AUTH", "x")
                == .error(
                    "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"
                ))
        #expect(h.run("AUTH", "default", "anything") == .ok)
    }

    @Test("CLIENT ID, SETNAME, GETNAME, SETINFO, INFO, LIST and NO-EVICT")
    func client() {
        let h = EngineHarness()
        #expect(h.run("CLIENT", "ID") == .integer(h.session.id))
        #expect(h.run("CLIENT", "GETNAME") == .null)
        #expect(
            h.run("CLIENT", "SETNAME", "bad name")
                == .error("ERR Client names cannot contain spaces, newlines or special characters."))
        #expect(h.run("CLIENT", "SETNAME", "worker-1") == .ok)
        #expect(h.run("CLIENT", "SETINFO", "LIB-NAME", "redis-py") == .ok)
        #expect(h.run("CLIENT", "SETINFO", "LIB-VER", "5.0") == .ok)
        #expect(h.run("CLIENT", "SETINFO", "COLOR", "x") == .error("ERR Unrecognized option 'COLOR'"))
        #expect(h.run("CLIENT", "NO-EVICT", "on") == .ok)
        #expect(h.run("CLIENT", "NO-EVICT", "maybe") == .error("ERR syntax error"))
        let info = h.run("CLIENT", "INFO").string ?? ""
        #expect(info.contains("id=\(h.session.id) "))
        #expect(info.contains("name=worker-1 "))
        #expect(info.contains("lib-name=redis-py"))
        #expect(h.run("CLIENT", "LIST", "TYPE", "bogus") == .error("ERR Unknown client type 'bogus'"))
        #expect(h.run("CLIENT", "KILL", "ID", "0") == .error("ERR client-id should be greater than 0"))
        #expect(h.run("CLIENT", "KILL", "1.2.3.4:5") == .error("ERR No such client"))
    }

    @Test("CONFIG GET, SET (all-or-nothing) and RESETSTAT")
    func config() {
        let h = EngineHarness()
        #expect(h.run("CONFIG", "GET", "maxclients") == .array([.bulk("maxclients"), .bulk("10000")]))
        #expect(h.run("CONFIG", "SET", "maxclients", "50", "hz", "20") == .ok)
        #expect(h.run("CONFIG", "GET", "hz") == .array([.bulk("hz"), .bulk("20")]))
        #expect(h.run("CONFIG", "SET", "proto-max-bulk-len", "2mb") == .ok)
        #expect(
            h.run("CONFIG", "GET", "proto-max-bulk-len") == .array([.bulk("proto-max-bulk-len"), .bulk("2097152")]))
        #expect(
            h.run("CONFIG", "SET", "hz", "30", "maxclients", "0")
                == .error(
                    "ERR CONFIG SET failed (possibly related to argument 'maxclients') - argument must be between 1 and 1000000 inclusive"
                ))
        #expect(
            h.run("CONFIG", "GET", "hz") == .array([.bulk("hz"), .bulk("20")]), "a failed CONFIG SET changes nothing")
        #expect(
            h.run("CONFIG", "SET", "nonsense", "1")
                == .error("ERR Unknown option or number of arguments for CONFIG SET - 'nonsense'"))
        #expect(
            h.run("CONFIG", "SET", "databases", "4")
                == .error(
                    "ERR CONFIG SET failed (possibly related to argument 'databases') - can't set immutable config"))
        #expect(
            h.run("CONFIG", "SET", "maxmemory-policy", "sometimes")
                == .error(
                    "ERR CONFIG SET failed (possibly related to argument 'maxmemory-policy') - argument(s) must be one of the following: noeviction, allkeys-lru, volatile-lru, allkeys-lfu, volatile-lfu, allkeys-random, volatile-random, volatile-ttl"
                ))
        guard case .array(let all) = h.run("CONFIG", "GET", "*") else {
            Issue.record("CONFIG GET *")
            return
        }
        #expect(all.count > 20)
        #expect(h.run("CONFIG", "RESETSTAT") == .ok)
    }

    @Test("COMMAND COUNT, INFO, LIST, DOCS and GETKEYS read the one command table")
    func command() {
        let h = EngineHarness()
        guard case .integer(let count) = h.run("COMMAND", "COUNT") else {
            Issue.record("COUNT")
            return
        }
        guard case .array(let names) = h.run("COMMAND", "LIST") else {
            Issue.record("LIST")
            return
        }
        // COUNT counts commands; LIST names subcommands too (`config|get`), as Redis 7 does.
        #expect(names.count > count)
        #expect(names.contains(.bulk("lcs")) && names.contains(.bulk("getex")) && names.contains(.bulk("config|get")))
        guard case .array(let all) = h.run("COMMAND") else {
            Issue.record("COMMAND")
            return
        }
        #expect(all.count == Int(count))
        guard case .array(let info) = h.run("COMMAND", "INFO", "get", "nosuch") else {
            Issue.record("INFO")
            return
        }
        guard case .array(let get) = info[0] else {
            Issue.record("INFO get")
            return
        }
        #expect(get[0] == .bulk("get"))
        #expect(get[1] == .integer(2))
        #expect(get[3] == .integer(1) && get[4] == .integer(1) && get[5] == .integer(1))
        #expect(info[1] == .null)
        #expect(h.run("COMMAND", "LIST", "FILTERBY", "PATTERN", "getr*") == .array([.bulk("getrange")]))
        guard case .array(let docs) = h.run("COMMAND", "DOCS", "set") else {
            Issue.record("DOCS")
            return
        }
        #expect(docs.first == .bulk("set"))
        #expect(h.run("COMMAND", "GETKEYS", "MSET", "a", "1", "b", "2") == .array([.bulk("a"), .bulk("b")]))
        #expect(h.run("COMMAND", "GETKEYS", "PING") == .error("ERR The command has no key arguments"))
        #expect(h.run("COMMAND", "GETKEYS", "NOPE") == .error("ERR Invalid command specified"))
    }

    @Test("INFO sections report the keyspace and commandstats")
    func info() {
        let h = EngineHarness()
        h.run("SET", "a", "1", "EX", "100")
        h.run("SET", "b", "2")
        h.run("GET", "a")
        h.run("GET", "missing")
        let text = h.run("INFO").string ?? ""
        #expect(text.contains("redis_version:7.0.15"))
        #expect(text.contains("wharf_version:"))
        #expect(text.contains("db0:keys=2,expires=1,avg_ttl="))
        #expect(text.contains("keyspace_hits:1"))
        #expect(text.contains("keyspace_misses:1"))
        #expect(!text.contains("cmdstat_get"))
        let stats = h.run("INFO", "commandstats").string ?? ""
        #expect(stats.contains("cmdstat_get:calls=2,"))
        #expect(stats.contains("cmdstat_set:calls=2,"))
        h.run("GET")
        let after = h.run("INFO", "commandstats").string ?? ""
        #expect(after.contains("cmdstat_get:calls=2,") && after.contains("rejected_calls=1"))
    }

    @Test("TIME follows the engine clock")
    func time() {
        let h = EngineHarness(startMilliseconds: 1_700_000_000_123)
        #expect(h.run("TIME") == .array([.bulk("1700000000"), .bulk("123000")]))
    }
}

@Suite("Glob patterns")
struct GlobPatternTests {
    @Test(
        "Redis glob rules",
        arguments: [
            ("*", "anything", true), ("h?llo", "hello", true), ("h?llo", "hllo", false),
            ("h*llo", "hllo", true), ("h*llo", "heeeello", true), ("h[ae]llo", "hillo", false),
            ("h[^e]llo", "hello", false), ("h[^e]llo", "hallo", true), ("h[a-b]llo", "hbllo", true),
            ("h[b-a]llo", "hallo", true), ("h\\*llo", "h*llo", true), ("h\\*llo", "hello", false),
            ("a*b*c", "aXXbYYc", true), ("a*b*c", "aXXbYY", false), ("[abc", "a", true), ("[]", "a", false),
            ("*a*a*a*a*a*a*a*b", String(repeating: "a", count: 60), false),
        ])
    func glob(pattern: String, subject: String, matches: Bool) {
        #expect(GlobPattern.matches(pattern, subject) == matches)
    }
}
