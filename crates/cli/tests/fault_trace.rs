//! A trace of node faults played on the local cluster's worker processes while frames flow:
//! an edge worker killed and restarted, the other edge hung and woken, the cloud restarted
//! between two heartbeats. Every fault is seen and planned around, every node comes back and
//! is re-admitted, and no frame is lost: each one fed is answered once, exactly.

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

#[test]
fn every_fault_of_the_trace_is_planned_around_and_no_frame_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("faults.json");
    let (scenario, trace) = (
        path("scenarios/local-cluster.toml"),
        path("traces/node-faults.toml"),
    );
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
    let r = &reports[0];
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
    // All five faults done; kill, stop and the cloud's restart each seen and planned around.
    let faults = r["faults"].as_array().unwrap();
    assert_eq!(faults.len(), 5, "{text}");
    let failovers = r["failovers"].as_array().unwrap();
    let lost: Vec<&str> = failovers
        .iter()
        .flat_map(|f| f["lost"].as_array().unwrap())
        .map(|l| l[0].as_str().unwrap())
        .collect();
    for node in ["edge0", "edge1", "cloud"] {
        assert!(lost.contains(&node), "{node} not planned around: {text}");
    }
    // Every node back and re-admitted.
    let back: Vec<&str> = r["readmitted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b[0].as_str().unwrap())
        .collect();
    for node in ["edge0", "edge1", "cloud"] {
        assert!(back.contains(&node), "{node} not re-admitted: {text}");
    }
    assert!(out.contains("faults (seen:"), "{out}");
}
