import NIOCore
import WharfEngine
import WharfProtocol
import WharfStorage

/// Runs commands against an engine with a manual clock, as a client would, and decodes
/// each reply.
final class EngineHarness {
    let engine: Engine
    let clock: EngineClock
    let session: ClientSession
    private var context: CommandContext

    init(
        settings: EngineSettings = EngineSettings(databases: 16, shards: 8),
        startMilliseconds: Int64 = 1_700_000_000_000, persistence: Persistence? = nil
    ) {
        self.clock = EngineClock.manual(milliseconds: startMilliseconds)
        self.engine = Engine(settings: settings, clock: self.clock, persistence: persistence)
        self.session = self.engine.makeSession(address: "test")
        self.context = CommandContext(
            engine: self.engine, session: self.session, reply: RESPReplyWriter(buffer: ByteBuffer()))
    }

    /// Another client of the same engine.
    init(sharing other: EngineHarness) {
        self.clock = other.clock
        self.engine = other.engine
        self.session = self.engine.makeSession(address: "test")
        self.context = CommandContext(
            engine: self.engine, session: self.session, reply: RESPReplyWriter(buffer: ByteBuffer()))
    }

    /// Gives the client a mailbox, as a connection has, so it can block and subscribe.
    /// Deliveries are collected by ``takeDeliveries()``.
    func connect() {
        self.session.mailbox = ClientMailbox(wake: {})
    }

    /// What other clients delivered since the last call: pub/sub messages and the reply of
    /// a served blocking command, decoded in order (messages first).
    func takeDeliveries() -> [RESPValue] {
        guard let mailbox = self.session.mailbox else { return [] }
        let delivery = mailbox.drain()
        var values: [RESPValue] = []
        for var buffer in [delivery.messages, delivery.unblocked?.reply ?? nil].compactMap({ $0 }) {
            while buffer.readableBytes > 0, let value = try! RESPValueDecoder().decode(&buffer) { values.append(value) }
        }
        if delivery.unblocked != nil { self.context.blockedWaiter = nil }
        return values
    }

    /// Whether the last command left the client blocked (the reply comes later).
    var isBlocked: Bool { self.context.blockedWaiter != nil }

    /// Runs a command that may block: returns its reply, or nil when it blocked.
    func runBlocking(_ arguments: String...) -> RESPValue? {
        let bytes = arguments.map { Array($0.utf8) }
        var storage: [UInt8] = []
        var spans: [ArgumentSpan] = []
        for argument in bytes {
            spans.append(ArgumentSpan(offset: storage.count, length: argument.count))
            storage.append(contentsOf: argument)
        }
        storage.append(0)
        storage.withUnsafeBytes { raw in
            spans.withUnsafeBufferPointer { spanBuffer in
                self.context.arguments = CommandArguments(
                    base: raw.baseAddress!, spans: spanBuffer.baseAddress!, count: spans.count)
                self.engine.execute(&self.context)
            }
        }
        if self.context.blockedWaiter != nil { return nil }
        var buffer = self.context.reply.buffer
        self.context.reply.buffer.clear()
        return try! RESPValueDecoder().decode(&buffer)
    }

    /// Runs one command given as separate arguments.
    @discardableResult
    func run(_ arguments: [[UInt8]]) -> RESPValue {
        var storage: [UInt8] = []
        var spans: [ArgumentSpan] = []
        for argument in arguments {
            spans.append(ArgumentSpan(offset: storage.count, length: argument.count))
            storage.append(contentsOf: argument)
        }
        storage.append(0)
        storage.withUnsafeBytes { raw in
            spans.withUnsafeBufferPointer { spanBuffer in
                self.context.arguments = CommandArguments(
                    base: raw.baseAddress!, spans: spanBuffer.baseAddress!, count: spans.count)
                self.engine.execute(&self.context)
            }
        }
        var buffer = self.context.reply.buffer
        self.context.reply.buffer.clear()
        let value = try! RESPValueDecoder().decode(&buffer)
        precondition(buffer.readableBytes == 0, "the command wrote more than one reply")
        return value!
    }

