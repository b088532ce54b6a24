import ArgumentParser
import WharfEngine

@main
struct WharfCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wharf",
        abstract:
            "Wharf: one data layer for services — key-value, queues, pub/sub and streams over the Redis protocol.",
        version: WharfVersion.current,
        subcommands: [
            ServeCommand.self, CheckCommand.self, BackupCommand.self, RestoreCommand.self, ImportCommand.self,
            ExportCommand.self, CommandsCommand.self, BenchCommand.self,
        ]
    )
}
