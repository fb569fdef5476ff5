import Testing

@testable import VTA

@Suite struct WorkloadTests {
    @Test func parseConvAndDense() throws {
        let c = try Workload(parsing: "conv2d:N=1,H=56,W=56,CI=64,CO=64,K=3,S=1,P=1")
        #expect(c == .conv2d(h: 56, w: 56, ci: 64, co: 64, k: 3, s: 1, p: 1))
        #expect(c.outHeight == 56 && c.macs == 56 * 56 * 64 * 64 * 9)
        let d = try Workload(parsing: "dense:CI=512,CO=1024")
        #expect(d == .dense(n: 1, ci: 512, co: 1024))
        #expect(try Workload(parsing: c.description) == c)
    }

    @Test(arguments: [
        "conv2d:H=56", "conv3d:H=1", "conv2d:N=1,H=56,W=56,CI=64,CO=64,K=3,Q=1", "conv2d:N=1,H=2,W=2,CI=16,CO=16,K=5",
        "dense:CI=0,CO=16", "conv2d:N=-1,H=5,W=5,CI=16,CO=16,K=1", "dense:CI=abc,CO=1",
        "conv2d:N=1,H=9999999,W=9,CI=16,CO=16,K=1",
    ])
    func badWorkloadsAreErrors(_ text: String) {
        #expect(throws: WorkloadError.self) { try Workload(parsing: text) }
    }

    @Test func packingNeedsBlockMultiples() {
        let spec = HardwareSpec(.stock)
        #expect(Workload.conv2d(h: 8, w: 8, ci: 24, co: 16, k: 3, p: 1).packingProblem(spec)?.contains("CI=24") == true)
        #expect(Workload.dense(ci: 16, co: 40).packingProblem(spec)?.contains("CO=40") == true)
        var c = HardwareConfig.stock
        c.logBatch = 1
        #expect(Workload.dense(n: 3, ci: 16, co: 16).packingProblem(HardwareSpec(c))?.contains("BATCH") == true)
    }

    @Test func resnet18MatchesVTAFacts() {
        let m = ModelZoo.model(named: "resnet18")!
        #expect(m.layers.count == 10)
        #expect(m.layers.map(\.count) == [4, 1, 1, 3, 1, 1, 3, 1, 1, 3])
        // 1.696 G MACs / 256 = 6.62 M cycles (VTA.md)
        #expect(m.macs == 1_695_547_392)
        for name in ModelZoo.names { #expect(throws: Never.self) { try ModelZoo.model(named: name)!.validate() } }
    }

    @Test func scheduleSpaceOfC2() {
        let spec = HardwareSpec(.stock)
        let space = ScheduleSpace(workload: .conv2d(h: 56, w: 56, ci: 64, co: 64, k: 3, p: 1), spec: spec)
        #expect(space.size == 2304)  // 1*8*8*3*3*2*2 (VTA.md)
        for i in stride(from: 0, to: space.size, by: 37) {
            #expect(space.index(of: space.schedule(at: i)) == i)
        }
        let s = space.schedule(at: 1000)
        let n = space.neighbours(of: s)
        #expect(!n.isEmpty && n.count <= 14)
        for x in n {
            let a = space.indices(of: s)!
            let b = space.indices(of: x)!
            #expect(zip(a, b).map { abs($0 - $1) }.reduce(0, +) == 1)
        }
        #expect(ScheduleSpace.divisors(56) == [1, 2, 4, 7, 8, 14, 28, 56])
    }

    @Test func denseSpace() {
        let space = ScheduleSpace(workload: .dense(ci: 512, co: 1024), spec: HardwareSpec(.stock))
        #expect(space.size == 1 * 6 * 7 * 2)
    }

    @Test func scheduleParsing() throws {
        let s = try Schedule(parsing: "tile_h=4, tile_w=14,oc_nthread=2")
        #expect(s == Schedule(tileH: 4, tileW: 14, ocThreads: 2))
        #expect(try Schedule(parsing: s.description) == s)
        #expect(throws: WorkloadError.self) { try Schedule(parsing: "tile_q=4") }
        #expect(throws: WorkloadError.self) { try Schedule(parsing: "tile_h=four") }
    }

    @Test func modelFile() throws {
        let file = ModelFile(
            name: "net",
            layers: [
                .init(
                    name: "a", op: "conv2d", n: 1, h: 8, w: 8, ci: 16, co: 32, k: 3, kh: nil, kw: nil, s: 1, p: 1,
                    count: 2),
                .init(
                    name: "b", op: "dense", n: nil, h: nil, w: nil, ci: 32, co: 16, k: nil, kh: nil, kw: nil, s: nil,
                    p: nil, count: nil),
            ])
        let m = try file.model()
        #expect(m.layers[0].workload == .conv2d(h: 8, w: 8, ci: 16, co: 32, k: 3, s: 1, p: 1) && m.layers[0].count == 2)
        #expect(m.layers[1].workload == .dense(ci: 32, co: 16))
        var bad = file
        bad.layers[0].op = "pool"
        #expect(throws: WorkloadError.self) { try bad.model() }
        bad = file
        bad.layers[1].name = "a"
        #expect(throws: WorkloadError.self) { try bad.model() }
    }

    /// Each field is within its range, but the MAC count (2^80) overflows Int64: an error, not a trap.
    @Test func sizesOverflowingIntAreABadWorkload() {
        let huge = Workload.conv2d(n: 1, h: 1 << 20, w: 1 << 20, ci: 1 << 20, co: 1 << 20, k: 1)
        #expect(throws: WorkloadError.self) { try huge.validate() }
        #expect(throws: WorkloadError.self) { try Workload(parsing: "\(huge)") }
        guard case .failure(let reason) = Compiler.compile(huge, Schedule(), HardwareSpec(.stock)) else {
            Issue.record("compiled a 2^80-MAC workload")
            return
        }
        #expect(reason.code == .badWorkload)
    }
}
