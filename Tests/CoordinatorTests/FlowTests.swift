import Search
import Testing

@testable import Coordinator

@Suite struct FlowTests {
    @Test func parsesStagesSettingsAndPredicates() throws {
        let flow = try Flow.parse(
            """
            stages:
              - search:
                  budget: 320
                  fpga: zcu104
                  space: {LOG_BATCH: 0, LOG_BLOCK_IN: [4, 5]}
              - tune: {tuner: arco, budget: 80, repeat: 3, until: gain < 0.5%}
              - tune: {budget: 1_000, when: "latency >= 2,500,000"}
              - verify:
            """)
        #expect(flow.stages.map(\.kind) == [.search, .tune, .tune, .verify])
        #expect(flow.stages[0].fpga == "zcu104" && flow.stages[0].space == ["LOG_BATCH": [0], "LOG_BLOCK_IN": [4, 5]])
        #expect(flow.stages[1].tuner == .arco && flow.stages[1].repeats == 3)
        #expect(flow.stages[1].until == Flow.Predicate(parsing: "gain < 0.5"))
        #expect(flow.stages[2].tuner == .xgb && flow.stages[2].budget == 1000)
        #expect(flow.stages[2].when?.description == "latency >= 2500000")
        #expect(flow.maximumBudget == 320 + 240 + 1000)
    }

    @Test func forksHoldNamedBranchesOfStages() throws {
        let flow = try Flow.parse(
            """
            stages:
              - fork:
                  small: [search: {budget: 100, fpga: pynq-z1}]
                  large:
                    - search: {budget: 100, fpga: zcu104}
                    - tune: {budget: 50, tuner: arco}
              - verify: {}
            """)
        let fork = flow.stages[0]
        #expect(fork.kind == .fork && fork.branches.map(\.name) == ["small", "large"])
        #expect(fork.branches[1].stages.map(\.kind) == [.search, .tune] && fork.branches[1].stages[1].tuner == .arco)
        #expect(flow.maximumBudget == 250)
    }

    @Test func predicatesCompareAndNeedTheirVariable() throws {
        let p = try #require(Flow.Predicate(parsing: "gain<=1"))
        #expect(p.holds([.gain: 1]) && !p.holds([.gain: 1.5]))
        #expect(!p.holds([.latency: 5]), "no gain yet: false")
        #expect(Flow.Predicate(parsing: "measured > 10")!.holds([.measured: 11]))
        for bad in ["speed < 3", "gain 3", "gain < fast", "latency < 1e999", "gain ="] {
            #expect(Flow.Predicate(parsing: bad) == nil, "\(bad)")
        }
    }

    @Test(arguments: [
        ("stages: []", ":1: `stages:` must be a non-empty list"),
        ("stage:\n  - tune: {budget: 1}", ":1: unknown key stage"),
        ("stages:\n  - tune: {tuner: arco}", ":2: tune: needs a budget"),
        ("stages:\n  - tune: {budget: 0}", ":2: tune: budget must be an integer from 1"),
        ("stages:\n  - tune: {budget: 5, tuner: sa}", ":2: tune: tuner 'sa' is not one of"),
        ("stages:\n  - tune: {budget: 5, fpga: zcu104}", ":2: tune: unknown setting fpga"),
        ("stages:\n  - search: {budget: 5, fpga: vu9p}", ":2: search: unknown FPGA 'vu9p'"),
        (
            "stages:\n  - search: {budget: 5, space: {LOG_BATCH: [a]}}",
            ":2: search: space: LOG_BATCH: 'a' is not an integer"
        ),
        ("stages:\n  - tune: {budget: 5, until: gain < 1}", ":2: tune: `until` needs `repeat`"),
        ("stages:\n  - tune: {budget: 5}\n    verify: {}", ":2: each stage is one of"),
        ("stages: [tune: {budget: 5", "not valid YAML"),
        ("stages:\n  - fork: {a: [tune: {budget: 5}]}", ":2: fork: expected two or more named branches"),
        (
            "stages:\n  - fork:\n      a: [tune: {budget: 5}]\n      b: []",
            ":4: fork: branch b must be a non-empty list"
        ),
        ("stages:\n  - fork:\n      a: [tune: {budget: 5}]\n      b: [tune: {}]", ":4: tune: needs a budget"),
    ])
    func badFlowsAreExplained(_ text: String, _ message: String) {
        #expect(throws: Flow.LoadError.self) { try Flow.parse(text, path: "f.yaml") }
        do { _ = try Flow.parse(text, path: "f.yaml") } catch { #expect("\(error)".contains(message), "\(error)") }
    }
}
