import WharfProtocol

/// Replication commands: ROLE, REPLICAOF and SLAVEOF for a standalone primary.
///
/// Wharf does not replicate yet: it is always a primary without replicas. Tools that ask
/// for the role or send `REPLICAOF NO ONE` on connecting get Redis's answers; a request to
/// follow another server is refused with a clear error instead of being pretended.
enum ReplicationCommands {
    static let declarations: [CommandSpec] = [
        CommandSpec(
            "role", arity: 1, flags: [.noScript, .loading, .stale, .fast], acl: [.admin, .dangerous], group: .server,
            since: "2.8.12", summary: "Returns the replication role.", handler: role),
        CommandSpec(
            "replicaof", arity: 3, flags: [.admin, .noScript, .stale], acl: [], group: .server,
            since: "5.0.0", summary: "Configures a server as replica of another, or promotes it to a master.",
            handler: replicaof),
        CommandSpec(
            "slaveof", arity: 3, flags: [.admin, .noScript, .stale], acl: [], group: .server,
            since: "1.0.0", summary: "Sets a Redis server as a replica of another, or promotes it to being a master.",
            handler: replicaof),
    ]

    static func role(_ context: inout CommandContext) {
        context.reply.writeArrayHeader(count: 3)
        context.reply.writeBulkString("master")
        context.reply.writeInteger(0)
        context.reply.writeArrayHeader(count: 0)
    }

    static func replicaof(_ context: inout CommandContext) {
        if context.arguments[1].equalsIgnoringCase("NO") && context.arguments[2].equalsIgnoringCase("ONE") {
            // Already a primary: nothing to change.
            return context.reply.writeOK()
        }
        guard DecimalInteger.parse(context.arguments[2]) != nil else { return context.replyNotInteger() }
        context.reply.writeError(
            "ERR \(context.arguments.string(0).uppercased()) <host> <port> is not supported: Wharf does not replicate yet (REPLICAOF NO ONE is accepted)"
        )
    }
}
