/// The convolutions VTA offloads in well-known networks (batch 1, 224x224 inputs). The first
/// convolution of each network (3 input channels) stays on the CPU, as in VTA's benchmarks.
public enum ModelZoo {
    public static let names = ["resnet18", "resnet34", "resnet50", "vgg16"]

    public static func model(named name: String) -> Model? {
        switch name.lowercased() {
        case "resnet18": return resnet(name: "resnet18", counts: (4, 1, 1, 3, 1, 1, 3, 1, 1, 3))
        case "resnet34": return resnet(name: "resnet34", counts: (6, 1, 1, 7, 1, 1, 11, 1, 1, 5))
        case "resnet50": return resnet50
        case "vgg16": return vgg16
        default: return nil
        }
    }

    private static func conv(
        _ name: String, _ hw: Int, _ ci: Int, _ co: Int, _ k: Int, _ s: Int, count: Int
    ) -> Model.Layer {
        Model.Layer(name: name, workload: .conv2d(h: hw, w: hw, ci: ci, co: co, k: k, s: s, p: k / 2), count: count)
    }

    /// ResNet-18/34 share the layer shapes C2..C11 of VTA.md; only the repeat counts differ.
    private static func resnet(name: String, counts c: (Int, Int, Int, Int, Int, Int, Int, Int, Int, Int)) -> Model {
        Model(
            name: name,
            layers: [
                conv("C2", 56, 64, 64, 3, 1, count: c.0),
                conv("C3", 56, 64, 128, 3, 2, count: c.1),
                conv("C4", 56, 64, 128, 1, 2, count: c.2),
                conv("C5", 28, 128, 128, 3, 1, count: c.3),
                conv("C6", 28, 128, 256, 3, 2, count: c.4),
                conv("C7", 28, 128, 256, 1, 2, count: c.5),
                conv("C8", 14, 256, 256, 3, 1, count: c.6),
                conv("C9", 14, 256, 512, 3, 2, count: c.7),
                conv("C10", 14, 256, 512, 1, 2, count: c.8),
                conv("C11", 7, 512, 512, 3, 1, count: c.9),
            ])
    }

    /// ResNet-50 (torchvision layout: the stride sits on each stage's first 3x3 and downsample).
    private static let resnet50 = Model(
        name: "resnet50",
        layers: [
            conv("L1_1x1_64_64", 56, 64, 64, 1, 1, count: 1),
            conv("L1_3x3_64_64", 56, 64, 64, 3, 1, count: 3),
            conv("L1_1x1_64_256", 56, 64, 256, 1, 1, count: 4),
            conv("L1_1x1_256_64", 56, 256, 64, 1, 1, count: 2),
            conv("L2_1x1_256_128", 56, 256, 128, 1, 1, count: 1),
            conv("L2_3x3_128_128_s2", 56, 128, 128, 3, 2, count: 1),
            conv("L2_1x1_128_512", 28, 128, 512, 1, 1, count: 4),
            conv("L2_ds_256_512_s2", 56, 256, 512, 1, 2, count: 1),
            conv("L2_1x1_512_128", 28, 512, 128, 1, 1, count: 3),
            conv("L2_3x3_128_128", 28, 128, 128, 3, 1, count: 3),
            conv("L3_1x1_512_256", 28, 512, 256, 1, 1, count: 1),
            conv("L3_3x3_256_256_s2", 28, 256, 256, 3, 2, count: 1),
            conv("L3_1x1_256_1024", 14, 256, 1024, 1, 1, count: 6),
            conv("L3_ds_512_1024_s2", 28, 512, 1024, 1, 2, count: 1),
            conv("L3_1x1_1024_256", 14, 1024, 256, 1, 1, count: 5),
            conv("L3_3x3_256_256", 14, 256, 256, 3, 1, count: 5),
            conv("L4_1x1_1024_512", 14, 1024, 512, 1, 1, count: 1),
            conv("L4_3x3_512_512_s2", 14, 512, 512, 3, 2, count: 1),
            conv("L4_1x1_512_2048", 7, 512, 2048, 1, 1, count: 3),
            conv("L4_ds_1024_2048_s2", 14, 1024, 2048, 1, 2, count: 1),
            conv("L4_1x1_2048_512", 7, 2048, 512, 1, 1, count: 2),
            conv("L4_3x3_512_512", 7, 512, 512, 3, 1, count: 2),
        ])

    private static let vgg16 = Model(
        name: "vgg16",
        layers: [
            conv("conv1_2", 224, 64, 64, 3, 1, count: 1),
            conv("conv2_1", 112, 64, 128, 3, 1, count: 1),
            conv("conv2_2", 112, 128, 128, 3, 1, count: 1),
            conv("conv3_1", 56, 128, 256, 3, 1, count: 1),
            conv("conv3_x", 56, 256, 256, 3, 1, count: 2),
            conv("conv4_1", 28, 256, 512, 3, 1, count: 1),
            conv("conv4_x", 28, 512, 512, 3, 1, count: 2),
            conv("conv5_x", 14, 512, 512, 3, 1, count: 3),
        ])
}
