import Atomics
import NIOCore
import Synchronization
import WharfProtocol

/// Connection commands: PING ECHO HELLO AUTH SELECT QUIT RESET and the CLIENT family.
///
/// Effect rule (for the write-ahead log): none of these change data, so none is logged;
/// SELECT is recorded only as the database number carried by each logged write.
enum ConnectionCommands {
    /// The Redis version Wharf reports, so clients enable the features it implements.
    package static let redisVersion = "7.0.15"

    static let declarations: [CommandSpec] = [
        CommandSpec(
            "ping", arity: -1, flags: [.fast], acl: [.connection], group: .connection,
            since: "1.0.0", summary: "Returns the server's liveliness response.", handler: ping),
        CommandSpec(
            "echo", arity: 2, flags: [.fast], acl: [.connection], group: .connection,
            since: "1.0.0", summary: "Returns the given string.", handler: echo),
        CommandSpec(
            "hello", arity: -1, flags: [.noAuth, .fast, .noScript, .loading, .stale], acl: [.connection],
            group: .connection,
            since: "6.0.0", summary: "Handshakes with the Redis server.", handler: hello),
        CommandSpec(
            "auth", arity: -2, flags: [.noAuth, .fast, .noScript, .loading, .stale], acl: [.connection],
            group: .connection,
            since: "1.0.0", summary: "Authenticates the connection.",
            complexity: "O(N) where N is the number of passwords defined for the user", handler: auth),
        CommandSpec(
            "select", arity: 2, flags: [.fast, .loading, .stale], acl: [.connection], group: .connection,
            since: "1.0.0", summary: "Changes the selected database.", handler: select),
        CommandSpec(
            "quit", arity: -1, flags: [.noAuth, .fast, .noScript, .loading, .stale], acl: [.connection],
            group: .connection,
            since: "1.0.0", summary: "Closes the connection.", handler: quit),
        CommandSpec(
            "reset", arity: 1, flags: [.noAuth, .fast, .noScript, .loading, .stale], acl: [.connection],
            group: .connection,
            since: "6.2.0", summary: "Resets the connection.", handler: reset),
        CommandSpec(
            "client", arity: -2, flags: [], acl: [], group: .connection, since: "2.4.0",
            summary: "A container for client connection commands.", complexity: "Depends on subcommand.", handler: nil,
            subcommands: [
                CommandSpec(
                    "id", arity: 2, flags: [.noScript, .loading, .stale], acl: [.connection], group: .connection,
                    since: "5.0.0", summary: "Returns the unique client ID of the connection.", handler: clientID),
                CommandSpec(
                    "setname", arity: 3, flags: [.noScript, .loading, .stale], acl: [.connection], group: .connection,
                    since: "2.6.9", summary: "Sets the connection name.", handler: clientSetName),
                CommandSpec(
                    "getname", arity: 2, flags: [.noScript, .loading, .stale], acl: [.connection], group: .connection,
                    since: "2.6.9", summary: "Returns the name of the connection.", handler: clientGetName),
                CommandSpec(
                    "list", arity: -2, flags: [.admin, .noScript, .loading, .stale], acl: [.connection],
                    group: .connection,
                    since: "2.4.0", summary: "Lists open connections.",
                    complexity: "O(N) where N is the number of client connections", handler: clientList),
                CommandSpec(
                    "info", arity: 2, flags: [.noScript, .loading, .stale], acl: [.connection], group: .connection,
                    since: "6.2.0", summary: "Returns information about the connection.", handler: clientInfo),
                CommandSpec(
                    "kill", arity: -3, flags: [.admin, .noScript, .loading, .stale], acl: [.connection],
                    group: .connection,
                    since: "2.4.0", summary: "Terminates open connections.",
                    complexity: "O(N) where N is the number of client connections", handler: clientKill),
                CommandSpec(
                    "setinfo", arity: 4, flags: [.noScript, .loading, .stale], acl: [.connection], group: .connection,
                    since: "7.2.0", summary: "Sets information specific to the client or connection.",
                    handler: clientSetInfo),
                CommandSpec(
                    "no-evict", arity: 3, flags: [.admin, .noScript, .loading, .stale], acl: [.connection],
                    group: .connection,
                    since: "7.0.0", summary: "Sets the client eviction mode of the connection.", handler: clientNoEvict),
                CommandSpec(
                    "unblock", arity: -3, flags: [.admin, .noScript, .loading, .stale], acl: [.connection],
                    group: .connection,
                    since: "5.0.0",
                    summary: "Unblocks a client blocked by a blocking command from a different connection.",
                    complexity: "O(log N) where N is the number of client connections", handler: clientUnblock),
                CommandSpec(
                    "pause", arity: -3, flags: [.admin, .noScript, .loading, .stale], acl: [.connection],
                    group: .connection,
                    since: "3.0.0", summary: "Suspends commands processing.", handler: clientPause),
                CommandSpec(
                    "unpause", arity: 2, flags: [.admin, .noScript, .loading, .stale], acl: [.connection],
                    group: .connection,
                    since: "6.2.0", summary: "Resumes processing commands from paused clients.",
                    complexity: "O(N) Where N is the number of paused clients", handler: clientUnpause),
                CommandSpec(
                    "reply", arity: 3, flags: [.noScript, .loading, .stale], acl: [.connection], group: .connection,
                    since: "3.2.0", summary: "Instructs the server whether to reply to commands.", handler: clientReply),
                CommandSpec(
                    "help", arity: 2, flags: [.loading, .stale], acl: [.connection], group: .connection,
                    since: "5.0.0", summary: "Returns helpful text about the different subcommands.",
                    handler: clientHelp),
            ]),
    ]

