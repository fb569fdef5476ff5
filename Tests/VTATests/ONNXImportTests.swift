import Foundation
import Testing

@testable import VTA

/// The ONNX importer on the onnx package's light networks (real exports, weights replaced by
/// ConstantOfShape) and on graphs built with onnx.helper by Tests/Fixtures/onnx/make_models.py.
/// Both come through python3 with onnx installed (Scripts/setup does it).
@Suite struct ONNXImportTests {
    /// The onnx package's directory and the graphs make_models.py wrote, found once.
    static let fixtures: (light: String, made: String)? = {
        func python(_ args: [String]) -> String? {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = ["python3"] + args
            let out = Pipe()
            p.standardOutput = out
            p.standardError = FileHandle.nullDevice
            guard (try? p.run()) != nil else { return nil }
            let data = out.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            guard p.terminationStatus == 0 else { return nil }
            return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let made = FileManager.default.temporaryDirectory.appendingPathComponent("vtafarm-onnx-\(getpid())").path
        try? FileManager.default.createDirectory(atPath: made, withIntermediateDirectories: true)
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/onnx/make_models.py").path
        guard let onnx = python([script, made]) else { return nil }
        return (onnx + "/backend/test/data/light", made)
    }()

    func light(_ name: String) throws -> String {
        let dirs = try #require(Self.fixtures, "python3 with the onnx package is needed: run Scripts/setup")
        return "\(dirs.light)/light_\(name).onnx"
    }

    func made(_ name: String) throws -> String {
        let dirs = try #require(Self.fixtures, "python3 with the onnx package is needed: run Scripts/setup")
        return "\(dirs.made)/\(name).onnx"
    }

    func shapes(_ m: Model) -> [String] { m.layers.map { "\($0.workload) x\($0.count)" } }

    func cpuReasons(_ i: ONNXImport) -> [String: String] {
        var out: [String: String] = [:]
        for n in i.nodes { if case .cpu(let reason) = n.placement { out[n.node] = reason } }
        return out
    }

    @Test func lightResNet50IsTheZoosResNet50() throws {
        let i = try ONNXImport(contentsOf: try light("resnet50"))
        #expect(i.model.name == "light_resnet50")
        #expect(shapes(i.model) == shapes(ModelZoo.model(named: "resnet50")!))
        #expect(i.nodes.count == 54)
        let cpu = cpuReasons(i)
        #expect(cpu.count == 2)
        #expect(cpu.values.contains { $0.contains("3 input channels") })
        #expect(cpu.values.contains { $0.contains("CO=1000 is not a multiple of BLOCK_OUT=16") })
        #expect(i.otherOps["BatchNormalization"] == 53 && i.otherOps["ConstantOfShape"] == 239)
    }

    /// VGG-19 has VGG-16's conv shapes with one more conv in stages 3-5, and two packable FC layers.
    @Test func lightVGG19HasVGG16sShapes() throws {
        let i = try ONNXImport(contentsOf: try light("vgg19"))
        let zoo = ModelZoo.model(named: "vgg16")!
        let convs = i.model.layers.filter { $0.workload.kind == .conv2d }
        #expect(convs.map(\.workload) == zoo.layers.map(\.workload))
        #expect(convs.map(\.count) == [1, 1, 1, 1, 3, 1, 3, 4])
        #expect(
            i.model.layers.filter { $0.workload.kind == .dense }.map(\.workload) == [
                .dense(ci: 25088, co: 4096), .dense(ci: 4096, co: 4096),
            ])
    }

    @Test func alexNetsGroupedConvsStayOnTheCPU() throws {
        let i = try ONNXImport(contentsOf: try light("bvlc_alexnet"))
        let reasons = i.nodes.compactMap { n -> String? in
            if case .cpu(let r) = n.placement { return r } else { return nil }
        }
        #expect(reasons.filter { $0 == "grouped convolution (group 2)" }.count == 3)
        // 224 -> conv1 11x11/4 54 -> pool 3x3/2 26 -> conv2 26 -> pool 12 (conv3 runs at 12x12); the last
        // pool's pads [0,0,1,1] make 12 -> 6, so the flatten feeds 256 x 6 x 6 = 9216 to fc6.
        #expect(
            i.model.layers.map(\.workload) == [
                .conv2d(h: 12, w: 12, ci: 256, co: 384, k: 3, s: 1, p: 1), .dense(ci: 9216, co: 4096),
                .dense(ci: 4096, co: 4096),
            ])
    }

    @Test func resNet18BuiltWithOnnxHelperIsTheZoosResNet18() throws {
        let i = try ONNXImport(contentsOf: try made("resnet18"))
        #expect(shapes(i.model) == shapes(ModelZoo.model(named: "resnet18")!))
        #expect(cpuReasons(i).keys.sorted() == ["conv1", "fc"])
    }

    @Test func inconsistentGraphsNameTheNode() throws {
        #expect {
            try ONNXImport(contentsOf: try made("bad_channels"))
        } throws: {
            "\($0)".contains("node 'bad_conv' (Conv)") && "\($0)".contains("disagree on the channels")
        }
        #expect {
            try ONNXImport(contentsOf: try made("dangling"))
        } throws: {
            "\($0)".contains("node 'lost_relu' (Relu): input 'nowhere'")
        }
        #expect {
            try ONNXImport(contentsOf: try made("huge_group"))
        } throws: {
            "\($0)".contains("node 'huge_conv' (Conv): attribute group=-9223372036854775808 out of range")
        }
    }

    /// Every truncation of a real file, garbage and corrupted bytes give an error or a model,
    /// never a crash. Protobuf has no end marker, so a cut between the top-level fields after the
    /// graph (opset_import) still decodes: then it must give the whole file's model.
    @Test func hostileBytesAreErrorsNotCrashes() throws {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: try light("bvlc_alexnet"))))
        let whole = try ONNXImport(bytes: bytes, name: "cut").model
        var errors = 0
        for length in 0..<bytes.count {
            do {
                #expect(try ONNXImport(bytes: Array(bytes[..<length]), name: "cut").model == whole)
            } catch is WorkloadError { errors += 1 }
        }
        #expect(errors >= bytes.count - 16)
        #expect {
            try ONNXImport(bytes: Array("name: mynet\nlayers: []\n".utf8), name: "yaml")
        } throws: {
            "\($0)".contains("not") && "\($0)".contains("ONNX")
        }
        var rng = SplitMix64(seed: 16)
        for _ in 0..<2000 {
            var corrupt = bytes
            for _ in 0..<3 { corrupt[Int(rng.next() % UInt64(corrupt.count))] = UInt8(truncatingIfNeeded: rng.next()) }
            _ = try? ONNXImport(bytes: corrupt, name: "corrupt")
        }
        // A length prefix claiming more than the file holds.
        let huge: [UInt8] = [0x08, 0x07, 0x3a, 0xff, 0xff, 0xff, 0xff, 0x0f]
        #expect { try ONNXImport(bytes: huge, name: "huge") } throws: { "\($0)".contains("runs past the end") }
    }
}
