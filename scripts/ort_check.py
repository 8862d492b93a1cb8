#!/usr/bin/env python3
"""Checks partitions written by `tiersplit split` with independent tools.

Each part must pass the ONNX checker and load in ONNX Runtime; running the parts chained in
ONNX Runtime must reproduce ONNX Runtime's run of the original model on the same input, or,
given EXPECTED.npy (for a model ONNX Runtime cannot run, such as an opset-6 one), that
reference answer of its first output.

usage: ort_check.py MODEL.onnx PARTS_DIR INPUT.npy [EXPECTED.npy]
"""
import json
import sys

import numpy as np
import onnx
import onnxruntime as ort


def session(path):
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])


def main():
    model_path, parts_dir, input_path = sys.argv[1:4]
    x = np.load(input_path).astype(np.float32)
    if len(sys.argv) > 4:
        graph = onnx.load(model_path).graph
        inits = {t.name for t in graph.initializer}
        feed_name = [i.name for i in graph.input if i.name not in inits][0]
        ref = {graph.output[0].name: np.load(sys.argv[4])}
    else:
        ref_sess = session(model_path)
        feed_name = ref_sess.get_inputs()[0].name
        ref_outs = ref_sess.run(None, {feed_name: x})
        ref = {o.name: v for o, v in zip(ref_sess.get_outputs(), ref_outs)}

    manifest = json.load(open(f"{parts_dir}/parts.json"))
    env = {feed_name: x}
    for part in manifest["parts"]:
        path = f"{parts_dir}/{part['file']}"
        onnx.checker.check_model(onnx.load(path), full_check=True)
        sess = session(path)
        feeds = {i.name: env[i.name] for i in sess.get_inputs()}
        for o, v in zip(sess.get_outputs(), sess.run(None, feeds)):
            env[o.name] = v
    worst = 0.0
    for name, r in ref.items():
        scale = max(float(np.abs(r).max()), 1e-30)
        worst = max(worst, float(np.abs(env[name] - r).max()) / scale)
    print(f"{len(manifest['parts'])} parts pass the ONNX checker and load in ONNX Runtime "
          f"{ort.__version__}; chained vs unsplit max rel diff {worst:.3e}")
    if worst > 1e-4:
        sys.exit(1)


if __name__ == "__main__":
    main()
