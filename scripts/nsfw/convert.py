"""Builds an ONNX model from nsfwjs's MobileNetV2 (a Keras 2.2.4 layers model for TF.js, uint8
quantised weights): NHWC float input in [0, 1], 224x224, five softmax outputs (Drawing, Hentai,
Neutral, Porn, Sexy). Weights stay uint8 in the file and are dequantised by constant Cast, Mul and
Add nodes (a runtime folds them at load)."""
import json
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

source, target = sys.argv[1], sys.argv[2]
model = json.load(open(f"{source}/model.json"))
blob = open(f"{source}/weights.bin", "rb").read()
weights = {}
offset = 0
for entry in model["weightsManifest"][0]["weights"]:
    count = int(np.prod(entry["shape"]))
    quantization = entry["quantization"]
    assert quantization["dtype"] == "uint8"
    raw = np.frombuffer(blob, dtype=np.uint8, count=count, offset=offset).reshape(entry["shape"])
    offset += count
    weights[entry["name"]] = (raw, float(quantization["scale"]), float(quantization["min"]))
assert offset == len(blob)

nodes, initializers = [], []
counter = [0]


def fresh(prefix):
    counter[0] += 1
    return f"{prefix}_{counter[0]}"


def constant(name, array):
    initializers.append(numpy_helper.from_array(array, name))
    return name


def dequantised(name, transpose=None, reshape=None):
    """The weight as float32, via Cast/Mul/Add of its uint8 form (then any transpose/reshape)."""
    raw, scale, minimum = weights[name]
    if transpose is not None:
        raw = np.ascontiguousarray(raw.transpose(transpose))
    if reshape is not None:
        raw = raw.reshape(reshape)
    base = name.replace("/", "_")
    quantised = constant(base + "_q", raw)
    cast = fresh(base + "_f")
    nodes.append(helper.make_node("Cast", [quantised], [cast], to=TensorProto.FLOAT))
    scaled = fresh(base + "_scaled")
    nodes.append(helper.make_node("Mul", [cast, constant(base + "_scale", np.array(scale, np.float32))], [scaled]))
    value = fresh(base)
    nodes.append(helper.make_node("Add", [scaled, constant(base + "_min", np.array(minimum, np.float32))], [value]))
    return value


