/// A reader of the protobuf wire format over bytes in memory: just what decoding ONNX needs
/// (varints, fixed32/64, length-delimited fields), so vtafarm links no protobuf runtime for it.
/// Every read is bounds-checked against the enclosing message's end, so a truncated or hostile
/// file throws ``ProtoWireError`` naming the byte offset; nothing traps.
struct ProtoWireReader {
    /// Wire types of the protobuf encoding; groups (3, 4) are obsolete and refused.
    enum WireType: Int {
        case varint = 0
        case fixed64 = 1
        case lengthDelimited = 2
        case fixed32 = 5
    }

    let bytes: [UInt8]
    private(set) var position: Int
    let end: Int

    init(bytes: [UInt8]) {
        self.bytes = bytes
        self.position = 0
        self.end = bytes.count
    }

    /// A reader of one embedded message, `range` being what ``lengthDelimited()`` returned.
    init(bytes: [UInt8], range: Range<Int>) {
        self.bytes = bytes
        self.position = range.lowerBound
        self.end = range.upperBound
    }

    var atEnd: Bool { position >= end }

    /// The next field's number and wire type, or nil at the end of the message.
    mutating func nextField() throws -> (number: Int, wire: WireType)? {
        if atEnd { return nil }
        let start = position
        let key = try varint()
        let number = key >> 3
        guard number >= 1 && number <= (1 << 29) - 1 else {
            throw ProtoWireError(offset: start, problem: "field number \(number) out of range")
        }
        guard let wire = WireType(rawValue: Int(key & 7)) else {
            throw ProtoWireError(offset: start, problem: "unsupported wire type \(key & 7)")
        }
        return (Int(number), wire)
    }

    /// A base-128 varint of at most 10 bytes.
    mutating func varint() throws -> UInt64 {
        let start = position
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard position < end else { throw ProtoWireError(offset: start, problem: "truncated varint") }
            let byte = bytes[position]
            position += 1
            guard shift < 64 else { throw ProtoWireError(offset: start, problem: "varint longer than 10 bytes") }
            result |= UInt64(byte & 0x7f) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
        }
    }

    /// An int64/int32 field: protobuf sends negative values as 10-byte two's complement.
    mutating func int64() throws -> Int { Int(truncatingIfNeeded: Int64(bitPattern: try varint())) }

    mutating func fixed32() throws -> UInt32 {
        guard end - position >= 4 else { throw ProtoWireError(offset: position, problem: "truncated fixed32") }
        var v: UInt32 = 0
        for k in 0..<4 { v |= UInt32(bytes[position + k]) << (8 * UInt32(k)) }
        position += 4
        return v
    }

    /// The byte range of a length-delimited field's payload, which is then skipped.
    mutating func lengthDelimited() throws -> Range<Int> {
        let start = position
        let length = try varint()
        guard length <= UInt64(end - position) else {
            throw ProtoWireError(offset: start, problem: "a field of \(length) bytes runs past the end of its message")
        }
        let range = position..<(position + Int(length))
        position = range.upperBound
        return range
    }

    mutating func string() throws -> String {
        String(decoding: bytes[try lengthDelimited()], as: UTF8.self)
    }

    /// Skips a field this decoder does not use.
    mutating func skip(_ wire: WireType) throws {
        switch wire {
        case .varint: _ = try varint()
        case .fixed32: _ = try fixed32()
        case .fixed64:
            guard end - position >= 8 else { throw ProtoWireError(offset: position, problem: "truncated fixed64") }
            position += 8
        case .lengthDelimited: _ = try lengthDelimited()
        }
    }

    /// A repeated int64 field, which writers send either packed (one length-delimited run of
    /// varints) or one varint per occurrence; appends to `values`.
    mutating func repeatedInt64(_ wire: WireType, into values: inout [Int]) throws {
        switch wire {
        case .varint: values.append(try int64())
        case .lengthDelimited:
            var packed = ProtoWireReader(bytes: bytes, range: try lengthDelimited())
            while !packed.atEnd { values.append(try packed.int64()) }
        default: throw ProtoWireError(offset: position, problem: "an integer list with wire type \(wire.rawValue)")
        }
    }
}

struct ProtoWireError: Error, CustomStringConvertible {
    let offset: Int
    let problem: String
    var description: String { "\(problem) at byte \(offset)" }
}
