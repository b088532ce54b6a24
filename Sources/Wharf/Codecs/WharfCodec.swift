public import Foundation

/// Turns a container's values into bytes and back. JSON is the default; binary property
/// lists and raw bytes are built in, and any type conforming to this protocol can be used.
///
/// ```swift
/// let thumbnails = wharf.cache("thumbnails", of: Data.self, codec: RawBytesCodec())
/// ```
public protocol WharfCodec<Value>: Sendable {
    associatedtype Value
    func encode(_ value: Value) throws -> [UInt8]
    func decode(_ bytes: [UInt8]) throws -> Value
    /// Whether ``decode(buffer:)`` is quick enough to run while the embedded engine holds
    /// the key's shard lock (a copy, not a parse). False by default.
    var decodesInPlace: Bool { get }
    /// Decodes straight from the stored bytes (default: copies them, then ``decode(_:)``).
    func decode(buffer: UnsafeRawBufferPointer) throws -> Value
}

extension WharfCodec {
    public var decodesInPlace: Bool { false }
    public func decode(buffer: UnsafeRawBufferPointer) throws -> Value { try self.decode(Array(buffer)) }
}

/// JSON (the default): readable by any other client of the same keys. Keys are sorted, so
/// equal values encode to equal bytes (compare-and-set on a value compares bytes).
public struct JSONCodec<Value: Codable>: WharfCodec {
    public init() {}

    public func encode(_ value: Value) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return Array(try encoder.encode(value))
    }

    public func decode(_ bytes: [UInt8]) throws -> Value {
        try JSONDecoder().decode(Value.self, from: Data(bytes))
    }
}

/// Binary property lists: smaller and faster than JSON for numbers and dates.
public struct PropertyListCodec<Value: Codable>: WharfCodec {
    public init() {}

    public func encode(_ value: Value) throws -> [UInt8] {
        let encoder = PropertyListEncoder()
        encoder.outputFormat = .binary
        return Array(try encoder.encode(value))
    }

    public func decode(_ bytes: [UInt8]) throws -> Value {
        try PropertyListDecoder().decode(Value.self, from: Data(bytes))
    }
}

/// The bytes as they are, for `Data` values (images, pre-encoded payloads).
public struct RawBytesCodec: WharfCodec {
    public init() {}
    public func encode(_ value: Data) throws -> [UInt8] { Array(value) }
    public func decode(_ bytes: [UInt8]) throws -> Data { Data(bytes) }
    public var decodesInPlace: Bool { true }
    public func decode(buffer: UnsafeRawBufferPointer) throws -> Data { Data(buffer) }
}

/// UTF-8 text as it is.
public struct StringCodec: WharfCodec {
    public init() {}
    public func encode(_ value: String) throws -> [UInt8] { Array(value.utf8) }
    public func decode(_ bytes: [UInt8]) throws -> String { String(decoding: bytes, as: UTF8.self) }
    public var decodesInPlace: Bool { true }
    public func decode(buffer: UnsafeRawBufferPointer) throws -> String { String(decoding: buffer, as: UTF8.self) }
}

extension WharfCodec {
    /// Encodes, turning failures and oversized results into ``WharfError``s.
    func encodeChecked(_ value: Value, limit: Int, what: String) throws(WharfError) -> [UInt8] {
        let bytes: [UInt8]
        do {
            bytes = try self.encode(value)
        } catch {
            throw WharfError(.encodingFailed, "\(what): \(error)")
        }
        guard bytes.count <= limit else {
            throw WharfError(
                .valueTooLarge, "\(what): the encoded value is \(bytes.count) bytes, over maximumValueBytes (\(limit))")
        }
        return bytes
    }

    func decodeChecked(_ bytes: [UInt8], what: String) throws(WharfError) -> Value {
        do {
            return try self.decode(bytes)
        } catch {
            throw WharfError(.decodingFailed, "\(what): \(error)")
        }
    }
}
