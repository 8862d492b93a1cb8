//! Fail-over on real worker processes: an edge worker killed with SIGKILL while frames are in
//! flight. The run goes on around it: every frame fed is answered (those the dead node held
//! are fed again on the new plan) or failed with a reason, none twice, all exact, and the first
//! answer on the new plan comes within 2 s of the loss being seen.

mod common;

use common::{spawn_worker, stderr};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The local-cluster scenario with every node but the device at a worker's address.
fn scenario_at(dir: &Path, addresses: &[(&str, &str)]) -> std::path::PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut text = std::fs::read_to_string(root.join("scenarios/local-cluster.toml")).unwrap();
    for (node, addr) in addresses {
        let name = format!("name = \"{node}\"");
        text = text.replace(&name, &format!("{name}\naddress = \"{addr}\""));
    }
    let path = dir.join("cluster.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_killed_edge_worker_is_planned_around_and_no_frame_is_lost() {
    let engine = ["--engine", "auto"];
    let (mut edge0, a0) = spawn_worker("edge0", &engine);
    let (mut edge1, a1) = spawn_worker("edge1", &engine);
    let (mut cloud, ac) = spawn_worker("cloud", &engine);
    let dir = tempfile::tempdir().unwrap();
    let scenario = scenario_at(
        dir.path(),
        &[("edge0", &a0), ("edge1", &a1), ("cloud", &ac)],
    );
    let json = dir.path().join("run.json");
    let started = Instant::now();
    let run = Command::new(env!("CARGO_BIN_EXE_tiersplit"))
        .args(["run", "zoo:mobilenetv2", "--scenario"])
        .arg(&scenario)
        .args([
            "--algo",
            "best",
            "--estimate-gflops",
            "20",
            "--emulate",
            "on",
        ])
        // Faster than the cluster answers: the window of 4 is always full, so frames are in
        // flight on edge0 when it dies.
        .args([
            "--frames",
            "150",
            "--fps",
            "30",
            "--window",
            "4",
            "--timeout",
            "20",
        ])
        .arg("--json")
        .arg(&json)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Its output line by line: once it has connected (the engines line), the plan deploys
    // and the frames start; edge0 dies a few seconds into them.
    let mut run = run;
    let lines = std::io::BufRead::lines(std::io::BufReader::new(run.stdout.take().unwrap()));
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in lines.map_while(Result::ok) {
            if line.contains("engines:") {
                let _ = tx.send(());
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let connected = rx.recv_timeout(Duration::from_secs(90)).is_ok();
    std::thread::sleep(Duration::from_secs(4));
    edge0.kill().unwrap();
    edge0.wait().unwrap();
    let out = run.wait_with_output().unwrap();
    let printed = reader.join().unwrap();
    let text = format!("{printed}\n{}", stderr(&out));
    assert!(connected, "{text}");
    for w in [&mut edge1, &mut cloud] {
        let _ = w.kill();
        let _ = w.wait();
    }
    assert!(out.status.success(), "{text}");
    assert!(
        started.elapsed() < Duration::from_secs(120),
        "{:?}",
        started.elapsed()
    );
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    // Every frame fed answered, exactly; none failed.
    assert_eq!(v["fed"], v["frames"], "{text}");
    assert!(v["failures"].as_array().unwrap().is_empty(), "{text}");
    assert_eq!(v["exact"], true, "{text}");
    // None answered twice.
    assert_eq!(v["answered_twice"], 0, "{text}");
    // The fail-over: edge0 lost, the new plan without it, the frames it held fed again and
    // answered, the first answer within 2 s of the loss being seen.
    let f = &v["failovers"].as_array().unwrap()[0];
    assert_eq!(f["lost"][0][0], "edge0", "{f}");
    assert!(!f["placement"].as_str().unwrap().contains("edge0"), "{f}");
    let reissued = f["reissued"].as_array().unwrap();
    assert!(!reissued.is_empty(), "no frame was in flight: {f}");
    assert_eq!(
        v["reissued"].as_u64().unwrap() as usize,
        reissued.len(),
        "{f}"
    );
    let recovery = (f["first_answer_s"].as_f64().unwrap() - f["down_s"].as_f64().unwrap()) * 1e3;
    eprintln!(
        "recovered in {recovery:.0} ms, {} frame(s) fed again",
        reissued.len()
    );
    assert!(recovery < 2000.0, "{f}");
    assert!(printed.contains("FAIL-OVER: lost edge0"), "{text}");
}
