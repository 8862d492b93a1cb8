"""Single-operator models for the corpus (`make_corpus.py` imports this): every operator of the
importer's vision set at each opset where its inputs, attributes or meaning changed.

Each model is one node on float (or boolean) inputs, with its other inputs as initializers,
built with onnx.helper; ONNX Runtime's answer is the reference.
A model is named OP-oN-VARIANT, for opset N.
"""
import numpy as np
from onnx import TensorProto, helper, numpy_helper

F = TensorProto.FLOAT
RNG = np.random.default_rng(11)


def const(name, values, dtype=np.float32):
    return numpy_helper.from_array(np.asarray(values, dtype=dtype), name)


def model(op, opset, shape, attrs=None, inits=(), extra_inputs=(), outputs=1, out_types=None,
          inputs=None):
    """One `op` node reading `x` of `shape` (then `extra_inputs` names: initializers or ""),
    at `opset`."""
    inputs = inputs or [helper.make_tensor_value_info("x", F, shape)]
    names = [i.name for i in inputs] + list(extra_inputs)
    outs = [f"y{k}" for k in range(outputs)]
    node = helper.make_node(op, names, outs, **(attrs or {}))
    types = out_types or [F] * outputs
    graph = helper.make_graph([node], op, inputs,
                              [helper.make_tensor_value_info(o, t, None) for o, t in zip(outs, types)],
                              list(inits))
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 7 if opset < 15 else 8
    if opset >= 21:
        m.ir_version = 10
    return m.SerializeToString()


def cases():
    """(name, model bytes) for every single-operator case."""
    yield from convolutions()
    yield from pools()
    yield from elementwise()
    yield from normalisations()
    yield from layout()
    yield from reductions()
    yield from index_ops()
    yield from resizes()
    yield from attribute_to_input()
    yield from recurrent()


def convolutions():
    x2 = [1, 4, 12, 12]
    w = RNG.standard_normal((6, 4, 3, 3)).astype(np.float32) * 0.2
    yield "Conv-o11-2d", model("Conv", 11, x2, {"pads": [1, 1, 1, 1]}, [const("w", w)], ["w"])
    yield "Conv-o11-1d", model("Conv", 11, [1, 4, 20], {"strides": [2], "dilations": [2]},
                               [const("w", w[:, :, 0, :])], ["w"])
    w3 = RNG.standard_normal((3, 4, 3, 3, 3)).astype(np.float32) * 0.2
    yield "Conv-o11-3d", model("Conv", 11, [1, 4, 6, 8, 8], {"pads": [1] * 6},
                               [const("w", w3)], ["w"])
    yield "Conv-o11-depthwise-same", model(
        "Conv", 11, x2, {"group": 4, "strides": [2, 2], "auto_pad": "SAME_UPPER"},
        [const("w", RNG.standard_normal((4, 1, 3, 3)).astype(np.float32))], ["w"])
    wt = RNG.standard_normal((4, 3, 3, 3)).astype(np.float32) * 0.2
    for variant, attrs in [
        ("stride2", {"strides": [2, 2]}),
        ("pads-outpad", {"strides": [2, 2], "pads": [1, 1, 1, 1], "output_padding": [1, 1]}),
        ("dilated", {"dilations": [2, 2]}),
        ("output-shape", {"strides": [2, 2], "output_shape": [25, 25]}),
    ]:
        yield f"ConvTranspose-o11-{variant}", model("ConvTranspose", 11, x2, attrs,
                                                    [const("w", wt)], ["w"])
    wg = RNG.standard_normal((4, 2, 3, 3)).astype(np.float32) * 0.2
    yield "ConvTranspose-o11-groups", model("ConvTranspose", 11, x2, {"group": 2, "strides": [2, 2]},
                                            [const("w", wg)], ["w"])
    yield "ConvTranspose-o11-1d", model("ConvTranspose", 11, [1, 4, 10], {"strides": [3]},
                                        [const("w", wt[:, :, 0, :])], ["w"])


