import Foundation
import Testing
import Wire

@testable import Coordinator

/// The tracker's rules driven directly: no sockets, a clock of the test's own.
struct TrackerStateTests {
    let t0 = ContinuousClock.now
    let runnerPeer: TrackerPeer = [1]
    let coordinator: TrackerPeer = [9]

    func info(
        _ name: String, pool: String = RunnerInfo.defaultPool, instance: UInt64 = 1, port: Int = 7600
    ) -> RunnerInfo {
        RunnerInfo(
            name: name, endpoint: "tcp://127.0.0.1:\(port)", slots: 2, backends: ["vta-sim"], simulatorVersion: "t",
            pool: pool, instanceID: instance)
    }

    func events(_ sends: [TrackerSend], to peer: TrackerPeer) -> [String] {
        sends.compactMap {
            guard $0.peer == peer, case .poolEvent(let e) = $0.message else { return nil }
            return e.kind == .joined ? "+\(e.runner.name)" : "-\(e.runner.name):\(e.reason?.rawValue ?? "")"
        }
    }

    func ack(_ sends: [TrackerSend]) -> TrackerAck? {
        for s in sends { if case .trackerAck(let a) = s.message { return a } }
        return nil
    }

    func refusal(_ sends: [TrackerSend]) -> String? {
        for s in sends { if case .error(let e) = s.message, e.code == .badRequest { return e.message } }
        return nil
    }

    @Test func registerSubscribeAndEvents() {
        var s = TrackerState()
        _ = s.received(.register(info("a")), from: runnerPeer, now: t0)
        let sub = s.received(.subscribe(pool: "", coordinator: "c"), from: coordinator, now: t0)
        guard case .poolListing(let listing) = sub.first?.message else {
            Issue.record("no listing: \(sub)")
            return
        }
        #expect(listing.runners.map(\.name) == ["a"] && listing.heartbeatIntervalMs == 1000)
        let joined = s.received(.register(info("b", port: 7601)), from: [2], now: t0)
        #expect(ack(joined)?.known == true)
        #expect(events(joined, to: coordinator) == ["+b"])
        // A re-registration of the same process is no event; a new process under the name is.
        #expect(events(s.received(.register(info("b", port: 7601)), from: [2], now: t0), to: coordinator).isEmpty)
        let replaced = s.received(.register(info("b", instance: 2, port: 7601)), from: [2], now: t0)
        #expect(events(replaced, to: coordinator) == ["-b:replaced", "+b"])
        let left = s.received(.deregister(name: "b", instanceID: 2), from: [2], now: t0)
        #expect(events(left, to: coordinator) == ["-b:deregistered"])
        // A deregistration naming another process is ignored.
        #expect(s.received(.deregister(name: "a", instanceID: 99), from: [3], now: t0).isEmpty)
        #expect(s.listing(pool: nil).map(\.name) == ["a"])
    }

    @Test func poolsFilterListingsAndEvents() {
        var s = TrackerState()
        let zcu: TrackerPeer = [7]
        _ = s.received(.subscribe(pool: "zcu104", coordinator: "z"), from: zcu, now: t0)
        _ = s.received(.subscribe(pool: "", coordinator: "all"), from: coordinator, now: t0)
        let a = s.received(.register(info("a", pool: "zcu104")), from: [1], now: t0)
        let b = s.received(.register(info("b", pool: "pynq", port: 7601)), from: [2], now: t0)
        #expect(events(a, to: zcu) == ["+a"] && events(b, to: zcu).isEmpty)
        #expect(events(b, to: coordinator) == ["+b"])
        #expect(s.listing(pool: "pynq").map(\.name) == ["b"])
        let q = s.received(.query(pool: "zcu104"), from: [5], now: t0)
        if case .poolListing(let l) = q.first?.message {
            #expect(l.runners.map(\.name) == ["a"])
        } else {
            Issue.record("no listing: \(q)")
        }
    }

