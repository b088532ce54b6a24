import Atomics
import NIOCore
import Synchronization
import WharfProtocol

#if canImport(Glibc)
    import Glibc
#endif

/// The clients in MONITOR mode, and the feed of every command to them.
///
/// When nobody monitors, a command pays one relaxed load of ``isActive``; the line is
/// formatted once per command and appended to each monitor's mailbox.
package final class MonitorHub: Sendable {
    private let monitors = Mutex<[(id: Int64, mailbox: ClientMailbox)]>([])
    private let active = ManagedAtomic<Int>(0)

    @inline(__always)
    package var isActive: Bool { self.active.load(ordering: .relaxed) > 0 }

    package func add(id: Int64, mailbox: ClientMailbox) {
        self.monitors.withLock { monitors in
            guard !monitors.contains(where: { $0.id == id }) else { return }
            monitors.append((id, mailbox))
            self.active.store(monitors.count, ordering: .relaxed)
        }
    }

    package func remove(id: Int64) {
        self.monitors.withLock { monitors in
            monitors.removeAll { $0.id == id }
            self.active.store(monitors.count, ordering: .relaxed)
        }
    }

    /// Sends `+<time> [<db> <addr>] "arg" …` to every monitor, as Redis formats it
    /// (arguments quoted and escaped as `sdscatrepr` does; passwords redacted).
    func feed(_ arguments: CommandArguments, database: Int, address: String, limit: OutputBufferLimits.Limit) {
        var time = timeval()
        gettimeofday(&time, nil)
        var line = ByteBuffer()
        line.writeString("+\(time.tv_sec).")
        let micros = String(time.tv_usec)
        line.writeString(String(repeating: "0", count: max(0, 6 - micros.count)) + micros)
        line.writeString(" [\(database) \(address)]")
        let redactFrom = Self.redactionStart(arguments)
        for index in 0..<arguments.count {
            line.writeInteger(UInt8(ascii: " "))
            if index >= redactFrom {
                line.writeString("\"(redacted)\"")
            } else {
                Self.writeQuoted(arguments[index], into: &line)
            }
        }
        line.writeString("\r\n")
        let targets = self.monitors.withLock { $0.map(\.mailbox) }
        for mailbox in targets { _ = mailbox.deliver(line, limits: limit) }
    }

    /// The first argument to hide: a password's position in AUTH and HELLO … AUTH.
    static func redactionStart(_ arguments: CommandArguments) -> Int {
        if arguments[0].equalsIgnoringCase("AUTH") { return 1 }
        if arguments[0].equalsIgnoringCase("HELLO") {
            for index in 1..<arguments.count where arguments[index].equalsIgnoringCase("AUTH") { return index + 1 }
        }
        return Int.max
    }

    /// `"…"` with `\\`, `\"`, `\n`, `\r`, `\t`, `\a`, `\b` and `\xhh` for the rest.
    static func writeQuoted(_ bytes: UnsafeRawBufferPointer, into line: inout ByteBuffer) {
        line.writeInteger(UInt8(ascii: "\""))
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "\\"): line.writeString("\\\\")
            case UInt8(ascii: "\""): line.writeString("\\\"")
            case 0x0A: line.writeString("\\n")
            case 0x0D: line.writeString("\\r")
            case 0x09: line.writeString("\\t")
            case 0x07: line.writeString("\\a")
            case 0x08: line.writeString("\\b")
            case 0x20...0x7E: line.writeInteger(byte)
            default:
                let hex = Array("0123456789abcdef".utf8)
                line.writeString("\\x")
                line.writeInteger(hex[Int(byte >> 4)])
                line.writeInteger(hex[Int(byte & 0x0F)])
            }
        }
        line.writeInteger(UInt8(ascii: "\""))
    }
}
