import Testing

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
}
