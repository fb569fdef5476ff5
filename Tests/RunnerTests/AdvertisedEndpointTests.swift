import Coordinator
import FarmTestSupport
import Foundation
import Logging
import Testing
import Wire

@testable import Runner

/// What a runner tells its tracker coordinators should dial. A wildcard bind used to advertise
/// the host name, which resolves to loopback where /etc/hosts maps it so (Debian's 127.0.1.1,
/// network namespaces sharing one name): coordinators elsewhere then dialled themselves.
@Suite struct AdvertisedEndpointTests {
    @Test func aWildcardBindAdvertisesTheAddressTheTrackerIsReachedFrom() {
        for wildcard in ["tcp://0.0.0.0:7600", "tcp://*:7600", "tcp://[::]:7600"] {
            #expect(
                TrackerLink.advertisedEndpoint(
                    bound: wildcard, advertise: nil, route: "10.1.2.3", hostName: "box")
                    == "tcp://10.1.2.3:7600")
            #expect(
                TrackerLink.advertisedEndpoint(bound: wildcard, advertise: nil, route: nil, hostName: "box")
                    == "tcp://box:7600")
        }
    }

    @Test func anExplicitAddressOrAdvertiseWins() {
        #expect(
            TrackerLink.advertisedEndpoint(
                bound: "tcp://192.168.1.5:7600", advertise: nil, route: "10.1.2.3", hostName: "box")
                == "tcp://192.168.1.5:7600")
        #expect(
            TrackerLink.advertisedEndpoint(
                bound: "tcp://0.0.0.0:7600", advertise: "head.lan", route: "10.1.2.3", hostName: "box")
                == "tcp://head.lan:7600")
        #expect(
            TrackerLink.advertisedEndpoint(
                bound: "tcp://0.0.0.0:7600", advertise: "head.lan:9000", route: "10.1.2.3", hostName: "box")
                == "tcp://head.lan:9000")
    }

    @Test func theRouteToALoopbackTrackerIsLoopback() {
        #expect(LocalRoute.sourceAddress(toward: "tcp://127.0.0.1:7500") == "127.0.0.1")
        #expect(LocalRoute.sourceAddress(toward: "tcp://localhost:7500") == "127.0.0.1")
    }

    @Test func noRouteAddressForWhatIsNotAnIPv4TCPEndpoint() {
        #expect(LocalRoute.sourceAddress(toward: "tcp://[::1]:7500") == nil)
        #expect(LocalRoute.sourceAddress(toward: "ipc:///tmp/x") == nil)
        #expect(LocalRoute.sourceAddress(toward: "tcp://127.0.0.1:notaport") == nil)
    }

    /// A runner started before its network is up has no route to the tracker and falls back to
    /// the host name; it looks for a route before each Register, so it registers at its address
    /// once there is one (and stops looking then).
    @Test func aRegistrationLooksForTheRouteUntilItFindsOne() throws {
        let tracker = try FarmProcess(["tracker", "--bind", "tcp://127.0.0.1:*", "--heartbeat-ms", "200"])
        var found: String? = nil
        var asked = 0
        let context = ZMQContext()  // outlives the socket: terminating it waits for open sockets
        let link = try TrackerLink(
            context: context, tracker: tracker.endpoint,
            info: RunnerInfo(name: "early", endpoint: "tcp://box:7600", slots: 1, instanceID: 7),
            logger: Logger(label: "test"),
            findEndpoint: {
                asked += 1
                return found
            })
        defer {
            link.socket.close()
            withExtendedLifetime(context) {}
        }
        link.tick(now: .now, busy: 0, queued: 0)  // no route yet: registers under the host name
        #expect(link.info.endpoint == "tcp://box:7600" && asked == 1)
        found = "tcp://127.0.0.1:7600"
        link.registered = false  // as when the tracker answers "unknown"
        link.tick(now: .now + .seconds(5), busy: 0, queued: 0)
        #expect(link.info.endpoint == "tcp://127.0.0.1:7600" && asked == 2)
        link.registered = false
        link.tick(now: .now + .seconds(10), busy: 0, queued: 0)
        #expect(asked == 2, "a settled endpoint is not looked up again")
        let deadline = Date().addingTimeInterval(5)
        var listed: [String] = []
        while Date() < deadline {
            link.receive()
            listed =
                (try? TrackerQuery.listing(tracker: tracker.endpoint, pool: nil, wait: .seconds(1)))?.runners.map(
                    \.endpoint) ?? []
            if listed == ["tcp://127.0.0.1:7600"] { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        #expect(listed == ["tcp://127.0.0.1:7600"], "\(tracker.log)")
    }

    /// A Register sent while the link was down waits in the socket and reaches the tracker when
    /// the link comes up: registered at the host-name fallback, the runner still looks for its
    /// route, and registers again at its address once it finds one.
    @Test func aRunnerRegisteredAtTheFallbackRegistersAgainAtItsRoute() throws {
        let tracker = try FarmProcess(["tracker", "--bind", "tcp://127.0.0.1:*", "--heartbeat-ms", "200"])
        var found: String? = nil
        let context = ZMQContext()
        let link = try TrackerLink(
            context: context, tracker: tracker.endpoint,
            info: RunnerInfo(name: "late", endpoint: "tcp://box:7600", slots: 1, instanceID: 8),
            logger: Logger(label: "test"), findEndpoint: { found })
        defer {
            link.socket.close()
            withExtendedLifetime(context) {}
        }
        func listed(_ want: String) -> [String] {
            let deadline = Date().addingTimeInterval(5)
            var endpoints: [String] = []
            var now = ContinuousClock.now
            while Date() < deadline {
                link.tick(now: now, busy: 0, queued: 0)
                now = now + .seconds(1)
                link.receive()
                endpoints =
                    (try? TrackerQuery.listing(tracker: tracker.endpoint, pool: nil, wait: .seconds(1)))?.runners.map(
                        \.endpoint) ?? []
                if endpoints == [want] { break }
                Thread.sleep(forTimeInterval: 0.05)
            }
            return endpoints
        }
        #expect(listed("tcp://box:7600") == ["tcp://box:7600"])
        let acked = Date().addingTimeInterval(5)
        while !link.registered && Date() < acked {
            link.receive()
            Thread.sleep(forTimeInterval: 0.02)
        }
        #expect(link.registered, "registered at the fallback, as a Register that waited for the link is")
        found = "tcp://127.0.0.1:7600"
        #expect(listed("tcp://127.0.0.1:7600") == ["tcp://127.0.0.1:7600"], "\(tracker.log)")
    }
}
