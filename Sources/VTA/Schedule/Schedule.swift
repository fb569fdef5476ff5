import Foundation

/// The knobs of AutoTVM's VTA templates. Each tile knob is the *inner* factor of a two-way split
/// of a packed extent (batch blocks, output rows, output columns, input-channel blocks,
/// output-channel blocks); the outer factor is extent / inner. Dense uses tile_b, tile_ci,
/// tile_co and oc_nthread; its tile_h, tile_w and h_nthread stay 1.
public struct Schedule: Hashable, Sendable, Codable, CustomStringConvertible {
    public var tileB: Int
    public var tileH: Int
    public var tileW: Int
    public var tileCI: Int
    public var tileCO: Int
    public var hThreads: Int
    public var ocThreads: Int

    public init(
        tileB: Int = 1, tileH: Int = 1, tileW: Int = 1, tileCI: Int = 1, tileCO: Int = 1,
        hThreads: Int = 1, ocThreads: Int = 1
    ) {
        self.tileB = tileB
        self.tileH = tileH
        self.tileW = tileW
        self.tileCI = tileCI
        self.tileCO = tileCO
        self.hThreads = hThreads
        self.ocThreads = ocThreads
    }

    public static let knobNames = ["tile_b", "tile_h", "tile_w", "tile_ci", "tile_co", "h_nthread", "oc_nthread"]

    /// Key path literals without captures are immutable values, so sharing them is safe.
    static let paths: [any WritableKeyPath<Schedule, Int> & Sendable] = [
        \.tileB, \.tileH, \.tileW, \.tileCI, \.tileCO, \.hThreads, \.ocThreads,
    ]

    public subscript(knob name: String) -> Int? {
        guard let i = Self.knobNames.firstIndex(of: name) else { return nil }
        return self[keyPath: Self.paths[i]]
    }

    public var description: String {
        zip(Self.knobNames, Self.paths).map { "\($0)=\(self[keyPath: $1])" }.joined(separator: ",")
    }

    /// Parses `tile_h=4,tile_w=14,...`; knobs not named keep the values of `base`.
    public init(parsing text: String, base: Schedule = Schedule()) throws {
        self = base
        for item in text.split(separator: ",") where !item.trimmingCharacters(in: .whitespaces).isEmpty {
            let kv = item.split(separator: "=", maxSplits: 1).map {
                $0.trimmingCharacters(in: .whitespaces).lowercased()
            }
            guard kv.count == 2, let i = Self.knobNames.firstIndex(of: kv[0]) else {
                throw WorkloadError(
                    message:
                        "schedule '\(item)': expected KNOB=INTEGER with KNOB one of \(Self.knobNames.joined(separator: ", "))"
                )
            }
            guard let v = Int(kv[1]) else {
                throw WorkloadError(message: "schedule: \(kv[0])='\(kv[1])' is not an integer")
            }
            self[keyPath: Self.paths[i]] = v
        }
    }
}
