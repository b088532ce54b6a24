/// The ordered index of a large sorted set: a B+ tree of member records sorted by score and
/// then member, where every inner node knows how many records each child holds. That gives
/// O(log n) insert, delete, rank (ZRANK) and select-by-rank (ZRANGE by index), and ordered
/// scans from any position — what Redis does with a skip list, with a record reference
/// (8 bytes) per member instead of a skip-list node.
package final class OrderTree {
    final class Node {
        var isLeaf: Bool
        /// Leaf: the records, in order.
        var records: ContiguousArray<Record> = []
        /// Inner node: children, each child's record count, and each child's first record.
        var children: ContiguousArray<Node> = []
        var sizes: ContiguousArray<Int> = []
        var minima: ContiguousArray<Record> = []

        init(leaf: Bool) {
            self.isLeaf = leaf
        }

        var total: Int { self.isLeaf ? self.records.count : self.sizes.reduce(0, +) }
        var first: Record { self.isLeaf ? self.records[0] : self.minima[0] }
        var width: Int { self.isLeaf ? self.records.count : self.children.count }
    }

    static let fanout = 64
    private var root = Node(leaf: true)
    package private(set) var count = 0

    package init() {}

    // MARK: Changes

    package func insert(_ record: Record) {
        if let (left, right) = self.insert(record, into: self.root) {
            let newRoot = Node(leaf: false)
            newRoot.children = [left, right]
            newRoot.sizes = [left.total, right.total]
            newRoot.minima = [left.first, right.first]
            self.root = newRoot
        }
        self.count += 1
    }

    /// Inserts below `node`; returns the two halves when the node had to split.
    private func insert(_ record: Record, into node: Node) -> (Node, Node)? {
        if node.isLeaf {
            var low = 0
            var high = node.records.count
            while low < high {
                let middle = (low + high) / 2
                if node.records[middle].orders(before: record) { low = middle + 1 } else { high = middle }
            }
            node.records.insert(record, at: low)
            if node.records.count <= Self.fanout { return nil }
            let right = Node(leaf: true)
            let half = node.records.count / 2
            right.records = ContiguousArray(node.records[half...])
            node.records.removeSubrange(half...)
            return (node, right)
        }
        let index = self.childIndex(for: record, in: node)
        let child = node.children[index]
        if let (left, right) = self.insert(record, into: child) {
            node.sizes[index] = left.total
            node.minima[index] = left.first
            node.children.insert(right, at: index + 1)
            node.sizes.insert(right.total, at: index + 1)
            node.minima.insert(right.first, at: index + 1)
        } else {
            node.sizes[index] += 1
            node.minima[index] = child.first
        }
        if node.children.count <= Self.fanout { return nil }
        let right = Node(leaf: false)
        let half = node.children.count / 2
        right.children = ContiguousArray(node.children[half...])
        right.sizes = ContiguousArray(node.sizes[half...])
        right.minima = ContiguousArray(node.minima[half...])
        node.children.removeSubrange(half...)
        node.sizes.removeSubrange(half...)
        node.minima.removeSubrange(half...)
        return (node, right)
    }

    /// The child whose range holds `record`: the last one whose first record is not after it.
    private func childIndex(for record: Record, in node: Node) -> Int {
        var low = 1
        var high = node.minima.count
        while low < high {
            let middle = (low + high) / 2
            if record.orders(before: node.minima[middle]) { high = middle } else { low = middle + 1 }
        }
        return low - 1
    }

    /// Removes `record` (compared by score and member). Returns whether it was present.
    @discardableResult
    package func remove(_ record: Record) -> Bool {
        let removed = self.remove(record, from: self.root)
        if removed {
            self.count -= 1
            while !self.root.isLeaf && self.root.children.count == 1 { self.root = self.root.children[0] }
            if !self.root.isLeaf && self.root.children.isEmpty { self.root = Node(leaf: true) }
        }
        return removed
    }

    private func remove(_ record: Record, from node: Node) -> Bool {
        if node.isLeaf {
            var low = 0
            var high = node.records.count
            while low < high {
                let middle = (low + high) / 2
                if node.records[middle].orders(before: record) { low = middle + 1 } else { high = middle }
            }
            guard low < node.records.count,
                node.records[low] === record
                    || !record.orders(before: node.records[low]) && !node.records[low].orders(before: record)
            else {
                return false
            }
            node.records.remove(at: low)
            return true
        }
        let index = self.childIndex(for: record, in: node)
        let child = node.children[index]
        guard self.remove(record, from: child) else { return false }
        node.sizes[index] -= 1
        if child.width == 0 {
            // Empty children go; nodes are never merged, only emptied and dropped.
            node.children.remove(at: index)
            node.sizes.remove(at: index)
            node.minima.remove(at: index)
        } else {
            node.minima[index] = child.first
        }
        return true
    }

    // MARK: Queries

    /// How many records order before `record` (ZRANK).
    package func rank(of record: Record) -> Int {
        self.countBefore { $0.orders(before: record) }
    }

    /// The number of leading records for which `isBefore` holds; `isBefore` must be true for
    /// a prefix of the order and false after it.
    package func countBefore(_ isBefore: (Record) -> Bool) -> Int {
        var node = self.root
        var rank = 0
        while !node.isLeaf {
            var index = 0
            // Skip every child whose successor still starts before the boundary.
            while index + 1 < node.children.count && isBefore(node.minima[index + 1]) {
                rank += node.sizes[index]
                index += 1
            }
            node = node.children[index]
        }
        var low = 0
        var high = node.records.count
        while low < high {
            let middle = (low + high) / 2
            if isBefore(node.records[middle]) { low = middle + 1 } else { high = middle }
        }
        return rank + low
    }

    /// The record at `rank` (0-based).
    package func record(at rank: Int) -> Record {
        var node = self.root
        var remaining = rank
        while !node.isLeaf {
            var index = 0
            while remaining >= node.sizes[index] {
                remaining -= node.sizes[index]
                index += 1
            }
            node = node.children[index]
        }
        return node.records[remaining]
    }

    /// Calls `body` with records from rank `start` onwards, in order (or backwards), until it
    /// returns false or the records run out.
    package func walk(from start: Int, reverse: Bool = false, _ body: (Record) -> Bool) {
        guard start >= 0 && start < self.count else { return }
        var path: [(Node, Int)] = []
        var node = self.root
        var remaining = start
        while !node.isLeaf {
            var index = 0
            while remaining >= node.sizes[index] {
                remaining -= node.sizes[index]
                index += 1
            }
            path.append((node, index))
            node = node.children[index]
        }
        var position = remaining
        while true {
            if reverse {
                while position >= 0 {
                    if !body(node.records[position]) { return }
                    position -= 1
                }
            } else {
                while position < node.records.count {
                    if !body(node.records[position]) { return }
                    position += 1
                }
            }
            // Move to the neighbouring leaf.
            while let (parent, index) = path.last {
                let next = reverse ? index - 1 : index + 1
                if next >= 0 && next < parent.children.count {
                    path[path.count - 1].1 = next
                    var descend = parent.children[next]
                    while !descend.isLeaf {
                        let childIndex = reverse ? descend.children.count - 1 : 0
                        path.append((descend, childIndex))
                        descend = descend.children[childIndex]
                    }
                    node = descend
                    position = reverse ? node.records.count - 1 : 0
                    break
                }
                path.removeLast()
            }
            if path.isEmpty && (reverse ? position < 0 : position >= node.records.count) { return }
        }
    }

    /// A copy with its own nodes (records are shared; they never change).
    package func copy() -> OrderTree {
        let copy = OrderTree()
        copy.root = Self.copy(self.root)
        copy.count = self.count
        return copy
    }

    private static func copy(_ node: Node) -> Node {
        let copy = Node(leaf: node.isLeaf)
        copy.records = node.records
        copy.sizes = node.sizes
        copy.minima = node.minima
        copy.children = ContiguousArray(node.children.map(Self.copy))
        return copy
    }
}
