import Foundation
import Synchronization

/// `body(0) ... body(count - 1)` on up to `threads` cores, each index once, results in index
/// order. Workers take the next index as they finish one, so uneven items (a large layer, a
/// configuration with many shrinking steps) do not leave a core idle.
public func concurrentMap<T: Sendable>(
    _ count: Int, threads: Int = ProcessInfo.processInfo.activeProcessorCount,
    _ body: @Sendable (Int) -> T
) -> [T] {
    let out = Mutex([T?](repeating: nil, count: count))
    let next = Mutex(0)
    DispatchQueue.concurrentPerform(iterations: max(1, min(threads, count))) { _ in
        while true {
            let i = next.withLock { n -> Int in
                defer { n += 1 }
                return n
            }
            guard i < count else { return }
            let value = body(i)
            out.withLock { $0[i] = value }
        }
    }
    return out.withLock { $0.map { $0! } }
}
