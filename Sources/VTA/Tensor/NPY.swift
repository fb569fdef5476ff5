import Foundation

/// NumPy `.npy` files (format versions 1.0-3.0) holding int8 (or uint8) arrays in C order.
public enum NPY {
    public struct FormatError: Error, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    public static func read(path: String) throws -> Int8Tensor {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw FormatError(message: "\(path): cannot read the file")
        }
        do { return try decode([UInt8](data)) } catch let e as FormatError {
            throw FormatError(message: "\(path): \(e.message)")
        }
    }

    public static func decode(_ bytes: [UInt8]) throws -> Int8Tensor {
        let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]
        guard bytes.count >= 10, Array(bytes[0..<6]) == magic else {
            throw FormatError(message: "not a NumPy .npy file (bad magic)")
        }
        let major = bytes[6]
        let headerLength: Int
        let headerStart: Int
        switch major {
        case 1:
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            headerStart = 10
        case 2, 3:
            guard bytes.count >= 12 else { throw FormatError(message: "truncated header") }
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
            headerStart = 12
        default: throw FormatError(message: "unsupported .npy version \(major)")
        }
        guard headerStart + headerLength <= bytes.count,
            let header = String(bytes: bytes[headerStart..<(headerStart + headerLength)], encoding: .utf8)
        else {
            throw FormatError(message: "truncated or unreadable header")
        }
        guard let descr = value(of: "descr", in: header)?.trimmingCharacters(in: CharacterSet(charactersIn: "'\" "))
        else {
            throw FormatError(message: "header has no descr")
        }
        guard descr == "|i1" || descr == "i1" || descr == "|u1" || descr == "u1" else {
            throw FormatError(message: "dtype \(descr) is not int8 (save with numpy's astype(np.int8))")
        }
        if let fortran = value(of: "fortran_order", in: header), fortran.contains("True") {
            throw FormatError(message: "Fortran-order arrays are not supported (use np.ascontiguousarray)")
        }
        guard let shapeText = value(of: "shape", in: header) else { throw FormatError(message: "header has no shape") }
        let dims = shapeText.trimmingCharacters(in: CharacterSet(charactersIn: "() "))
            .split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        var shape: [Int] = []
        for d in dims {
            guard let v = Int(d), v >= 0 else { throw FormatError(message: "bad shape \(shapeText)") }
            shape.append(v)
        }
        let count = shape.reduce(1, *)
        let start = headerStart + headerLength
        guard bytes.count - start == count else {
            throw FormatError(message: "holds \(bytes.count - start) data bytes, shape \(shape) needs \(count)")
        }
        return Int8Tensor(shape: shape, data: bytes[start...].map { Int8(bitPattern: $0) })
    }

    /// The text of `'key': value` in a header dict, up to the next top-level comma.
    private static func value(of key: String, in header: String) -> String? {
        guard let range = header.range(of: "'\(key)':") ?? header.range(of: "\"\(key)\":") else { return nil }
        var depth = 0
        var out = ""
        for ch in header[range.upperBound...] {
            if ch == "(" { depth += 1 }
            if ch == ")" { depth -= 1 }
            if (ch == "," && depth == 0) || ch == "}" { break }
            out.append(ch)
        }
        return out.trimmingCharacters(in: .whitespaces)
    }

    public static func encode(_ t: Int8Tensor) -> [UInt8] {
        let shape =
            t.shape.count == 1 ? "(\(t.shape[0]),)" : "(" + t.shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '|i1', 'fortran_order': False, 'shape': \(shape), }"
        let total = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - total % 64) % 64) + "\n"
        var bytes: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0]
        let length = header.utf8.count
        bytes += [UInt8(length & 0xFF), UInt8(length >> 8)]
        bytes += Array(header.utf8)
        bytes += t.data.map { UInt8(bitPattern: $0) }
        return bytes
    }

    public static func write(_ t: Int8Tensor, path: String) throws {
        let url = URL(fileURLWithPath: path)
        do { try Data(encode(t)).write(to: url, options: .atomic) } catch {
            throw FormatError(message: "\(path): cannot write: \(error.localizedDescription)")
        }
    }
}
