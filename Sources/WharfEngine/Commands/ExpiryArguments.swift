import WharfProtocol

/// The expiry options SET and GETEX share.
package struct ExpiryArgument {
    enum Unit { case seconds, milliseconds }
    var argumentIndex: Int
    var unit: Unit
    var absolute: Bool
}

extension CommandContext {
    /// Turns an EX/PX/EXAT/PXAT value into absolute Unix milliseconds, replying with Redis's
    /// error (not an integer; `invalid expire time in '<command>' command`) when it cannot.
    package mutating func absoluteExpiry(_ argument: ExpiryArgument, command: String) -> Int64? {
        guard let value = self.integerArgument(argument.argumentIndex) else { return nil }
        if value <= 0 || (argument.unit == .seconds && value > Int64.max / 1000) {
            self.reply.writeError("ERR invalid expire time in '\(command)' command")
            return nil
        }
        var milliseconds = argument.unit == .seconds ? value * 1000 : value
        if !argument.absolute {
            if milliseconds > Int64.max - self.now {
                self.reply.writeError("ERR invalid expire time in '\(command)' command")
                return nil
            }
            milliseconds += self.now
        }
        return milliseconds
    }

    /// Recognises `EX`, `PX`, `EXAT`, `PXAT` at `index` (its value at `index + 1`).
    package func expiryOption(at index: Int) -> ExpiryArgument? {
        let word = self.arguments[index]
        guard index + 1 < self.arguments.count else { return nil }
        if word.equalsIgnoringCase("EX") {
            return ExpiryArgument(argumentIndex: index + 1, unit: .seconds, absolute: false)
        }
        if word.equalsIgnoringCase("PX") {
            return ExpiryArgument(argumentIndex: index + 1, unit: .milliseconds, absolute: false)
        }
        if word.equalsIgnoringCase("EXAT") {
            return ExpiryArgument(argumentIndex: index + 1, unit: .seconds, absolute: true)
        }
        if word.equalsIgnoringCase("PXAT") {
            return ExpiryArgument(argumentIndex: index + 1, unit: .milliseconds, absolute: true)
        }
        return nil
    }
}
