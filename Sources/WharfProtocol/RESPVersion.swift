/// The RESP protocol version a connection speaks.
///
/// Connections start in RESP2; `HELLO 3` switches them to RESP3, which adds maps, sets,
/// doubles, booleans, a distinct null and push messages.
public enum RESPVersion: Int, Sendable, Hashable {
    case resp2 = 2
    case resp3 = 3
}
