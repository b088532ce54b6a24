import Foundation
import Testing
import WharfEngine

@Suite("README")
struct ReadmeTests {
    @Test("the README's command list is the command table's (run scripts/update-readme)")
    func commandListMatchesTable() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        let begin = try #require(readme.range(of: "<!-- commands:begin -->"))
        let end = try #require(readme.range(of: "<!-- commands:end -->"))
        let listed = String(readme[begin.upperBound..<end.lowerBound])
        #expect(listed == "\n" + CommandCatalog.markdown())
    }
}