def pools():
    for op in ["MaxPool", "AveragePool"]:
        yield f"{op}-o11-1d", model(op, 11, [1, 3, 17], {"kernel_shape": [3], "strides": [2]})
        yield f"{op}-o11-3d", model(op, 11, [1, 2, 6, 9, 9],
                                    {"kernel_shape": [2, 3, 3], "strides": [2, 2, 2],
                                     "pads": [0, 1, 1, 0, 1, 1]})
        yield f"{op}-o11-ceil", model(op, 11, [1, 3, 13, 13],
                                      {"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1})
    yield "LpPool-o11", model("LpPool", 11, [1, 3, 8, 8], {"kernel_shape": [2, 2], "p": 2})
    yield "GlobalLpPool-o7", model("GlobalLpPool", 7, [1, 3, 5, 5], {"p": 3})


def elementwise():
    x = [2, 3, 8, 8]
    for op in ["Floor", "Ceil", "Round", "Sign", "Abs", "Neg", "Softsign", "Sin", "Cos", "Tan",
               "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Atanh", "Tanh", "Erf", "Exp",
               "Sigmoid", "Reciprocal"]:
        yield f"{op}-o13", model(op, 13, x)
    yield "HardSwish-o14", model("HardSwish", 14, x)
    yield "Shrink-o13", model("Shrink", 13, x, {"bias": 0.1, "lambd": 0.3})
    yield "ThresholdedRelu-o13", model("ThresholdedRelu", 13, x, {"alpha": 0.4})
    yield "Mish-o18", model("Mish", 18, x)
    yield "Gelu-o20-erf", model("Gelu", 20, x)
    yield "Gelu-o20-tanh", model("Gelu", 20, x, {"approximate": "tanh"})
    yield "Celu-o13", model("Celu", 13, x, {"alpha": 0.7})
    yield "Dropout-o7-mask-read", model("Dropout", 7, x, {"ratio": 0.3}, outputs=2)
    yield "Dropout-o13", model("Dropout", 13, x)
    yield "HardSigmoid-o13", model("HardSigmoid", 13, x, {"alpha": 0.3, "beta": 0.4})
    yield "Mod-o13-fmod", model("Mod", 13, x, {"fmod": 1}, [const("d", [0.7])], ["d"])
    for op in ["Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual"]:
        yield f"{op}-o16", model(op, 16, x, None, [const("c", [0.5])], ["c"],
                                 out_types=[TensorProto.BOOL])
    b = [helper.make_tensor_value_info(n, TensorProto.BOOL, x) for n in ("p", "q")]
    for op in ["And", "Or", "Xor"]:
        yield f"{op}-o7", model(op, 7, x, inputs=b, out_types=[TensorProto.BOOL])
    yield "Not-o7", model("Not", 7, x, inputs=b[:1], out_types=[TensorProto.BOOL])
    cond = helper.make_tensor_value_info("c", TensorProto.BOOL, x)
    xy = [cond, helper.make_tensor_value_info("a", F, x), helper.make_tensor_value_info("b", F, [8])]
    yield "Where-o16", model("Where", 16, x, inputs=xy)
    yield "Expand-o13", model("Expand", 13, [3, 1, 8], None, [const("s", [2, 3, 4, 8], np.int64)],
                              ["s"])
    yield "Tile-o13", model("Tile", 13, [2, 3, 4], None, [const("r", [1, 2, 3], np.int64)], ["r"])


def normalisations():
    x = [2, 6, 7, 7]
    s, b = RNG.random(6).astype(np.float32) + 0.5, RNG.standard_normal(6).astype(np.float32)
    yield "InstanceNormalization-o7", model("InstanceNormalization", 7, x, {"epsilon": 1e-3},
                                            [const("s", s), const("b", b)], ["s", "b"])
    yield "GroupNormalization-o21", model("GroupNormalization", 21, x, {"num_groups": 3},
                                          [const("s", s), const("b", b)], ["s", "b"])
    yield "LayerNormalization-o17", model("LayerNormalization", 17, x, {"axis": -2},
                                          [const("s", RNG.random((7, 7)) + 0.5),
                                           const("b", RNG.random((7, 7)))], ["s", "b"])
    mean, var = RNG.standard_normal(6), RNG.random(6) + 0.5
    bn = [const("s", s), const("b", b), const("m", mean), const("v", var)]
    for opset in [7, 9, 14, 15]:
        yield f"BatchNormalization-o{opset}", model("BatchNormalization", opset, x,
                                                    {"epsilon": 1e-3}, bn, ["s", "b", "m", "v"])
    yield "LRN-o13", model("LRN", 13, x, {"size": 3, "alpha": 1e-3, "beta": 0.75})
    for opset in [11, 13]:
        for op in ["Softmax", "LogSoftmax", "Hardmax"]:
            yield f"{op}-o{opset}-axis1", model(op, opset, [2, 3, 4, 5], {"axis": 1})


def layout():
    for mode in ["DCR", "CRD"]:
        yield f"DepthToSpace-o13-{mode}", model("DepthToSpace", 13, [1, 8, 3, 5],
                                                {"blocksize": 2, "mode": mode})
    yield "SpaceToDepth-o13", model("SpaceToDepth", 13, [1, 2, 6, 4], {"blocksize": 2})
    yield "Einsum-o12-matmul", model(
        "Einsum", 12, [2, 3, 4], {"equation": "bij,jk->bik"},
        [const("w", RNG.standard_normal((4, 5)))], ["w"])
    yield "Einsum-o12-attention", model(
        "Einsum", 12, [2, 4, 6, 8], {"equation": "bhqd,bhkd->bhqk"},
        inputs=[helper.make_tensor_value_info("q", F, [2, 4, 6, 8]),
                helper.make_tensor_value_info("k", F, [2, 4, 6, 8])])
    yield "Transpose-o13", model("Transpose", 13, [2, 3, 4, 5], {"perm": [0, 2, 3, 1]})
    yield "Flatten-o13", model("Flatten", 13, [2, 3, 4, 5], {"axis": 2})


def reductions():
    x = [2, 3, 5, 6]
    for op in ["ReduceL1", "ReduceL2", "ReduceProd", "ReduceMin", "ReduceMax", "ReduceMean",
               "ReduceSum", "ReduceLogSumExp", "ReduceSumSquare"]:
        if op != "ReduceSum":
            yield f"{op}-o13-attr", model(op, 13, x, {"axes": [1, 3], "keepdims": 1})
        yield f"{op}-o18-input", model(op, 18, x, {"keepdims": 0},
                                       [const("a", [2], np.int64)], ["a"])
    yield "ReduceSum-o11-attr", model("ReduceSum", 11, x, {"axes": [1, 3]})
    yield "ReduceSum-o13-input", model("ReduceSum", 13, x, None, [const("a", [-1], np.int64)], ["a"])
    for op in ["ArgMax", "ArgMin"]:
        yield f"{op}-o13-last", model(op, 13, x, {"axis": 2, "keepdims": 0,
                                                  "select_last_index": 1},
                                      out_types=[TensorProto.INT64])
    yield "CumSum-o14-reverse", model("CumSum", 14, x, {"reverse": 1, "exclusive": 1},
                                      [const("a", 2, np.int64)], ["a"])
    yield "TopK-o11", model("TopK", 11, x, {"axis": -1}, [const("k", [3], np.int64)], ["k"],
                            outputs=2, out_types=[F, TensorProto.INT64])


def index_ops():
    x = [3, 4, 5]
    idx = RNG.integers(0, 4, (3, 2, 5))
    yield "GatherElements-o13", model("GatherElements", 13, x, {"axis": 1},
                                      [const("i", idx, np.int64)], ["i"])
    yield "GatherND-o13", model("GatherND", 13, x, None,
                                [const("i", [[0, 1], [2, 3]], np.int64)], ["i"])
    yield "GatherND-o13-batch", model("GatherND", 13, x, {"batch_dims": 1},
                                      [const("i", [[1], [0], [3]], np.int64)], ["i"])
    yield "Gather-o13", model("Gather", 13, x, {"axis": 2}, [const("i", [4, 0, 2], np.int64)], ["i"])
    yield "ScatterND-o16", model("ScatterND", 16, x, None,
                                 [const("i", [[0, 1], [2, 2]], np.int64),
                                  const("u", RNG.standard_normal((2, 5)))], ["i", "u"])
    yield "ScatterElements-o16", model("ScatterElements", 16, x, {"axis": 2},
                                       [const("i", [[[0, 4]] * 4] * 3, np.int64),
                                        const("u", RNG.standard_normal((3, 4, 2)))], ["i", "u"])
    for mode in ["constant", "reflect", "edge"]:
        yield f"Pad-o11-{mode}", model("Pad", 11, [1, 3, 6, 7], {"mode": mode},
                                       [const("p", [0, 0, 1, 2, 0, 0, 2, 1], np.int64)], ["p"])
    yield "Pad-o19-wrap", model("Pad", 19, [1, 3, 6, 7], {"mode": "wrap"},
                                [const("p", [0, 0, 1, 2, 0, 0, 2, 1], np.int64)], ["p"])
    yield "Pad-o18-axes", model("Pad", 18, [1, 3, 6, 7], {"mode": "reflect"},
                                [const("p", [2, 1, 1, 2], np.int64), const("a", [2, 3], np.int64)],
                                ["p", "", "a"])
    yield "Pad-o7-attr", model("Pad", 7, [1, 3, 6, 7],
                               {"mode": "constant", "pads": [0, 0, 1, 1, 0, 0, 1, 1], "value": 0.5})


def resizes():
    x = [1, 2, 5, 6]
    scales = const("s", [1, 1, 2.0, 1.5])
    roi = const("r", [], np.float32)
    for mode, transforms in [
        ("nearest", ["half_pixel", "asymmetric", "align_corners", "pytorch_half_pixel"]),
        ("linear", ["half_pixel", "asymmetric", "align_corners", "pytorch_half_pixel"]),
        ("cubic", ["half_pixel", "align_corners"]),
    ]:
        for t in transforms:
            yield f"Resize-o13-{mode}-{t}", model(
                "Resize", 13, x, {"mode": mode, "coordinate_transformation_mode": t},
                [roi, scales], ["r", "s"])
    for nm in ["round_prefer_ceil", "floor", "ceil"]:
        yield f"Resize-o13-nearest-{nm}", model(
            "Resize", 13, x, {"mode": "nearest", "nearest_mode": nm}, [roi, scales], ["r", "s"])
    yield "Resize-o13-sizes", model("Resize", 13, x, {"mode": "linear"},
                                    [const("z", [1, 2, 9, 4], np.int64)], ["", "", "z"])
    yield "Resize-o11-linear", model("Resize", 11, x, {"mode": "linear"}, [roi, scales], ["r", "s"])
    for scale in [2.0, 3.0, 4.0]:
        yield f"Resize-o10-nearest-x{scale:g}", model(
            "Resize", 10, x, {"mode": "nearest"}, [const("s", [1, 1, scale, scale])], ["s"])
    yield "Resize-o10-linear", model("Resize", 10, x, {"mode": "linear"},
                                     [const("s", [1, 1, 2.0, 2.0])], ["s"])
    yield "Resize-o19-half-pixel-symmetric", model(
        "Resize", 19, x, {"mode": "linear", "coordinate_transformation_mode": "half_pixel_symmetric"},
        [roi, scales], ["r", "s"])
    yield "Upsample-o9", model("Upsample", 9, x, {"mode": "nearest"},
                               [const("s", [1, 1, 2.0, 3.0])], ["s"])
    yield "Upsample-o7-attr", model("Upsample", 7, x, {"mode": "nearest", "scales": [1, 1, 2.0, 2.0]})


def attribute_to_input():
    x = [2, 3, 6, 8]
    yield "Slice-o9-attr", model("Slice", 9, x, {"starts": [1, 2], "ends": [3, 7], "axes": [2, 3]})
    yield "Slice-o13-steps", model("Slice", 13, x, None,
                                   [const("s", [5, 1], np.int64), const("e", [0, 8], np.int64),
                                    const("a", [2, 3], np.int64), const("t", [-2, 3], np.int64)],
                                   ["s", "e", "a", "t"])
    yield "Clip-o6-attr", model("Clip", 6, x, {"min": -0.2, "max": 0.3})
    yield "Clip-o13-input", model("Clip", 13, x, None, [const("lo", -0.2), const("hi", 0.3)],
                                  ["lo", "hi"])
    yield "Split-o11-attr", model("Split", 11, x, {"axis": 3, "split": [3, 5]}, outputs=2)
    yield "Split-o13-input", model("Split", 13, x, {"axis": 3}, [const("s", [2, 6], np.int64)],
                                   ["s"], outputs=2)
    yield "Split-o18-num-outputs", model("Split", 18, x, {"axis": 2, "num_outputs": 4}, outputs=4)
    y = [2, 1, 6, 1]
    yield "Squeeze-o11-attr", model("Squeeze", 11, y, {"axes": [1, 3]})
    yield "Squeeze-o13-input", model("Squeeze", 13, y, None, [const("a", [1], np.int64)], ["a"])
    yield "Unsqueeze-o11-attr", model("Unsqueeze", 11, x, {"axes": [0, 5]})
    yield "Unsqueeze-o13-input", model("Unsqueeze", 13, x, None, [const("a", [-1, 1], np.int64)],
                                       ["a"])


def recurrent():
    """LSTM, GRU and RNN as CRNN recognisers use them: over 12 steps of 10 features."""
    seq, batch, inp, hidden = 12, 2, 10, 8
    for op, gates in [("LSTM", 4), ("GRU", 3), ("RNN", 1)]:
        for direction, dirs in [("forward", 1), ("reverse", 1), ("bidirectional", 2)]:
            w = RNG.standard_normal((dirs, gates * hidden, inp)) * 0.3
            r = RNG.standard_normal((dirs, gates * hidden, hidden)) * 0.3
            b = RNG.standard_normal((dirs, 2 * gates * hidden)) * 0.1
            attrs = {"hidden_size": hidden, "direction": direction}
            outs = 3 if op == "LSTM" else 2
            yield f"{op}-o14-{direction}", model(
                op, 14, [seq, batch, inp], attrs,
                [const("w", w), const("r", r), const("b", b)], ["w", "r", "b"], outputs=outs)
        # No batch-first case (layout = 1): ONNX Runtime's CPU kernels refuse it, so there is
        # no reference; the importer's unit tests cover its shapes.
        w = RNG.standard_normal((1, gates * hidden, inp)) * 0.3
        r = RNG.standard_normal((1, gates * hidden, hidden)) * 0.3
        yield f"{op}-o7", model(op, 7, [seq, batch, inp], {"hidden_size": hidden},
                                [const("w", w), const("r", r)], ["w", "r"])