    static func ping(_ context: inout CommandContext) {
        if context.arguments.count > 2 {
            return context.reply.writeError("ERR wrong number of arguments for 'ping' command")
        }
        if context.session.subscriptions.isActive && context.reply.version == .resp2 {
            // In subscribed mode a RESP2 client gets PING's answer as a pub/sub-shaped array.
            context.reply.writeArrayHeader(count: 2)
            context.reply.writeBulkString("pong")
            if context.arguments.count == 2 {
                context.reply.writeBulkString(context.arguments[1])
            } else {
                context.reply.writeBulkString("")
            }
            return
        }
        if context.arguments.count == 2 {
            context.reply.writeBulkString(context.arguments[1])
        } else {
            context.reply.writeSimpleString("PONG")
        }
    }

    static func echo(_ context: inout CommandContext) {
        context.reply.writeBulkString(context.arguments[1])
    }

    static func select(_ context: inout CommandContext) {
        guard let index = DecimalInteger.parse(context.arguments[1]), index >= Int64(Int32.min),
            index <= Int64(Int32.max)
        else {
            return context.replyNotInteger()
        }
        guard index >= 0 && index < Int64(context.engine.keyspace.databases.count) else {
            return context.reply.writeError("ERR DB index is out of range")
        }
        context.session.database = Int(index)
        context.reply.writeOK()
    }

    static func quit(_ context: inout CommandContext) {
        context.session.closeAfterReply = true
        context.reply.writeOK()
    }

    static func reset(_ context: inout CommandContext) {
        let session = context.session
        session.transaction = nil
        session.info.setFlag(ClientFlags.inTransaction, false)
        context.engine.disconnect(session)
        session.database = 0
        session.protocolVersion = .resp2
        context.reply.version = .resp2
        session.info.name = ""
        session.isAuthenticated = !context.engine.settings.hasPassword.load(ordering: .relaxed)
        session.replyMode = .on
        context.reply.writeSimpleString("RESET")
    }

    // MARK: Authentication

    /// Checks `password` for `user` against the configured password, in constant time.
    private static func authenticate(
        _ context: CommandContext, user: UnsafeRawBufferPointer, password: UnsafeRawBufferPointer
    ) -> Bool {
        guard user.equalsBytes(UnsafeRawBufferPointer(start: Self.defaultUser, count: 7)) else { return false }
        let expected = context.engine.settings.password
        // The default user without a password accepts any password, as in Redis.
        if expected.isEmpty { return true }
        var expectedBytes = Array(expected.utf8)
        let matches = expectedBytes.withUnsafeMutableBytes { ConstantTime.equals($0.baseAddress!, $0.count, password) }
        expectedBytes.removeAll()
        return matches
    }

    nonisolated(unsafe) private static let defaultUser: UnsafeRawPointer = {
        let bytes = Array("default".utf8)
        let pointer = UnsafeMutableRawPointer.allocate(byteCount: bytes.count, alignment: 1)
        pointer.copyMemory(from: bytes, byteCount: bytes.count)
        return UnsafeRawPointer(pointer)
    }()

