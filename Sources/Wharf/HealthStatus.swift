/// A backend's health, as ``Wharf/health()`` measures it: a round trip for network
/// backends, whether the log can be written for the embedded engine.
public struct HealthStatus: Sendable, Hashable, CustomStringConvertible {
    public enum State: String, Sendable, Hashable {
        /// Working normally.
        case healthy
        /// Answering, but something needs attention (the message says what).
        case degraded
        /// Not answering, or refusing writes.
        case unhealthy
    }

    public var state: State
    /// The backend's name: `embedded`, `wharf`, `redis`, `redis-sentinel`, `redis-cluster`.
    public var backend: String
    /// The PING round trip for network backends.
    public var roundTrip: Duration?
    /// Why the state is not healthy, or a detail worth knowing.
    public var message: String?

    public init(state: State, backend: String, roundTrip: Duration? = nil, message: String? = nil) {
        self.state = state
        self.backend = backend
        self.roundTrip = roundTrip
        self.message = message
    }

    public var isHealthy: Bool { self.state == .healthy }

    public var description: String {
        var text = "\(self.backend): \(self.state.rawValue)"
        if let roundTrip { text += " (\(roundTrip))" }
        if let message { text += " — \(message)" }
        return text
    }
}
