import Foundation

#if FUZZING
    /// libFuzzer's driver, from the -sanitize=fuzzer runtime Scripts/fuzz links in.
    @_silgen_name("LLVMFuzzerRunDriver")
    func runFuzzerDriver(
        _ argc: UnsafeMutablePointer<CInt>,
        _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
        _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
    ) -> CInt

    /// What libFuzzer calls with each input (its runtime needs the symbol even with our own main).
    @_cdecl("LLVMFuzzerTestOneInput")
    public func fuzzOne(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
        let target = FuzzTargets.named(ProcessInfo.processInfo.environment["VTAFARM_FUZZ_TARGET"] ?? "") ?? { _ in }
        target(count > 0 && start != nil ? Array(UnsafeBufferPointer(start: start, count: count)) : [])
        return 0
    }

    /// The fuzzing build's entry: libFuzzer drives the target VTAFARM_FUZZ_TARGET names.
    @main
    struct Fuzz {
        static func main() {
            guard let name = ProcessInfo.processInfo.environment["VTAFARM_FUZZ_TARGET"], FuzzTargets.named(name) != nil
            else {
                FileHandle.standardError.write(Data("set VTAFARM_FUZZ_TARGET to envelope or program\n".utf8))
                exit(64)
            }
            var argc = CommandLine.argc
            var argv = CommandLine.unsafeArgv
            exit(runFuzzerDriver(&argc, &argv) { start, count in fuzzOne(start, count) })
        }
    }
#else
    /// Replays a corpus: `vtafarm-fuzz TARGET FILE_OR_DIR...` runs every input through the target
    /// (what Scripts/test does with the regression inputs under Tests/Fuzz), so a crash found once
    /// stays fixed without a fuzzing build.
    @main
    struct Replay {
        static func main() {
            let args = Array(CommandLine.arguments.dropFirst())
            if args.count == 2 && args[0] == "write-envelope-seeds" {
                for (i, seed) in EnvelopeSeeds.all.enumerated() {
                    FileManager.default.createFile(atPath: "\(args[1])/seed-\(i)", contents: Data(seed))
                }
                print("wrote \(EnvelopeSeeds.all.count) seeds to \(args[1])")
                return
            }
            guard let name = args.first, let target = FuzzTargets.named(name), args.count > 1 else {
                FileHandle.standardError.write(Data("usage: vtafarm-fuzz envelope|program FILE_OR_DIR...\n".utf8))
                exit(64)
            }
            var files: [String] = []
            for path in args.dropFirst() {
                var isDir: ObjCBool = false
                guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
                    FileHandle.standardError.write(Data("vtafarm-fuzz: \(path): no such file\n".utf8))
                    exit(1)
                }
                if isDir.boolValue {
                    let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
                    files += names.sorted().map { "\(path)/\($0)" }
                } else {
                    files.append(path)
                }
            }
            for file in files { target([UInt8](FileManager.default.contents(atPath: file) ?? Data())) }
            print("vtafarm-fuzz \(name): \(files.count) inputs replayed")
        }
    }
#endif
