import Foundation

/// A layer table from an ONNX network: shapes are inferred through the graph (so no value_info
/// is needed), the convolutions and dense layers VTA can run become layers, identical shapes
/// merge into one layer with a count (as in the zoo), and every Conv, Gemm and MatMul that stays
/// on the CPU is reported with the reason, so a user sees what the latency leaves out.
///
/// Offloaded: Conv with group 1, dilation 1, one stride and one pad for both axes, channels
/// packable on `spec`, and not the network's first convolution (3 input channels, which VTA's
/// benchmarks leave on the CPU); Gemm and 2-D MatMul as dense. Every other op runs on the CPU
/// and only carries shapes forward.
public struct ONNXImport: Sendable {
    public enum Placement: Hashable, Sendable {
        case vta(layer: String, workload: Workload)
        case cpu(reason: String)
    }

    /// One Conv, Gemm or MatMul node and where it runs.
    public struct NodeReport: Hashable, Sendable {
        public var node: String
        public var opType: String
        public var placement: Placement
    }

    public var model: Model
    public var nodes: [NodeReport]
    /// How many nodes of each other op type the graph holds (all on the CPU), by op type.
    public var otherOps: [String: Int]

    /// Imports `path`; the model is named after the file. Errors name the file's problem or the
    /// node (name and op type) whose shapes are inconsistent.
    public init(contentsOf path: String, packingFor spec: HardwareSpec = HardwareSpec(.stock)) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw WorkloadError(message: "cannot read the file")
        }
        let base = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
        try self.init(bytes: [UInt8](data), name: base, packingFor: spec)
    }

    public init(bytes: [UInt8], name: String, packingFor spec: HardwareSpec = HardwareSpec(.stock)) throws {
        let graph: ONNXGraph
        do { graph = try ONNXGraph(bytes: bytes) } catch let e as ProtoWireError {
            throw WorkloadError(message: "not a valid ONNX file (\(e))")
        } catch let e as ONNXFormatError {
            throw WorkloadError(message: "not a valid ONNX file: \(e)")
        }
        guard graph.hasGraph, graph.irVersion >= 1, !graph.nodes.isEmpty else {
            throw WorkloadError(message: "not an ONNX model: no ir_version or no graph with nodes")
        }
        var inference = ShapeInference(graph: graph, spec: spec)
        try inference.run()
        let layers = inference.layers.map { Model.Layer(name: $0.name, workload: $0.workload, count: $0.count) }
        self.model = Model(name: name, layers: layers)
        self.nodes = inference.reports
        self.otherOps = inference.otherOps
        if !layers.isEmpty { try model.validate() }
    }
}

/// What is known about one value of the graph while walking it in order.
private struct Value {
    var shape: [Int]?
    /// The elements of a small integer tensor (a shape, axes), when known.
    var ints: [Int]?
}

private struct ShapeInference {
    let graph: ONNXGraph
    let spec: HardwareSpec
    var values: [String: Value] = [:]
    var declared: [String: [Int]] = [:]
    var layers: [(name: String, workload: Workload, count: Int)] = []
    var layerIndex: [Workload: Int] = [:]
    var reports: [ONNXImport.NodeReport] = []
    var otherOps: [String: Int] = [:]
    var usedNames: Set<String> = []

    init(graph: ONNXGraph, spec: HardwareSpec) {
        self.graph = graph
        self.spec = spec
    }

    /// `'name' (Op)`, or the first output when the node has no name (common in exported files).
    static func label(_ node: ONNXGraph.Node, _ index: Int) -> String {
        if !node.name.isEmpty { return "node '\(node.name)' (\(node.opType))" }
        return "node #\(index) (\(node.opType), output '\(node.outputs.first ?? "")')"
    }

