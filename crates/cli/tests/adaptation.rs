//! Run-time adaptation end to end: the real MobileNetV2 on a local cluster of worker processes
//! while a trace collapses the device's uplinks. The adaptive run must notice from its own
//! measurements, switch live to a plan that is right for the new conditions, answer every
//! frame it was fed, exactly; the static plans run over the same trace for comparison.

mod common;

use common::{shared, shared_model, stderr, stdout, tiersplit};
use serde_json::Value;
use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn path(rel: &str) -> String {
    root().join(rel).display().to_string()
}

/// `tiersplit run MODEL --scenario local-cluster --trace ci-uplink-drop ARGS --json`: its
/// stdout and the reports, after checking it succeeded.
fn run_ci_trace(model: &str, args: &[&str], dir: &std::path::Path) -> (String, Vec<Value>) {
    let json = dir.join("trace.json");
    let (scenario, trace) = (
        path("scenarios/local-cluster.toml"),
        path("traces/ci-uplink-drop.toml"),
    );
    let mut all = vec![
        "run",
        model,
        "--scenario",
        &scenario,
        "--trace",
        &trace,
        "--json",
        json.to_str().unwrap(),
    ];
    all.extend_from_slice(args);
    let o = tiersplit(&all);
    let out = stdout(&o);
    assert!(o.status.success(), "{out}\n{}", stderr(&o));
    let reports = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    (out, reports)
}

