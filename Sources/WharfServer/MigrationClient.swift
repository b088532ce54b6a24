import NIOCore
import WharfEngine
import WharfProtocol

#if canImport(Glibc)
    import Glibc
#endif

/// MIGRATE's connection to the target server: a blocking socket with every step bounded
/// by the command's timeout, as Redis bounds it (the calling loop waits, as Redis's does).
enum MigrationClient {
    static func send(_ request: MigrationRequest) throws(MigrationFailure) -> [RESPValue] {
        let descriptor = try self.connect(request.host, request.port, timeout: request.timeoutMilliseconds)
        defer { close(descriptor) }
        var timeout = timeval(
            tv_sec: request.timeoutMilliseconds / 1000, tv_usec: (request.timeoutMilliseconds % 1000) * 1000)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(descriptor, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var output = ByteBuffer()
        for command in request.commands {
            output.writeString("*\(command.count)\r\n")
            for argument in command {
                output.writeString("$\(argument.count)\r\n")
                output.writeBytes(argument)
                output.writeString("\r\n")
            }
        }
        let written = output.withUnsafeReadableBytes { bytes -> Bool in
            var offset = 0
            while offset < bytes.count {
                let sent = Glibc.send(
                    descriptor, bytes.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
                if sent <= 0 { return false }
                offset += sent
            }
            return true
        }
        guard written else { throw .writing }
        var input = ByteBuffer()
        let decoder = RESPValueDecoder()
        var replies: [RESPValue] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while replies.count < request.commands.count {
            let decoded: RESPValue?
            do {
                decoded = try decoder.decode(&input)
            } catch {
                throw .reading
            }
            if let decoded {
                replies.append(decoded)
                continue
            }
            input.discardReadBytes()
            let received = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            guard received > 0 else { throw .reading }
            input.writeBytes(chunk[0..<received])
        }
        return replies
    }

    /// A TCP connection within `timeout` milliseconds (a non-blocking connect and a poll).
    private static func connect(_ host: String, _ port: Int, timeout: Int) throws(MigrationFailure) -> Int32 {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &result) == 0, let first = result else { throw .connecting }
        defer { freeaddrinfo(result) }
        let descriptor = socket(first.pointee.ai_family, first.pointee.ai_socktype, first.pointee.ai_protocol)
        guard descriptor >= 0 else { throw .connecting }
        let flags = fcntl(descriptor, F_GETFL)
        _ = fcntl(descriptor, F_SETFL, flags | O_NONBLOCK)
        if Glibc.connect(descriptor, first.pointee.ai_addr, first.pointee.ai_addrlen) != 0 {
            guard errno == EINPROGRESS else {
                close(descriptor)
                throw .connecting
            }
            var poller = pollfd(fd: descriptor, events: Int16(POLLOUT), revents: 0)
            var failure: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            guard poll(&poller, 1, Int32(timeout)) == 1,
                getsockopt(descriptor, SOL_SOCKET, SO_ERROR, &failure, &length) == 0, failure == 0
            else {
                close(descriptor)
                throw .connecting
            }
        }
        _ = fcntl(descriptor, F_SETFL, flags)
        return descriptor
    }
}