    mutating func run() throws {
        for info in graph.valueInfo {
            if let dims = info.dims, dims.allSatisfy({ $0 != nil }) { declared[info.name] = dims.map { $0! } }
        }
        for input in graph.inputs {
            // A symbolic batch (dim_param) is taken as 1; any other unknown dimension stays unknown.
            var shape: [Int]? = nil
            if let dims = input.dims {
                let filled = dims.enumerated().map { $0.element ?? ($0.offset == 0 ? 1 : nil) }
                if filled.allSatisfy({ $0 != nil }) { shape = filled.map { $0! } }
            }
            values[input.name] = Value(shape: shape, ints: nil)
        }
        for t in graph.initializers { values[t.name] = Value(shape: t.dims, ints: t.ints) }
        for (index, node) in graph.nodes.enumerated() {
            let label = Self.label(node, index)
            var inputs: [Value?] = []
            for name in node.inputs {
                if name.isEmpty {
                    inputs.append(nil)
                    continue
                }
                guard let v = values[name] else {
                    throw WorkloadError(
                        message:
                            "\(label): input '\(name)' is not a graph input, an initializer or the output of an earlier node"
                    )
                }
                inputs.append(v)
            }
            var outputs: [Value]
            do { outputs = try infer(node, index, inputs, label) } catch let e as ShapeError {
                throw WorkloadError(message: "\(label): \(e.message)")
            }
            for (k, name) in node.outputs.enumerated() where !name.isEmpty {
                var v = k < outputs.count ? outputs[k] : Value()
                if v.shape == nil { v.shape = declared[name] }
                if let shape = v.shape, Workload.checkedProduct(shape).map({ $0 > Workload.maxSize }) ?? true {
                    throw WorkloadError(message: "\(label): output '\(name)' of shape \(shape) is too large")
                }
                values[name] = v
            }
        }
    }

    struct ShapeError: Error { let message: String }

    func fail(_ message: String) -> ShapeError { ShapeError(message: message) }

    func shape(_ inputs: [Value?], _ k: Int, _ what: String) throws -> [Int] {
        guard k < inputs.count, let v = inputs[k] else { throw fail("missing \(what)") }
        guard let s = v.shape else { throw fail("the shape of \(what) is unknown (an op before it is not supported)") }
        return s
    }

    func ints(_ node: ONNXGraph.Node, _ name: String, _ default: [Int]) throws -> [Int] {
        guard let a = node.attributes[name] else { return `default` }
        guard a.ints.allSatisfy({ $0.magnitude <= UInt(Int32.max) }) else {
            throw fail("attribute \(name) \(a.ints) out of range")
        }
        return a.ints
    }

    func int(_ node: ONNXGraph.Node, _ name: String, _ default: Int) throws -> Int {
        guard let v = node.attributes[name]?.i else { return `default` }
        guard v.magnitude <= UInt(Int32.max) else { throw fail("attribute \(name)=\(v) out of range") }
        return v
    }

    /// Output sizes of a sliding window (Conv, pooling) over the spatial axes, with its pads.
    func window(
        _ node: ONNXGraph.Node, spatial: [Int], kernel: [Int], ceil: Bool = false
    ) throws -> (out: [Int], pads: [Int], strides: [Int], dilations: [Int]) {
        let d = spatial.count
        let strides = try ints(node, "strides", Array(repeating: 1, count: d))
        let dilations = try ints(node, "dilations", Array(repeating: 1, count: d))
        var pads = try ints(node, "pads", Array(repeating: 0, count: 2 * d))
        guard strides.count == d, dilations.count == d, pads.count == 2 * d, kernel.count == d else {
            throw fail(
                "strides \(strides), dilations \(dilations), pads \(pads) or kernel \(kernel) do not match \(d) axes")
        }
        guard strides.allSatisfy({ $0 >= 1 }), dilations.allSatisfy({ $0 >= 1 }), pads.allSatisfy({ $0 >= 0 }),
            kernel.allSatisfy({ $0 >= 1 })
        else {
            throw fail("strides \(strides), dilations \(dilations), pads \(pads) and kernel \(kernel) must be positive")
        }
        let autoPad = node.attributes["auto_pad"]?.s ?? "NOTSET"
        var out: [Int] = []
        for a in 0..<d {
            let extent = (kernel[a] - 1) * dilations[a] + 1
            switch autoPad {
            case "SAME_UPPER", "SAME_LOWER":
                let o = (spatial[a] + strides[a] - 1) / strides[a]
                let total = max(0, (o - 1) * strides[a] + extent - spatial[a])
                let small = total / 2
                pads[a] = autoPad == "SAME_UPPER" ? small : total - small
                pads[a + d] = total - pads[a]
            case "VALID":
                pads[a] = 0
                pads[a + d] = 0
            case "NOTSET": break
            default: throw fail("auto_pad '\(autoPad)' is not NOTSET, SAME_UPPER, SAME_LOWER or VALID")
            }
            let span = spatial[a] + pads[a] + pads[a + d] - extent
            guard span >= 0 else {
                throw fail("the window (\(extent)) is larger than the padded input (\(spatial[a]))")
            }
            var o = span / strides[a] + 1
            if ceil && span % strides[a] != 0 {
                o += 1
                // The last window must start inside the input or its leading pad.
                if (o - 1) * strides[a] >= spatial[a] + pads[a] { o -= 1 }
            }
            out.append(o)
        }
        return (out, pads, strides, dilations)
    }

