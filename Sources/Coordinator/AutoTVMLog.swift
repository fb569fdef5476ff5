import Foundation
import VTA

/// AutoTVM's tuning-log format (TVM v0.18, the last release with VTA), so a vtafarm result can be
/// applied with `autotvm.apply_history_best` and an existing AutoTVM log can seed vtafarm.
///
/// One JSON object per line, as autotvm/record.py `encode` writes it:
/// `{"input": [target, template, args, {}], "config": {"index", "code_hash": null, "entity"},
/// "result": [[seconds], error_no, all_cost, timestamp], "version": 0.2, "tvm_version"}`.
/// - target: `ext_dev -keys=vta,cpu -device=vta -model=<TARGET>_<BATCH>x<BLOCK>_i8w8a32_<uop>_<inp>_<wgt>_<acc>`
///   (VTA's environment names its model so; apply_history_best matches on it);
/// - template `conv2d_packed.vta` with args `[data, kernel, strides, padding, dilation, layout,
///   out_dtype]`, tensors in the packed NCHW{n}n{c}c layouts; `dense_packed.vta` with
///   `[data, weight, null, out_dtype]`;
/// - knobs in the templates' define order (vta_conv2d.py: tile_b, tile_h, tile_w, tile_ci,
///   tile_co, oc_nthread, h_nthread; vta_dense.py: tile_b, tile_ci, tile_co, oc_nthread); a split
///   is `[name, "sp", [-1, inner]]` and its choice index is the inner factor's position in the
///   sorted factor list (space.py's "factors" policy); a knob is `[name, "ot", value]`;
/// - index: the mixed-radix number of those choices, the first knob least significant
///   (ConfigSpace.knob2point).
///
/// vtafarm adds one key AutoTVM never reads, `vtafarm_hardware` (the whole configuration,
/// including AXI width, clock and DRAM latency), so that an exported log imports back onto the
/// exact hardware it was measured on.
public enum AutoTVMLog {
    public static let tvmVersion = "0.18.0"
    public static let logVersion = 0.2

    public struct FormatError: Error, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    /// One measurement read from a log.
    public struct Entry: Sendable {
        public var workload: Workload
        public var hardware: HardwareConfig
        public var schedule: Schedule
        /// nil when the measurement failed (error_no != 0).
        public var cycles: Int?
        public var timestamp: Double
    }

    public static func target(_ hw: HardwareConfig) throws -> String {
        if let problem = hw.tvmProblem { throw FormatError(problem) }
        let spec = HardwareSpec(hw)
        let model =
            "\(hw.target)_\(spec.batch)x\(spec.blockIn)_i8w8a32_\(hw.logUopBuffSize)_\(hw.logInpBuffSize)_\(hw.logWgtBuffSize)_\(hw.logAccBuffSize)"
        return "ext_dev -keys=vta,cpu -device=vta -model=\(model)"
    }

    static func template(_ kind: Workload.Kind) -> String {
        kind == .conv2d ? "conv2d_packed.vta" : "dense_packed.vta"
    }

    /// The task's args as TVM serializes them (tensors as ["TENSOR", shape, dtype]).
    static func args(_ w: Workload, _ spec: HardwareSpec) -> [Any] {
        let nb = w.batch / spec.batch
        let ci = w.inChannels / spec.blockIn
        let co = w.outChannels / spec.blockOut
        switch w.kind {
        case .conv2d:
            return [
                ["TENSOR", [nb, ci, w.height, w.width, spec.batch, spec.blockIn], "int8"],
                ["TENSOR", [co, ci, w.kernelH, w.kernelW, spec.blockOut, spec.blockIn], "int8"],
                [w.stride, w.stride], [w.pad, w.pad, w.pad, w.pad], [1, 1], "NCHW\(spec.batch)n\(spec.blockIn)c",
                "int32",
            ]
        case .dense:
            return [
                ["TENSOR", [nb, ci, spec.batch, spec.blockIn], "int8"],
                ["TENSOR", [co, ci, spec.blockOut, spec.blockIn], "int8"], NSNull(), "int32",
            ]
        }
    }

    /// AutoTVM's knobs for a schedule: (name, value, the value's choices) in template order.
    static func knobs(_ s: Schedule, _ w: Workload, _ spec: HardwareSpec) -> [(String, Int, [Int])] {
        let c = ScheduleSpace(workload: w, spec: spec).choices  // vtafarm order: b h w ci co ht oc
        switch w.kind {
        case .conv2d:
            return [
                ("tile_b", s.tileB, c[0]), ("tile_h", s.tileH, c[1]), ("tile_w", s.tileW, c[2]),
                ("tile_ci", s.tileCI, c[3]), ("tile_co", s.tileCO, c[4]), ("oc_nthread", s.ocThreads, [1, 2]),
                ("h_nthread", s.hThreads, [1, 2]),
            ]
        case .dense:
            return [
                ("tile_b", s.tileB, c[0]), ("tile_ci", s.tileCI, c[3]), ("tile_co", s.tileCO, c[4]),
                ("oc_nthread", s.ocThreads, [1, 2]),
            ]
        }
    }

