// swift-tools-version: 6.1
import Foundation
import PackageDescription

// Wharf as users add it: a versioned dependency. `scripts/test` tags a clone of the
// repository and points WHARF_PACKAGE_URL at it; otherwise the repository this example
// sits in is used (it must have a tag from 0.1.0).
let wharfURL =
    Context.environment["WHARF_PACKAGE_URL"]
    ?? "file://"
    + URL(fileURLWithPath: Context.packageDirectory).deletingLastPathComponent()
    .deletingLastPathComponent().path

let package = Package(
    name: "QuickStart",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(url: wharfURL, from: "0.1.0")
    ],
    targets: [
        .executableTarget(
            name: "QuickStart",
            dependencies: [.product(name: "Wharf", package: "Wharf")],
            swiftSettings: [.swiftLanguageMode(.v6)]
        )
    ]
)