    private static let wrongPassword = "WRONGPASS invalid username-password pair or user is disabled."

    static func auth(_ context: inout CommandContext) {
        let count = context.arguments.count
        if count > 3 { return context.replySyntaxError() }
        let user: UnsafeRawBufferPointer
        let password: UnsafeRawBufferPointer
        if count == 2 {
            guard context.engine.settings.hasPassword.load(ordering: .relaxed) else {
                return context.reply.writeError(
                    "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"
                )
            }
            user = UnsafeRawBufferPointer(start: Self.defaultUser, count: 7)
            password = context.arguments[1]
        } else {
            user = context.arguments[1]
            password = context.arguments[2]
        }
        guard self.authenticate(context, user: user, password: password) else {
            return context.reply.writeError(Self.wrongPassword)
        }
        context.session.isAuthenticated = true
        context.reply.writeOK()
    }

    static func hello(_ context: inout CommandContext) {
        var version: RESPVersion?
        if context.arguments.count >= 2 {
            guard let requested = DecimalInteger.parse(context.arguments[1]) else {
                return context.reply.writeError("ERR Protocol version is not an integer or out of range")
            }
            guard let supported = RESPVersion(rawValue: Int(truncatingIfNeeded: requested)),
                requested == 2 || requested == 3
            else {
                return context.reply.writeError("NOPROTO unsupported protocol version")
            }
            version = supported
        }
        var credentials: (user: Int, password: Int)?
        var nameIndex: Int?
        var index = 2
        while index < context.arguments.count {
            let remaining = context.arguments.count - index - 1
            if context.arguments[index].equalsIgnoringCase("AUTH") && remaining >= 2 {
                credentials = (index + 1, index + 2)
                index += 3
            } else if context.arguments[index].equalsIgnoringCase("SETNAME") && remaining >= 1 {
                nameIndex = index + 1
                index += 2
            } else {
                return context.reply.writeError("ERR Syntax error in HELLO option '\(context.arguments.string(index))'")
            }
        }
        if let credentials {
            guard
                self.authenticate(
                    context, user: context.arguments[credentials.user],
                    password: context.arguments[credentials.password])
            else {
                return context.reply.writeError(Self.wrongPassword)
            }
            context.session.isAuthenticated = true
        }
        guard context.session.isAuthenticated else {
            return context.reply.writeError(
                "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time"
            )
        }
        if let nameIndex {
            guard self.isValidName(context.arguments[nameIndex]) else {
                return context.reply.writeError(
                    "ERR Client names cannot contain spaces, newlines or special characters.")
            }
            context.session.info.name = context.arguments.string(nameIndex)
        }
        if let version {
            context.session.protocolVersion = version
            context.reply.version = version
        }
        context.reply.writeMapHeader(count: 7)
        context.reply.writeBulkString("server")
        context.reply.writeBulkString("redis")
        context.reply.writeBulkString("version")
        context.reply.writeBulkString(Self.redisVersion)
        context.reply.writeBulkString("proto")
        context.reply.writeInteger(context.session.protocolVersion.rawValue)
        context.reply.writeBulkString("id")
        context.reply.writeInteger(context.session.id)
        context.reply.writeBulkString("mode")
        context.reply.writeBulkString("standalone")
        context.reply.writeBulkString("role")
        context.reply.writeBulkString("master")
        context.reply.writeBulkString("modules")
        context.reply.writeArrayHeader(count: 0)
    }

    // MARK: CLIENT

    /// Client names and library names may hold only printable ASCII without spaces.
    private static func isValidName(_ bytes: UnsafeRawBufferPointer) -> Bool {
        bytes.allSatisfy { $0 > UInt8(ascii: " ") && $0 <= UInt8(ascii: "~") }
    }

    static func clientID(_ context: inout CommandContext) {
        context.reply.writeInteger(context.session.id)
    }

    static func clientSetName(_ context: inout CommandContext) {
        guard self.isValidName(context.arguments[2]) else {
            return context.reply.writeError("ERR Client names cannot contain spaces, newlines or special characters.")
        }
        context.session.info.name = context.arguments.string(2)
        context.reply.writeOK()
    }

    static func clientGetName(_ context: inout CommandContext) {
        let name = context.session.info.name
        if name.isEmpty { context.reply.writeNull() } else { context.reply.writeBulkString(name) }
    }

