/// A decoded RESP2/RESP3 reply, as a client sees it.
public indirect enum RESPValue: Sendable, Hashable {
    case simpleString(String)
    case error(String)
    case integer(Int64)
    case bulkString([UInt8])
    /// RESP3 `_`, and RESP2's null bulk string and null array.
    case null
    case array([RESPValue])
    /// Keys and values alternating, in the order the server sent them.
    case map([RESPValue])
    case set([RESPValue])
    case double(Double)
    case boolean(Bool)
    case bigNumber(String)
    case verbatimString(format: String, text: [UInt8])
    case push([RESPValue])
    case attribute([RESPValue])

    /// The text of a simple, bulk or verbatim string, or of an error.
    public var string: String? {
        switch self {
        case .simpleString(let text), .error(let text), .bigNumber(let text): return text
        case .bulkString(let bytes): return String(decoding: bytes, as: UTF8.self)
        case .verbatimString(_, let text): return String(decoding: text, as: UTF8.self)
        default: return nil
        }
    }
}
