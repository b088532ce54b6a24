/// Wharf's own version, reported by `wharf --version` and INFO's `wharf_version`.
public enum WharfVersion {
    public static let current = "0.1.0"
}