    static func clientSetInfo(_ context: inout CommandContext) {
        let attribute = context.arguments[2]
        let isName = attribute.equalsIgnoringCase("LIB-NAME")
        guard isName || attribute.equalsIgnoringCase("LIB-VER") else {
            return context.reply.writeError("ERR Unrecognized option '\(context.arguments.string(2))'")
        }
        guard self.isValidName(context.arguments[3]) else {
            return context.reply.writeError(
                "ERR \(isName ? "lib-name" : "lib-ver") cannot contain spaces, newlines or special characters.")
        }
        if isName {
            context.session.info.libraryName = context.arguments.string(3)
        } else {
            context.session.info.libraryVersion = context.arguments.string(3)
        }
        context.reply.writeOK()
    }

    /// CLIENT UNBLOCK id [TIMEOUT|ERROR]: ends another client's wait as if it timed out, or
    /// with an UNBLOCKED error.
    static func clientUnblock(_ context: inout CommandContext) {
        guard let id = context.integerArgument(2) else { return }
        var withError = false
        if context.arguments.count == 4 {
            if context.arguments[3].equalsIgnoringCase("ERROR") {
                withError = true
            } else if !context.arguments[3].equalsIgnoringCase("TIMEOUT") {
                return context.reply.writeError("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR")
            }
        } else if context.arguments.count > 4 {
            return context.replySyntaxError()
        }
        guard let waiter = context.engine.blocking.waiters(ofClient: id).first, waiter.claim() else {
            return context.reply.writeInteger(0)
        }
        context.engine.blocking.remove(waiter)
        var reply = RESPReplyWriter(buffer: ByteBuffer(), version: waiter.protocolVersion)
        if withError {
            reply.writeError("UNBLOCKED client unblocked via CLIENT UNBLOCK")
        } else {
            CommandContext.writeTimeoutReply(waiter.operation, into: &reply)
        }
        waiter.host?.unblock(waiter, reply: reply.buffer, requiredLSN: 0)
        context.reply.writeInteger(1)
    }

    static func clientNoEvict(_ context: inout CommandContext) {
        let mode = context.arguments[2]
        guard mode.equalsIgnoringCase("ON") || mode.equalsIgnoringCase("OFF") else { return context.replySyntaxError() }
        context.reply.writeOK()
    }

    static func clientInfo(_ context: inout CommandContext) {
        let line = ClientDescription.line(for: context.session.info, engine: context.engine, now: context.now)
        context.reply.writeVerbatimString(line + "\n")
    }

    static func clientList(_ context: inout CommandContext) {
        var ids: Set<Int64>?
        var index = 2
        while index < context.arguments.count {
            let word = context.arguments[index]
            if word.equalsIgnoringCase("TYPE") && index + 1 < context.arguments.count {
                let type = context.arguments.string(index + 1).lowercased()
                guard ["normal", "master", "replica", "slave", "pubsub"].contains(type) else {
                    return context.reply.writeError("ERR Unknown client type '\(context.arguments.string(index + 1))'")
                }
                // Every Wharf connection is a normal client for now.
                if type != "normal" { ids = [] }
                index += 2
            } else if word.equalsIgnoringCase("ID") && index + 1 < context.arguments.count {
                var wanted = ids ?? Set()
                index += 1
                while index < context.arguments.count {
                    guard let id = DecimalInteger.parse(context.arguments[index]), id > 0 else {
                        return context.reply.writeError("ERR Invalid client ID")
                    }
                    wanted.insert(id)
                    index += 1
                }
                ids = wanted
            } else {
                return context.replySyntaxError()
            }
        }
        var text = ""
        for client in context.engine.clients.all() where ids == nil || ids!.contains(client.id) {
            text += ClientDescription.line(for: client, engine: context.engine, now: context.now) + "\n"
        }
        context.reply.writeVerbatimString(text)
    }

