//! Traces of faults played on the local cluster's worker processes while frames flow: an edge
//! worker killed and restarted, the other edge hung and woken, the cloud restarted between two
//! heartbeats; then links cut and mended while their nodes live. Every fault is seen and
//! planned around, every node and link comes back, and no frame is lost: each one fed is
//! answered once, exactly.

mod common;

use common::{stderr, stdout, tiersplit};
use serde_json::Value;
use std::path::PathBuf;

fn path(rel: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel)
        .display()
        .to_string()
}

/// Plays `trace` on the local cluster's worker processes; its report, once every frame fed is
/// checked answered once, exactly, with no failure, and its text.
fn play(trace: &str) -> (Value, String) {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("faults.json");
    let (scenario, trace) = (path("scenarios/local-cluster.toml"), path(trace));
    let o = tiersplit(&[
        "run",
        "zoo:mobilenetv2",
        "--scenario",
        &scenario,
        "--trace",
        &trace,
        "--estimate-gflops",
        "20",
        "--fps",
        "15",
        "--window",
        "4",
        "--compare",
        "none",
        "--json",
        json.to_str().unwrap(),
    ]);
    let out = stdout(&o);
    let text = format!("{out}\n{}", stderr(&o));
    assert!(o.status.success(), "{text}");
    let reports: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let r = reports[0].clone();
    let frames = r["frames"].as_array().unwrap();
    // Every frame fed answered once, exactly.
    assert!(r["failures"].as_array().unwrap().is_empty(), "{text}");
    assert_eq!(r["fed"].as_u64().unwrap(), frames.len() as u64, "{text}");
    let mut numbers: Vec<u64> = frames
        .iter()
        .map(|f| f["frame"].as_u64().unwrap())
        .collect();
    numbers.dedup();
    assert_eq!(numbers.len(), frames.len(), "a frame answered twice");
    assert!(r["all_exact"].as_bool().unwrap(), "{text}");
    assert!(out.contains("faults (seen:"), "{out}");
    (r, text)
}

/// The names a run's report lists under `key` (fail-overs' losses, or what came back).
fn named(r: &Value, key: &str) -> Vec<String> {
    match key {
        "lost" => r["failovers"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|f| f["lost"].as_array().unwrap())
            .map(|l| l[0].as_str().unwrap().to_string())
            .collect(),
        _ => r[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b[0].as_str().unwrap().to_string())
            .collect(),
    }
}

/// Each of `names` was planned around (in `lost`) and seen back (in `back`).
fn each_lost_and_back(names: &[&str], lost: &[String], back: &[String], text: &str) {
    for name in names {
        assert!(
            lost.iter().any(|l| l == name),
            "{name} not planned around: {text}"
        );
        assert!(back.iter().any(|b| b == name), "{name} not back: {text}");
    }
}

#[test]
fn every_fault_of_the_trace_is_planned_around_and_no_frame_is_lost() {
    let (r, text) = play("traces/node-faults.toml");
    // All five faults done; kill, stop and the cloud's restart each seen and planned around.
    assert_eq!(r["faults"].as_array().unwrap().len(), 5, "{text}");
    let (lost, back) = (named(&r, "lost"), named(&r, "readmitted"));
    each_lost_and_back(&["edge0", "edge1", "cloud"], &lost, &back, &text);
}

#[test]
fn a_cut_link_is_routed_around_while_its_nodes_live() {
    let (r, text) = play("traces/link-faults.toml");
    assert_eq!(r["faults"].as_array().unwrap().len(), 4, "{text}");
    let (lost, back) = (named(&r, "lost"), named(&r, "readmitted"));
    // Each cut seen both ways, planned around, and seen mended; no node lost or re-admitted.
    let cut = [
        "edge0->edge1",
        "edge1->edge0",
        "device->edge0",
        "edge0->device",
    ];
    each_lost_and_back(&cut, &lost, &back, &text);
    assert!(lost.iter().chain(&back).all(|n| n.contains("->")), "{text}");
    // Each cut seen within 2 s of it.
    for f in r["fault_figures"].as_array().unwrap() {
        if f["fault"] == "cut" {
            let seen = f["detected_ms"].as_f64().unwrap();
            assert!(seen < 2000.0, "{f}: {text}");
        }
    }
}
