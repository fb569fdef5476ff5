import Coordinator
import Foundation
import VTA
import Wire

/// Helpers the farm test targets (Runner, Coordinator) share.

/// The vtafarm binary the tests start runners from: $VTAFARM_BIN, or the debug build of this
/// package (Scripts/test builds it before running the tests).
public let vtafarmBinary: String = {
    if let path = ProcessInfo.processInfo.environment["VTAFARM_BIN"] { return path }
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    return root.appendingPathComponent(".build/debug/vtafarm").path
}()

/// Writes `key` (Z85) to DIR/NAME as a key file readable by its owner only, as `vtafarm keys
/// generate` does; returns the path.
public func writeKey(_ dir: String, _ name: String, _ key: String) -> String {
    let path = dir + "/" + name
    FileManager.default.createFile(
        atPath: path, contents: Data("\(key)\n".utf8), attributes: [.posixPermissions: 0o600])
    return path
}

public let smallConv = Workload.conv2d(h: 8, w: 8, ci: 32, co: 32, k: 3, s: 1, p: 1)

/// Requests with distinct ids over a small space of schedules (some invalid).
public func requests(_ n: Int, from start: UInt64 = 1, backend: String = "", timeoutMs: UInt32 = 0) -> [MeasureRequest]
{
    let space = ScheduleSpace(workload: smallConv, spec: HardwareSpec(.stock))
    return (0..<n).map { i in
        MeasureRequest(
            requestID: start + UInt64(i), task: "test/conv", workload: smallConv,
            schedule: space.schedule(at: i % space.size), backend: backend, timeoutMs: timeoutMs)
    }
}

public func dispatcherOptions(lostAfter: Int = 3, unreachableAfter: Duration = .seconds(10)) -> DispatcherOptions {
    var o = DispatcherOptions()
    o.pingInterval = .milliseconds(250)
    o.lostAfterIntervals = lostAfter
    o.unreachableAfter = unreachableAfter
    o.coordinatorName = "FarmTests"
    return o
}

public func temporaryFile(_ name: String, _ contents: String, executable: Bool = false) -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("vtafarm-\(getpid())-\(name)").path
    FileManager.default.createFile(
        atPath: path, contents: Data(contents.utf8), attributes: executable ? [.posixPermissions: 0o755] : nil)
    return path
}
