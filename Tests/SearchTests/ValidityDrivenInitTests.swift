import Testing
import VTA

@testable import Search

@Suite struct ValidityDrivenInitTests {
    let spec = HardwareSpec(.stock)
    /// ResNet-18's C9: 78 valid schedules of 480, in clusters.
    let c9 = Workload.conv2d(h: 14, w: 14, ci: 256, co: 256, k: 3, s: 1, p: 1)

    func valid(_ space: ScheduleSpace) -> (Int) -> Bool {
        { if case .success = TilePlan.make(c9, space.schedule(at: $0), spec) { true } else { false } }
    }

    @Test func presamplingFindsOnlyValidPointsAndSkipsExcluded() {
        let space = ScheduleSpace(workload: c9, spec: spec)
        let isValid = valid(space)
        let excluded = Set((0..<space.size).filter(isValid).prefix(10))
        var rng = SplitMix64(seed: 2)
        let pool = ValidityDrivenInit(space: space).presample(
            want: 10, isValid: isValid, excluding: excluded, rng: &rng)
        #expect(pool.count == 40)
        #expect(pool.allSatisfy(isValid))
        #expect(Set(pool).count == pool.count && Set(pool).isDisjoint(with: excluded))
    }

    @Test func spreadPicksTheFarthestPointEachTime() {
        let space = ScheduleSpace(workload: c9, spec: spec)
        let init0 = ValidityDrivenInit(space: space)
        let pool = (0..<space.size).filter(valid(space))
        let picked = init0.spread(pool, count: 12)
        #expect(picked.count == 12 && Set(picked).count == 12 && picked[0] == pool[0])
        func nearest(_ i: Int, _ set: ArraySlice<Int>) -> Float {
            set.map { ValidityDrivenInit.distance(init0.coordinates(i), init0.coordinates($0)) }.min()!
        }
        for k in 1..<picked.count {
            let chosen = nearest(picked[k], picked[..<k])
            for other in pool where !picked[..<k].contains(other) {
                #expect(nearest(other, picked[..<k]) <= chosen)
            }
        }
        // spread covers more of the space than the first points found
        func meanPairwise(_ xs: [Int]) -> Float {
            var s: Float = 0
            var n: Float = 0
            for a in xs.indices {
                for b in xs.indices where b > a {
                    s += ValidityDrivenInit.distance(init0.coordinates(xs[a]), init0.coordinates(xs[b]))
                    n += 1
                }
            }
            return s / n
        }
        #expect(meanPairwise(picked) > meanPairwise(Array(pool.prefix(12))))
    }

    @Test func smallPoolsAreTakenWholeAndRunsRepeat() {
        let space = ScheduleSpace(workload: c9, spec: spec)
        let i = ValidityDrivenInit(space: space)
        #expect(i.spread([3, 5], count: 8) == [3, 5])
        var a = SplitMix64(seed: 9)
        var b = SplitMix64(seed: 9)
        #expect(
            i.initialSet(count: 8, isValid: valid(space), rng: &a)
                == i.initialSet(count: 8, isValid: valid(space), rng: &b))
    }
}