    @Test func heartbeatsKeepRunnersAndSilenceExpiresThem() {
        var s = TrackerState()
        _ = s.received(.subscribe(pool: "", coordinator: "c"), from: coordinator, now: t0)
        _ = s.received(.register(info("a")), from: runnerPeer, now: t0)
        _ = s.received(.register(info("b", port: 7601)), from: [2], now: t0)
        for t in 1...5 {
            let now = t0 + .seconds(t)
            let hb = s.received(
                .heartbeat(Heartbeat(name: "a", instanceID: 1, busySlots: 2, queueDepth: 5)), from: runnerPeer, now: now
            )
            #expect(ack(hb)?.known == true)
            _ = s.received(.ping(nonce: UInt64(t)), from: coordinator, now: now)  // the subscriber stays
            let expired = events(s.tick(now: now), to: coordinator)
            #expect(expired == (t == 4 ? ["-b:expired"] : []), "at \(t) s")
        }
        #expect(s.listing(pool: nil).map(\.name) == ["a"])
        #expect(s.listing(pool: nil).first?.busySlots == 2 && s.listing(pool: nil).first?.queueDepth == 5)
        // After expiry (or a tracker restart), a heartbeat is answered "unknown": register again.
        let hb = s.received(.heartbeat(Heartbeat(name: "b", instanceID: 1)), from: [2], now: t0 + .seconds(5))
        #expect(ack(hb)?.known == false)
        // A subscriber that stops renewing gets no events.
        _ = s.tick(now: t0 + .seconds(9))
        #expect(s.subscriberCount == 0)
        #expect(
            events(s.received(.register(info("c", port: 7602)), from: [3], now: t0 + .seconds(9)), to: coordinator)
                .isEmpty)
    }

    @Test func hostileRegistrationsAreRefusedWithTheReason() {
        var s = TrackerState()
        func refused(_ r: RunnerInfo) -> String? {
            s.received(.register(r), from: runnerPeer, now: t0).first.flatMap { refusal([$0]) }
        }
        var r = info("a")
        r.name = String(repeating: "x", count: 129)
        #expect(refused(r)?.contains("at most 128") == true)
        r = info("")
        #expect(refused(r)?.contains("no name") == true)
        r = info("a\u{7}")
        #expect(refused(r)?.contains("control") == true)
        for endpoint in ["tcp://*:7600", "tcp://h", "ipc:///x", "tcp://h:0", "tcp://h:70000", "tcp://:5"] {
            r = info("a")
            r.endpoint = endpoint
            #expect(refused(r)?.contains("endpoint") == true, "\(endpoint)")
        }
        r = info("a")
        r.slots = 0
        #expect(refused(r)?.contains("slots 0") == true)
        r.slots = 5000
        #expect(refused(r)?.contains("slots 5000") == true)
        r = info("a")
        r.backends = Array(repeating: "x", count: 17)
        #expect(refused(r)?.contains("17 backends") == true)
        r = info("a")
        r.curvePublicKey = [1, 2, 3]
        #expect(refused(r)?.contains("3 bytes") == true)
        r = info("a", pool: "a b")
        #expect(refused(r)?.contains("pool") == true)
        r = info("a", instance: 0)
        #expect(refused(r)?.contains("instance id 0") == true)
        #expect(s.listing(pool: nil).isEmpty)
        // Messages a tracker does not take are refused, never trapped on.
        let hello = s.received(.hello(Hello(coordinator: "x")), from: coordinator, now: t0)
        #expect(refusal(hello)?.contains("Hello is not a message for a tracker") == true)
        #expect(refusal(s.received(.subscribe(pool: "bad pool", coordinator: ""), from: coordinator, now: t0)) != nil)
    }

    @Test func runnersAndSubscribersAreCapped() {
        var limits = TrackerLimits()
        limits.maxRunners = 2
        limits.maxSubscribers = 1
        var s = TrackerState(limits: limits)
        for i in 0..<2 { _ = s.received(.register(info("r\(i)", port: 7600 + i)), from: [UInt8(i)], now: t0) }
        let third = s.received(.register(info("r2", port: 7602)), from: [2], now: t0)
        #expect(refusal(third)?.contains("limit of 2 runners") == true)
        // A known runner still re-registers at the cap.
        #expect(ack(s.received(.register(info("r0", instance: 5)), from: [0], now: t0))?.known == true)
        _ = s.received(.subscribe(pool: "", coordinator: ""), from: [8], now: t0)
        #expect(
            refusal(s.received(.subscribe(pool: "", coordinator: ""), from: [9], now: t0))?.contains("1 subscribers")
                == true)
        #expect(refusal(s.received(.subscribe(pool: "", coordinator: ""), from: [8], now: t0)) == nil)  // a renewal
        #expect(s.listing(pool: nil).count == 2)
    }
}
