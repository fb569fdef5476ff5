"""Writes the ONNX graphs ONNXImportTests reads, built with onnx.helper (shapes only, no weights):
resnet18.onnx (torchvision's ResNet-18 layout, weights as shaped graph inputs),
bad_channels.onnx (a Conv whose weights disagree with its input on the channels) and
dangling.onnx (a node reading a value nothing defines), huge_group.onnx (group = -2^63). Prints the onnx package's directory,
where the tests find its light networks. Usage: make_models.py OUT_DIR"""
import os
import sys

import onnx
from onnx import TensorProto, helper

out_dir = sys.argv[1]
nodes, inputs = [], [helper.make_tensor_value_info("data", TensorProto.FLOAT, [1, 3, 224, 224])]


def conv(name, x, ci, co, k, s):
    w = name + "_w"
    inputs.append(helper.make_tensor_value_info(w, TensorProto.FLOAT, [co, ci, k, k]))
    nodes.append(helper.make_node("Conv", [x, w], [name], name=name, kernel_shape=[k, k], strides=[s, s],
                                  pads=[k // 2] * 4))
    return name


def relu(x):
    nodes.append(helper.make_node("Relu", [x], [x + "_relu"]))
    return x + "_relu"


x = relu(conv("conv1", "data", 3, 64, 7, 2))
nodes.append(helper.make_node("MaxPool", [x], ["pool1"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]))
x, ci = "pool1", 64
for stage, co in enumerate([64, 128, 256, 512]):
    for block in range(2):
        s = 2 if stage > 0 and block == 0 else 1
        p = "layer%d_%d" % (stage + 1, block)
        y = relu(conv(p + "_conv1", x, ci, co, 3, s))
        shortcut = conv(p + "_downsample", x, ci, co, 1, s) if s == 2 else x
        y = conv(p + "_conv2", y, co, co, 3, 1)
        nodes.append(helper.make_node("Add", [y, shortcut], [p + "_add"]))
        x, ci = relu(p + "_add"), co
nodes.append(helper.make_node("GlobalAveragePool", [x], ["gap"]))
nodes.append(helper.make_node("Flatten", ["gap"], ["flat"], axis=1))
inputs.append(helper.make_tensor_value_info("fc_w", TensorProto.FLOAT, [1000, 512]))
nodes.append(helper.make_node("Gemm", ["flat", "fc_w"], ["logits"], name="fc", transB=1))
outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 1000])]


def save(name, graph_nodes, graph_inputs):
    graph = helper.make_graph(graph_nodes, name, graph_inputs, outputs)
    with open(os.path.join(out_dir, name + ".onnx"), "wb") as f:
        f.write(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString())


save("resnet18", nodes, inputs)
bad_inputs = [inputs[0], helper.make_tensor_value_info("w", TensorProto.FLOAT, [64, 16, 3, 3])]
save("bad_channels", [helper.make_node("Conv", ["data", "w"], ["y"], name="bad_conv")], bad_inputs)
save("huge_group", [helper.make_node("Conv", ["data", "w"], ["y"], name="huge_conv", group=-(2**63))], bad_inputs)
save("dangling", [helper.make_node("Relu", ["nowhere"], ["y"], name="lost_relu")], inputs[:1])
print(os.path.dirname(onnx.__file__))
