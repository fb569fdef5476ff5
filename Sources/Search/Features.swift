import Foundation
import VTA

/// Feature vectors for the cost model: what a schedule does to one layer on one VTA, as log2
/// values (the trees split on ratios, and log2 keeps powers-of-two knobs evenly spaced).
public enum Features {
    /// Features of a schedule of workload `w` on `spec` (also defined for invalid schedules).
    public static func schedule(_ s: Schedule, _ w: Workload, _ spec: HardwareSpec) -> [Float] {
        func lg(_ x: Int) -> Float { Float(log2(Double(max(1, x)))) }
        let nb = max(1, w.batch / spec.batch)
        let cib = max(1, w.inChannels / spec.blockIn)
        let cob = max(1, w.outChannels / spec.blockOut)
        let th = max(1, s.tileH)
        let tw = max(1, s.tileW)
        let tb = max(1, s.tileB)
        let tci = max(1, s.tileCI)
        let tco = max(1, s.tileCO)
        let inH = (th - 1) * w.stride + w.kernelH
        let inW = (tw - 1) * w.stride + w.kernelW
        let threads = max(1, s.hThreads) * max(1, s.ocThreads)
        let tiles = max(1, nb / tb) * max(1, w.outHeight / th) * max(1, w.outWidth / tw) * max(1, cob / tco)
        return [
            lg(tb), lg(th), lg(tw), lg(tci), lg(tco), lg(s.hThreads), lg(s.ocThreads),
            lg(tb * tci * inH * inW), lg(tco * tci * w.kernelH * w.kernelW), lg(tb * tco * th * tw),
            lg(tb * tci * w.kernelH * w.kernelW * tw), lg(tiles), lg(tiles * max(1, cib / tci)), lg(threads),
        ]
    }

    /// Features of a (hardware, layer, schedule) candidate for models that span hardware
    /// configurations: the co-optimizer's global cost model and the learned validity classifier.
    public static func candidate(_ hardware: HardwareConfig, _ w: Workload, _ s: Schedule) -> [Float] {
        let shape = [w.height, w.width, w.inChannels, w.outChannels, w.kernelH, w.stride].map {
            Float(log2(Double(max(1, $0))))
        }
        return HardwareSpace.features(hardware) + shape + schedule(s, w, HardwareSpec(hardware))
    }
}
