import Foundation
import Testing
import WharfStorage

/// The bytes of one record as a version 1 segment holds it (checksum not keyed by LSN).
private func version1Record(_ arguments: [String], time: Int64 = 1) -> [UInt8] {
    var payload: [UInt8] = []
    withUnsafeBytes(of: time.littleEndian) { payload += $0 }
    withUnsafeBytes(of: UInt32(0).littleEndian) { payload += $0 }
    withUnsafeBytes(of: UInt32(arguments.count).littleEndian) { payload += $0 }
    for argument in arguments {
        withUnsafeBytes(of: UInt32(argument.utf8.count).littleEndian) { payload += $0 }
        payload += Array(argument.utf8)
    }
    var covered: [UInt8] = []
    withUnsafeBytes(of: UInt32(payload.count).littleEndian) { covered += $0 }
    covered += payload
    var record: [UInt8] = []
    withUnsafeBytes(of: CRC32C.checksum(covered).littleEndian) { record += $0 }
    return record + covered
}

private func segmentHeader(_ magic: String, start: UInt64) -> [UInt8] {
    Array(magic.utf8) + withUnsafeBytes(of: start.littleEndian) { Array($0) }
}

@Suite("Reused log segments")
struct SegmentReuseTests {
    @Test(
        "a reused segment's old records never pass for new ones: after a crash only what was written there is read, and damage among the new records is still damage"
    )
    func reusedSegmentAfterCrash() throws {
        let directory = temporaryDirectory()
        let layout = StorageLayout(directory: directory)
        let log = try WriteAheadLog(layout: layout, lsn: 0, continuing: nil, policy: .always, segmentLimit: 32 * 1024)
        var records: [(lsn: UInt64, arguments: [String])] = []
        func append(_ index: Int) throws {
            let arguments = ["SET", "key\(index)", String(repeating: "v", count: index % 50)]
            records.append((log.appended, arguments))
            log.append(time: 1, database: 0) { writer in
                for argument in arguments { Array(argument.utf8).withUnsafeBytes { writer.argument($0) } }
            }
            if index % 10 == 9 { try log.sync() }
        }
        var index = 0
        while try layout.segments().count < 3 {
            try append(index)
            index += 1
        }
        // A snapshot would cover the oldest segment: the log takes it as a spare.
        let oldest = try layout.segments()[0]
        #expect(log.reuse(oldest.path))
        #expect(!FileManager.default.fileExists(atPath: oldest.path))
        #expect(FileManager.default.fileExists(atPath: "\(directory)/wal-spare-1.tmp"))
        // Rotations take the spare before anything else.
        while FileManager.default.fileExists(atPath: "\(directory)/wal-spare-1.tmp") {
            try append(index)
            index += 1
        }
        #expect(log.reusedSegments == 1)
        for _ in 0..<12 {
            try append(index)
            index += 1
        }
        try log.sync()
        let segments = try layout.segments()
        let reused = segments.last!
        let from = segments[0].start

        // A crash now: the reused file holds the new records, then its old ones.
        let crashed = temporaryDirectory()
        for segment in segments {
            try FileManager.default.copyItem(
                atPath: segment.path, toPath: "\(crashed)/\((segment.path as NSString).lastPathComponent)")
        }
        let reusedCopy = "\(crashed)/\((reused.path as NSString).lastPathComponent)"
        let (read, result) = try readLog(crashed, from: from, modify: false)
        #expect(read == records.filter { $0.lsn >= from }.map(\.arguments))
        let end = 16 + Int(log.appended - reused.start)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: reusedCopy))
        #expect(bytes[end...].contains { $0 != 0 }, "old records follow the new ones")
        #expect(result.tornTail?.offset == end)
        #expect(result.repaired == nil)

        // A flipped byte in the reused segment's first record, with good ones after it.
        var damaged = bytes
        damaged[16 + 10] ^= 0xFF
        try damaged.write(to: URL(fileURLWithPath: reusedCopy))
        do {
            _ = try readLog(crashed, from: from, modify: false)
            Issue.record("damage among new records was taken for the end of the log")
        } catch let damage as LogDamage {
            #expect(damage.path == reusedCopy && damage.offset == 16)
        }

        // Recovery cuts the old records off; appending resumes after the new ones.
        try bytes.write(to: URL(fileURLWithPath: reusedCopy))
        _ = try readLog(crashed, from: from)
        #expect(try StorageFile.openForReading(reusedCopy).size() == end)
        try log.close()
        let (closed, clean) = try readLog(directory, from: from)
        #expect(closed == read)
        #expect(clean.tornTail == nil, "a clean close cuts the reused file to its records")
    }

    @Test("spares are kept only for always: none are taken under everysec, and leaving always deletes them")
    func sparesOnlyForAlways() throws {
        let directory = temporaryDirectory()
        let layout = StorageLayout(directory: directory)
        let log = try WriteAheadLog(layout: layout, lsn: 0, continuing: nil, policy: .always, segmentLimit: 32 * 1024)
        var index = 0
        while try layout.segments().count < 4 {
            log.append(time: 1, database: 0) { writer in
                writer.argument("SET")
                Array("key\(index)".utf8).withUnsafeBytes { writer.argument($0) }
                Array(String(repeating: "v", count: 100).utf8).withUnsafeBytes { writer.argument($0) }
            }
            try log.sync()
            index += 1
        }
        // A retired segment is full-size when the preparer had the next one ready; on a busy
        // machine a rotation may cut a segment to its records instead, and a short file is
        // rightly refused as a spare. Full-size copies of the first segment (made whole when
        // the log opened) stand in for retired segments, so the test does not depend on timing.
        let first = try layout.segments()[0].path
        let old = try (0..<3).map { index -> String in
            let path = "\(directory)/retired-\(index).log"
            try FileManager.default.copyItem(atPath: first, toPath: path)
            return path
        }
        #expect(log.reuse(old[0]) && log.reuse(old[1]))
        #expect(!log.reuse(old[2]), "at most two spares")
        let spares = try StorageFiles.list(directory).filter { $0.hasPrefix("wal-spare-") }
        #expect(spares.count == 2)
        log.policy = .everysec
        #expect(try StorageFiles.list(directory).filter { $0.hasPrefix("wal-spare-") }.isEmpty)
        #expect(!log.reuse(old[2]))
        #expect(FileManager.default.fileExists(atPath: old[2]), "not taken: the caller deletes it")
        try log.close()
    }

    @Test("version 1 segments are still read, and appending after one starts a version 2 segment")
    func version1Segments() throws {
        let directory = temporaryDirectory()
        let layout = StorageLayout(directory: directory)
        let old = [["SET", "a", "1"], ["INCR", "a"], ["DEL", "b"]]
        let bytes = segmentHeader("WHRFWAL1", start: 0) + old.flatMap { version1Record($0) }
        let path = layout.segmentPath(startingAt: 0)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let (read, result) = try readLog(directory)
        #expect(read == old)
        #expect(result.endLSN == UInt64(bytes.count - 16))

        let log = try WriteAheadLog(
            layout: layout, lsn: result.endLSN, continuing: result.lastSegment, policy: .everysec)
        log.append(time: 1, database: 0) { writer in
            writer.argument("SET")
            writer.argument("c")
            writer.argument("3")
        }
        try log.close()
        let segments = try layout.segments()
        #expect(segments.map(\.start) == [0, result.endLSN])
        let header = try StorageFile.openForReading(segments[1].path).read(count: 8, at: 0)
        #expect(header == Array("WHRFWAL2".utf8))
        #expect(try readLog(directory).records == old + [["SET", "c", "3"]])
    }

    @Test(
        "a last segment whose header never reached the disk is torn and removed, appending resumes before it; a bad header elsewhere is damage"
    )
    func unwrittenHeader() throws {
        for leftover in [
            [UInt8](repeating: 0, count: 4096),
            segmentHeader("WHRFWAL2", start: 4096) + [UInt8](repeating: 7, count: 4096),
        ] {
            let directory = temporaryDirectory()
            let layout = StorageLayout(directory: directory)
            let end = try writeLog(directory, count: 5)
            let next = layout.segmentPath(startingAt: end)
            try Data(leftover).write(to: URL(fileURLWithPath: next))

            // Followed by another segment, the same file is damage.
            let later = layout.segmentPath(startingAt: end + 1)
            try Data(segmentHeader("WHRFWAL2", start: end + 1)).write(to: URL(fileURLWithPath: later))
            #expect(throws: LogDamage.self) { try readLog(directory, modify: false) }
            try FileManager.default.removeItem(atPath: later)

            let (read, result) = try readLog(directory)
            #expect(read.count == 5)
            #expect(result.tornTail?.path == next && result.tornTail?.offset == 0)
            #expect(!FileManager.default.fileExists(atPath: next))
            #expect(result.lastSegment?.start == 0 && result.endLSN == end)
            let log = try WriteAheadLog(
                layout: layout, lsn: result.endLSN, continuing: result.lastSegment, policy: .always)
            log.append(time: 1, database: 0) { writer in
                writer.argument("DEL")
                writer.argument("k")
            }
            try log.close()
            let (again, clean) = try readLog(directory)
            #expect(again.count == 6 && again.last == ["DEL", "k"])
            #expect(clean.tornTail == nil)
        }
    }
}