    /// The config index and entity list of a schedule.
    public static func config(_ s: Schedule, _ w: Workload, _ spec: HardwareSpec) throws -> (index: Int, entity: [Any])
    {
        var index = 0
        var radix = 1
        var entity: [Any] = []
        for (name, value, choices) in knobs(s, w, spec) {
            guard let k = choices.firstIndex(of: value) else {
                throw FormatError("\(name)=\(value) is not a choice of \(w) (\(choices))")
            }
            index += k * radix
            radix *= choices.count
            entity.append(name.hasPrefix("tile_") ? [name, "sp", [-1, value]] : [name, "ot", value])
        }
        return (index, entity)
    }

    /// One log line for an OK measurement of `r`.
    public static func line(_ r: Record) throws -> String {
        guard let cycles = r.okCycles else { throw FormatError("\(r.task): not an OK measurement") }
        let spec = HardwareSpec(r.hardware)
        let config = try config(r.schedule, r.workload, spec)
        let hardware = r.hardware.jsonObject
        let seconds = Double(cycles) / (r.hardware.clockMHz * 1e6)
        let object: [String: Any] = [
            "input": [try target(r.hardware), template(r.workload.kind), args(r.workload, spec), [String: Any]()],
            "config": ["index": config.index, "code_hash": NSNull(), "entity": config.entity],
            "result": [[seconds], 0, r.wallSeconds ?? 0, r.finished],
            "version": logVersion, "tvm_version": tvmVersion, "vtafarm_hardware": hardware,
        ]
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self)
    }

    /// Reads one log line. Hardware comes from `vtafarm_hardware` when present, otherwise from the
    /// target's model string over `base` (whose AXI width, clock and DRAM latency are kept).
    public static func parse(_ text: String, base: HardwareConfig = .stock) throws -> Entry {
        guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
            throw FormatError("not a JSON object")
        }
        guard let input = object["input"] as? [Any], input.count >= 3, let target = input[0] as? String,
            let name = input[1] as? String, let args = input[2] as? [Any]
        else { throw FormatError("no input [target, template, args, kwargs]") }
        guard name == "conv2d_packed.vta" || name == "dense_packed.vta" else {
            throw FormatError("template '\(name)' is not conv2d_packed.vta or dense_packed.vta")
        }
        var hw = try hardware(target: target, base: base)
        if let extra = object["vtafarm_hardware"] {
            let data = try JSONSerialization.data(withJSONObject: extra)
            do { hw = try HardwareConfig(json: data) } catch { throw FormatError("vtafarm_hardware: \(error)") }
            guard (try? self.target(hw)) == target else {
                throw FormatError("vtafarm_hardware does not match the target '\(target)'")
            }
        }
        let spec = HardwareSpec(hw)
        let workload = try self.workload(name, args, spec)
        guard let config = object["config"] as? [String: Any], let entity = config["entity"] as? [Any] else {
            throw FormatError("no config.entity")
        }
        var values: [String: Int] = [:]
        for item in entity {
            guard let e = item as? [Any], e.count == 3, let knob = e[0] as? String, let kind = e[1] as? String else {
                throw FormatError("entity item \(item) is not [name, kind, value]")
            }
            switch kind {
            case "sp":
                guard let sizes = e[2] as? [Int], sizes.count == 2, sizes[1] >= 1 else {
                    throw FormatError("split \(knob) is not [-1, factor]")
                }
                values[knob] = sizes[1]
            case "ot":
                guard let v = e[2] as? Int else { throw FormatError("knob \(knob) is not an integer") }
                values[knob] = v
            default: throw FormatError("entity kind '\(kind)' of \(knob) is not sp or ot")
            }
        }
        let expected = knobs(Schedule(), workload, spec).map(\.0)
        guard Set(values.keys) == Set(expected) else {
            throw FormatError("knobs \(values.keys.sorted()) are not \(name)'s \(expected)")
        }
        let schedule = Schedule(
            tileB: values["tile_b"]!, tileH: values["tile_h"] ?? 1, tileW: values["tile_w"] ?? 1,
            tileCI: values["tile_ci"]!, tileCO: values["tile_co"]!, hThreads: values["h_nthread"] ?? 1,
            ocThreads: values["oc_nthread"]!)
        let checked = try self.config(schedule, workload, spec)
        if let index = config["index"] as? Int, index != checked.index {
            throw FormatError("config index \(index) does not match its entity (\(checked.index))")
        }
        guard let result = object["result"] as? [Any], result.count >= 2, let costs = result[0] as? [Any],
            let errorNo = result[1] as? Int
        else { throw FormatError("no result [costs, error_no, ...]") }
        var cycles: Int?
        if errorNo == 0 {
            let seconds = costs.compactMap { ($0 as? NSNumber)?.doubleValue }
            guard !seconds.isEmpty, seconds.allSatisfy({ $0.isFinite && $0 > 0 && $0 < 1e6 }) else {
                throw FormatError("costs \(costs) are not run times in seconds")
            }
            let mean = seconds.reduce(0, +) / Double(seconds.count)
            cycles = Int((mean * hw.clockMHz * 1e6).rounded())
        }
        let timestamp = result.count >= 4 ? ((result[3] as? NSNumber)?.doubleValue ?? 0) : 0
        return Entry(workload: workload, hardware: hw, schedule: schedule, cycles: cycles, timestamp: timestamp)
    }

    /// The hardware a target's `-model=` string names, over `base`.
    static func hardware(target: String, base: HardwareConfig) throws -> HardwareConfig {
        guard let option = target.split(separator: " ").first(where: { $0.hasPrefix("-model=") }) else {
            throw FormatError("target '\(target)' has no -model=")
        }
        let parts = option.dropFirst("-model=".count).split(separator: "_").map(String.init)
        func log2(_ n: Int) -> Int? { n >= 1 && n & (n - 1) == 0 ? n.trailingZeroBitCount : nil }
        guard parts.count >= 7, parts[parts.count - 5] == "i8w8a32",
            let sizes = Optional(parts.suffix(4).compactMap { Int($0) }), sizes.count == 4
        else { throw FormatError("target model '\(option)' is not TARGET_BxBLOCK_i8w8a32_UOP_INP_WGT_ACC") }
        let shape = parts[parts.count - 6].split(separator: "x").compactMap { Int($0) }.compactMap(log2)
        guard shape.count == 2 else {
            throw FormatError("target model '\(option)': '\(parts[parts.count - 6])' is not BATCHxBLOCK")
        }
        var hw = base
        do {
            try hw.set("TARGET", to: parts[..<(parts.count - 6)].joined(separator: "_"))
            try hw.set("LOG_BATCH", to: "\(shape[0])")
            try hw.set("LOG_BLOCK", to: "\(shape[1])")
            try hw.set("LOG_UOP_BUFF_SIZE", to: "\(sizes[0])")
            try hw.set("LOG_INP_BUFF_SIZE", to: "\(sizes[1])")
            try hw.set("LOG_WGT_BUFF_SIZE", to: "\(sizes[2])")
            try hw.set("LOG_ACC_BUFF_SIZE", to: "\(sizes[3])")
        } catch { throw FormatError("target model '\(option)': \(error)") }
        return hw
    }

    /// The workload of a task's args (packed tensors back to NCHW sizes).
    static func workload(_ name: String, _ args: [Any], _ spec: HardwareSpec) throws -> Workload {
        func tensor(_ k: Int) throws -> [Int] {
            guard k < args.count, let t = args[k] as? [Any], t.count == 3, t[0] as? String == "TENSOR",
                let shape = t[1] as? [Int], shape.allSatisfy({ $0 >= 1 && $0 <= 1 << 20 })
            else { throw FormatError("argument \(k) is not a [\"TENSOR\", shape, dtype]") }
            return shape
        }
        let data = try tensor(0)
        let kernel = try tensor(1)
        let w: Workload
        if name == "conv2d_packed.vta" {
            guard data.count == 6, kernel.count == 6, args.count >= 4, let strides = args[2] as? [Int],
                let pads = args[3] as? [Int], strides.count == 2, strides[0] == strides[1],
                !pads.isEmpty, Set(pads).count == 1
            else { throw FormatError("conv2d_packed.vta args are not packed 6-D tensors with one stride and pad") }
            guard data[4] == spec.batch, data[5] == spec.blockIn, kernel[4] == spec.blockOut else {
                throw FormatError("tensor blocks \(data) / \(kernel) do not match the target's BATCH and BLOCK")
            }
            w = Workload(
                kind: .conv2d, batch: data[0] * data[4], height: data[2], width: data[3],
                inChannels: data[1] * data[5], outChannels: kernel[0] * kernel[4], kernelH: kernel[2],
                kernelW: kernel[3], stride: strides[0], pad: pads[0])
        } else {
            guard data.count == 4, kernel.count == 4, data[2] == spec.batch, data[3] == spec.blockIn,
                kernel[2] == spec.blockOut
            else { throw FormatError("dense_packed.vta args are not packed 4-D tensors of the target's blocks") }
            w = .dense(n: data[0] * data[2], ci: data[1] * data[3], co: kernel[0] * kernel[2])
        }
        do { try w.validate() } catch { throw FormatError("\(error)") }
        return w
    }
}
