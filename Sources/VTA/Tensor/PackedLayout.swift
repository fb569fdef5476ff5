/// Moves user tensors into and out of a program's DRAM image in VTA's packed layouts:
/// input NCHW{BATCH}n{BLOCK_IN}c, weights (outC/BLOCK_OUT, inC/BLOCK_IN, kernH, kernW, BLOCK_OUT, BLOCK_IN),
/// output NCHW{BATCH}n{BLOCK_OUT}c. Dense is the 1x1 case.
extension Program {
    /// A DRAM image holding the instructions, uops, input and weights; the output region zeroed.
    public func dramImage(input: Int8Tensor, weight: Int8Tensor) throws -> [UInt8] {
        guard let w = workload else {
            throw WorkloadError(message: "the program carries no workload to pack tensors for")
        }
        guard input.shape == w.inputShape else {
            throw WorkloadError(message: "input has shape \(input.shape), the workload needs \(w.inputShape)")
        }
        guard weight.shape == w.weightShape else {
            throw WorkloadError(message: "weight has shape \(weight.shape), the workload needs \(w.weightShape)")
        }
        var dram = [UInt8](repeating: 0, count: dramBytes)
        let insnRegion = region(.insn)!
        let uopRegion = region(.uop)!
        let inpRegion = region(.inp)!
        let wgtRegion = region(.wgt)!
        for (k, insn) in instructions.enumerated() {
            let bytes = try spec.encode(insn).bytes
            for b in 0..<16 { dram[insnRegion.base + 16 * k + b] = bytes[b] }
        }
        for (k, uop) in uops.enumerated() {
            let word = try spec.encode(uop)
            for b in 0..<4 { dram[uopRegion.base + 4 * k + b] = UInt8(truncatingIfNeeded: word >> (8 * UInt32(b))) }
        }
        let batch = spec.batch
        let bi = spec.blockIn
        let bo = spec.blockOut
        let inH = w.height
        let inW = w.width
        let inC = w.inChannels
        let cib = inC / bi
        for n in 0..<w.batch {
            for c in 0..<inC {
                for y in 0..<inH {
                    for x in 0..<inW {
                        let elem = (((n / batch) * cib + c / bi) * inH + y) * inW + x
                        let byte = inpRegion.base + elem * spec.inpElemBytes + (n % batch) * bi + c % bi
                        dram[byte] = UInt8(bitPattern: input.data[((n * inC + c) * inH + y) * inW + x])
                    }
                }
            }
        }
        let kernH = w.kernelH
        let kernW = w.kernelW
        for o in 0..<w.outChannels {
            for c in 0..<inC {
                for y in 0..<kernH {
                    for x in 0..<kernW {
                        let elem = (((o / bo) * cib + c / bi) * kernH + y) * kernW + x
                        let byte = wgtRegion.base + elem * spec.wgtElemBytes + (o % bo) * bi + c % bi
                        dram[byte] = UInt8(bitPattern: weight.data[((o * inC + c) * kernH + y) * kernW + x])
                    }
                }
            }
        }
        return dram
    }

    /// Reads the output tensor back out of a DRAM image.
    public func output(from dram: [UInt8]) -> Int8Tensor {
        let w = workload!
        let outRegion = region(.out)!
        let batch = spec.batch
        let bo = spec.blockOut
        let outH = w.outHeight
        let outW = w.outWidth
        let outC = w.outChannels
        let cob = outC / bo
        var out = [Int8](repeating: 0, count: w.batch * outC * outH * outW)
        for n in 0..<w.batch {
            for c in 0..<outC {
                for y in 0..<outH {
                    for x in 0..<outW {
                        let elem = (((n / batch) * cob + c / bo) * outH + y) * outW + x
                        let byte = outRegion.base + elem * spec.outElemBytes + (n % batch) * bo + c % bo
                        out[((n * outC + c) * outH + y) * outW + x] = Int8(bitPattern: dram[byte])
                    }
                }
            }
        }
        return Int8Tensor(shape: w.outputShape, data: out)
    }
}
