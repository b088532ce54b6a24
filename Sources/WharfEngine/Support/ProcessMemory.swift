import CWharfSystem

#if canImport(Glibc)
    import Glibc
#endif

/// Memory figures of this process for INFO memory.
package enum ProcessMemory {
    /// Bytes the allocator has handed out (glibc's `mallinfo2`), Redis's `used_memory`.
    package static func allocatedBytes() -> Int {
        Int(wharf_allocated_bytes())
    }

    /// Resident set size from `/proc/self/statm`, Redis's `used_memory_rss`.
    package static func residentBytes() -> Int {
        #if canImport(Glibc)
            guard let file = fopen("/proc/self/statm", "r") else { return 0 }
            defer { fclose(file) }
            var line = [CChar](repeating: 0, count: 128)
            guard fgets(&line, 128, file) != nil else { return 0 }
            let text = line.withUnsafeBufferPointer { buffer in
                String(decoding: UnsafeRawBufferPointer(buffer).prefix { $0 != 0 }, as: UTF8.self)
            }
            let fields = text.split(separator: " ")
            guard fields.count >= 2, let pages = Int(fields[1]) else { return 0 }
            return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
        #else
            return 0
        #endif
    }

    /// Peak resident set size (`VmHWM` in `/proc/self/status`).
    package static func peakResidentBytes() -> Int {
        #if canImport(Glibc)
            guard let file = fopen("/proc/self/status", "r") else { return 0 }
            defer { fclose(file) }
            var line = [CChar](repeating: 0, count: 256)
            while fgets(&line, 256, file) != nil {
                let text = line.withUnsafeBufferPointer { buffer in
                    String(decoding: UnsafeRawBufferPointer(buffer).prefix { $0 != 0 }, as: UTF8.self)
                }
                if text.hasPrefix("VmHWM:") {
                    let digits = text.dropFirst(6).filter { $0.isNumber }
                    return (Int(digits) ?? 0) * 1024
                }
            }
            return 0
        #else
            return 0
        #endif
    }
}
