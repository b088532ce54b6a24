import Foundation
import Testing
import WharfEngine

@testable import WharfServer

@Suite("Server configuration")
struct ServerConfigurationTests {
    private func temporaryFile(_ name: String, _ contents: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("wharf-\(UUID().uuidString)-\(name)")
            .path
        try contents.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test("defaults: port 6379 on 127.0.0.1 with data in ./wharf-data")
    func defaults() async throws {
        let configuration = try await ServerConfiguration.load(flags: [:], environment: [:], configFile: nil)
        #expect(configuration.port == 6379)
        #expect(configuration.bind == ["127.0.0.1"])
        #expect(configuration.directory == "./wharf-data")
    }

    @Test("flags win over the environment, which wins over the file")
    func precedence() async throws {
        let file = try temporaryFile("c.yaml", "port: 7000\nmaxclients: 10\nhz: 20\ntimeout: 5\n")
        let configuration = try await ServerConfiguration.load(
            flags: ["port": "7002"],
            environment: ["WHARF_PORT": "7001", "WHARF_MAXCLIENTS": "11", "OTHER": "x"],
            configFile: file)
        #expect(configuration.port == 7002)
        let parameters = Dictionary(configuration.parameters, uniquingKeysWith: { $1 })
        #expect(parameters["maxclients"] == "11")
        #expect(parameters["hz"] == "20")
        #expect(parameters["timeout"] == "5")
    }

    @Test("JSON files and dashed keys through the environment")
    func jsonAndEnvironment() async throws {
        let file = try temporaryFile("c.json", #"{"proto-max-bulk-len": "2mb", "bind": "127.0.0.1 ::1"}"#)
        let configuration = try await ServerConfiguration.load(
            flags: [:], environment: ["WHARF_CLIENT_QUERY_BUFFER_LIMIT": "4mb"], configFile: file)
        #expect(configuration.bind == ["127.0.0.1", "::1"])
        let parameters = Dictionary(configuration.parameters, uniquingKeysWith: { $1 })
        #expect(parameters["proto-max-bulk-len"] == "2mb")
        #expect(parameters["client-query-buffer-limit"] == "4mb")
    }

    @Test(
        "a bad value stops start-up with a message naming the key",
        arguments: [
            (["port": "99999"], "'port'"),
            (["maxclients": "zero"], "'maxclients': argument couldn't be parsed into an integer"),
            (["hz": "0"], "'hz': argument must be between 1 and 500 inclusive"),
            (["shards": "3"], "'shards': argument must be a power of two"),
            (["maxmemory-policy": "lots"], "'maxmemory-policy': argument(s) must be one of the following"),
            (["transport": "carrier-pigeon"], "'transport': argument must be one of the following: epoll, nio"),
        ])
    func badValues(flags: [String: String], message: String) async {
        do {
            _ = try await ServerConfiguration.load(flags: flags, environment: [:], configFile: nil)
            Issue.record("accepted \(flags)")
        } catch let error as ServerConfigurationError {
            #expect(error.description.contains(message), "\(error.description)")
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test("a missing or unreadable config file is named")
    func missingFile() async {
        do {
            _ = try await ServerConfiguration.load(flags: [:], environment: [:], configFile: "/nonexistent/wharf.yaml")
            Issue.record("accepted a missing file")
        } catch let error as ServerConfigurationError {
            #expect(error.description.contains("/nonexistent/wharf.yaml"))
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }
}