    @discardableResult
    func run(_ arguments: String...) -> RESPValue {
        self.run(arguments.map { Array($0.utf8) })
    }

    /// Runs one command given as an array of text arguments.
    @discardableResult
    func run(_ arguments: [String]) -> RESPValue {
        self.run(arguments.map { Array($0.utf8) })
    }

    var protocolVersion: RESPVersion {
        get { self.context.reply.version }
        set {
            self.context.reply.version = newValue
            self.session.protocolVersion = newValue
        }
    }

    func advance(milliseconds: Int64) {
        self.clock.advance(byMilliseconds: milliseconds)
    }
}

extension RESPValue {
    static func bulk(_ text: String) -> RESPValue { .bulkString(Array(text.utf8)) }
    static func simple(_ text: String) -> RESPValue { .simpleString(text) }
    static let ok = RESPValue.simpleString("OK")

    /// The bulk strings of an array reply, sorted, for order-independent comparison.
    var sortedStrings: [String] {
        guard case .array(let items) = self else { return [] }
        return items.compactMap(\.string).sorted()
    }

    /// The first element of the first row of an array of arrays: the ID of the first entry
    /// of XRANGE, or of the first row of XPENDING's extended form.
    var firstRowID: String {
        guard case .array(let rows) = self, case .array(let first)? = rows.first else { return "" }
        return first.first?.string ?? ""
    }
}

extension EngineHarness {
    /// An engine persisting to `directory`, recovered from whatever is there.
    static func persistent(
        _ directory: String, appendOnly: Bool = true, fsync: FsyncPolicy = .always,
        at milliseconds: Int64 = 1_700_000_000_000
    ) throws -> EngineHarness {
        var options = PersistenceOptions(directory: directory)
        options.appendOnly = appendOnly
        options.fsync = fsync
        let harness = EngineHarness(startMilliseconds: milliseconds, persistence: Persistence(options: options))
        try harness.engine.persistence!.recover(into: harness.engine)
        return harness
    }

    /// Every key of every database with its type, value and expiry, for comparing two engines.
    func dump() -> [String] {
        var lines: [String] = []
        for database in 0..<16 {
            self.run("SELECT", String(database))
            for key in self.run("KEYS", "*").sortedStrings {
                let type = self.run("TYPE", key).string ?? "?"
                let value: String
                switch type {
                case "list": value = "\(self.run("LRANGE", key, "0", "-1"))"
                case "hash": value = "\(self.pairs(self.run("HGETALL", key)).sorted { $0.0 < $1.0 })"
                case "set": value = "\(self.run("SMEMBERS", key).sortedStrings)"
                case "zset": value = "\(self.run("ZRANGE", key, "0", "-1", "WITHSCORES"))"
                // Entries, counters, groups, consumers and pending entries with their times.
                case "stream": value = Self.flat(self.run("XINFO", "STREAM", key, "FULL", "COUNT", "0"))
                default: value = self.run("GET", key).string ?? "?"
                }
                guard case .integer(let expiry) = self.run("PEXPIRETIME", key) else { continue }
                lines.append("\(database) \(type) \(key) = \(value) @\(expiry)")
            }
        }
        self.run("SELECT", "0")
        return lines.sorted()
    }

    /// A reply as compact text (`[a b [c]]`), for readable comparisons of nested replies.
    static func flat(_ reply: RESPValue) -> String {
        switch reply {
        case .array(let items), .map(let items), .set(let items):
            return "[" + items.map(Self.flat).joined(separator: " ") + "]"
        case .integer(let value): return String(value)
        case .null: return "nil"
        default: return reply.string ?? "\(reply)"
        }
    }

    private func pairs(_ reply: RESPValue) -> [(String, String)] {
        guard case .array(let items) = reply else { return [] }
        return stride(from: 0, to: items.count - 1, by: 2).map { (items[$0].string ?? "", items[$0 + 1].string ?? "") }
    }
}
