import Foundation
import VTA

/// An append-only JSON Lines file of records.
///
/// A writer (`init(path:resume:model:)`) holds an exclusive lock on the file, so two coordinators
/// never interleave lines in one file; it appends with O_APPEND, and each line is written and
/// fsync'd before `append` returns, so a record counted is a record kept. A torn last line (a
/// crash mid-write) is reported and cut off so that new lines do not join it. A reader
/// (`read(path:)`) takes no lock and changes nothing: a torn tail may be a line a running writer
/// is still completing.
///
/// Loading is strict about what it trusts: a line of another format version is an error (not
/// skipped: that file is not ours to append to), a line that is not a record is reported and
/// skipped, a record seen before (same layer, hardware and schedule) is counted as a duplicate
/// and not loaded again, and a writer refuses a file holding another model's records.
public final class RecordStore {
    public let path: String
    public private(set) var records: [Record] = []
    /// Lines that could not be read (a torn tail, a line that is not a record), 1-based.
    public private(set) var skipped: [(line: Int, text: String)] = []
    /// Records dropped on load because an earlier line holds the same measurement.
    public private(set) var duplicates = 0
    private let fd: Int32?
    private var keys = Set<String>()

    public struct OpenError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Opens (creating if needed) a records file to append to, locked against other writers.
    /// With `resume: false` an existing non-empty file is an error, so that no run silently mixes
    /// with an old one. With `model`, records of any other model make it an error too.
    public init(path: String, resume: Bool, model: String? = nil) throws {
        self.path = path
        let fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw OpenError(description: "\(path): cannot open: \(Self.lastError())") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let why = errno == EWOULDBLOCK ? "another vtafarm process is writing it" : Self.lastError()
            close(fd)
            throw OpenError(description: "\(path): cannot lock: \(why) (one writer per records file)")
        }
        self.fd = fd
        guard let data = FileManager.default.contents(atPath: path) else {
            throw OpenError(description: "\(path): cannot read")
        }
        if !data.isEmpty && !resume {
            throw OpenError(
                description:
                    "\(path) already holds records: pass --resume to continue that run, or choose another --records file"
            )
        }
        let keepBytes = try load(data)
        if let model, let other = records.first(where: { $0.model != model }) {
            throw OpenError(
                description:
                    "\(path) holds records of model \(other.model), not \(model): choose another --records file")
        }
        // Cut a torn tail so the next record starts on its own line (only a writer may: it holds the lock).
        if keepBytes < data.count, ftruncate(fd, off_t(keepBytes)) != 0 {
            throw OpenError(description: "\(path): cannot cut the torn last line: \(Self.lastError())")
        }
    }

    /// Reads a records file without locking or changing it.
    public init(reading path: String) throws {
        self.path = path
        fd = nil
        guard FileManager.default.fileExists(atPath: path) else {
            throw OpenError(description: "\(path): no such file")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw OpenError(description: "\(path): cannot read")
        }
        _ = try load(data)
    }

    deinit { if let fd { close(fd) } }

    static func lastError() -> String { String(cString: strerror(errno)) }

    /// Parses every line; returns how many leading bytes hold complete lines (the rest is a torn tail).
    private func load(_ data: Data) throws -> Int {
        let decoder = JSONDecoder()
        var keepBytes = 0
        var offset = 0
        var lineNumber = 0
        let bytes = [UInt8](data)
        while offset < bytes.count {
            lineNumber += 1
            let end = bytes[offset...].firstIndex(of: UInt8(ascii: "\n"))
            let line = Data(bytes[offset..<(end ?? bytes.count)])
            if let end { keepBytes = end + 1 }  // a bad line in the middle is kept (and reported), not cut
            offset = (end ?? bytes.count) + 1
            guard !line.isEmpty else { continue }
            // A line without its newline is a torn write, whatever it holds.
            guard end != nil else {
                skipped.append((lineNumber, String(decoding: line.prefix(120), as: UTF8.self)))
                continue
            }
            let record: Record
            do { record = try decoder.decode(Record.self, from: line) } catch let e as Record.FormatError
                where e.foreignVersion
            {
                throw OpenError(description: "\(path):\(lineNumber): \(e.description)")
            } catch {
                skipped.append((lineNumber, String(decoding: line.prefix(120), as: UTF8.self)))
                continue
            }
            guard keys.insert(record.key).inserted else {
                duplicates += 1
                continue
            }
            records.append(record)
        }
        return keepBytes
    }

    /// Whether this exact measurement (layer, hardware, schedule) is already recorded.
    public func contains(key: String) -> Bool { keys.contains(key) }

    /// Appends one record and fsyncs it. On a failed or short write (a full disk) the partial
    /// line is cut off again, so the file holds exactly the records counted before the error.
    public func append(_ record: Record) throws {
        guard let fd else { throw OpenError(description: "\(path): opened for reading only") }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var line = try encoder.encode(record)
        line.append(UInt8(ascii: "\n"))
        let before = lseek(fd, 0, SEEK_END)
        var done = 0
        while done < line.count {
            let n = line.withUnsafeBytes { write(fd, $0.baseAddress! + done, $0.count - done) }
            if n > 0 {
                done += n
                continue
            }
            if n < 0 && errno == EINTR { continue }
            let why = n < 0 ? Self.lastError() : "no space left on the device"
            if before >= 0 { _ = ftruncate(fd, before) }
            throw OpenError(
                description:
                    "\(path): write failed: \(why); the \(records.count) records before this one are kept")
        }
        guard fsync(fd) == 0 else {
            let why = Self.lastError()
            if before >= 0 { _ = ftruncate(fd, before) }
            throw OpenError(
                description: "\(path): fsync failed: \(why); the \(records.count) records before this one are kept")
        }
        keys.insert(record.key)
        records.append(record)
    }
}