#[test]
fn the_adaptive_run_switches_when_the_uplink_collapses_and_loses_no_frame() {
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("trace.svg");
    let image = shared().join("images/chelsea.png");
    let (out, reports) = run_ci_trace(
        shared_model("mobilenet_v2_imagenet.onnx").to_str().unwrap(),
        &[
            "--profile",
            &path("profiles/mobilenet_v2_imagenet.json"),
            "--image",
            image.to_str().unwrap(),
            "--plot",
            svg.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert!(
        reports.len() >= 2,
        "the adaptive run and at least one static plan"
    );

    for r in &reports {
        let label = r["label"].as_str().unwrap();
        let frames = r["frames"].as_array().unwrap();
        // Every frame fed was answered, exactly; one at a time, so nothing was dropped.
        assert_eq!(r["fed"].as_u64().unwrap(), frames.len() as u64, "{label}");
        assert!(frames.len() >= 5, "{label}: {} frames", frames.len());
        assert!(r["failures"].as_array().unwrap().is_empty(), "{label}");
        assert_eq!(r["dropped"], 0, "{label}");
        assert!(r["all_exact"].as_bool().unwrap(), "{label}");
        assert!(frames.iter().all(|f| f["exact"] == true), "{label}");
        let numbers: Vec<u64> = frames
            .iter()
            .map(|f| f["frame"].as_u64().unwrap())
            .collect();
        assert!(
            numbers.windows(2).all(|w| w[0] < w[1]),
            "{label}: answered twice?"
        );
        if r["adaptive"] != true {
            assert!(r["switches"].as_array().unwrap().is_empty(), "{label}");
        }
    }

    let adaptive = reports.iter().find(|r| r["adaptive"] == true).unwrap();
    let switches = adaptive["switches"].as_array().unwrap();
    assert!(!switches.is_empty(), "no switch:\n{out}");
    // Where the run settled after the collapse: the plan serving the last frames is as good
    // as what the planner picks knowing the real conditions (within 15%). A node's noise may
    // have moved the plan already, moments before the change; the quick plan that answers
    // the collapse may be refined after it: what counts is where the run ends up.
    let settled = adaptive["settled"].as_array().unwrap().last().unwrap();
    assert_eq!(settled["phase_s"], 2.5, "{settled}");
    let (plan_ms, best_ms) = (
        settled["plan_ms"].as_f64().unwrap(),
        settled["best_ms"].as_f64().unwrap(),
    );
    assert!(plan_ms <= best_ms * 1.15, "{settled}\n{out}");
    // The switch that answers the uplink's collapse, when the plan had not moved already:
    // seen from the cluster's own measurements of the uplink, after the change at 2.5 s; it
    // beats the old plan under the real conditions, and frames from it on are answered by it
    // (until a next switch).
    let answering = switches.iter().position(|s| {
        s["seen_s"].as_f64().unwrap() >= 2.5
            && s["trigger"]
                .as_str()
                .unwrap()
                .starts_with("link device->edge")
    });
    match answering {
        Some(i) => check_answering_switch(adaptive, i),
        None => assert!(
            settled_before_change(adaptive),
            "no switch answered the uplink's collapse:\n{out}"
        ),
    }
    // The probes and estimates: the uplink read at its new rate.
    let est = adaptive["link_mbps"]["device->edge0"].as_f64().unwrap();
    assert!(
        (est / 4.0 - 1.0).abs() < 0.15,
        "device->edge0 estimated at {est} Mbit/s"
    );
    assert!(out.contains("vs adaptive (mean, over time)"), "{out}");
    let svg = std::fs::read_to_string(&svg).unwrap();
    assert!(
        svg.starts_with("<svg") && svg.contains("adaptive best"),
        "bad plot"
    );
}

/// The switch that answered the collapse beats the old plan under the real conditions, and
/// the frames from it on are answered by its plan (until a next switch).
fn check_answering_switch(adaptive: &serde_json::Value, i: usize) {
    let switches = adaptive["switches"].as_array().unwrap();
    let first = &switches[i];
    let truth = &first["truth"];
    assert!(
        truth["new_ms"].as_f64().unwrap() < truth["old_ms"].as_f64().unwrap(),
        "{truth}"
    );
    let from = first["first_frame"].as_u64().unwrap();
    let until = switches
        .get(i + 1)
        .map_or(u64::MAX, |s| s["first_frame"].as_u64().unwrap());
    let before = if i == 0 {
        0
    } else {
        switches[i - 1]["first_frame"].as_u64().unwrap()
    };
    let to = first["to"].as_str().unwrap();
    let frames = adaptive["frames"].as_array().unwrap();
    for f in frames {
        let n = f["frame"].as_u64().unwrap();
        if (before..from).contains(&n) && f["hedged"] != true {
            assert_ne!(f["plan"], to, "frame {n} before the switch");
        } else if (from..until).contains(&n) && f["hedged"] != true {
            assert_eq!(f["plan"], to, "frame {n} after the switch");
        }
    }
    assert!(frames.iter().any(|f| f["frame"].as_u64().unwrap() >= from));
    assert!(first["first_answer_s"].as_f64().is_some(), "{first}");
    check_hedges(adaptive);
}

/// Each frame copied onto a newer plan was answered once, by the feeding the log names.
fn check_hedges(adaptive: &serde_json::Value) {
    let frames = adaptive["frames"].as_array().unwrap();
    for h in adaptive["hedges"].as_array().unwrap() {
        let f = frames
            .iter()
            .find(|f| f["frame"] == h["frame"])
            .unwrap_or_else(|| panic!("hedged frame never answered: {h}"));
        assert_eq!(f["hedged"], true, "{f}");
        match h["won"].as_str() {
            Some("Copy") => assert_eq!(f["plan"], h["to"], "{h}\n{f}"),
            Some("Original") => assert_eq!(f["plan"], h["from"], "{h}\n{f}"),
            Some("Reissued") => assert_eq!(f["reissued"], true, "{h}\n{f}"),
            _ => panic!("no winner: {h}"),
        }
    }
}

/// Whether a switch moments before the change (noise that happened to pick the plan the
/// change calls for) left the run on a plan already fit for the collapse.
fn settled_before_change(adaptive: &serde_json::Value) -> bool {
    adaptive["switches"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["seen_s"].as_f64().unwrap() < 2.5)
}

#[test]
fn bad_traces_are_refused_with_the_step_named() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("bad.toml");
    std::fs::write(
        &trace,
        "name = \"bad\"\nduration_s = 5\n[[steps]]\nat_s = 1\nlinks = [\"device->cloud\"]\nmbps = 3\n",
    )
    .unwrap();
    let o = tiersplit(&[
        "run",
        "zoo:nin",
        "--scenario",
        &path("scenarios/local-cluster.toml"),
        "--estimate-gflops",
        "20",
        "--trace",
        trace.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(
        e.contains("step 1") && e.contains("no link device->cloud"),
        "{e}"
    );
}

#[test]
fn frames_faster_than_the_cluster_are_dropped_by_policy_and_counted() {
    // 40 frames/s of NiN on the local cluster: no plan keeps up (its 602 kB input alone
    // needs 48 ms on the two 50 Mbit/s uplinks together), the oldest waiting frame is
    // dropped (counted), and every frame fed is still answered, exactly.
    let dir = tempfile::tempdir().unwrap();
    let (out, reports) = run_ci_trace(
        "zoo:nin",
        &[
            "--estimate-gflops",
            "20",
            "--fps",
            "40",
            "--window",
            "2",
            "--overload",
            "drop-oldest",
            "--queue",
            "1",
            "--compare",
            "none",
        ],
        dir.path(),
    );
    let r = &reports[0];
    let (produced, fed, dropped) = (
        r["produced"].as_u64().unwrap(),
        r["fed"].as_u64().unwrap(),
        r["dropped"].as_u64().unwrap(),
    );
    assert_eq!(produced, fed + dropped, "{r}");
    assert!(
        dropped > 0,
        "40 frames/s should overload the cluster: {out}"
    );
    assert_eq!(fed, r["frames"].as_array().unwrap().len() as u64);
    assert!(r["failures"].as_array().unwrap().is_empty());
    assert!(r["all_exact"].as_bool().unwrap());
    // About 40 frames/s for 8 s were produced.
    assert!((250..=340).contains(&produced), "{produced} produced");
}