def same_pads(kernel):
    total = kernel - 1
    return [total // 2, total - total // 2]


layers = model["modelTopology"]["model_config"]["config"]["layers"]
outputs = {}
nodes.append(helper.make_node("Transpose", ["input"], ["input_nchw"], perm=[0, 3, 1, 2]))
for layer in layers:
    kind, config, name = layer["class_name"], layer["config"], layer["name"]
    inputs = [outputs[inbound[0]] for inbound in layer["inbound_nodes"][0]] if layer["inbound_nodes"] else []
    out = name
    if kind == "InputLayer":
        outputs[name] = "input_nchw"
        continue
    if kind == "ZeroPadding2D":
        (top, bottom), (left, right) = config["padding"]
        pads = constant(name + "_pads", np.array([0, 0, top, left, 0, 0, bottom, right], np.int64))
        nodes.append(helper.make_node("Pad", [inputs[0], pads], [out], mode="constant"))
    elif kind in ("Conv2D", "DepthwiseConv2D"):
        kh, kw = config["kernel_size"]
        if config["padding"] == "same":
            assert config["strides"] == [1, 1]
            pads = [same_pads(kh)[0], same_pads(kw)[0], same_pads(kh)[1], same_pads(kw)[1]]
        else:
            pads = [0, 0, 0, 0]
        if kind == "Conv2D":
            kernel = dequantised(f"{name}/kernel", transpose=(3, 2, 0, 1))
            group = 1
        else:
            raw = weights[f"{name}/depthwise_kernel"][0]
            channels, multiplier = raw.shape[2], raw.shape[3]
            assert multiplier == 1
            kernel = dequantised(f"{name}/depthwise_kernel", transpose=(2, 3, 0, 1), reshape=(channels, 1, kh, kw))
            group = channels
        conv_inputs = [inputs[0], kernel]
        if config["use_bias"]:
            conv_inputs.append(dequantised(f"{name}/bias"))
        nodes.append(helper.make_node("Conv", conv_inputs, [out], kernel_shape=[kh, kw],
                                      strides=config["strides"], pads=pads, group=group))
        assert config["activation"] == "linear"
    elif kind == "BatchNormalization":
        nodes.append(helper.make_node("BatchNormalization", [
            inputs[0], dequantised(f"{name}/gamma"), dequantised(f"{name}/beta"),
            dequantised(f"{name}/moving_mean"), dequantised(f"{name}/moving_variance")],
            [out], epsilon=config["epsilon"]))
    elif kind == "ReLU":
        assert config["max_value"] == 6 and config["negative_slope"] == 0 and config["threshold"] == 0
        nodes.append(helper.make_node("Clip", [inputs[0], constant(name + "_lo", np.array(0, np.float32)),
                                               constant(name + "_hi", np.array(6, np.float32))], [out]))
    elif kind == "Add":
        nodes.append(helper.make_node("Add", inputs, [out]))
    elif kind == "AveragePooling2D":
        assert config["padding"] == "valid"
        nodes.append(helper.make_node("AveragePool", [inputs[0]], [out], kernel_shape=config["pool_size"],
                                      strides=config["strides"]))
    elif kind == "Flatten":
        nodes.append(helper.make_node("Flatten", [inputs[0]], [out], axis=1))
    elif kind == "Dropout":
        nodes.append(helper.make_node("Identity", [inputs[0]], [out]))
    elif kind == "Dense":
        linear = fresh(name + "_linear")
        nodes.append(helper.make_node("Gemm", [inputs[0], dequantised(f"{name}/kernel"), dequantised(f"{name}/bias")], [linear]))
        activation = config["activation"]
        op = {"relu": "Relu", "softmax": "Softmax"}[activation]
        attributes = {"axis": 1} if op == "Softmax" else {}
        nodes.append(helper.make_node(op, [linear], [out], **attributes))
    else:
        raise SystemExit(f"unsupported layer {kind}")
    outputs[name] = out

final = model["modelTopology"]["model_config"]["config"]["output_layers"][0][0]
nodes.append(helper.make_node("Identity", [outputs[final]], ["probabilities"]))
graph = helper.make_graph(
    nodes, "nsfwjs_mobilenet_v2",
    [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 224, 224, 3])],
    [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [1, 5])],
    initializers)
onnx_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                               producer_name="veilgram scripts/convert-nsfw-model")
onnx_model.ir_version = 8
onnx.checker.check_model(onnx_model)
onnx.save(onnx_model, target)
print(f"wrote {target}: {len(nodes)} nodes")

# The reference the Rust runtime (tract) is checked against: onnxruntime's probabilities for
# a few deterministic input tensors (the same formula in crates/media/src/nsfw.rs).
if len(sys.argv) > 3:
    import onnxruntime

    session = onnxruntime.InferenceSession(target)
    count = 224 * 224 * 3
    with open(sys.argv[3], "w", encoding="utf-8") as out:
        out.write("# multiplier\toffset\tdrawing\thentai\tneutral\tporn\tsexy (onnxruntime %s)\n"
                  % onnxruntime.__version__)
        for multiplier, offset in [(1, 0), (7, 3), (31, 17), (257, 101), (7919, 499)]:
            index = np.arange(count, dtype=np.int64)
            tensor = (((index * multiplier + offset) % 1000) / 999.0).astype(np.float32)
            probabilities = session.run(None, {"input": tensor.reshape(1, 224, 224, 3)})[0][0]
            out.write("%d\t%d\t%s\n" % (multiplier, offset, "\t".join(repr(float(p)) for p in probabilities)))
