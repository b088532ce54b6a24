import CWharfSystem
import DequeModule

/// What a key really costs: the allocator's size of each block its value uses (entry,
/// payload, records, chunks, buffers), plus its share of the shard's table. Large
/// collections are measured on `samples` elements and scaled, as Redis's MEMORY USAGE
/// does; `samples` 0 measures every element.
enum MemoryFootprint {
    /// Bytes the allocator reserved for the object's block.
    static func block(_ object: AnyObject) -> Int {
        // Swift objects are single malloc blocks starting at the object's address.
        wharf_usable_size(Unmanaged.passUnretained(object).toOpaque())
    }

    /// A Swift array's buffer: its capacity plus the 32-byte header, rounded as malloc does.
    static func arrayBuffer(capacity: Int, stride: Int) -> Int {
        capacity == 0 ? 0 : ((32 + capacity * stride + 15) / 16) * 16
    }

    static func of(_ entry: Entry, in shard: Shard, samples: Int) -> Int {
        // The table slot: a reference and a tag byte, at the table's highest load (13/16)
        // rather than today's, so a key in a nearly empty shard is not charged its slack.
        var total = self.block(entry) + 9 * 16 / 13
        switch entry.kind {
        case .string, .integer, .packedList, .packedHash, .intset, .packedSortedSet:
            break
        case .growableString:
            let storage = entry.payload(as: GrowableString.self)
            total += self.block(storage) + self.arrayBuffer(capacity: storage.bytes.capacity, stride: 1)
        case .list:
            let payload = entry.payload(as: ListPayload.self)
            total +=
                self.block(payload)
                + self.arrayBuffer(capacity: payload.items.count, stride: MemoryLayout<CompactBytes>.stride)
            total += self.sampled(payload.items, samples: samples) { item in
                if case .large(let heap) = item { return self.block(heap) }
                return 0
            }
        case .hash:
            let payload = entry.payload(as: HashPayload.self)
            total += self.block(payload) + self.records(payload.fields, samples: samples)
        case .set:
            let payload = entry.payload(as: SetPayload.self)
            total += self.block(payload) + self.records(payload.members, samples: samples)
        case .sortedSet:
            let payload = entry.payload(as: SortedSetPayload.self)
            // The order tree holds each record once in a leaf (8 bytes) plus inner nodes.
            total += self.block(payload) + self.records(payload.members, samples: samples) + payload.count * 9
        case .stream:
            let payload = entry.payload(as: StreamPayload.self)
            total += self.block(payload) + self.arrayBuffer(capacity: payload.chunks.count, stride: 8)
            for chunk in payload.chunks {
                total += self.block(chunk) + self.arrayBuffer(capacity: chunk.bytes.capacity, stride: 1)
                for name in chunk.fieldNames { total += self.arrayBuffer(capacity: name.capacity, stride: 1) }
            }
            for group in payload.groups {
                // Each pending entry: its object and an ID and reference in two lists.
                total += self.block(group) + group.pending.count * (48 + 2 * (16 + 8))
                total += group.consumers.count * 96
            }
        }
        return total
    }

    private static func records(_ table: RecordTable, samples: Int) -> Int {
        var measured = 0
        var seen = 0
        table.forEachEntry { record in
            if samples > 0 && seen >= samples { return }
            measured += self.block(record)
            seen += 1
        }
        let records = seen == 0 ? 0 : measured * table.count / seen
        return records + self.arrayBuffer(capacity: table.capacity, stride: 9)
    }

    private static func sampled<C: Collection>(_ items: C, samples: Int, _ size: (C.Element) -> Int) -> Int {
        var measured = 0
        var seen = 0
        for item in items {
            if samples > 0 && seen >= samples { break }
            measured += size(item)
            seen += 1
        }
        return seen == 0 ? 0 : measured * items.count / seen
    }
}
