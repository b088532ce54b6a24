/// Redis's listpack, the compact container inside RDB values (small hashes, sorted sets,
/// list nodes, stream nodes): a 6-byte header (total bytes, element count), entries that
/// each carry their encoding, data and a back-length, and a 0xFF terminator. Integers that
/// are canonical decimal text are stored as integers, as Redis stores them.
package enum Listpack {
    /// An element: bytes or an integer (which reads back as its decimal text).
    package enum Element: Equatable, Sendable {
        case bytes([UInt8])
        case integer(Int64)

        package var text: [UInt8] {
            switch self {
            case .bytes(let bytes): return bytes
            case .integer(let value): return Array(String(value).utf8)
            }
        }
    }

    /// Every element of a listpack; throws for a damaged one.
    package static func decode(_ blob: [UInt8], offset: Int = 0) throws(RDB.Failure) -> [Element] {
        // Typed errors do not pass through withUnsafeBytes; a Result carries them out.
        let result = blob.withUnsafeBytes { raw -> Result<[Element], RDB.Failure> in
            do throws(RDB.Failure) { return .success(try self.decode(raw, offset: offset)) } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    static func decode(_ blob: UnsafeRawBufferPointer, offset: Int) throws(RDB.Failure) -> [Element] {
        func damaged(_ position: Int) -> RDB.Failure {
            RDB.Failure(offset: offset + position, reason: "damaged listpack")
        }
        guard blob.count >= 7 else { throw damaged(0) }
        let total = Int(UInt32(littleEndian: blob.loadUnaligned(fromByteOffset: 0, as: UInt32.self)))
        guard total == blob.count, blob[total - 1] == 0xFF else { throw damaged(0) }
        var elements: [Element] = []
        var position = 6
        func need(_ count: Int) throws(RDB.Failure) {
            guard count >= 0, position + count <= total - 1 else { throw damaged(position) }
        }
        while position < total - 1 {
            let first = blob[position]
            let start = position
            var element: Element
            if first & 0x80 == 0 {
                element = .integer(Int64(first & 0x7F))
                position += 1
            } else if first & 0xC0 == 0x80 {
                let length = Int(first & 0x3F)
                try need(1 + length)
                element = .bytes(Array(blob[(position + 1)..<(position + 1 + length)]))
                position += 1 + length
            } else if first & 0xE0 == 0xC0 {
                try need(2)
                let unsigned = Int64(first & 0x1F) << 8 | Int64(blob[position + 1])
                element = .integer(unsigned >= 1 << 12 ? unsigned - (1 << 13) : unsigned)
                position += 2
            } else if first & 0xF0 == 0xE0 {
                try need(2)
                let length = Int(first & 0x0F) << 8 | Int(blob[position + 1])
                try need(2 + length)
                element = .bytes(Array(blob[(position + 2)..<(position + 2 + length)]))
                position += 2 + length
            } else if first == 0xF0 {
                try need(5)
                let length = Int(
                    UInt32(littleEndian: blob.loadUnaligned(fromByteOffset: position + 1, as: UInt32.self)))
                try need(5 + length)
                element = .bytes(Array(blob[(position + 5)..<(position + 5 + length)]))
                position += 5 + length
            } else if first >= 0xF1 && first <= 0xF4 {
                let width = [2, 3, 4, 8][Int(first - 0xF1)]
                try need(1 + width)
                var unsigned: UInt64 = 0
                for index in 0..<width { unsigned |= UInt64(blob[position + 1 + index]) << (8 * UInt64(index)) }
                let shift = UInt64(64 - width * 8)
                element = .integer(Int64(bitPattern: unsigned << shift) >> Int64(shift))
                position += 1 + width
            } else {
                throw damaged(position)
            }
            let backLength = self.backLengthSize(position - start)
            try need(backLength)
            position += backLength
            elements.append(element)
        }
        return elements
    }

    /// Bytes of the back-length that follows an entry of `size` bytes.
    static func backLengthSize(_ size: Int) -> Int {
        if size <= 127 { return 1 }
        if size < 16383 { return 2 }
        if size < 2_097_151 { return 3 }
        if size < 268_435_455 { return 4 }
        return 5
    }

    /// Builds a listpack.
    package struct Builder {
        var bytes: [UInt8] = [0, 0, 0, 0, 0, 0]
        var count = 0

        package init() {}

        package var size: Int { self.bytes.count + 1 }

        package mutating func append(_ value: UnsafeRawBufferPointer) {
            if let integer = CanonicalInteger.parse(value) { return self.append(integer) }
            let start = self.bytes.count
            let length = value.count
            if length < 64 {
                self.bytes.append(0x80 | UInt8(length))
            } else if length < 4096 {
                self.bytes.append(0xE0 | UInt8(length >> 8))
                self.bytes.append(UInt8(length & 0xFF))
            } else {
                self.bytes.append(0xF0)
                withUnsafeBytes(of: UInt32(length).littleEndian) { self.bytes.append(contentsOf: $0) }
            }
            self.bytes.append(contentsOf: value)
            self.finishEntry(from: start)
        }

        package mutating func append(_ value: [UInt8]) { value.withUnsafeBytes { self.append($0) } }

        package mutating func append(_ value: Int64) {
            let start = self.bytes.count
            if value >= 0 && value <= 127 {
                self.bytes.append(UInt8(value))
            } else if value >= -4096 && value <= 4095 {
                let unsigned = UInt64(bitPattern: value < 0 ? (1 << 13) + value : value)
                self.bytes.append(0xC0 | UInt8(unsigned >> 8))
                self.bytes.append(UInt8(unsigned & 0xFF))
            } else {
                let width: Int
                let marker: UInt8
                if value >= -32768 && value <= 32767 {
                    (width, marker) = (2, 0xF1)
                } else if value >= -8_388_608 && value <= 8_388_607 {
                    (width, marker) = (3, 0xF2)
                } else if value >= Int64(Int32.min) && value <= Int64(Int32.max) {
                    (width, marker) = (4, 0xF3)
                } else {
                    (width, marker) = (8, 0xF4)
                }
                self.bytes.append(marker)
                let unsigned = UInt64(bitPattern: value)
                for index in 0..<width { self.bytes.append(UInt8(truncatingIfNeeded: unsigned >> (8 * UInt64(index)))) }
            }
            self.finishEntry(from: start)
        }

        private mutating func finishEntry(from start: Int) {
            let size = self.bytes.count - start
            // The back-length: big-endian groups of seven bits, all but the first with bit 7 set.
            let groups = Listpack.backLengthSize(size)
            for group in stride(from: groups - 1, through: 0, by: -1) {
                let bits = UInt8((size >> (7 * group)) & 0x7F)
                self.bytes.append(group == groups - 1 ? bits : bits | 0x80)
            }
            self.count += 1
        }

        package func finished() -> [UInt8] {
            var bytes = self.bytes
            bytes.append(0xFF)
            withUnsafeBytes(of: UInt32(bytes.count).littleEndian) { raw in
                for index in 0..<4 { bytes[index] = raw[index] }
            }
            let count = UInt16(min(self.count, 65535))
            bytes[4] = UInt8(count & 0xFF)
            bytes[5] = UInt8(count >> 8)
            return bytes
        }
    }
}

/// Redis's intset blob: element width (2, 4 or 8 bytes), count, sorted little-endian values.
package enum Intset {
    package static func decode(_ blob: [UInt8], offset: Int) throws(RDB.Failure) -> [Int64] {
        guard blob.count >= 8 else { throw RDB.Failure(offset: offset, reason: "damaged intset") }
        let values = blob.withUnsafeBytes { raw -> [Int64]? in
            let width = Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 0, as: UInt32.self)))
            let count = Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4, as: UInt32.self)))
            guard [2, 4, 8].contains(width), blob.count == 8 + width * count else { return nil }
            var values: [Int64] = []
            values.reserveCapacity(count)
            for index in 0..<count {
                let at = 8 + index * width
                switch width {
                case 2: values.append(Int64(Int16(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: Int16.self))))
                case 4: values.append(Int64(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: Int32.self))))
                default: values.append(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: Int64.self)))
                }
            }
            return values
        }
        guard let values else { throw RDB.Failure(offset: offset, reason: "damaged intset") }
        return values
    }

    /// `values` must be sorted ascending.
    package static func encode(_ values: [Int64]) -> [UInt8] {
        let width: Int
        if values.allSatisfy({ Int16(exactly: $0) != nil }) {
            width = 2
        } else if values.allSatisfy({ Int32(exactly: $0) != nil }) {
            width = 4
        } else {
            width = 8
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(8 + width * values.count)
        withUnsafeBytes(of: UInt32(width).littleEndian) { bytes.append(contentsOf: $0) }
        withUnsafeBytes(of: UInt32(values.count).littleEndian) { bytes.append(contentsOf: $0) }
        for value in values {
            let unsigned = UInt64(bitPattern: value)
            for index in 0..<width { bytes.append(UInt8(truncatingIfNeeded: unsigned >> (8 * UInt64(index)))) }
        }
        return bytes
    }
}
