/// The part of an ONNX `ModelProto` the importer uses, decoded from the wire format with
/// ``ProtoWireReader`` (field numbers from onnx.proto). Weights are never copied: only small
/// integer tensors (shapes, axes) keep their values, since shape inference needs nothing else.
struct ONNXGraph {
    struct Tensor {
        var name = ""
        var dims: [Int] = []
        var dataType = 0
        /// The values of an INT64/INT32 tensor of at most ``ONNXGraph/maxValues`` elements.
        var ints: [Int]?
    }

    struct Attribute {
        var name = ""
        var i: Int?
        var ints: [Int] = []
        var s: String?
        var t: Tensor?
    }

    struct Node {
        var name = ""
        var opType = ""
        var domain = ""
        var inputs: [String] = []
        var outputs: [String] = []
        var attributes: [String: Attribute] = [:]
    }

    /// A graph input, output or value_info entry: its dimensions where known (a dim_param or a
    /// missing dimension is nil); `dims` is nil when the type carries no shape at all.
    struct ValueInfo {
        var name = ""
        var dims: [Int?]?
    }

    var irVersion = 0
    var name = ""
    var nodes: [Node] = []
    var initializers: [Tensor] = []
    var inputs: [ValueInfo] = []
    var valueInfo: [ValueInfo] = []
    var hasGraph = false

    /// Integer tensors larger than this are shapes of nothing; their values are not decoded.
    static let maxValues = 1024
    /// Tensors of higher rank are refused: no operator VTA or its neighbours run needs them.
    static let maxRank = 16

    init(bytes: [UInt8]) throws {
        var r = ProtoWireReader(bytes: bytes)
        while let (field, wire) = try r.nextField() {
            switch (field, wire) {
            case (1, .varint): irVersion = try r.int64()
            case (7, .lengthDelimited):
                hasGraph = true
                var g = ProtoWireReader(bytes: bytes, range: try r.lengthDelimited())
                try decodeGraph(&g)
            default: try r.skip(wire)
            }
        }
    }

    private mutating func decodeGraph(_ r: inout ProtoWireReader) throws {
        while let (field, wire) = try r.nextField() {
            switch (field, wire) {
            case (1, .lengthDelimited):
                var n = ProtoWireReader(bytes: r.bytes, range: try r.lengthDelimited())
                nodes.append(try Self.decodeNode(&n))
            case (2, .lengthDelimited): name = try r.string()
            case (5, .lengthDelimited):
                var t = ProtoWireReader(bytes: r.bytes, range: try r.lengthDelimited())
                initializers.append(try Self.decodeTensor(&t))
            case (11, .lengthDelimited), (13, .lengthDelimited):
                var v = ProtoWireReader(bytes: r.bytes, range: try r.lengthDelimited())
                let info = try Self.decodeValueInfo(&v)
                if field == 11 { inputs.append(info) } else { valueInfo.append(info) }
            default: try r.skip(wire)
            }
        }
    }

    private static func decodeNode(_ r: inout ProtoWireReader) throws -> Node {
        var node = Node()
        while let (field, wire) = try r.nextField() {
            switch (field, wire) {
            case (1, .lengthDelimited): node.inputs.append(try r.string())
            case (2, .lengthDelimited): node.outputs.append(try r.string())
            case (3, .lengthDelimited): node.name = try r.string()
            case (4, .lengthDelimited): node.opType = try r.string()
            case (7, .lengthDelimited): node.domain = try r.string()
            case (5, .lengthDelimited):
                var a = ProtoWireReader(bytes: r.bytes, range: try r.lengthDelimited())
                let attribute = try decodeAttribute(&a)
                node.attributes[attribute.name] = attribute
            default: try r.skip(wire)
            }
        }
        return node
    }

    /// Subgraphs (If, Loop) are skipped, so decoding never recurses more than one tensor deep.
    private static func decodeAttribute(_ r: inout ProtoWireReader) throws -> Attribute {
        var a = Attribute()
        while let (field, wire) = try r.nextField() {
            switch (field, wire) {
            case (1, .lengthDelimited): a.name = try r.string()
            case (3, .varint): a.i = try r.int64()
            case (4, .lengthDelimited): a.s = try r.string()
            case (5, .lengthDelimited):
                var t = ProtoWireReader(bytes: r.bytes, range: try r.lengthDelimited())
                a.t = try decodeTensor(&t)
            case (8, .varint), (8, .lengthDelimited): try r.repeatedInt64(wire, into: &a.ints)
            default: try r.skip(wire)
            }
        }
        return a
    }

