import Foundation

/// A JSON Schema (a documented subset of draft 2020-12) that ``EventStream`` checks each
/// event's encoded JSON against before publishing.
///
/// Supported keywords: `type` (one or a list of `null`, `boolean`, `object`, `array`,
/// `number`, `integer`, `string`), `enum`, `const`, `properties`, `required`,
/// `additionalProperties` (boolean or schema), `items`, `minItems`, `maxItems`, `minLength`,
/// `maxLength`, `pattern`, `minimum`, `maximum`, `exclusiveMinimum`, `exclusiveMaximum`,
/// `allOf`, `anyOf`, `oneOf`, `not`. Other keywords are ignored, as the specification says
/// of unknown ones.
///
/// ```swift
/// let schema = try JSONSchema(#"{"type": "object", "required": ["id"], "properties": {"id": {"type": "integer"}}}"#)
/// ```
public struct JSONSchema: Sendable {
    /// What happens to object fields the schema does not list when it says nothing of
    /// `additionalProperties`.
    public enum UnknownFields: Sendable, Hashable {
        /// Refused.
        case strict
        /// Allowed (the specification's default).
        case lax
    }

    private let schema: JSONValue
    public let unknownFields: UnknownFields

    /// Parses `json`; throws ``WharfError/Code/invalidConfiguration`` when it is not a JSON object.
    public init(_ json: String, unknownFields: UnknownFields = .lax) throws {
        guard let schema = try? JSONDecoder().decode(JSONValue.self, from: Data(json.utf8)),
            case .object = schema
        else {
            throw WharfError(.invalidConfiguration, "the JSON Schema is not a JSON object")
        }
        self.schema = schema
        self.unknownFields = unknownFields
    }

    /// Checks `document` (JSON bytes); returns the first violation, or nil when it conforms.
    public func violation(in document: [UInt8]) -> String? {
        guard let value = try? JSONDecoder().decode(JSONValue.self, from: Data(document)) else {
            return "the payload is not JSON"
        }
        return self.check(value, against: self.schema, at: "$")
    }

    private func check(_ value: JSONValue, against schema: JSONValue, at path: String) -> String? {
        guard case .object(let rules) = schema else { return nil }
        if let types = rules["type"] {
            let allowed: [String] =
                switch types {
                case .string(let one): [one]
                case .array(let many): many.compactMap(\.text)
                default: []
                }
            if !allowed.contains(where: { value.matches(type: $0) }) {
                return "\(path): expected \(allowed.joined(separator: " or ")), found \(value.typeName)"
            }
        }
        if case .array(let options) = rules["enum"], !options.contains(value) {
            return "\(path): not one of the allowed values"
        }
        if let constant = rules["const"], constant != value { return "\(path): not the required constant" }
        if case .string(let text) = value {
            if let minimum = rules["minLength"]?.number, Double(text.count) < minimum {
                return "\(path): shorter than \(Int(minimum)) characters"
            }
            if let maximum = rules["maxLength"]?.number, Double(text.count) > maximum {
                return "\(path): longer than \(Int(maximum)) characters"
            }
            if let pattern = rules["pattern"]?.text {
                guard let expression = try? NSRegularExpression(pattern: pattern) else {
                    return "\(path): the schema's pattern '\(pattern)' is not a regular expression"
                }
                if expression.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) == nil {
                    return "\(path): does not match '\(pattern)'"
                }
            }
        }
        if case .number(let number) = value {
            if let minimum = rules["minimum"]?.number, number < minimum { return "\(path): below \(minimum)" }
            if let maximum = rules["maximum"]?.number, number > maximum { return "\(path): above \(maximum)" }
            if let bound = rules["exclusiveMinimum"]?.number, number <= bound { return "\(path): not above \(bound)" }
            if let bound = rules["exclusiveMaximum"]?.number, number >= bound { return "\(path): not below \(bound)" }
        }
        if case .object(let object) = value {
            if case .array(let required) = rules["required"] {
                for name in required.compactMap(\.text) where object[name] == nil {
                    return "\(path): '\(name)' is required"
                }
            }
            var properties: [String: JSONValue] = [:]
            if case .object(let listed) = rules["properties"] { properties = listed }
            for (name, field) in object.sorted(by: { $0.key < $1.key }) {
                if let fieldSchema = properties[name] {
                    if let problem = self.check(field, against: fieldSchema, at: "\(path).\(name)") { return problem }
                    continue
                }
                switch rules["additionalProperties"] {
                case .bool(false):
                    return "\(path): '\(name)' is not allowed"
                case .some(let extra) where extra.isObject:
                    if let problem = self.check(field, against: extra, at: "\(path).\(name)") { return problem }
                case nil where self.unknownFields == .strict && rules["properties"] != nil:
                    return "\(path): unknown field '\(name)'"
                default:
                    break
                }
            }
        }
        if case .array(let array) = value {
            if let minimum = rules["minItems"]?.number, Double(array.count) < minimum {
                return "\(path): fewer than \(Int(minimum)) items"
            }
            if let maximum = rules["maxItems"]?.number, Double(array.count) > maximum {
                return "\(path): more than \(Int(maximum)) items"
            }
            if let items = rules["items"] {
                for (index, item) in array.enumerated() {
                    if let problem = self.check(item, against: items, at: "\(path)[\(index)]") { return problem }
                }
            }
        }
        if case .array(let all) = rules["allOf"] {
            for part in all { if let problem = self.check(value, against: part, at: path) { return problem } }
        }
        if case .array(let any) = rules["anyOf"],
            !any.contains(where: { self.check(value, against: $0, at: path) == nil })
        {
            return "\(path): matches none of anyOf"
        }
        if case .array(let one) = rules["oneOf"] {
            let matching = one.filter { self.check(value, against: $0, at: path) == nil }.count
            if matching != 1 { return "\(path): matches \(matching) of oneOf, not exactly one" }
        }
        if let not = rules["not"], not.isObject, self.check(value, against: not, at: path) == nil {
            return "\(path): matches a schema it must not"
        }
        return nil
    }
}

/// A JSON document as a value.
enum JSONValue: Decodable, Hashable, Sendable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    var text: String? {
        if case .string(let text) = self { return text }
        return nil
    }

    var number: Double? {
        if case .number(let number) = self { return number }
        return nil
    }

    var isObject: Bool {
        if case .object = self { return true }
        return false
    }

    func matches(type: String) -> Bool {
        switch (type, self) {
        case ("null", .null), ("boolean", .bool), ("object", .object), ("array", .array), ("string", .string),
            ("number", .number):
            return true
        case ("integer", .number(let number)): return number.rounded() == number
        default: return false
        }
    }

    var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "boolean"
        case .number(let number): return number.rounded() == number ? "integer" : "number"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        }
    }
}
