import WharfProtocol

/// The frozen table of every command: built once from the families' declarations, then
/// read concurrently without locks.
package final class CommandTable: Sendable {
    /// Top-level commands, sorted by name.
    package let commands: [CommandSpec]
    /// Every command and subcommand; a spec's `index` is its position here.
    package let all: [CommandSpec]
    /// Open-addressing index from lowercase name hash to position in `commands`.
    private let buckets: [Int32]
    private let bucketMask: Int
    /// `commands` as unretained references.
    private let unretained: [Unmanaged<CommandSpec>]

    package init(_ declarations: [CommandSpec]) {
        var all: [CommandSpec] = []
        var top: [CommandSpec] = []
        for declaration in declarations.sorted(by: { $0.name < $1.name }) {
            let index = all.count
            all.append(declaration)  // placeholder, replaced below
            var subcommands: [CommandSpec] = []
            for sub in declaration.subcommands.sorted(by: { $0.name < $1.name }) {
                let placed = sub.placed(at: all.count, parent: declaration.name, subcommands: [])
                all.append(placed)
                subcommands.append(placed)
            }
            let placed = declaration.placed(at: index, parent: nil, subcommands: subcommands)
            all[index] = placed
            top.append(placed)
        }
        var capacity = 16
        while capacity < top.count * 4 { capacity *= 2 }
        var buckets = [Int32](repeating: -1, count: capacity)
        for (position, spec) in top.enumerated() {
            let hash = spec.nameBytes.withUnsafeBytes { Self.hash($0) }
            var bucket = Int(hash) & (capacity - 1)
            while buckets[bucket] >= 0 {
                precondition(top[Int(buckets[bucket])].name != spec.name, "command \(spec.name) declared twice")
                bucket = (bucket + 1) & (capacity - 1)
            }
            buckets[bucket] = Int32(position)
        }
        self.commands = top
        self.unretained = top.map { Unmanaged.passUnretained($0) }
        self.all = all
        self.buckets = buckets
        self.bucketMask = capacity - 1
    }

    /// FNV-1a over ASCII-lowercased bytes.
    @inline(__always)
    private static func hash(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var hash: UInt32 = 2_166_136_261
        for byte in bytes {
            hash = (hash ^ UInt32(asciiLowercased(byte))) &* 16_777_619
        }
        return hash
    }

    /// The command named by `name`, ignoring case.
    package func lookup(_ name: UnsafeRawBufferPointer) -> CommandSpec? {
        self.lookupUnretained(name)?.takeUnretainedValue()
    }

    /// ``lookup(_:)`` without reference counting, for the per-command path (the table
    /// keeps every spec alive for the engine's life).
    @inline(__always)
    package func lookupUnretained(_ name: UnsafeRawBufferPointer) -> Unmanaged<CommandSpec>? {
        if name.count > 32 { return nil }
        var bucket = Int(Self.hash(name)) & self.bucketMask
        while true {
            let position = self.buckets[bucket]
            if position < 0 { return nil }
            let spec = self.unretained[Int(position)]
            let matches = spec._withUnsafeGuaranteedRef { spec in
                spec.nameBytes.withUnsafeBytes { name.equalsIgnoringCase($0) }
            }
            if matches { return spec }
            bucket = (bucket + 1) & self.bucketMask
        }
    }

    package func lookup(_ name: String) -> CommandSpec? {
        var name = name
        return name.withUTF8 { self.lookup(UnsafeRawBufferPointer($0)) }
    }

    /// The subcommand of `parent` named by `name`, ignoring case.
    package func subcommand(of parent: CommandSpec, named name: UnsafeRawBufferPointer) -> CommandSpec? {
        for sub in parent.subcommands {
            let matches = sub.nameBytes.withUnsafeBytes { name.equalsIgnoringCase($0) }
            if matches { return sub }
        }
        return nil
    }
}