    static func clientKill(_ context: inout CommandContext) {
        let clients = context.engine.clients.all()
        if context.arguments.count == 3 {
            // The old form: CLIENT KILL addr:port, replying OK or an error.
            let address = context.arguments.string(2)
            guard let victim = clients.first(where: { $0.address == address }) else {
                return context.reply.writeError("ERR No such client")
            }
            self.kill(victim, context: &context)
            return context.reply.writeOK()
        }
        var filter = ClientFilter()
        var index = 2
        while index < context.arguments.count {
            guard index + 1 < context.arguments.count else { return context.replySyntaxError() }
            let word = context.arguments[index]
            let value = context.arguments.string(index + 1)
            if word.equalsIgnoringCase("ID") {
                guard let id = Int64(value), id > 0 else {
                    return context.reply.writeError("ERR client-id should be greater than 0")
                }
                filter.id = id
            } else if word.equalsIgnoringCase("TYPE") {
                let type = value.lowercased()
                guard ["normal", "master", "replica", "slave", "pubsub"].contains(type) else {
                    return context.reply.writeError("ERR Unknown client type '\(value)'")
                }
                filter.type = type
            } else if word.equalsIgnoringCase("ADDR") {
                filter.address = value
            } else if word.equalsIgnoringCase("LADDR") {
                filter.localAddress = value
            } else if word.equalsIgnoringCase("USER") {
                filter.user = value
            } else if word.equalsIgnoringCase("SKIPME") {
                switch value.lowercased() {
                case "yes": filter.skipMe = true
                case "no": filter.skipMe = false
                default: return context.replySyntaxError()
                }
            } else if word.equalsIgnoringCase("MAXAGE") {
                guard let age = Int64(value) else { return context.replyNotInteger() }
                filter.maxAge = age
            } else {
                return context.replySyntaxError()
            }
            index += 2
        }
        var killed = 0
        for client in clients where filter.matches(client, me: context.session.id, now: context.now) {
            self.kill(client, context: &context)
            killed += 1
        }
        context.reply.writeInteger(killed)
    }

    private static func kill(_ client: ClientInfo, context: inout CommandContext) {
        if client.id == context.session.id {
            // Closing ourselves now would lose the reply; close right after sending it.
            context.session.closeAfterReply = true
        } else {
            client.kill()
        }
    }

    static func clientPause(_ context: inout CommandContext) {
        guard let milliseconds = DecimalInteger.parse(context.arguments[2]) else {
            return context.reply.writeError("ERR timeout is not an integer or out of range")
        }
        guard milliseconds >= 0 else { return context.reply.writeError("ERR timeout is negative") }
        var mode = ClientPause.Mode.all
        if context.arguments.count == 4 {
            if context.arguments[3].equalsIgnoringCase("WRITE") {
                mode = .write
            } else if !context.arguments[3].equalsIgnoringCase("ALL") {
                return context.reply.writeError("ERR CLIENT PAUSE mode must be WRITE or ALL")
            }
        } else if context.arguments.count > 4 {
            return context.replySyntaxError()
        }
        context.engine.pause.pause(milliseconds: milliseconds, mode: mode)
        context.reply.writeOK()
    }

    static func clientUnpause(_ context: inout CommandContext) {
        context.engine.pause.unpause()
        context.reply.writeOK()
    }

    /// CLIENT REPLY ON|OFF|SKIP; the engine drops the replies (see `Engine.execute`).
    static func clientReply(_ context: inout CommandContext) {
        let mode = context.arguments[2]
        if mode.equalsIgnoringCase("ON") {
            context.session.replyMode = .on
            context.reply.writeOK()
        } else if mode.equalsIgnoringCase("OFF") {
            context.session.replyMode = .off
        } else if mode.equalsIgnoringCase("SKIP") {
            // SKIP while OFF changes nothing: replies stay off.
            if context.session.replyMode != .off { context.session.replyMode = .skipNext }
        } else {
            context.replySyntaxError()
        }
    }