    /// NumPy-style broadcasting of the known input shapes.
    func broadcast(_ shapes: [[Int]]) throws -> [Int] {
        let rank = shapes.map(\.count).max() ?? 0
        var out = Array(repeating: 1, count: rank)
        for s in shapes {
            for (k, dim) in s.enumerated() {
                let a = rank - s.count + k
                if out[a] == 1 {
                    out[a] = dim
                } else if dim != 1 && dim != out[a] {
                    throw fail("shapes \(shapes.map { "\($0)" }.joined(separator: " and ")) do not broadcast")
                }
            }
        }
        return out
    }

    static let shapeKeeping: Set<String> = [
        "Relu", "LeakyRelu", "PRelu", "Sigmoid", "Tanh", "Clip", "BatchNormalization", "Dropout", "LRN", "Softmax",
        "LogSoftmax", "Identity", "Cast", "Elu", "Selu", "HardSigmoid", "HardSwish", "Exp", "Log", "Sqrt", "Neg",
        "Abs", "Reciprocal", "Floor", "Ceil", "InstanceNormalization", "LpNormalization", "Erf", "Gelu", "Softplus",
        "Softsign", "Not", "Sign", "Round", "QuantizeLinear", "DequantizeLinear",
    ]
    static let broadcasting: Set<String> = [
        "Add", "Sub", "Mul", "Div", "Sum", "Max", "Min", "Mean", "Pow", "Equal", "Less", "Greater", "And", "Or",
        "Where",
    ]

    mutating func infer(_ node: ONNXGraph.Node, _ index: Int, _ inputs: [Value?], _ label: String) throws -> [Value] {
        let op = node.domain.isEmpty || node.domain == "ai.onnx" ? node.opType : "\(node.domain).\(node.opType)"
        switch op {
        case "Conv": return [Value(shape: try conv(node, index, inputs))]
        case "Gemm", "MatMul": return [Value(shape: try dense(node, index, inputs))]
        default: otherOps[op, default: 0] += 1
        }
        let first = inputs.first.flatMap { $0 }
        switch op {
        case _ where Self.shapeKeeping.contains(op):
            return Array(
                repeating: Value(shape: first?.shape, ints: op == "Identity" ? first?.ints : nil),
                count: max(1, node.outputs.count))
        case _ where Self.broadcasting.contains(op):
            let shapes = inputs.compactMap { $0?.shape }
            guard shapes.count == inputs.compactMap({ $0 }).count else { return [Value()] }
            return [Value(shape: try broadcast(shapes))]
        case "MaxPool", "AveragePool", "LpPool":
            let x = try shape(inputs, 0, "input X")
            guard x.count >= 3 else { throw fail("input X has shape \(x), not N x C x spatial") }
            let kernel = try ints(node, "kernel_shape", [])
            let w = try window(node, spatial: Array(x[2...]), kernel: kernel, ceil: try int(node, "ceil_mode", 0) != 0)
            let out = Value(shape: Array(x[0..<2]) + w.out)
            return [out, out]
        case "GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool":
            let x = try shape(inputs, 0, "input X")
            guard x.count >= 3 else { throw fail("input X has shape \(x), not N x C x spatial") }
            return [Value(shape: Array(x[0..<2]) + Array(repeating: 1, count: x.count - 2))]
        case "Flatten":
            let x = try shape(inputs, 0, "input")
            var axis = try int(node, "axis", 1)
            if axis < 0 { axis += x.count }
            guard axis >= 0 && axis <= x.count else { throw fail("axis \(axis) outside rank \(x.count)") }
            guard let a = Workload.checkedProduct(Array(x[..<axis])), let b = Workload.checkedProduct(Array(x[axis...]))
            else { throw fail("shape \(x) is too large") }
            return [Value(shape: [a, b])]
        case "Reshape": return [Value(shape: try reshape(node, inputs))]
        case "Shape":
            let x = try shape(inputs, 0, "input")
            return [Value(shape: [x.count], ints: x)]
        case "Constant":
            if let t = node.attributes["value"]?.t { return [Value(shape: t.dims, ints: t.ints)] }
            if let a = node.attributes["value_ints"] { return [Value(shape: [a.ints.count], ints: a.ints)] }
            if let i = node.attributes["value_int"]?.i { return [Value(shape: [], ints: [i])] }
            return [Value()]
        case "ConstantOfShape":
            guard let v = inputs.first.flatMap({ $0 })?.ints else { return [Value()] }
            guard v.count <= ONNXGraph.maxRank, v.allSatisfy({ $0 >= 0 && $0 <= Int(Int32.max) }) else {
                throw fail("shape \(v) is not a list of sizes")
            }
            return [Value(shape: v)]
        case "Concat":
            let shapes = inputs.compactMap { $0?.shape }
            guard shapes.count == inputs.count, let rank = shapes.first?.count else { return [Value()] }
            var axis = try int(node, "axis", 0)
            if axis < 0 { axis += rank }
            guard axis >= 0 && axis < rank, shapes.allSatisfy({ $0.count == rank }) else {
                throw fail("axis \(axis) does not fit shapes \(shapes)")
            }
            var out = shapes[0]
            out[axis] = 0
            for s in shapes {
                for a in 0..<rank where a != axis && s[a] != out[a] {
                    throw fail("shapes \(shapes) differ off axis \(axis)")
                }
                out[axis] += s[axis]
            }
            let allInts = inputs.compactMap { $0?.ints }
            return [Value(shape: out, ints: rank == 1 && allInts.count == inputs.count ? allInts.flatMap { $0 } : nil)]
        case "Transpose":
            let x = try shape(inputs, 0, "input")
            let perm = try ints(node, "perm", Array((0..<x.count).reversed()))
            guard perm.sorted() == Array(0..<x.count) else {
                throw fail("perm \(perm) is not a permutation of rank \(x.count)")
            }
            return [Value(shape: perm.map { x[$0] })]
        default:
            return [Value()]
        }
    }

