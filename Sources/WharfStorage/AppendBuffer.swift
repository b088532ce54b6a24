/// A growable byte buffer for log records: raw memory, no copy-on-write checks, reused
/// between writes so appending allocates nothing in the steady state.
public struct AppendBuffer: @unchecked Sendable {
    public private(set) var base: UnsafeMutableRawPointer
    public private(set) var count: Int = 0
    public private(set) var capacity: Int

    public init(capacity: Int = 64 * 1024) {
        self.capacity = max(capacity, 64)
        self.base = .allocate(byteCount: self.capacity, alignment: 8)
    }

    /// Frees the memory; the buffer must not be used afterwards.
    public mutating func deallocate() {
        self.base.deallocate()
        self.capacity = 0
        self.count = 0
    }

    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: self.base, count: self.count) }

    @inline(__always)
    public mutating func reserve(_ additional: Int) {
        if self.count + additional > self.capacity { self.grow(to: self.count + additional) }
    }

    private mutating func grow(to needed: Int) {
        var capacity = self.capacity * 2
        while capacity < needed { capacity *= 2 }
        let base = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 8)
        base.copyMemory(from: self.base, byteCount: self.count)
        self.base.deallocate()
        self.base = base
        self.capacity = capacity
    }

    @inline(__always)
    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0 else { return }
        self.reserve(bytes.count)
        (self.base + self.count).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
        self.count += bytes.count
    }

    @inline(__always)
    public mutating func append<T: FixedWidthInteger>(_ value: T) {
        self.reserve(MemoryLayout<T>.size)
        self.base.storeBytes(of: value.littleEndian, toByteOffset: self.count, as: T.self)
        self.count += MemoryLayout<T>.size
    }

    @inline(__always)
    mutating func set<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        self.base.storeBytes(of: value.littleEndian, toByteOffset: offset, as: T.self)
    }

    /// Claims `count` bytes (already reserved) to be filled in place with ``set(_:at:)``.
    @inline(__always)
    mutating func advance(by count: Int) {
        self.count += count
    }

    /// Empties the buffer, keeping its memory unless it grew past `keep` bytes.
    public mutating func reset(keeping keep: Int = 4 * 1024 * 1024) {
        self.count = 0
        if self.capacity > keep {
            self.base.deallocate()
            self.capacity = 64 * 1024
            self.base = .allocate(byteCount: self.capacity, alignment: 8)
        }
    }

    /// Drops the first `count` bytes (after a partial write).
    mutating func removeFirst(_ count: Int) {
        let remaining = self.count - count
        if remaining > 0 { self.base.copyMemory(from: self.base + count, byteCount: remaining) }
        self.count = remaining
    }
}
