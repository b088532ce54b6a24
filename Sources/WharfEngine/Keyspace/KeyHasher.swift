/// A fast seeded 64-bit hash of key bytes.
///
/// The seed is random per process so clients cannot choose keys that collide (hash
/// flooding). Mixing is multiply-fold (128-bit product, high xor low), which spreads every
/// input bit over the whole output; the table takes the home bucket from the low bits, the
/// shard from bits 48–55 and the probe tag from the top seven bits.
package struct KeyHasher: Sendable {
    let seed: UInt64

    package static let process = KeyHasher(seed: UInt64.random(in: .min ... .max))

    package init(seed: UInt64) {
        self.seed = seed
    }

    static let k0: UInt64 = 0xa076_1d64_78bd_642f
    static let k1: UInt64 = 0xe703_7ed1_a0b4_28db
    static let k2: UInt64 = 0x8ebc_6af0_9c88_c6e3

    @inline(__always)
    static func fold(_ a: UInt64, _ b: UInt64) -> UInt64 {
        let product = a.multipliedFullWidth(by: b)
        return product.high ^ product.low
    }

    package func hash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        let count = bytes.count
        var state = self.seed ^ Self.k0 ^ UInt64(truncatingIfNeeded: count) &* Self.k1
        guard let base = bytes.baseAddress, count > 0 else {
            return Self.fold(state, Self.k2)
        }
        var a: UInt64
        var b: UInt64
        if count <= 16 {
            if count >= 8 {
                a = base.loadUnaligned(as: UInt64.self)
                b = base.loadUnaligned(fromByteOffset: count - 8, as: UInt64.self)
            } else if count >= 4 {
                a = UInt64(base.loadUnaligned(as: UInt32.self))
                b = UInt64(base.loadUnaligned(fromByteOffset: count - 4, as: UInt32.self))
            } else {
                // 1–3 bytes: first, middle and last byte cover every input byte.
                a =
                    UInt64(base.load(as: UInt8.self)) << 16
                    | UInt64(base.load(fromByteOffset: count >> 1, as: UInt8.self)) << 8
                    | UInt64(base.load(fromByteOffset: count - 1, as: UInt8.self))
                b = 0
            }
        } else {
            var offset = 0
            while count - offset > 16 {
                let x = base.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
                let y = base.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self)
                state = Self.fold(x ^ Self.k1, y ^ state)
                offset += 16
            }
            a = base.loadUnaligned(fromByteOffset: count - 16, as: UInt64.self)
            b = base.loadUnaligned(fromByteOffset: count - 8, as: UInt64.self)
        }
        return Self.fold(Self.k1 ^ UInt64(truncatingIfNeeded: count), Self.fold(a ^ Self.k1, b ^ state))
    }
}
