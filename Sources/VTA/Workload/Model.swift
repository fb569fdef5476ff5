/// A DNN as VTA sees it: the distinct layer shapes it offloads, each with how often it occurs.
/// The model's latency under one hardware configuration is the sum over its layers of
/// `count x` the layer's latency (each layer with its own schedule).
public struct Model: Hashable, Sendable, Codable {
    public struct Layer: Hashable, Sendable, Codable {
        public var name: String
        public var workload: Workload
        public var count: Int
        public init(name: String, workload: Workload, count: Int = 1) {
            self.name = name
            self.workload = workload
            self.count = count
        }
    }

    public var name: String
    public var layers: [Layer]

    public init(name: String, layers: [Layer]) {
        self.name = name
        self.layers = layers
    }

    public var macs: Int { layers.reduce(0) { $0 + $1.count * $1.workload.macs } }

    /// Checks every layer; errors name the layer.
    public func validate() throws {
        guard !layers.isEmpty else { throw WorkloadError(message: "model '\(name)' has no layers") }
        var seen = Set<String>()
        for layer in layers {
            guard seen.insert(layer.name).inserted else {
                throw WorkloadError(message: "model '\(name)': layer name '\(layer.name)' appears twice")
            }
            guard layer.count >= 1 && layer.count <= 10_000 else {
                throw WorkloadError(
                    message: "model '\(name)', layer \(layer.name): count \(layer.count) must be between 1 and 10000")
            }
            do { try layer.workload.validate() } catch let error as WorkloadError {
                throw WorkloadError(message: "model '\(name)', layer \(layer.name): \(error.message)")
            }
        }
    }
}

/// The layer-table file format users write (YAML or JSON), decoded by the command line:
///
///     name: mynet
///     layers:
///       - {name: conv1, op: conv2d, N: 1, H: 56, W: 56, CI: 64, CO: 64, K: 3, S: 1, P: 1, count: 2}
///       - {name: fc, op: dense, N: 1, CI: 512, CO: 1024}
public struct ModelFile: Codable, Sendable {
    public struct Row: Codable, Sendable {
        public var name: String
        public var op: String
        public var n: Int?
        public var h: Int?
        public var w: Int?
        public var ci: Int
        public var co: Int
        public var k: Int?
        public var kh: Int?
        public var kw: Int?
        public var s: Int?
        public var p: Int?
        public var count: Int?
        // The file's keys are the conv notation of VTA.md (N, H, W, CI, CO, K, KH, KW, S, P).
        enum CodingKeys: String, CodingKey {
            case name, op, count
            case n = "N"
            case h = "H"
            case w = "W"
            case ci = "CI"
            case co = "CO"
            case k = "K"
            case kh = "KH"
            case kw = "KW"
            case s = "S"
            case p = "P"
        }
    }
    public var name: String
    public var layers: [Row]

    public func model() throws -> Model {
        var layers: [Model.Layer] = []
        for row in self.layers {
            let workload: Workload
            switch row.op.lowercased() {
            case "conv2d":
                guard let h = row.h, let w = row.w else {
                    throw WorkloadError(message: "layer \(row.name): conv2d needs H and W")
                }
                guard let kh = row.kh ?? row.k, let kw = row.kw ?? row.k else {
                    throw WorkloadError(message: "layer \(row.name): conv2d needs K (or KH and KW)")
                }
                workload = Workload(
                    kind: .conv2d, batch: row.n ?? 1, height: h, width: w, inChannels: row.ci,
                    outChannels: row.co, kernelH: kh, kernelW: kw, stride: row.s ?? 1, pad: row.p ?? 0)
            case "dense":
                workload = .dense(n: row.n ?? 1, ci: row.ci, co: row.co)
            default:
                throw WorkloadError(message: "layer \(row.name): op '\(row.op)' is not conv2d or dense")
            }
            layers.append(Model.Layer(name: row.name, workload: workload, count: row.count ?? 1))
        }
        let model = Model(name: name, layers: layers)
        try model.validate()
        return model
    }
}
