public import WharfProtocol

/// A type a reply can be decoded into. An error reply never reaches `init(reply:)`: the
/// client throws it as a ``WharfClientError/Code/server`` error first.
public protocol RESPReplyDecodable: Sendable {
    init(reply: RESPValue) throws(WharfClientError)
}

extension WharfClientError {
    static func unexpected(_ reply: RESPValue, as type: Any.Type) -> WharfClientError {
        WharfClientError(.unexpectedReply, "cannot decode \(reply) as \(type)")
    }
}

extension RESPValue: RESPReplyDecodable {
    public init(reply: RESPValue) { self = reply }
}

extension String: RESPReplyDecodable {
    public init(reply: RESPValue) throws(WharfClientError) {
        switch reply {
        case .simpleString(let text), .bigNumber(let text): self = text
        case .bulkString(let bytes), .verbatimString(_, let bytes): self = String(decoding: bytes, as: UTF8.self)
        case .integer(let value): self = String(value)
        case .double(let value): self = value.respText
        default: throw .unexpected(reply, as: String.self)
        }
    }
}

extension Array: RESPReplyDecodable where Element: RESPReplyDecodable {
    public init(reply: RESPValue) throws(WharfClientError) {
        switch reply {
        case .array(let values), .set(let values), .push(let values), .map(let values):
            var result: [Element] = []
            result.reserveCapacity(values.count)
            for value in values { result.append(try Element(reply: value)) }
            self = result
        case .bulkString(let bytes) where Element.self == UInt8.self:
            self = bytes as! [Element]  // Element is UInt8 here: the cast is an identity.
        case .simpleString(let text) where Element.self == UInt8.self:
            self = [UInt8](text.utf8) as! [Element]
        default: throw .unexpected(reply, as: [Element].self)
        }
    }
}

extension UInt8: RESPReplyDecodable {
    public init(reply: RESPValue) throws(WharfClientError) {
        guard case .integer(let value) = reply, let byte = UInt8(exactly: value) else {
            throw .unexpected(reply, as: UInt8.self)
        }
        self = byte
    }
}

extension Optional: RESPReplyDecodable where Wrapped: RESPReplyDecodable {
    public init(reply: RESPValue) throws(WharfClientError) {
        if case .null = reply {
            self = .none
        } else {
            self = .some(try Wrapped(reply: reply))
        }
    }
}

extension Int: RESPReplyDecodable {
    public init(reply: RESPValue) throws(WharfClientError) {
        switch reply {
        case .integer(let value): self = Int(value)
        case .bulkString, .simpleString:
            guard let text = reply.string, let value = Int(text) else { throw .unexpected(reply, as: Int.self) }
            self = value
        case .boolean(let value): self = value ? 1 : 0
        default: throw .unexpected(reply, as: Int.self)
        }
    }
}

extension Int64: RESPReplyDecodable {
    public init(reply: RESPValue) throws(WharfClientError) { self = Int64(try Int(reply: reply)) }
}

extension Double: RESPReplyDecodable {
    public init(reply: RESPValue) throws(WharfClientError) {
        switch reply {
        case .double(let value): self = value
        case .integer(let value): self = Double(value)
        case .bulkString, .simpleString:
            switch reply.string {
            case "inf", "+inf": self = .infinity
            case "-inf": self = -.infinity
            case let text?:
                guard let value = Double(text) else { throw .unexpected(reply, as: Double.self) }
                self = value
            case nil: throw .unexpected(reply, as: Double.self)
            }
        default: throw .unexpected(reply, as: Double.self)
        }
    }
}

extension Bool: RESPReplyDecodable {
    /// `:1`/`:0`, RESP3 booleans, and `+OK` (true).
    public init(reply: RESPValue) throws(WharfClientError) {
        switch reply {
        case .integer(let value): self = value != 0
        case .boolean(let value): self = value
        case .simpleString("OK"): self = true
        case .null: self = false
        default: throw .unexpected(reply, as: Bool.self)
        }
    }
}

extension Dictionary: RESPReplyDecodable where Key: RESPReplyDecodable & Hashable, Value: RESPReplyDecodable {
    /// A RESP3 map, or RESP2's flat array of alternating keys and values.
    public init(reply: RESPValue) throws(WharfClientError) {
        switch reply {
        case .map(let values), .array(let values):
            guard values.count % 2 == 0 else { throw .unexpected(reply, as: [Key: Value].self) }
            var result: [Key: Value] = [:]
            result.reserveCapacity(values.count / 2)
            var index = 0
            while index < values.count {
                result[try Key(reply: values[index])] = try Value(reply: values[index + 1])
                index += 2
            }
            self = result
        default: throw .unexpected(reply, as: [Key: Value].self)
        }
    }
}

extension RESPValue {
    /// Throws the reply as a server error if it is one; otherwise returns it.
    package func throwingServerError() throws(WharfClientError) -> RESPValue {
        if case .error(let line) = self { throw WharfClientError.server(line) }
        return self
    }

    /// The elements of an array, set or push, or of a map's flattened pairs.
    package var elements: [RESPValue]? {
        switch self {
        case .array(let values), .set(let values), .push(let values), .map(let values): return values
        default: return nil
        }
    }
}