    static func clientHelp(_ context: inout CommandContext) {
        context.replyHelp(
            command: "CLIENT",
            lines: [
                "GETNAME",
                "    Return the name of the current connection.",
                "ID",
                "    Return the ID of the current connection.",
                "INFO",
                "    Return information about the current client connection.",
                "KILL <ip:port>",
                "    Kill connection made from <ip:port>.",
                "KILL <option> <value> [<option> <value> [...]]",
                "    Kill connections. Options are:",
                "    * ADDR (<ip:port>|<unixsocket>:0)",
                "      Kill connections made from the specified address",
                "    * LADDR (<ip:port>|<unixsocket>:0)",
                "      Kill connections made to specified local address",
                "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
                "      Kill connections by type.",
                "    * USER <username>",
                "      Kill connections authenticated by <username>.",
                "    * SKIPME (YES|NO)",
                "      Skip killing current connection (default: yes).",
                "    * ID <client-id>",
                "      Kill connections by client id.",
                "    * MAXAGE <maxage>",
                "      Kill connections older than the specified age.",
                "LIST [options ...]",
                "    Return information about client connections. Options:",
                "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
                "      Return clients of specified type.",
                "    * ID <client-id> [<client-id> ...]",
                "      Return clients of specified IDs only.",
                "SETNAME <name>",
                "    Assign the name <name> to the current connection.",
                "SETINFO <option> <value>",
                "    Set client meta attr. Options are:",
                "    * LIB-NAME: the client lib name.",
                "    * LIB-VER: the client lib version.",
                "PAUSE <timeout> [WRITE|ALL]",
                "    Suspend all, or just write, clients for <timeout> milliseconds.",
                "UNPAUSE",
                "    Stop the current client pause, resuming traffic.",
                "REPLY (ON|OFF|SKIP)",
                "    Control the replies sent to the current connection.",
                "NO-EVICT (ON|OFF)",
                "    Protect current client connection from eviction.",
                "UNBLOCK <clientid> [TIMEOUT|ERROR]",
                "    Unblock the specified blocked client.",
            ])
    }
}

/// CLIENT KILL's filters; every given filter must match.
struct ClientFilter {
    var id: Int64?
    var type: String?
    var address: String?
    var localAddress: String?
    var user: String?
    var skipMe = true
    var maxAge: Int64?

    func matches(_ client: ClientInfo, me: Int64, now: Int64) -> Bool {
        if skipMe && client.id == me { return false }
        if let id, client.id != id { return false }
        if let type, type != "normal" { return false }
        if let address, client.address != address { return false }
        if let localAddress, client.localAddress != localAddress { return false }
        if let user, client.user != user { return false }
        if let maxAge, (now - client.createdAt) / 1000 < maxAge { return false }
        return true
    }
}

/// The `key=value` line CLIENT LIST and CLIENT INFO print for one client.
enum ClientDescription {
    static func line(for client: ClientInfo, engine: Engine, now: Int64) -> String {
        let commandIndex = client.lastCommand.load(ordering: .relaxed)
        let command =
            commandIndex >= 0 && commandIndex < engine.commands.all.count
            ? engine.commands.all[commandIndex].fullName : "NULL"
        let age = max(0, (now - client.createdAt) / 1000)
        let idle = max(0, (now - client.lastInteraction.load(ordering: .relaxed)) / 1000)
        let queryBuffer = client.queryBufferBytes.load(ordering: .relaxed)
        let output = client.outputBufferBytes.load(ordering: .relaxed)
        let fields: [(String, String)] = [
            ("id", "\(client.id)"), ("addr", client.address), ("laddr", client.localAddress),
            ("name", client.name), ("age", "\(age)"), ("idle", "\(idle)"),
            ("flags", ClientFlags.letters(client.flags.load(ordering: .relaxed))),
            ("db", "\(client.database.load(ordering: .relaxed))"), ("sub", "0"), ("psub", "0"), ("ssub", "0"),
            ("multi", "-1"), ("qbuf", "\(queryBuffer)"), ("qbuf-free", "0"), ("argv-mem", "0"), ("multi-mem", "0"),
            ("obl", "0"), ("oll", "0"), ("omem", "\(output)"), ("tot-mem", "\(queryBuffer + output)"),
            ("events", "r"), ("cmd", command), ("user", client.user), ("redir", "-1"),
            ("resp", "\(client.protocolVersion.load(ordering: .relaxed))"),
            ("lib-name", client.libraryName), ("lib-ver", client.libraryVersion),
        ]
        return fields.map { "\($0.0)=\($0.1)" }.joined(separator: " ")
    }
}

/// Comparison whose time does not depend on where the inputs differ.
enum ConstantTime {
    static func equals(_ expected: UnsafeRawPointer, _ count: Int, _ given: UnsafeRawBufferPointer) -> Bool {
        var difference = UInt8(truncatingIfNeeded: count ^ given.count)
        for index in 0..<given.count {
            difference |= given[index] ^ expected.load(fromByteOffset: index % max(count, 1), as: UInt8.self)
        }
        return difference == 0 && count == given.count
    }
}
