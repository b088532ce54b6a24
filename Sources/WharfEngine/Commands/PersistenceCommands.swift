import WharfProtocol
import WharfStorage

/// Persistence commands: SAVE BGSAVE BGREWRITEAOF LASTSAVE, and BACKUP for `wharf backup`.
///
/// Effect rule (for the write-ahead log): none of these change data; none is logged.
enum PersistenceCommands {
    static let declarations: [CommandSpec] = [
        CommandSpec(
            "save", arity: 1, flags: [.admin, .noScript, .noMulti], acl: [], group: .server,
            since: "1.0.0", summary: "Synchronously saves the database(s) to disk.",
            complexity: "O(N) where N is the total number of keys in all databases", handler: save),
        CommandSpec(
            "bgsave", arity: -1, flags: [.admin, .noScript], acl: [], group: .server,
            since: "1.0.0", summary: "Asynchronously saves the database(s) to disk.", complexity: "O(1)",
            handler: bgsave),
        CommandSpec(
            "bgrewriteaof", arity: 1, flags: [.admin, .noScript], acl: [], group: .server,
            since: "1.0.0", summary: "Asynchronously rewrites the append-only file to disk.", complexity: "O(1)",
            handler: bgrewriteaof),
        CommandSpec(
            "lastsave", arity: 1, flags: [.loading, .stale, .fast], acl: [.admin, .dangerous], group: .server,
            since: "1.0.0", summary: "Returns the Unix timestamp of the last successful save to disk.",
            handler: lastsave),
        CommandSpec(
            "backup", arity: -2, flags: [], acl: [], group: .server, since: "0.1.0",
            summary: "A container for consistent online backups (used by wharf backup).",
            complexity: "Depends on subcommand.", handler: nil,
            subcommands: [
                CommandSpec(
                    "start", arity: 2, flags: [.admin, .noScript], acl: [], group: .server, since: "0.1.0",
                    summary: "Takes a point-in-time snapshot for download; returns its id, size and log position.",
                    complexity: "O(N) where N is the number of keys", handler: backupStart),
                CommandSpec(
                    "read", arity: 5, flags: [.admin, .noScript], acl: [], group: .server, since: "0.1.0",
                    summary: "Returns up to count bytes of a backup from an offset.",
                    complexity: "O(N) where N is the count", handler: backupRead),
                CommandSpec(
                    "end", arity: 3, flags: [.admin, .noScript], acl: [], group: .server, since: "0.1.0",
                    summary: "Deletes a backup's server-side file.", handler: backupEnd),
                CommandSpec(
                    "help", arity: 2, flags: [.loading, .stale], acl: [], group: .server, since: "0.1.0",
                    summary: "Returns helpful text about the different subcommands.", handler: backupHelp),
            ]),
    ]

    private static func persistence(_ context: inout CommandContext) -> Persistence? {
        guard let persistence = context.engine.persistence else {
            context.reply.writeError("ERR persistence is not configured for this server")
            return nil
        }
        return persistence
    }

    static func save(_ context: inout CommandContext) {
        guard let persistence = self.persistence(&context) else { return }
        do {
            if try persistence.snapshot(background: false) {
                context.reply.writeOK()
            } else {
                context.reply.writeError("ERR Background save already in progress")
            }
        } catch {
            context.reply.writeError("ERR \(error)")
        }
    }

    static func bgsave(_ context: inout CommandContext) {
        var schedule = false
        if context.arguments.count > 2 { return context.replySyntaxError() }
        if context.arguments.count == 2 {
            guard context.arguments[1].equalsIgnoringCase("SCHEDULE") else { return context.replySyntaxError() }
            schedule = true
        }
        guard let persistence = self.persistence(&context) else { return }
        if persistence.isSnapshotInProgress {
            if schedule {
                // The running snapshot is the one the caller asked for.
                return context.reply.writeSimpleString("Background saving scheduled")
            }
            return context.reply.writeError("ERR Background save already in progress")
        }
        do {
            if try persistence.snapshot(background: true) {
                context.reply.writeSimpleString("Background saving started")
            } else {
                context.reply.writeError("ERR Background save already in progress")
            }
        } catch {
            context.reply.writeError("ERR \(error)")
        }
    }

    static func bgrewriteaof(_ context: inout CommandContext) {
        guard let persistence = self.persistence(&context) else { return }
        do {
            // Rewriting the log is taking a snapshot: the log before it is then deleted.
            if try persistence.snapshot(background: true) {
                context.reply.writeSimpleString("Background append only file rewriting started")
            } else {
                context.reply.writeError("ERR Background append only file rewriting already in progress")
            }
        } catch {
            context.reply.writeError("ERR \(error)")
        }
    }

    static func lastsave(_ context: inout CommandContext) {
        context.reply.writeInteger(context.engine.persistence?.lastSaveTime ?? context.engine.startedAt / 1000)
    }

    static func backupStart(_ context: inout CommandContext) {
        guard let persistence = self.persistence(&context) else { return }
        do {
            let backup = try persistence.startBackup()
            context.reply.writeArrayHeader(count: 3)
            context.reply.writeInteger(backup.id)
            context.reply.writeInteger(backup.size)
            context.reply.writeInteger(Int64(bitPattern: backup.lsn))
        } catch {
            context.reply.writeError("ERR backup failed: \(error)")
        }
    }

    static func backupRead(_ context: inout CommandContext) {
        guard let persistence = self.persistence(&context) else { return }
        guard let id = context.integerArgument(2), let offset = context.integerArgument(3),
            let count = context.integerArgument(4)
        else { return }
        guard offset >= 0, count > 0, count <= 64 * 1024 * 1024 else {
            return context.reply.writeError("ERR offset must be >= 0 and count between 1 and 67108864")
        }
        do {
            guard let bytes = try persistence.readBackup(id: Int(id), offset: Int(offset), count: Int(count)) else {
                return context.reply.writeError("ERR no such backup")
            }
            context.reply.writeBulkString(bytes)
        } catch {
            context.reply.writeError("ERR backup read failed: \(error)")
        }
    }

    static func backupEnd(_ context: inout CommandContext) {
        guard let persistence = self.persistence(&context) else { return }
        guard let id = context.integerArgument(2) else { return }
        context.reply.writeInteger(persistence.endBackup(id: Int(id)) ? 1 : 0)
    }

    static func backupHelp(_ context: inout CommandContext) {
        context.replyHelp(
            command: "BACKUP",
            lines: [
                "START",
                "    Take a consistent snapshot for download; returns [id, size, lsn].",
                "READ <id> <offset> <count>",
                "    Return up to <count> bytes of backup <id> starting at <offset>.",
                "END <id>",
                "    Delete the server-side copy of backup <id>.",
            ])
    }
}