    /// Reshape by a known target (0 copies a dimension, one -1 takes the rest). When the target
    /// is computed at run time but has two elements, the Caffe2 exports' flatten before the
    /// classifier, it is taken as a flatten to N x rest.
    func reshape(_ node: ONNXGraph.Node, _ inputs: [Value?]) throws -> [Int]? {
        let x = try shape(inputs, 0, "input data")
        guard let total = Workload.checkedProduct(x) else { throw fail("shape \(x) is too large") }
        let target: [Int]
        if let t = inputs.count > 1 ? inputs[1]?.ints : nil {
            target = t
        } else if let a = node.attributes["shape"] {
            target = a.ints
        } else if inputs.count > 1, inputs[1]?.shape == [2], let n = x.first, n >= 1 {
            return [n, total / n]
        } else {
            return nil
        }
        guard target.count <= ONNXGraph.maxRank, target.filter({ $0 == -1 }).count <= 1,
            target.allSatisfy({ $0 >= -1 && $0 <= Int(Int32.max) })
        else { throw fail("target shape \(target) is not valid") }
        let allowZero = try int(node, "allowzero", 0) != 0
        var out: [Int] = []
        for (k, dim) in target.enumerated() {
            if dim == 0 && !allowZero {
                guard k < x.count else { throw fail("target shape \(target) copies axis \(k) of shape \(x)") }
                out.append(x[k])
            } else {
                out.append(dim)
            }
        }
        let known = Workload.checkedProduct(out.filter { $0 != -1 }) ?? 0
        if let free = out.firstIndex(of: -1) {
            guard known > 0, total % known == 0 else { throw fail("cannot reshape \(x) to \(target)") }
            out[free] = total / known
        } else if known != total {
            throw fail("cannot reshape \(x) (\(total) elements) to \(target)")
        }
        return out
    }

    /// A name for the layer of a node, unique in the model.
    mutating func layerName(_ node: ONNXGraph.Node, _ index: Int) -> String {
        var base = node.name.isEmpty ? (node.outputs.first ?? "") : node.name
        if base.isEmpty { base = "\(node.opType)_\(index)" }
        var name = base
        var k = 2
        while usedNames.contains(name) {
            name = "\(base)_\(k)"
            k += 1
        }
        usedNames.insert(name)
        return name
    }

