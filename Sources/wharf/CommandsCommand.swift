import ArgumentParser
import WharfEngine

/// `wharf commands`: the supported commands, from the command table.
struct CommandsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "commands",
        abstract: "List the supported commands (the README's list is generated from this)."
    )

    @Flag(help: "Print the Markdown table used in README.md.")
    var markdown = false

    func run() {
        if self.markdown {
            print(CommandCatalog.markdown(), terminator: "")
        } else {
            for line in CommandCatalog.lines() { print(line) }
        }
    }
}
