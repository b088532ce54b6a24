/// The rules for container names and keys: names end up inside Redis keys, so they are
/// kept to a safe alphabet, and keys to a configurable length.
enum Names {
    /// Letters, digits and `_ - . :`, 1 to 200 characters.
    static func validate(_ name: String, what: String) throws(WharfError) {
        let allowed = name.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".")
                || byte == UInt8(ascii: ":")
        }
        guard !name.isEmpty, name.utf8.count <= 200, allowed else {
            throw WharfError(
                .invalidName, "\(what) '\(name.prefix(64))' must be 1–200 letters, digits, '_', '-', '.' or ':'")
        }
    }

    static func validateKey(_ key: String, limit: Int) throws(WharfError) {
        guard !key.isEmpty, key.utf8.count <= limit else {
            throw WharfError(
                .invalidName, "key '\(key.prefix(64))' must be 1 to maximumKeyBytes (\(limit)) bytes long")
        }
    }

    /// `pattern` with Redis glob characters escaped, for SCAN MATCH and PSUBSCRIBE.
    static func escapeGlob(_ text: String) -> String {
        var escaped = ""
        for character in text {
            if "*?[]\\".contains(character) { escaped.append("\\") }
            escaped.append(character)
        }
        return escaped
    }
}
