#!/usr/bin/env python3
"""Writes small ONNX models that use operators a model zoo rarely has, built with the onnx
package (installed by scripts/install-ort): the operator-coverage tests import, split and run
them against ONNX Runtime.

usage: make_op_models.py OUT_DIR
writes OUT_DIR/logic_generate.onnx (opset 17): comparisons, logic and selection on activations
(Greater, Not, Where, Mod, Floor, Sign, Softsign), Tile and Expand of activations, and
export-time shape arithmetic that must fold away (Shape, Equal, ConstantOfShape, Where, Range);
and OUT_DIR/norm_upsample.onnx (opset 18): InstanceNormalization, ConvTranspose (stride 2,
pads, output_padding), LayerNormalization, SpaceToDepth, DepthToSpace, CumSum, ReduceL2,
Hardmax, ArgMax (an int64 second output); and OUT_DIR/select_einsum.onnx (opset 17): TopK,
GatherElements, GatherND, ScatterND, ScatterElements, Einsum; and OUT_DIR/legacy6.onnx (opset
6, which ONNX Runtime does not run): Add and Mul broadcasting at an axis, BatchNormalization and
Dropout with `is_test`, a per-channel PRelu slope, Gemm with `broadcast`; with numpy's answer
for a fixed input, OUT_DIR/legacy6-x.npy and OUT_DIR/legacy6-y.npy, as its reference.
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def const(name, array):
    return numpy_helper.from_array(np.asarray(array), name)


def logic_generate():
    rng = np.random.default_rng(7)
    inits = [
        const("three", np.float32(3.0)),
        const("two", np.float32(2.0)),
        const("zero", np.float32(0.0)),
        const("eight", np.int64(8)),
        const("reps", np.array([1, 2, 1, 1], dtype=np.int64)),
        const("w", (rng.standard_normal((4, 6, 3, 3)) * 0.2).astype(np.float32)),
        const("b", (rng.standard_normal(4) * 0.1).astype(np.float32)),
        const("r0", np.int64(0)),
        const("r4", np.int64(4)),
        const("r1", np.int64(1)),
    ]
    one_i64 = helper.make_tensor("one", TensorProto.INT64, [1], [1])
    nodes = [
        helper.make_node("Mul", ["x", "three"], ["x3"]),
        helper.make_node("Floor", ["x3"], ["fl"]),
        helper.make_node("Mod", ["fl", "two"], ["md"], fmod=1),
        helper.make_node("Greater", ["x", "zero"], ["pos"]),
        helper.make_node("Where", ["pos", "x", "md"], ["w1"]),
        helper.make_node("Not", ["pos"], ["neg"]),
        helper.make_node("Neg", ["w1"], ["w1n"]),
        helper.make_node("Where", ["neg", "w1", "w1n"], ["w2"]),
        helper.make_node("Tile", ["w2", "reps"], ["t"]),
        helper.make_node("Conv", ["t", "w", "b"], ["y"], pads=[1, 1, 1, 1]),
        # Shape arithmetic of the kind exporters emit: all of it folds at import.
        helper.make_node("Shape", ["y"], ["ys"]),
        helper.make_node("Equal", ["ys", "eight"], ["is8"]),
        helper.make_node("Shape", ["ys"], ["rank"]),
        helper.make_node("ConstantOfShape", ["rank"], ["ones"], value=one_i64),
        helper.make_node("Where", ["is8", "ones", "ys"], ["small"]),
        helper.make_node("Range", ["r0", "r4", "r1"], ["idx"]),
        helper.make_node("ReduceMean", ["y"], ["m"], axes=[2, 3], keepdims=1),
        helper.make_node("Reshape", ["m", "small"], ["pooled"]),
        helper.make_node("Expand", ["pooled", "ys"], ["big"]),
        helper.make_node("Gather", ["big", "idx"], ["sel"], axis=1),
        helper.make_node("Add", ["sel", "y"], ["s"]),
        helper.make_node("Softsign", ["s"], ["ss"]),
        helper.make_node("Sign", ["s"], ["sg"]),
        helper.make_node("Add", ["ss", "sg"], ["out"]),
    ]
    graph = helper.make_graph(
        nodes,
        "logic_generate",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 4, 8, 8])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def norm_upsample():
    """Normalisations, a transposed convolution, pixel shuffles, scans and index reductions."""
    rng = np.random.default_rng(11)
    f = lambda *shape: (rng.standard_normal(shape) * 0.3).astype(np.float32)
    inits = [
        const("w1", f(8, 4, 3, 3)),
        const("is", f(8) + 1.0),
        const("ib", f(8)),
        const("wt", f(8, 4, 3, 3)),
        const("bt", f(4)),
        const("ls", f(16) + 1.0),
        const("lb", f(16)),
        const("axis3", np.int64(3)),
        const("axes1", np.array([1], dtype=np.int64)),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("InstanceNormalization", ["c1", "is", "ib"], ["in1"], epsilon=1e-5),
        helper.make_node("ConvTranspose", ["in1", "wt", "bt"], ["ct"], strides=[2, 2],
                         pads=[1, 1, 1, 1], output_padding=[1, 1]),
        helper.make_node("LayerNormalization", ["ct", "ls", "lb"], ["ln"], axis=-1),
        helper.make_node("SpaceToDepth", ["ln"], ["s2d"], blocksize=2),
        helper.make_node("DepthToSpace", ["s2d"], ["d2s"], blocksize=2, mode="DCR"),
        helper.make_node("CumSum", ["d2s", "axis3"], ["cs"]),
        helper.make_node("ReduceL2", ["cs", "axes1"], ["r"], keepdims=1),
        helper.make_node("Hardmax", ["r"], ["hm"], axis=-1),
        helper.make_node("Mul", ["cs", "hm"], ["m"]),
        helper.make_node("Add", ["m", "r"], ["out"]),
        helper.make_node("ArgMax", ["out"], ["am"], axis=1, keepdims=0),
    ]
    graph = helper.make_graph(
        nodes,
        "norm_upsample",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8, 8])],
        [
            helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 4, 16, 16]),
            helper.make_tensor_value_info("am", TensorProto.INT64, [1, 16, 16]),
        ],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model


def select_einsum():
    """Index picking and placing (TopK, GatherElements, GatherND, ScatterND, ScatterElements)
    and an Einsum contraction."""
    rng = np.random.default_rng(5)
    inits = [
        const("k", np.array([3], dtype=np.int64)),
        const("w", (rng.standard_normal((6, 5)) * 0.5).astype(np.float32)),
        const("nd", np.array([[0, 1], [0, 3]], dtype=np.int64)),
        const("at", np.array([[0, 0]], dtype=np.int64)),
        const("s0", np.array([0], dtype=np.int64)),
        const("s1", np.array([1], dtype=np.int64)),
        const("two", np.float32(2.0)),
    ]
    nodes = [
        helper.make_node("TopK", ["x", "k"], ["vals", "idx"], axis=-1),
        helper.make_node("GatherElements", ["x", "idx"], ["ge"], axis=2),
        helper.make_node("Sub", ["vals", "ge"], ["diff"]),
        helper.make_node("Einsum", ["x", "w"], ["e"], equation="bij,jk->bik"),
        helper.make_node("GatherND", ["e", "nd"], ["g"]),
        helper.make_node("Slice", ["g", "s0", "s1", "s0"], ["upd"]),
        helper.make_node("ScatterND", ["e", "at", "upd"], ["snd"]),
        helper.make_node("Mul", ["vals", "two"], ["v2"]),
        helper.make_node("ScatterElements", ["x", "idx", "v2"], ["se"], axis=2),
    ]
    graph = helper.make_graph(
        nodes,
        "select_einsum",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 6])],
        [
            helper.make_tensor_value_info("snd", TensorProto.FLOAT, [1, 4, 5]),
            helper.make_tensor_value_info("se", TensorProto.FLOAT, [1, 4, 6]),
            helper.make_tensor_value_info("diff", TensorProto.FLOAT, [1, 4, 3]),
        ],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model


def conv2d(x, w, pad):
    """Plain NCHW convolution, stride 1, no bias (numpy reference)."""
    n, c, h, wd = x.shape
    k, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.zeros((n, k, h + 2 * pad - kh + 1, wd + 2 * pad - kw + 1), dtype=np.float64)
    for i in range(out.shape[2]):
        for j in range(out.shape[3]):
            patch = xp[:, :, i:i + kh, j:j + kw]
            out[:, :, i, j] = np.tensordot(patch, w, axes=([1, 2, 3], [1, 2, 3]))
    return out


def legacy6(out):
    """An opset-6 model of the operators whose semantics changed at opset 7, and numpy's
    answer for a fixed input (ONNX Runtime cannot run opset 6 to give one)."""
    rng = np.random.default_rng(6)
    f = lambda *shape: (rng.standard_normal(shape) * 0.3).astype(np.float32)
    w, bias, m = f(4, 3, 3, 3), f(4), f(4, 8)
    scale, shift, mean = f(4) + 1.0, f(4), f(4)
    var = np.abs(f(4)) + 0.5
    slope, gw, gc = np.abs(f(4)), f(256, 10), f(10)
    inits = [const(n, a) for n, a in [("w", w), ("bias", bias), ("m", m), ("scale", scale),
             ("shift", shift), ("mean", mean), ("var", var), ("slope", slope), ("gw", gw), ("gc", gc)]]
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Add", ["c", "bias"], ["cb"], broadcast=1, axis=1),
        helper.make_node("BatchNormalization", ["cb", "scale", "shift", "mean", "var"], ["bn"],
                         epsilon=1e-5, is_test=1),
        helper.make_node("PRelu", ["bn", "slope"], ["pr"]),
        helper.make_node("Mul", ["pr", "m"], ["mm"], broadcast=1, axis=1),
        helper.make_node("Dropout", ["mm"], ["dr"], is_test=1, ratio=0.5),
        helper.make_node("Flatten", ["dr"], ["fl"], axis=1),
        helper.make_node("Gemm", ["fl", "gw", "gc"], ["y"], broadcast=1),
    ]
    graph = helper.make_graph(
        nodes,
        "legacy6",
        # IR version 3: every initializer is a graph input too, as old exporters wrote them.
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])]
        + [helper.make_tensor_value_info(t.name, TensorProto.FLOAT, list(t.dims)) for t in inits],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 6)])
    model.ir_version = 3
    onnx.checker.check_model(model)
    x = np.random.default_rng(1).standard_normal((1, 3, 8, 8)).astype(np.float32)
    v = conv2d(x.astype(np.float64), w, 1) + bias[None, :, None, None]
    v = (v - mean[None, :, None, None]) / np.sqrt(var[None, :, None, None] + 1e-5)
    v = v * scale[None, :, None, None] + shift[None, :, None, None]
    v = np.where(v < 0, v * slope[None, :, None, None], v)
    v = v * m[None, :, :, None]
    y = v.reshape(1, -1) @ gw + gc
    np.save(os.path.join(out, "legacy6-x.npy"), x)
    np.save(os.path.join(out, "legacy6-y.npy"), y.astype(np.float32))
    return model


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for name, make in [
        ("logic_generate", logic_generate),
        ("norm_upsample", norm_upsample),
        ("select_einsum", select_einsum),
        ("legacy6", lambda: legacy6(out)),
    ]:
        path = os.path.join(out, name + ".onnx")
        onnx.save(make(), path)
        print("wrote", path)


if __name__ == "__main__":
    main()