    private static func decodeTensor(_ r: inout ProtoWireReader) throws -> Tensor {
        var t = Tensor()
        var int64Data: [Int] = []
        var int32Data: [Int] = []
        var raw: Range<Int>?
        while let (field, wire) = try r.nextField() {
            switch (field, wire) {
            case (1, .varint), (1, .lengthDelimited): try r.repeatedInt64(wire, into: &t.dims)
            case (2, .varint): t.dataType = try r.int64()
            case (5, .varint), (5, .lengthDelimited):
                if int32Data.count <= maxValues {
                    try r.repeatedInt64(wire, into: &int32Data)
                } else {
                    try r.skip(wire)
                }
            case (7, .varint), (7, .lengthDelimited):
                if int64Data.count <= maxValues {
                    try r.repeatedInt64(wire, into: &int64Data)
                } else {
                    try r.skip(wire)
                }
            case (8, .lengthDelimited): t.name = try r.string()
            case (9, .lengthDelimited): raw = try r.lengthDelimited()
            default: try r.skip(wire)
            }
        }
        guard t.dims.count <= maxRank, t.dims.allSatisfy({ $0 >= 0 && $0 <= Int(Int32.max) }) else {
            throw ONNXFormatError("tensor '\(t.name)' has dimensions \(t.dims)")
        }
        let count = Workload.checkedProduct(t.dims)
        let width = t.dataType == 7 ? 8 : t.dataType == 6 ? 4 : 0
        if width > 0, let count, count <= maxValues {
            if let raw {
                guard raw.count == count * width else {
                    throw ONNXFormatError(
                        "tensor '\(t.name)': raw_data holds \(raw.count) bytes, its \(count) elements need \(count * width)"
                    )
                }
                var values: [Int] = []
                for k in 0..<count {
                    var v: UInt64 = 0
                    for b in 0..<width { v |= UInt64(r.bytes[raw.lowerBound + k * width + b]) << (8 * UInt64(b)) }
                    values.append(width == 8 ? Int(Int64(bitPattern: v)) : Int(Int32(truncatingIfNeeded: v)))
                }
                t.ints = values
            } else {
                let values = width == 8 ? int64Data : int32Data.map { Int(Int32(truncatingIfNeeded: $0)) }
                if values.count == count { t.ints = values }
            }
        }
        return t
    }

    private static func decodeValueInfo(_ r: inout ProtoWireReader) throws -> ValueInfo {
        var info = ValueInfo()
        while let (field, wire) = try r.nextField() {
            switch (field, wire) {
            case (1, .lengthDelimited): info.name = try r.string()
            case (2, .lengthDelimited):
                // TypeProto.tensor_type (1) -> Tensor.shape (2) -> TensorShapeProto.dim (1).
                var type = ProtoWireReader(bytes: r.bytes, range: try r.lengthDelimited())
                while let (tf, tw) = try type.nextField() {
                    guard tf == 1, tw == .lengthDelimited else {
                        try type.skip(tw)
                        continue
                    }
                    var tensor = ProtoWireReader(bytes: r.bytes, range: try type.lengthDelimited())
                    while let (sf, sw) = try tensor.nextField() {
                        guard sf == 2, sw == .lengthDelimited else {
                            try tensor.skip(sw)
                            continue
                        }
                        var shape = ProtoWireReader(bytes: r.bytes, range: try tensor.lengthDelimited())
                        var dims: [Int?] = []
                        while let (df, dw) = try shape.nextField() {
                            guard df == 1, dw == .lengthDelimited else {
                                try shape.skip(dw)
                                continue
                            }
                            var dim = ProtoWireReader(bytes: r.bytes, range: try shape.lengthDelimited())
                            var value: Int?
                            while let (vf, vw) = try dim.nextField() {
                                if vf == 1, vw == .varint { value = try dim.int64() } else { try dim.skip(vw) }
                            }
                            dims.append(value.flatMap { $0 >= 0 && $0 <= Int(Int32.max) ? $0 : nil })
                        }
                        guard dims.count <= maxRank else {
                            throw ONNXFormatError("value '\(info.name)' has rank \(dims.count)")
                        }
                        info.dims = dims
                    }
                }
            default: try r.skip(wire)
            }
        }
        return info
    }
}

struct ONNXFormatError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
