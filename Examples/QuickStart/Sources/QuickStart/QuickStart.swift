import Foundation
import Wharf

struct User: Codable, Sendable {
    var id: Int
    var name: String
}

struct Signup: Codable, Sendable {
    var userID: Int
}

/// Wharf's containers on the embedded engine; set WHARF_URL (redis://… or wharf://…) to run
/// the same code against a server — the only line that changes is the `open`.
@main
struct QuickStart {
    static func main() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("quickstart-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let wharf: Wharf
        if let url = ProcessInfo.processInfo.environment["WHARF_URL"] {
            wharf = try await Wharf.open(.redis(url))
        } else {
            wharf = try await Wharf.open(.embedded(directory: directory.path))
        }

        let users = try wharf.cache("users", of: User.self, configuration: .init(defaultTimeToLive: .seconds(60)))
        let ada = try await users.value(for: "1") { User(id: 1, name: "Ada") }
        print("cache: \(ada.name)")

        let settings = try wharf.keyValueStore("settings", of: String.self)
        let version = try await settings.set("theme", "dark")
        try await settings.compareAndSet("theme", expectedVersion: version, to: "light")
        print("key-value: theme = \(try await settings.get("theme") ?? "?")")

        let emails = try wharf.workQueue("emails", of: String.self)
        try await emails.enqueue("welcome ada@example.com")
        if let delivery = try await emails.dequeue(consumer: "worker-1", timeout: .seconds(1)) {
            print("queue: \(delivery.element)")
            try await delivery.acknowledge()
        }

        let signups = try wharf.eventStream("signups", of: Signup.self)
        try await signups.publish(Signup(userID: 1))
        for try await event in try await signups.consume(group: "mailer", consumer: "mailer-1") {
            print("event: user \(event.event.userID) signed up")
            try await event.acknowledge()
            break
        }

        print("health: \(await wharf.health())")
        try await wharf.close()
    }
}
