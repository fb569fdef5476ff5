/// The plain definition of what VTA computes, written without any of VTA's tiling, for checking
/// the compiler and functional simulator bit for bit:
/// `out = clip(sum(in * w) >> shift, 0, 127)` with int32 wrap-around accumulation and an
/// arithmetic shift.
public enum Reference {
    public static func run(_ w: Workload, input: Int8Tensor, weight: Int8Tensor, shift: Int = 8) -> Int8Tensor {
        let oh = w.outHeight
        let ow = w.outWidth
        var out = [Int8](repeating: 0, count: w.batch * w.outChannels * oh * ow)
        let inH = w.height
        let inW = w.width
        let inC = w.inChannels
        let kernH = w.kernelH
        let kernW = w.kernelW
        input.data.withUnsafeBufferPointer { inp in
            weight.data.withUnsafeBufferPointer { wgt in
                for n in 0..<w.batch {
                    for co in 0..<w.outChannels {
                        for y in 0..<oh {
                            for x in 0..<ow {
                                var acc: Int32 = 0
                                for ci in 0..<inC {
                                    for ky in 0..<kernH {
                                        let iy = y * w.stride + ky - w.pad
                                        if iy < 0 || iy >= inH { continue }
                                        for kx in 0..<kernW {
                                            let ix = x * w.stride + kx - w.pad
                                            if ix < 0 || ix >= inW { continue }
                                            let a = Int32(inp[((n * inC + ci) * inH + iy) * inW + ix])
                                            let b = Int32(wgt[((co * inC + ci) * kernH + ky) * kernW + kx])
                                            acc &+= a &* b
                                        }
                                    }
                                }
                                let shifted = shift >= 0 ? acc >> Int32(min(shift, 31)) : acc << Int32(min(-shift, 31))
                                out[((n * w.outChannels + co) * oh + y) * ow + x] = Int8(min(max(shifted, 0), 127))
                            }
                        }
                    }
                }
            }
        }
        return Int8Tensor(shape: w.outputShape, data: out)
    }
}
