import WharfProtocol

/// MONITOR: the connection receives every command the server runs, as Redis prints them.
enum MonitorCommands {
    static let declarations: [CommandSpec] = [
        CommandSpec(
            "monitor", arity: 1, flags: [.admin, .noScript, .loading, .stale], acl: [], group: .server,
            since: "1.0.0", summary: "Listens for all requests received by the server in real-time.", handler: monitor)
    ]

    static func monitor(_ context: inout CommandContext) {
        let session = context.session
        if session.transaction != nil || context.inTransaction {
            return context.reply.writeError("ERR MONITOR isn't allowed for DENY BLOCKING client")
        }
        guard let mailbox = session.mailbox else {
            return context.reply.writeError("ERR MONITOR needs a client connection")
        }
        if !session.isMonitor {
            session.isMonitor = true
            context.engine.monitors.add(id: session.id, mailbox: mailbox)
        }
        context.reply.writeOK()
    }
}
