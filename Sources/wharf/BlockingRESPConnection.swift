import Foundation
import NIOCore
import WharfProtocol

/// A minimal blocking RESP connection for the command-line tools (backup). The full
/// client library is WharfClient's job; this sends one command and waits for its reply.
final class BlockingRESPConnection {
    private let descriptor: Int32
    private var input = ByteBuffer()
    private let decoder = RESPValueDecoder()

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    init(host: String, port: Int) throws {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &result)
        guard status == 0, let first = result else {
            throw Failure(description: "cannot resolve \(host): \(String(cString: gai_strerror(status)))")
        }
        defer { freeaddrinfo(result) }
        var address: UnsafeMutablePointer<addrinfo>? = first
        var lastError: Int32 = 0
        while let candidate = address {
            let fd = socket(candidate.pointee.ai_family, candidate.pointee.ai_socktype, candidate.pointee.ai_protocol)
            if fd >= 0 {
                if connect(fd, candidate.pointee.ai_addr, candidate.pointee.ai_addrlen) == 0 {
                    self.descriptor = fd
                    return
                }
                lastError = errno
                close(fd)
            }
            address = candidate.pointee.ai_next
        }
        throw Failure(description: "cannot connect to \(host):\(port): \(String(cString: strerror(lastError)))")
    }

    deinit {
        close(self.descriptor)
    }

    /// Sends every command in one write and returns their replies in order; error replies
    /// are returned as values, not thrown.
    func pipeline(_ commands: [[[UInt8]]]) throws -> [RESPValue] {
        var request = ByteBuffer()
        for arguments in commands {
            request.writeString("*\(arguments.count)\r\n")
            for argument in arguments {
                request.writeString("$\(argument.count)\r\n")
                request.writeBytes(argument)
                request.writeString("\r\n")
            }
        }
        try self.write(request)
        var replies: [RESPValue] = []
        replies.reserveCapacity(commands.count)
        while replies.count < commands.count {
            if let value = try self.decoder.decode(&self.input) {
                replies.append(value)
                continue
            }
            self.input.discardReadBytes()
            try self.receive()
        }
        return replies
    }

    private func write(_ request: ByteBuffer) throws {
        try request.withUnsafeReadableBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                let sent = send(self.descriptor, bytes.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
                if sent <= 0 { throw Failure(description: "connection lost while sending") }
                offset += sent
            }
        }
    }

    private func receive() throws {
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        let received = chunk.withUnsafeMutableBytes { recv(self.descriptor, $0.baseAddress, $0.count, 0) }
        if received <= 0 { throw Failure(description: "connection closed by the server") }
        self.input.writeBytes(chunk[0..<received])
    }

    /// Sends a command and returns its reply; an error reply is thrown.
    func call(_ arguments: [String]) throws -> RESPValue {
        let reply = try self.pipeline([arguments.map { Array($0.utf8) }])[0]
        if case .error(let message) = reply { throw Failure(description: message) }
        return reply
    }
}
