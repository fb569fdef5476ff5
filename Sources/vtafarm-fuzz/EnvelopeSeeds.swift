import VTA
import Wire

/// One encoded message of every kind, the fuzzer's starting points (`write-envelope-seeds DIR`).
enum EnvelopeSeeds {
    static var all: [[UInt8]] {
        var hw = HardwareConfig.stock
        hw.axiWidth = 128
        let messages: [Message] = [
            .hello(Hello(coordinator: "tune resnet18")),
            .welcome(Welcome(runner: "box-1", slots: 8, backends: ["delay", "vta-sim"], simulatorVersion: "v1")),
            .measureRequest(
                MeasureRequest(
                    requestID: 7, task: "resnet18/C2",
                    workload: .conv2d(h: 56, w: 56, ci: 64, co: 64, k: 3, s: 1, p: 1),
                    hardware: hw, schedule: Schedule(tileH: 28, tileW: 8, tileCO: 2, hThreads: 2, ocThreads: 2),
                    backend: "vta-sim", timeoutMs: 1500, verify: true, dataSeed: 3)),
            .measureRequest(
                MeasureRequest(requestID: 8, workload: .dense(n: 1, ci: 512, co: 1024), schedule: Schedule())),
            .measureResult(
                MeasureResult(requestID: 7, status: .ok, cycles: 123_456, wallSeconds: 0.01, runner: "box-1")),
            .ping(nonce: 99), .pong(Pong(nonce: 99, slots: 4, busySlots: 3, queueDepth: 17)),
            .error(WireError(code: .tooLarge, message: "big", requestID: 5)),
        ]
        return messages.map { Codec.encode($0) }
    }
}