    mutating func place(_ node: ONNXGraph.Node, _ index: Int, _ workload: Workload?, cpu reason: String?) {
        var reason = reason
        if reason == nil, let workload {
            do { try workload.validate() } catch { reason = "\(error)" }
            if reason == nil { reason = workload.packingProblem(spec) }
        }
        let label = node.name.isEmpty ? (node.outputs.first ?? "#\(index)") : node.name
        if let reason {
            reports.append(.init(node: label, opType: node.opType, placement: .cpu(reason: reason)))
            return
        }
        guard let workload else { return }
        if let k = layerIndex[workload] {
            layers[k].count += 1
            reports.append(
                .init(node: label, opType: node.opType, placement: .vta(layer: layers[k].name, workload: workload)))
        } else {
            let name = layerName(node, index)
            layerIndex[workload] = layers.count
            layers.append((name, workload, 1))
            reports.append(.init(node: label, opType: node.opType, placement: .vta(layer: name, workload: workload)))
        }
    }

    mutating func conv(_ node: ONNXGraph.Node, _ index: Int, _ inputs: [Value?]) throws -> [Int] {
        let x = try shape(inputs, 0, "input X")
        let w = try shape(inputs, 1, "weights W")
        guard x.count >= 3, w.count == x.count else {
            throw fail("input X \(x) and weights W \(w) are not N x C x spatial")
        }
        let group = try int(node, "group", 1)
        guard group >= 1, w[1].multipliedReportingOverflow(by: group) == (x[1], false), w[0] % group == 0 else {
            throw fail("input X \(x), weights W \(w) and group \(group) disagree on the channels")
        }
        let kernel = try ints(node, "kernel_shape", Array(w[2...]))
        guard kernel == Array(w[2...]) else { throw fail("kernel_shape \(kernel) differs from the weights \(w)") }
        let win = try window(node, spatial: Array(x[2...]), kernel: kernel)
        let out = [x[0], w[0]] + win.out
        var reason: String?
        let d = x.count - 2
        if d != 2 {
            reason = "a \(d)-D convolution (VTA runs 2-D ones)"
        } else if group != 1 {
            reason = "grouped convolution (group \(group))"
        } else if win.dilations != [1, 1] {
            reason = "dilated convolution (dilations \(win.dilations))"
        } else if Set(win.pads).count != 1 {
            reason = "asymmetric pads \(win.pads)"
        } else if win.strides[0] != win.strides[1] {
            reason = "different strides \(win.strides) on H and W"
        } else if x[1] == 3 {
            reason = "3 input channels (the first convolution stays on the CPU)"
        }
        let workload =
            reason == nil
            ? Workload(
                kind: .conv2d, batch: x[0], height: x[2], width: x[3], inChannels: x[1], outChannels: w[0],
                kernelH: w[2], kernelW: w[3], stride: win.strides[0], pad: win.pads[0]) : nil
        place(node, index, workload, cpu: reason)
        return out
    }

    /// Gemm (with transA/transB) and MatMul as dense: out = A x B with A M x K and B K x N.
    mutating func dense(_ node: ONNXGraph.Node, _ index: Int, _ inputs: [Value?]) throws -> [Int] {
        var a = try shape(inputs, 0, "input A")
        var b = try shape(inputs, 1, "input B")
        if node.opType == "Gemm" {
            guard a.count == 2, b.count == 2 else { throw fail("inputs A \(a) and B \(b) are not matrices") }
            if try int(node, "transA", 0) != 0 { a.reverse() }
            if try int(node, "transB", 0) != 0 { b.reverse() }
        }
        guard a.count >= 1, b.count >= 1 else { throw fail("inputs A \(a) and B \(b) are scalars") }
        guard b.count <= 2 else {
            let out = a.dropLast() + [b[b.count - 1]]
            place(node, index, nil, cpu: "batched MatMul (B has shape \(b))")
            return Array(out)
        }
        let k = a[a.count - 1]
        guard b[0] == k else { throw fail("inputs A \(a) and B \(b) disagree on the reduction size") }
        let n = b.count == 2 ? b[1] : 1
        let out = Array(a.dropLast()) + (b.count == 2 ? [n] : [])
        if a.count != 2 || b.count != 2 {
            place(node, index, nil, cpu: "MatMul of shapes \(a) and \(b) (VTA runs matrix by matrix)")
        } else {
            place(node, index, .dense(n: a[0], ci: k, co: n), cpu: nil)
        }
        return out
    }
}
