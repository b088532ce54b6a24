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

    init(settings: EngineSettings = EngineSettings(databases: 16, shards: 8), startMilliseconds: Int64 = 1_700_000_000_000, persistence: Persistence? = nil) {
        self.clock = EngineClock.manual(milliseconds: startMilliseconds)
        self.engine = Engine(settings: settings, clock: self.clock, persistence: persistence)
        self.session = self.engine.makeSession(address: "test")
        self.context = CommandContext(engine: self.engine, session: self.session, reply: RESPReplyWriter(buffer: ByteBuffer()))
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
                self.context.arguments = CommandArguments(base: raw.baseAddress!, spans: spanBuffer.baseAddress!, count: spans.count)
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

    var protocolVersion: RESPVersion {
        get { self.context.reply.version }
        set { self.context.reply.version = newValue }
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
}

extension EngineHarness {
    /// An engine persisting to `directory`, recovered from whatever is there.
    static func persistent(_ directory: String, appendOnly: Bool = true, fsync: FsyncPolicy = .always, at milliseconds: Int64 = 1_700_000_000_000) throws -> EngineHarness {
        var options = PersistenceOptions(directory: directory)
        options.appendOnly = appendOnly
        options.fsync = fsync
        let harness = EngineHarness(startMilliseconds: milliseconds, persistence: Persistence(options: options))
        try harness.engine.persistence!.recover(into: harness.engine)
        return harness
    }

    /// Every key of every database with its value and expiry, for comparing two engines.
    func dump() -> [String] {
        var lines: [String] = []
        for database in 0..<16 {
            self.run("SELECT", String(database))
            for key in self.run("KEYS", "*").sortedStrings {
                let value = self.run("GET", key).string ?? "?"
                guard case .integer(let expiry) = self.run("PEXPIRETIME", key) else { continue }
                lines.append("\(database) \(key) = \(value) @\(expiry)")
            }
        }
        self.run("SELECT", "0")
        return lines.sorted()
    }
}
