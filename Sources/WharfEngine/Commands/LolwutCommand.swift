import WharfProtocol

/// LOLWUT: a drawing and the server's version, as Redis's LOLWUT answers. Wharf's drawing
/// is a harbour: piers standing in waves, the sea's swell set by the arguments.
enum LolwutCommand {
    static let declarations: [CommandSpec] = [
        CommandSpec(
            "lolwut", arity: -1, flags: [.readonly, .fast], acl: [], group: .server,
            since: "5.0.0", summary: "Displays computer art and the Redis version", handler: lolwut)
    ]

    static func lolwut(_ context: inout CommandContext) {
        var numbers: [Int] = []
        var index = 1
        while index < context.arguments.count {
            if context.arguments[index].equalsIgnoringCase("VERSION") && index + 1 < context.arguments.count {
                guard context.integerArgument(index + 1) != nil else { return }
                index += 2
                continue
            }
            guard let value = context.integerArgument(index) else { return }
            numbers.append(Int(value))
            index += 1
        }
        let width = min(max(numbers.count > 0 ? numbers[0] : 66, 12), 1000)
        let piers = min(max(numbers.count > 1 ? numbers[1] : 5, 1), 40)
        let swell = min(max(numbers.count > 2 ? numbers[2] : 3, 1), 12)
        context.reply.writeVerbatimString(
            self.drawing(width: width, piers: piers, swell: swell)
                + "\nA wharf: \(piers) piers over a swell of \(swell). Wharf ver. \(WharfVersion.current)\n")
    }

    /// Pier posts and decks above a sea whose waves shift row by row.
    static func drawing(width: Int, piers: Int, swell: Int) -> String {
        var rows: [String] = []
        let spacing = max(4, width / (piers + 1))
        let deck = String(
            (0..<width).map { column in
                let offset = column % spacing
                return offset >= spacing / 2 - 1 && offset <= spacing / 2 + 1 && column / spacing < piers ? "=" : " "
            })
        rows.append(deck)
        for row in 0..<(swell + 2) {
            let line = (0..<width).map { column -> Character in
                let post = column % spacing == spacing / 2 && column / spacing < piers
                if post { return "|" }
                if row < 1 { return " " }
                let phase = (column + row * 3) % 8
                return phase < 2 ? "~" : phase < 4 ? "-" : phase < 6 ? "~" : " "
            }
            rows.append(String(line))
        }
        return rows.joined(separator: "\n")
    }
}
