/// Human-readable listings of the command table; the README's command list is generated
/// from ``markdown()``, so it cannot drift from what the server implements.
public enum CommandCatalog {
    private static var table: CommandTable { CommandTable(Engine.declarations) }

    private static let groupTitles: [(CommandGroup, String)] = [
        (.connection, "Connection"), (.server, "Server"), (.generic, "Keys"), (.string, "Strings"),
        (.list, "Lists"), (.hash, "Hashes"), (.set, "Sets"), (.sortedSet, "Sorted sets"),
        (.bitmap, "Bitmaps"), (.hyperloglog, "HyperLogLog"), (.geo, "Geo"),
        (.transactions, "Transactions"), (.pubsub, "Pub/sub"), (.stream, "Streams"),
    ]

    /// One line per command and subcommand: name, arity and summary.
    public static func lines() -> [String] {
        var lines: [String] = []
        for spec in self.table.commands {
            lines.append("\(spec.name.uppercased())  \(spec.summary)")
            for sub in spec.subcommands {
                lines.append("\(spec.name.uppercased()) \(sub.name.uppercased())  \(sub.summary)")
            }
        }
        return lines
    }

    /// Markdown: one section per command group, a table of commands in each.
    public static func markdown() -> String {
        let commands = self.table.commands
        var out = ""
        for (group, title) in self.groupTitles {
            let members = commands.filter { $0.group == group }
            if members.isEmpty { continue }
            out += "#### \(title)\n\n| Command | Since | Summary |\n|---|---|---|\n"
            for spec in members {
                if spec.subcommands.isEmpty || spec.handler != nil {
                    out += "| `\(spec.name.uppercased())` | \(spec.since) | \(spec.summary) |\n"
                }
                if !spec.subcommands.isEmpty {
                    for sub in spec.subcommands {
                        out +=
                            "| `\(spec.name.uppercased()) \(sub.name.uppercased())` | \(sub.since) | \(sub.summary) |\n"
                    }
                }
            }
            out += "\n"
        }
        return out
    }
}
