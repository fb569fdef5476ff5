import Foundation

/// A program directory's problem: a clear sentence naming the file, region, instruction or field.
public struct ProgramError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// A program loaded from (or about to be written to) a directory: the decoded program, the DRAM
/// image it starts from, and the expected output when the directory has one.
public struct ProgramDirectory: Sendable {
    public var manifest: ProgramManifest
    public var program: Program
    /// The initial DRAM image: every region's file at its base, zeros elsewhere.
    public var dram: [UInt8]
    /// The expected bytes of the out region (out.bin), if present.
    public var expectedOutput: [UInt8]?

    public var spec: HardwareSpec { program.spec }

    static let regionTypes: [String: DRAMRegion.Name] = [
        "insn": .insn, "uop": .uop, "inp": .inp, "wgt": .wgt, "acc": .acc, "out": .out,
    ]

    // MARK: export

    /// Writes `program` as a directory. `initial` is the DRAM image before the run, `final` the
    /// image after a functional run (its out region becomes out.bin, the expected output).
    public static func write(
        _ program: Program, to directory: String, initial: [UInt8], final: [UInt8],
        shift: Int?, simulated: SimulationResult?
    ) throws {
        let fm = FileManager.default
        do {
            try fm.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw ProgramError("\(directory): cannot create the directory: \(error.localizedDescription)")
        }
        var regions: [ProgramManifest.Region] = []
        for r in program.regions {
            let file = "\(r.name.rawValue).bin"
            let source = r.name == .out ? final : initial
            let bytes = Data(source[r.base..<(r.base + r.bytes)])
            do {
                try bytes.write(to: URL(fileURLWithPath: directory).appendingPathComponent(file), options: .atomic)
            } catch {
                throw ProgramError("\(directory)/\(file): cannot write: \(error.localizedDescription)")
            }
            regions.append(
                .init(
                    name: r.name.rawValue, file: file, base: r.base, elementBytes: r.elementBytes, elements: r.elements)
            )
        }
        var manifest = ProgramManifest(
            hardware: program.spec.config, instructions: program.instructions.count, regions: regions)
        manifest.workload = program.workload?.description
        manifest.schedule = program.schedule?.description
        manifest.shift = shift
        if let simulated { manifest.simulated = .init(cycles: simulated.cycles, counters: simulated.counters) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        do {
            try encoder.encode(manifest).write(
                to: URL(fileURLWithPath: directory).appendingPathComponent("program.json"), options: .atomic)
        } catch {
            throw ProgramError("\(directory)/program.json: cannot write: \(error.localizedDescription)")
        }
    }

    // MARK: import

    /// Reads and validates a program directory. Hardware keys in `overrides` (memory-system keys
    /// only: AXI_WIDTH, MAX_BURST, CLOCK_MHZ, DRAM_LATENCY) replace the manifest's.
    /// Why a region's `file` entry would read something outside the program directory, or nil. A
    /// program directory comes from elsewhere, so its manifest must not make vtafarm read (and
    /// report the size of) `/etc/...` or `../../secret`: absolute paths, `..` components and
    /// symlinks resolving outside the directory are refused.
    static func escapes(_ file: String, from directory: URL) -> String? {
        if file.isEmpty { return "is empty" }
        if file.hasPrefix("/") { return "is an absolute path; files must lie inside the program directory" }
        if file.split(separator: "/").contains("..") {
            return "has a '..' component; files must lie inside the program directory"
        }
        let root = directory.resolvingSymlinksInPath().standardizedFileURL.path
        let target = directory.appendingPathComponent(file).resolvingSymlinksInPath().standardizedFileURL.path
        if !target.hasPrefix(root.hasSuffix("/") ? root : root + "/") {
            return "resolves to \(target), outside the program directory"
        }
        return nil
    }

    public static func load(_ directory: String, overrides: [String] = []) throws -> ProgramDirectory {
        let url = URL(fileURLWithPath: directory)
        let manifestPath = url.appendingPathComponent("program.json").path
        guard let data = FileManager.default.contents(atPath: manifestPath) else {
            throw ProgramError("\(directory): no readable program.json")
        }
        let manifest: ProgramManifest
        do { manifest = try JSONDecoder().decode(ProgramManifest.self, from: data) } catch {
            throw ProgramError("\(manifestPath): \(Self.describe(error))")
        }
        guard manifest.format == ProgramManifest.formatName else {
            throw ProgramError(
                "\(manifestPath): format is '\(manifest.format)', expected '\(ProgramManifest.formatName)'")
        }
        guard manifest.version == ProgramManifest.currentVersion else {
            throw ProgramError(
                "\(manifestPath): version \(manifest.version) is not supported (this vtafarm reads version \(ProgramManifest.currentVersion))"
            )
        }
        var config: HardwareConfig
        do {
            config = try HardwareConfig(values: manifest.hardware)
            for assignment in overrides {
                for item in assignment.split(separator: ",") {
                    let key =
                        item.split(separator: "=").first.map { $0.trimmingCharacters(in: .whitespaces).uppercased() }
                        ?? ""
                    guard ["AXI_WIDTH", "MAX_BURST", "CLOCK_MHZ", "DRAM_LATENCY"].contains(key) else {
                        throw ProgramError(
                            "--hw-set \(key): only AXI_WIDTH, MAX_BURST, CLOCK_MHZ and DRAM_LATENCY can change for an existing program (other keys change how its bits are read)"
                        )
                    }
                }
                try config.apply(assignments: assignment)
            }
        } catch let e as HardwareConfigError {
            throw ProgramError("\(manifestPath): hardware: \(e.key): \(e.message)")
        }
        let spec = HardwareSpec(config)
        if let reason = spec.invalidReason {
            throw ProgramError("\(manifestPath): hardware: \(reason)")
        }

        // Regions: known names, right element sizes, aligned, not overlapping, files of the right size.
        var regions: [DRAMRegion] = []
        var files: [(DRAMRegion, String)] = []
        for r in manifest.regions {
            guard let name = regionTypes[r.name] else {
                throw ProgramError("\(manifestPath): region '\(r.name)' is not one of insn, uop, inp, wgt, acc, out")
            }
            guard !regions.contains(where: { $0.name == name }) else {
                throw ProgramError("\(manifestPath): region '\(r.name)' appears twice")
            }
            let expectedBytes = name == .insn ? HardwareSpec.instructionBytes : spec.elementBytes(Self.memoryType(name))
            guard r.elementBytes == expectedBytes else {
                throw ProgramError(
                    "\(manifestPath): region '\(r.name)': element_bytes \(r.elementBytes), but this hardware's \(r.name) elements are \(expectedBytes) bytes"
                )
            }
            guard r.elements >= 0, r.elements <= 1 << 30, r.base >= 0, r.base <= 1 << 40 else {
                throw ProgramError(
                    "\(manifestPath): region '\(r.name)': base \(r.base) or elements \(r.elements) out of range")
            }
            guard r.base % r.elementBytes == 0 else {
                throw ProgramError(
                    "\(manifestPath): region '\(r.name)': base \(r.base) is not a multiple of its \(r.elementBytes)-byte elements, so base | (dram_base << log2(element bytes)) would not address it"
                )
            }
            let region = DRAMRegion(name: name, base: r.base, elementBytes: r.elementBytes, elements: r.elements)
            if let other = regions.first(where: {
                $0.base < region.base + region.bytes && region.base < $0.base + $0.bytes
            }) {
                throw ProgramError("\(manifestPath): regions '\(r.name)' and '\(other.name.rawValue)' overlap")
            }
            regions.append(region)
            if let file = r.file {
                if let problem = Self.escapes(file, from: url) {
                    throw ProgramError("\(manifestPath): region '\(r.name)': file '\(file)' \(problem)")
                }
                files.append((region, file))
            }
        }
        guard let insnRegion = regions.first(where: { $0.name == .insn }), files.contains(where: { $0.0.name == .insn })
        else {
            throw ProgramError("\(manifestPath): no 'insn' region with a file")
        }
        guard manifest.instructions == insnRegion.elements else {
            throw ProgramError(
                "\(manifestPath): instructions is \(manifest.instructions) but the insn region holds \(insnRegion.elements)"
            )
        }
        let size = regions.map { $0.base + $0.bytes }.max() ?? 0
        guard size <= 1 << 32 else {
            throw ProgramError("\(manifestPath): the DRAM image would be \(size) bytes, more than 4 GiB")
        }
        var dram = [UInt8](repeating: 0, count: size)
        var expected: [UInt8]? = nil
        for (region, file) in files {
            let path = url.appendingPathComponent(file).path
            guard let bytes = FileManager.default.contents(atPath: path) else {
                throw ProgramError("\(path): cannot read the file named by region '\(region.name.rawValue)'")
            }
            guard bytes.count == region.bytes else {
                throw ProgramError(
                    "\(path): \(bytes.count) bytes, but region '\(region.name.rawValue)' is \(region.elements) x \(region.elementBytes) = \(region.bytes) bytes"
                )
            }
            if region.name == .out {
                expected = [UInt8](bytes)  // the expected result; the run starts from zeros
            } else {
                dram.replaceSubrange(region.base..<(region.base + region.bytes), with: bytes)
            }
        }

        var instructions: [Instruction] = []
        instructions.reserveCapacity(insnRegion.elements)
        for k in 0..<insnRegion.elements {
            let at = insnRegion.base + 16 * k
            do {
                instructions.append(try spec.decode(EncodedInstruction(bytes: dram[at..<(at + 16)])))
            } catch let e as ISAError {
                throw ProgramError("instruction \(k): \(e.field): \(e.message)")
            }
        }
        let workload = manifest.workload.flatMap { try? Workload(parsing: $0) }
        let schedule = manifest.schedule.flatMap { try? Schedule(parsing: $0) }
        var uops: [Uop] = []
        if let uopRegion = regions.first(where: { $0.name == .uop }) {
            for k in 0..<uopRegion.elements {
                let at = uopRegion.base + 4 * k
                let word =
                    UInt32(dram[at]) | UInt32(dram[at + 1]) << 8 | UInt32(dram[at + 2]) << 16 | UInt32(dram[at + 3])
                    << 24
                uops.append(spec.decode(uop: word))
            }
        }
        let program = Program(
            spec: spec, instructions: instructions, uops: uops, regions: regions,
            workload: workload, schedule: schedule)
        try ProgramValidator(program: program, dram: dram).validate()
        return ProgramDirectory(manifest: manifest, program: program, dram: dram, expectedOutput: expected)
    }

    static func memoryType(_ name: DRAMRegion.Name) -> MemoryType {
        switch name {
        case .insn, .uop: return .uop
        case .inp: return .inp
        case .wgt: return .wgt
        case .acc: return .acc
        case .out: return .out
        }
    }

    static func describe(_ error: Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, _): return "missing field '\(key.stringValue)'"
        case DecodingError.typeMismatch(_, let ctx), DecodingError.valueNotFound(_, let ctx):
            return
                "field \(ctx.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")): \(ctx.debugDescription)"
        case DecodingError.dataCorrupted(let ctx): return "not valid JSON (\(ctx.debugDescription))"
        default: return "\(error)"
        }
    }

    // MARK: running

    /// The outcome of running an imported program: the simulation, and how the output compares.
    public struct Run: Sendable {
        public var result: SimulationResult
        /// nil when there is no out.bin to compare with; otherwise nil mismatch means equal.
        public var compared: Bool
        public var mismatch: String?
        public var finalDRAM: [UInt8]
    }

    /// Timing and functional simulation; compares the out region with out.bin when present.
    public func run(timing: TimingParameters = .tsim, cycleLimit: Int = 1 << 40) -> Run {
        var simulator = Simulator(spec: spec, timing: timing)
        simulator.cycleLimit = cycleLimit
        let machine = FunctionalMachine(spec: spec, dram: dram)
        let result = simulator.run(program, machine: machine)
        var mismatch: String? = nil
        if result.status == .ok, let expected = expectedOutput, let out = program.region(.out) {
            let got = machine.dram[out.base..<(out.base + out.bytes)]
            if let i = zip(expected.indices, got.indices).first(where: { expected[$0.0] != got[$0.1] })?.0 {
                let element = i / out.elementBytes
                let lane = i % out.elementBytes
                mismatch =
                    "out element \(element) byte \(lane): expected \(Int8(bitPattern: expected[i])), got \(Int8(bitPattern: got[got.startIndex + i]))"
            }
        }
        return Run(result: result, compared: expectedOutput != nil, mismatch: mismatch, finalDRAM: machine.dram)
    }
}
