import CWharfSystem
import Foundation
import Testing
import WharfStorage

/// A fresh directory for one test.
func temporaryDirectory() -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("wharf-storage-\(UUID().uuidString)").path
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// Appends `count` records `SET key<i> value<i>` and returns the log, closed.
@discardableResult
func writeLog(
    _ directory: String, count: Int, from start: Int = 0, lsn: UInt64 = 0,
    segment: (start: UInt64, path: String)? = nil, segmentLimit: Int = 64 << 20
) throws -> UInt64 {
    let log = try WriteAheadLog(
        layout: StorageLayout(directory: directory), lsn: lsn, continuing: segment, policy: .everysec,
        segmentLimit: segmentLimit)
    for index in start..<(start + count) {
        log.append(time: Int64(1000 + index), database: index % 3) { writer in
            writer.argument("SET")
            Array("key\(index)".utf8).withUnsafeBytes { writer.argument($0) }
            Array("value\(index)".utf8).withUnsafeBytes { writer.argument($0) }
            writer.argument(Int64(index))
        }
        if index % 10 == 9 { log.writePending() }
    }
    try log.close()
    return log.appended
}

/// Reads the log back as strings.
func readLog(_ directory: String, from lsn: UInt64 = 0, repair: Bool = false, modify: Bool = true) throws -> (
    records: [[String]], result: LogScanResult
) {
    var records: [[String]] = []
    let result = try LogReader.read(StorageLayout(directory: directory), from: lsn, repair: repair, modify: modify) {
        record in
        records.append(record.arguments.map { String(decoding: $0, as: UTF8.self) })
    }
    return (records, result)
}

