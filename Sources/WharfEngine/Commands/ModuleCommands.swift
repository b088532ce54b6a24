import WharfProtocol

/// MODULE: Wharf loads no Redis modules (they are C plugins for Redis's own process), so
/// the list is empty and loading is refused with a clear error.
enum ModuleCommands {
    static let declarations: [CommandSpec] = [
        CommandSpec(
            "module", arity: -2, flags: [], acl: [], group: .server, since: "4.0.0",
            summary: "A container for module commands.", complexity: "Depends on subcommand.", handler: nil,
            subcommands: [
                CommandSpec(
                    "list", arity: 2, flags: [.admin, .noScript], acl: [], group: .server,
                    since: "4.0.0", summary: "Returns all loaded modules.",
                    complexity: "O(N) where N is the number of loaded modules.", handler: list),
                CommandSpec(
                    "load", arity: -3, flags: [.admin, .noScript], acl: [], group: .server,
                    since: "4.0.0", summary: "Loads a module.", handler: load),
                CommandSpec(
                    "loadex", arity: -3, flags: [.admin, .noScript], acl: [], group: .server,
                    since: "7.0.0", summary: "Loads a module using extended parameters.", handler: load),
                CommandSpec(
                    "unload", arity: 3, flags: [.admin, .noScript], acl: [], group: .server,
                    since: "4.0.0", summary: "Unloads a module.", handler: unload),
                CommandSpec(
                    "help", arity: 2, flags: [.loading, .stale], acl: [], group: .server,
                    since: "5.0.0", summary: "Returns helpful text about the different subcommands.", handler: help),
            ])
    ]

    static func list(_ context: inout CommandContext) {
        context.reply.writeArrayHeader(count: 0)
    }

    static func load(_ context: inout CommandContext) {
        context.reply.writeError("ERR Error loading the extension. Wharf does not load Redis modules.")
    }

    static func unload(_ context: inout CommandContext) {
        context.reply.writeError("ERR Error unloading module: no such module with that name")
    }

    static func help(_ context: inout CommandContext) {
        context.replyHelp(
            command: "MODULE",
            lines: [
                "LIST", "    Return a list of loaded modules.",
                "LOAD <path> [<arg> ...]",
                "    Load a module library from <path>, passing to it any optional arguments.",
                "LOADEX <path> [[CONFIG NAME VALUE] [CONFIG NAME VALUE]] [ARGS ...]",
                "    Load a module library from <path>, while passing it module configurations and optional arguments.",
                "UNLOAD <name>", "    Unload a module.",
            ])
    }
}
