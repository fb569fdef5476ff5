import Foundation
import Testing

@testable import VTA

@Suite struct NPYTests {
    @Test func roundTrip() throws {
        let t = Int8Tensor.random(shape: [1, 16, 5, 7], seed: 5)
        #expect(try NPY.decode(NPY.encode(t)) == t)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("vtafarm-npy-\(getpid()).npy").path
        try NPY.write(t, path: path)
        #expect(try NPY.read(path: path) == t)
        try? FileManager.default.removeItem(atPath: path)
    }

    @Test func headerIsWhatNumpyWrites() {
        let bytes = NPY.encode(Int8Tensor(zeros: [2, 3]))
        #expect((10 + Int(bytes[8])) % 64 == 0)
        let header = String(decoding: bytes[10..<(10 + Int(bytes[8]))], as: UTF8.self)
        #expect(header.hasPrefix("{'descr': '|i1', 'fortran_order': False, 'shape': (2, 3), }"))
    }

    @Test func rejectsWhatItCannotRead() {
        var f32 = NPY.encode(Int8Tensor(zeros: [4]))
        let header = String(decoding: f32[10..<(10 + Int(f32[8]))], as: UTF8.self).replacingOccurrences(
            of: "|i1", with: "<f4")
        f32 = Array(f32[0..<10]) + Array(header.utf8) + Array(f32[(10 + Int(f32[8]))...])
        #expect(throws: NPY.FormatError.self) { try NPY.decode(f32) }
        #expect(throws: NPY.FormatError.self) { try NPY.decode(Array("not numpy at all".utf8)) }
        var truncated = NPY.encode(Int8Tensor(zeros: [4, 4]))
        truncated.removeLast(3)
        #expect(throws: NPY.FormatError.self) { try NPY.decode(truncated) }
    }
}