@Suite("Write-ahead log")
struct WriteAheadLogTests {
    @Test("CRC-32C matches the standard check value and the table implementation")
    func crc() {
        let check = Array("123456789".utf8)
        #expect(CRC32C.checksum(check) == 0xE306_9283)
        var generator = SystemRandomNumberGenerator()
        for length in [0, 1, 7, 8, 9, 63, 64, 65, 1000] {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let software = bytes.withUnsafeBytes { wharf_crc32c_software(0, $0.baseAddress, $0.count) }
            #expect(CRC32C.checksum(bytes) == software)
            if length > 2 {
                let split = bytes.withUnsafeBytes { raw in
                    CRC32C.checksum(
                        UnsafeRawBufferPointer(rebasing: raw[2...]),
                        continuing: CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[..<2])))
                }
                #expect(split == software)
            }
        }
    }

    @Test("records round-trip with time, database and arguments, across segments")
    func roundTrip() throws {
        let directory = temporaryDirectory()
        let end = try writeLog(directory, count: 500, segmentLimit: 4096)
        let segments = try StorageLayout(directory: directory).segments()
        #expect(segments.count > 3)
        let (records, result) = try readLog(directory)
        #expect(records.count == 500)
        #expect(records[499] == ["SET", "key499", "value499", "499"])
        #expect(result.endLSN == end)
        #expect(result.tornTail == nil)
        var times: [Int64] = []
        var databases: [Int] = []
        _ = try LogReader.read(StorageLayout(directory: directory), from: 0, repair: false) { record in
            times.append(record.time)
            databases.append(record.database)
        }
        #expect(times.first == 1000 && times.last == 1499)
        #expect(databases.prefix(4) == [0, 1, 2, 0])
    }

    @Test("reading from an LSN in the middle starts at that record")
    func readFromMiddle() throws {
        let directory = temporaryDirectory()
        try writeLog(directory, count: 10)
        var ends: [UInt64] = []
        _ = try LogReader.read(StorageLayout(directory: directory), from: 0, repair: false) { ends.append($0.endLSN) }
        let (records, _) = try readLog(directory, from: ends[4])
        #expect(records.count == 5)
        #expect(records.first?[1] == "key5")
    }

    @Test("appending resumes after a reopen")
    func resume() throws {
        let directory = temporaryDirectory()
        let end = try writeLog(directory, count: 10)
        let (_, result) = try readLog(directory)
        try writeLog(directory, count: 10, from: 10, lsn: result.endLSN, segment: result.lastSegment)
        let (records, second) = try readLog(directory)
        #expect(records.count == 20)
        #expect(second.endLSN > end)
    }

    @Test("every truncation point of the last segment is a torn tail, recovered to the last whole record")
    func everyTruncationPoint() throws {
        let directory = temporaryDirectory()
        try writeLog(directory, count: 20)
        let segment = try StorageLayout(directory: directory).segments()[0].path
        let original = try Data(contentsOf: URL(fileURLWithPath: segment))
        var boundaries: [Int] = []
        _ = try LogReader.read(StorageLayout(directory: directory), from: 0, repair: false) {
            boundaries.append(Int($0.endLSN) + 16)
        }
        for cut in stride(from: 16, through: original.count, by: 1) {
            try original.prefix(cut).write(to: URL(fileURLWithPath: segment))
            let (records, result) = try readLog(directory)
            let whole = boundaries.filter { $0 <= cut }.count
            #expect(records.count == whole, "cut at \(cut)")
            let expectedEnd = whole == 0 ? 16 : boundaries[whole - 1]
            #expect(try StorageFile.openForReading(segment).size() == expectedEnd, "truncated to the last whole record")
            #expect((result.tornTail != nil) == (cut != expectedEnd))
        }
    }

    @Test("damage in the middle stops recovery with the file and offset, and repair keeps what precedes it")
    func middleDamage() throws {
        let directory = temporaryDirectory()
        try writeLog(directory, count: 20)
        let segment = try StorageLayout(directory: directory).segments()[0].path
        var bytes = try Data(contentsOf: URL(fileURLWithPath: segment))
        var boundaries: [Int] = []
        _ = try LogReader.read(StorageLayout(directory: directory), from: 0, repair: false) {
            boundaries.append(Int($0.endLSN) + 16)
        }
        let victim = boundaries[9] + 20
        bytes[victim] ^= 0xFF
        try bytes.write(to: URL(fileURLWithPath: segment))
        do {
            _ = try readLog(directory)
            Issue.record("damage was not reported")
        } catch let damage as LogDamage {
            #expect(damage.path == segment)
            #expect(damage.offset == boundaries[9])
            #expect(damage.description.contains("--repair"))
        }
        let (records, result) = try readLog(directory, repair: true)
        #expect(records.count == 10)
        #expect(result.repaired?.offset == boundaries[9])
        #expect(result.repaired?.droppedBytes == bytes.count - boundaries[9])
        let (again, clean) = try readLog(directory)
        #expect(again.count == 10 && clean.repaired == nil)
    }

    @Test(
        "a zero-filled tail (reserved, never written) is the quiet end of the records; a partial record before zeros is torn"
    )
    func zeroTail() throws {
        let directory = temporaryDirectory()
        try writeLog(directory, count: 5)
        let segment = try StorageLayout(directory: directory).segments()[0].path
        var bytes = try Data(contentsOf: URL(fileURLWithPath: segment))
        let good = bytes.count
        bytes.append(Data(count: 4096))
        try bytes.write(to: URL(fileURLWithPath: segment))
        let (records, result) = try readLog(directory)
        #expect(records.count == 5)
        #expect(result.tornTail == nil)
        #expect(try StorageFile.openForReading(segment).size() == good)
        // A record cut short by a crash, then reserved zeros.
        var torn = try Data(contentsOf: URL(fileURLWithPath: segment))
        torn.append(contentsOf: [0x30, 0, 0, 0, 0x11, 0x22, 0x33, 0x44, 1, 2, 3])
        torn.append(Data(count: 4096))
        try torn.write(to: URL(fileURLWithPath: segment))
        let (again, tornResult) = try readLog(directory)
        #expect(again.count == 5)
        #expect(tornResult.tornTail?.offset == good)
    }

    @Test("random corruption of log bytes never crashes the reader", arguments: 0..<8)
    func randomCorruption(seed: Int) throws {
        let directory = temporaryDirectory()
        try writeLog(directory, count: 40)
        let segment = try StorageLayout(directory: directory).segments()[0].path
        let original = try Data(contentsOf: URL(fileURLWithPath: segment))
        var generator = SeededRandom(seed: UInt64(seed) &* 7919 &+ 1)
        for _ in 0..<100 {
            var bytes = original
            for _ in 0..<Int.random(in: 1...6, using: &generator) {
                let index = Int.random(in: 0..<bytes.count, using: &generator)
                bytes[index] = UInt8.random(in: 0...255, using: &generator)
            }
            if Bool.random(using: &generator) {
                bytes = bytes.prefix(Int.random(in: 0...bytes.count, using: &generator))
            }
            try bytes.write(to: URL(fileURLWithPath: segment))
            do {
                let (records, _) = try readLog(directory, modify: false)
                #expect(records.count <= 40)
            } catch is LogDamage {
                // Reported, not crashed: what we want.
            }
        }
    }

    @Test(
        "with always, records are written into zero-filled segments prepared ahead; switching policies keeps every record"
    )
    func alwaysUsesPreparedSegments() throws {
        let directory = temporaryDirectory()
        let layout = StorageLayout(directory: directory)
        let log = try WriteAheadLog(layout: layout, lsn: 0, continuing: nil, policy: .always, segmentLimit: 32 * 1024)
        var expected: [[String]] = []
        for index in 0..<3000 {
            // Halfway through, a stretch under everysec (copies into the mapping), then back.
            if index == 1000 { log.policy = .everysec }
            if index == 1500 { log.policy = .always }
            log.append(time: 1, database: 0) { writer in
                writer.argument("SET")
                Array("key\(index)".utf8).withUnsafeBytes { writer.argument($0) }
                Array(String(repeating: "v", count: index % 40).utf8).withUnsafeBytes { writer.argument($0) }
            }
            expected.append(["SET", "key\(index)", String(repeating: "v", count: index % 40)])
            if index % 25 == 24 {
                try log.sync()
                #expect(log.durable == log.appended)
                // Give the preparer time now and then, so some rotations find a file ready.
                if index % 500 == 499 { usleep(300_000) }
            }
        }
        try log.close()
        #expect(
            !FileManager.default.fileExists(atPath: "\(directory)/wal-next.tmp"),
            "an unused prepared file is removed at close")
        #expect(try layout.segments().count > 2)
        let (records, result) = try readLog(directory)
        #expect(records == expected)
        #expect(result.tornTail == nil && result.repaired == nil)
    }

    @Test("fsync policies: always makes records durable through the flusher; everysec within a second")
    func durability() async throws {
        let directory = temporaryDirectory()
        let log = try WriteAheadLog(
            layout: StorageLayout(directory: directory), lsn: 0, continuing: nil, policy: .always)
        let end = log.append(time: 1, database: 0) { $0.argument("PING") }
        #expect(log.writePending())
        #expect(log.written == end)
        log.requestSync()
        var waited = 0
        while log.durable < end && waited < 200 {
            try await Task.sleep(for: .milliseconds(5))
            waited += 1
        }
        #expect(log.durable == end)
        log.policy = .everysec
        let second = log.append(time: 2, database: 0) { $0.argument("PING") }
        waited = 0
        while log.durable < second && waited < 300 {
            try await Task.sleep(for: .milliseconds(10))
            waited += 1
        }
        #expect(log.durable == second, "everysec syncs within about a second without being asked")
        try log.close()
    }
}

struct SeededRandom: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { self.state = seed }
    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
