import Synchronization

/// The in-process tier in front of a ``Cache``: a bounded map with LRU or FIFO eviction
/// and a time to live that bounds how stale an entry can get.
///
/// LRU is approximated as CLOCK does (second chance): a hit only marks its entry, and
/// eviction moves marked entries to the back (clearing the mark) until it finds an
/// unmarked one, so hits never reorder the list.
final class LocalTier<Value: Sendable>: Sendable {
    private struct Node {
        var key: String
        var value: Value
        var expiresAt: ContinuousClock.Instant
        /// Set by a hit (LRU): the entry gets a second chance at eviction.
        var referenced = false
        var previous: Int
        var next: Int
    }

    /// A doubly linked order over slots in an array (head: next to evict).
    private struct State {
        var index: [String: Int] = [:]
        var nodes: [Node] = []
        var free: [Int] = []
        var head = -1
        var tail = -1

        mutating func unlink(_ slot: Int) {
            let node = self.nodes[slot]
            if node.previous >= 0 { self.nodes[node.previous].next = node.next } else { self.head = node.next }
            if node.next >= 0 { self.nodes[node.next].previous = node.previous } else { self.tail = node.previous }
        }

        mutating func linkAtTail(_ slot: Int) {
            self.nodes[slot].previous = self.tail
            self.nodes[slot].next = -1
            if self.tail >= 0 { self.nodes[self.tail].next = slot } else { self.head = slot }
            self.tail = slot
        }

        mutating func remove(_ slot: Int) {
            self.unlink(slot)
            self.index[self.nodes[slot].key] = nil
            self.free.append(slot)
        }
    }

    private let state = Mutex(State())
    let capacity: Int
    let policy: CacheConfiguration.LocalEviction
    let timeToLive: Duration
    private let onEviction: @Sendable () -> Void

    init(
        capacity: Int, policy: CacheConfiguration.LocalEviction, timeToLive: Duration,
        onEviction: @escaping @Sendable () -> Void
    ) {
        self.capacity = max(1, capacity)
        self.policy = policy
        self.timeToLive = timeToLive
        self.onEviction = onEviction
    }

    func get(_ key: String) -> Value? {
        let now = ContinuousClock.now
        return self.state.withLock { state in
            guard let slot = state.index[key] else { return nil }
            guard state.nodes[slot].expiresAt > now else {
                state.remove(slot)
                return nil
            }
            if self.policy == .lru { state.nodes[slot].referenced = true }
            return state.nodes[slot].value
        }
    }

    func set(_ key: String, _ value: Value, ttl: Duration?) {
        let lifetime = ttl.map { min($0, self.timeToLive) } ?? self.timeToLive
        let expiresAt = ContinuousClock.now + lifetime
        let evicted = self.state.withLock { state -> Bool in
            if let slot = state.index[key] {
                state.nodes[slot].value = value
                state.nodes[slot].expiresAt = expiresAt
                if self.policy == .lru {
                    state.nodes[slot].referenced = true
                } else {
                    state.unlink(slot)
                    state.linkAtTail(slot)
                }
                return false
            }
            var evicted = false
            if state.index.count >= self.capacity {
                // Second chance: marked entries go to the back unmarked; the first unmarked goes.
                while state.head >= 0 {
                    let head = state.head
                    guard state.nodes[head].referenced else {
                        state.remove(head)
                        evicted = true
                        break
                    }
                    state.nodes[head].referenced = false
                    state.unlink(head)
                    state.linkAtTail(head)
                }
            }
            let node = Node(key: key, value: value, expiresAt: expiresAt, previous: -1, next: -1)
            let slot: Int
            if let reused = state.free.popLast() {
                state.nodes[reused] = node
                slot = reused
            } else {
                state.nodes.append(node)
                slot = state.nodes.count - 1
            }
            state.index[key] = slot
            state.linkAtTail(slot)
            return evicted
        }
        if evicted { self.onEviction() }
    }

    func remove(_ key: String) {
        self.state.withLock { state in
            if let slot = state.index[key] { state.remove(slot) }
        }
    }

    func removeAll() {
        self.state.withLock { $0 = State() }
    }

    var count: Int { self.state.withLock { $0.index.count } }
}
