/// Shapes of a workload's tensors as the user sees them.
extension Workload {
    public var inputShape: [Int] { kind == .dense ? [batch, inChannels] : [batch, inChannels, height, width] }
    public var weightShape: [Int] {
        kind == .dense ? [outChannels, inChannels] : [outChannels, inChannels, kernelH, kernelW]
    }
    public var outputShape: [Int] {
        kind == .dense ? [batch, outChannels] : [batch, outChannels, outHeight, outWidth]
    }
}
