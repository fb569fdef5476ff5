import Foundation

/// One operator VTA executes: a 2-D convolution or a dense (fully connected) layer, both followed
/// by the VTA benchmark's epilogue `clip(acc >> shift, 0, 127)` to int8.
public struct Workload: Hashable, Sendable, Codable, CustomStringConvertible {
    public enum Kind: String, Hashable, Sendable, Codable { case conv2d, dense }

    public var kind: Kind
    public var batch: Int
    public var height: Int
    public var width: Int
    public var inChannels: Int
    public var outChannels: Int
    public var kernelH: Int
    public var kernelW: Int
    public var stride: Int
    public var pad: Int

    public init(
        kind: Kind, batch: Int, height: Int, width: Int, inChannels: Int, outChannels: Int,
        kernelH: Int, kernelW: Int, stride: Int, pad: Int
    ) {
        self.kind = kind
        self.batch = batch
        self.height = height
        self.width = width
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernelH = kernelH
        self.kernelW = kernelW
        self.stride = stride
        self.pad = pad
    }

    public static func conv2d(n: Int = 1, h: Int, w: Int, ci: Int, co: Int, k: Int, s: Int = 1, p: Int = 0) -> Workload
    {
        Workload(
            kind: .conv2d, batch: n, height: h, width: w, inChannels: ci, outChannels: co,
            kernelH: k, kernelW: k, stride: s, pad: p)
    }

    public static func dense(n: Int = 1, ci: Int, co: Int) -> Workload {
        Workload(
            kind: .dense, batch: n, height: 1, width: 1, inChannels: ci, outChannels: co,
            kernelH: 1, kernelW: 1, stride: 1, pad: 0)
    }

    public var outHeight: Int { (height + 2 * pad - kernelH) / stride + 1 }
    public var outWidth: Int { (width + 2 * pad - kernelW) / stride + 1 }

    /// Multiply-accumulates of the operator itself (padding excluded from nothing: a padded tap
    /// multiplies a zero, as on VTA). Traps on overflow: call it on a validated workload.
    public var macs: Int {
        batch * outChannels * outHeight * outWidth * inChannels * kernelH * kernelW
    }

    /// The product of `factors`, or nil if it overflows `Int`: every derived size of a workload
    /// from elsewhere is computed this way first, since each field passing its own range check
    /// still lets the products overflow (H=W=CI=CO=2^20 makes 2^80 MACs).
    static func checkedProduct(_ factors: [Int]) -> Int? {
        var product = 1
        for f in factors {
            let (p, overflow) = product.multipliedReportingOverflow(by: f)
            if overflow { return nil }
            product = p
        }
        return product
    }

    public var description: String {
        switch kind {
        case .conv2d:
            let k = kernelH == kernelW ? "K=\(kernelH)" : "KH=\(kernelH),KW=\(kernelW)"
            return
                "conv2d:N=\(batch),H=\(height),W=\(width),CI=\(inChannels),CO=\(outChannels),\(k),S=\(stride),P=\(pad)"
        case .dense:
            return "dense:N=\(batch),CI=\(inChannels),CO=\(outChannels)"
        }
    }

    /// Checks that the numbers describe an operator at all (positive sizes, a kernel that fits
    /// the padded input). Hardware-dependent packing is checked by ``packingProblem(_:)``.
    /// The largest MAC count and tensor size accepted: keeps every later product far from `Int` overflow.
    public static let maxSize = 1 << 40

    public func validate() throws {
        func need(_ ok: Bool, _ field: String, _ why: String) throws {
            if !ok { throw WorkloadError(message: "\(field): \(why) in \(self)") }
        }
        let limit = 1 << 20
        for (name, value) in [
            ("N", batch), ("H", height), ("W", width), ("CI", inChannels), ("CO", outChannels),
            ("KH", kernelH), ("KW", kernelW), ("S", stride),
        ] {
            try need(value >= 1 && value <= limit, name, "\(value) must be between 1 and \(limit)")
        }
        try need(pad >= 0 && pad <= 1024, "P", "\(pad) must be between 0 and 1024")
        try need(
            height + 2 * pad >= kernelH && width + 2 * pad >= kernelW, "K", "the kernel is larger than the padded input"
        )
        let sizes: [(String, [Int])] = [
            ("shape", [batch, outChannels, outHeight, outWidth, inChannels, kernelH, kernelW]),
            ("input", [batch, inChannels, height, width]),
            ("weights", [outChannels, inChannels, kernelH, kernelW]),
            ("output", [batch, outChannels, outHeight, outWidth]),
        ]
        for (name, factors) in sizes {
            let size = Self.checkedProduct(factors)
            try need(
                size.map { $0 <= Self.maxSize } ?? false, name,
                name == "shape" ? "more than 2^40 multiply-accumulates" : "more than 2^40 elements")
        }
    }

    /// Why the operator cannot be laid out in VTA's packed tensors for this hardware, or nil.
    public func packingProblem(_ spec: HardwareSpec) -> String? {
        if batch % spec.batch != 0 { return "batch N=\(batch) is not a multiple of BATCH=\(spec.batch)" }
        if inChannels % spec.blockIn != 0 { return "CI=\(inChannels) is not a multiple of BLOCK_IN=\(spec.blockIn)" }
        if outChannels % spec.blockOut != 0 {
            return "CO=\(outChannels) is not a multiple of BLOCK_OUT=\(spec.blockOut)"
        }
        return nil
    }
}

public struct WorkloadError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public init(message: String) { self.message = message }
    public var description: String { message }
}

extension Workload {
    /// Parses `conv2d:N=1,H=56,W=56,CI=64,CO=64,K=3,S=1,P=1` or `dense:N=1,CI=512,CO=1000`.
    /// K sets both KH and KW; S defaults to 1, P to 0, N to 1.
    public init(parsing text: String) throws {
        let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
        guard parts.count == 2, let kind = Kind(rawValue: parts[0].lowercased()) else {
            throw WorkloadError(message: "workload '\(text)': expected conv2d:KEY=VALUE,... or dense:KEY=VALUE,...")
        }
        var values: [String: Int] = [:]
        for item in parts[1].split(separator: ",") {
            let kv = item.split(separator: "=", maxSplits: 1).map {
                $0.trimmingCharacters(in: .whitespaces).uppercased()
            }
            guard kv.count == 2, let v = Int(kv[1]) else {
                throw WorkloadError(message: "workload '\(text)': '\(item)' is not KEY=INTEGER")
            }
            values[kv[0]] = v
        }
        let allowed: Set<String> =
            kind == .conv2d ? ["N", "H", "W", "CI", "CO", "K", "KH", "KW", "S", "P"] : ["N", "CI", "CO"]
        if let unknown = values.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw WorkloadError(
                message:
                    "workload '\(text)': unknown key \(unknown) (\(kind.rawValue) takes \(allowed.sorted().joined(separator: ", ")))"
            )
        }
        func required(_ key: String) throws -> Int {
            guard let v = values[key] else { throw WorkloadError(message: "workload '\(text)': missing \(key)") }
            return v
        }
        switch kind {
        case .conv2d:
            let k = values["K"]
            guard let kh = values["KH"] ?? k, let kw = values["KW"] ?? k else {
                throw WorkloadError(message: "workload '\(text)': missing K (or KH and KW)")
            }
            self.init(
                kind: .conv2d, batch: values["N"] ?? 1, height: try required("H"), width: try required("W"),
                inChannels: try required("CI"), outChannels: try required("CO"),
                kernelH: kh, kernelW: kw, stride: values["S"] ?? 1, pad: values["P"] ?? 0)
        case .dense:
            self = .dense(n: values["N"] ?? 1, ci: try required("CI"), co: try required("CO"))
        }
        try validate()
    }
}
