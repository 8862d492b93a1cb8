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

/// A `tiersplit run` of MobileNetV2's best plan on the three workers, 150 frames at 30 fps
/// with 4 in flight (faster than the cluster answers, so frames are always in flight), and
/// `fault` done to the workers 4 s after it has connected. Returns the run's JSON, what it
/// printed, and its exit status.
fn run_with_fault(
    extra: &[&str],
    fault: impl FnOnce(&mut Workers),
) -> (Value, String, std::process::ExitStatus) {
    let mut workers = Workers::start();
    let dir = tempfile::tempdir().unwrap();
    let scenario = workers.scenario(dir.path());
    let json = dir.path().join("run.json");
    let started = Instant::now();
    let mut run = Command::new(env!("CARGO_BIN_EXE_tiersplit"))
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
        .args(["--frames", "150", "--fps", "30", "--window", "4"])
        .args(if extra.contains(&"--timeout") {
            &[][..]
        } else {
            &["--timeout", "20"][..]
        })
        .args(extra)
        .arg("--json")
        .arg(&json)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (connected, reader) = watch_output(&mut run);
    let connected = connected.recv_timeout(Duration::from_secs(90)).is_ok();
    std::thread::sleep(Duration::from_secs(4));
    fault(&mut workers);
    let out = run.wait_with_output().unwrap();
    let printed = reader.join().unwrap();
    let text = format!("{printed}\n{}", stderr(&out));
    drop(workers);
    assert!(connected, "{text}");
    assert!(
        started.elapsed() < Duration::from_secs(120),
        "{:?}",
        started.elapsed()
    );
    let v = serde_json::from_str(&std::fs::read_to_string(&json).unwrap_or_default())
        .unwrap_or(Value::Null);
    (v, text, out.status)
}

/// Reads a run's output line by line: the receiver hears once it has connected (its engines
/// line); the thread returns everything it printed.
fn watch_output(
    run: &mut std::process::Child,
) -> (
    std::sync::mpsc::Receiver<()>,
    std::thread::JoinHandle<String>,
) {
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
    (rx, reader)
}

/// The three worker processes of the local-cluster scenario, on ONNX Runtime when it is
/// installed; killed when dropped.
struct Workers {
    procs: Vec<(String, std::process::Child, String)>,
}

impl Workers {
    const ENGINE: [&'static str; 2] = ["--engine", "auto"];

    fn start() -> Workers {
        let procs = ["edge0", "edge1", "cloud"]
            .into_iter()
            .map(|n| {
                let (child, addr) = spawn_worker(n, &Self::ENGINE);
                (n.to_string(), child, addr)
            })
            .collect();
        Workers { procs }
    }

    fn scenario(&self, dir: &Path) -> std::path::PathBuf {
        let at: Vec<(&str, &str)> = self
            .procs
            .iter()
            .map(|(n, _, a)| (n.as_str(), a.as_str()))
            .collect();
        scenario_at(dir, &at)
    }

    fn get(&mut self, node: &str) -> &mut (String, std::process::Child, String) {
        self.procs.iter_mut().find(|(n, _, _)| n == node).unwrap()
    }

    fn signal(&mut self, node: &str, signal: &str) {
        let pid = self.get(node).1.id().to_string();
        let ok = Command::new("kill")
            .args([signal, &pid])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {signal} {pid}");
    }

    fn kill(&mut self, node: &str) {
        let (_, child, _) = self.get(node);
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// Kills `node` and starts a fresh worker at its address (a reboot that keeps the port).
    fn restart(&mut self, node: &str) {
        self.kill(node);
        let addr = self.get(node).2.clone();
        let mut args = vec!["--listen", addr.as_str(), "--name", node];
        args.extend(Self::ENGINE);
        // The port may take a moment to be free again.
        for _ in 0..50 {
            let child = Command::new(env!("CARGO_BIN_EXE_tiersplit"))
                .arg("worker")
                .args(&args)
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let mut child = child;
            let mut line = String::new();
            std::io::BufRead::read_line(
                &mut std::io::BufReader::new(child.stdout.take().unwrap()),
                &mut line,
            )
            .unwrap();
            if line.contains(&addr) {
                self.get(node).1 = child;
                return;
            }
            let _ = child.wait();
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("{node} could not listen on {addr} again");
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        for (_, child, _) in &mut self.procs {
            let _ = Command::new("kill")
                .args(["-CONT", &child.id().to_string()])
                .status();
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Every frame fed answered exactly, none failed, none twice.
fn assert_all_answered_once(v: &Value, text: &str) {
    assert_eq!(v["fed"], v["frames"], "{text}");
    assert!(v["failures"].as_array().unwrap().is_empty(), "{text}");
    assert_eq!(v["exact"], true, "{text}");
    assert_eq!(v["answered_twice"], 0, "{text}");
}

#[test]
fn a_killed_edge_worker_is_planned_around_and_no_frame_is_lost() {
    let (v, text, status) = run_with_fault(&[], |w| w.kill("edge0"));
    assert!(status.success(), "{text}");
    assert_all_answered_once(&v, &text);
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
    assert!(text.contains("FAIL-OVER: lost edge0"), "{text}");
}

#[test]
fn a_hung_worker_is_routed_around_and_readmitted_when_it_wakes() {
    let (v, text, status) = run_with_fault(&[], |w| {
        w.signal("edge0", "-STOP");
        std::thread::sleep(Duration::from_secs(3));
        w.signal("edge0", "-CONT");
    });
    assert!(status.success(), "{text}");
    assert_all_answered_once(&v, &text);
    let f = &v["failovers"].as_array().unwrap()[0];
    assert_eq!(f["lost"][0][0], "edge0", "{f}");
    assert!(
        f["lost"][0][1].as_str().unwrap().contains("heartbeats"),
        "{f}"
    );
    // Seen hung by the heartbeats (tests/health.rs times the verdict), not by the 20 s
    // timeout, and back once it woke.
    assert!(!v["readmitted"].as_array().unwrap().is_empty(), "{text}");
    assert_eq!(v["readmitted"][0][0], "edge0", "{text}");
    eprintln!(
        "edge0 lost: {}; re-admitted: {}",
        f["lost"][0][1], v["readmitted"]
    );
}

#[test]
fn a_restarted_worker_is_seen_to_have_lost_the_session_and_readmitted() {
    let (v, text, status) = run_with_fault(&[], |w| w.restart("edge0"));
    assert!(status.success(), "{text}");
    assert_all_answered_once(&v, &text);
    let f = &v["failovers"].as_array().unwrap()[0];
    assert_eq!(f["lost"][0][0], "edge0", "{f}");
    eprintln!(
        "edge0 lost: {}; re-admitted: {}",
        f["lost"][0][1], v["readmitted"]
    );
    assert!(!v["readmitted"].as_array().unwrap().is_empty(), "{text}");
    assert_eq!(v["readmitted"][0][0], "edge0", "{text}");
}

/// Sessions and deployments each worker holds, as `tiersplit status` prints them.
fn held(scenario: &Path) -> Vec<(String, usize, usize)> {
    let out = Command::new(env!("CARGO_BIN_EXE_tiersplit"))
        .args(["status", "--scenario"])
        .arg(scenario)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let n = f.len();
            (
                f[0].to_string(),
                f[n - 2].parse().unwrap(),
                f[n - 1].parse().unwrap(),
            )
        })
        .collect()
}

#[test]
fn a_device_killed_mid_run_leaves_nothing_on_any_worker_once_its_lease_runs_out() {
    let workers = Workers::start();
    let dir = tempfile::tempdir().unwrap();
    let scenario = workers.scenario(dir.path());
    let mut run = Command::new(env!("CARGO_BIN_EXE_tiersplit"))
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
        .args(["--frames", "1000", "--fps", "30", "--lease", "2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (connected, reader) = watch_output(&mut run);
    assert!(connected.recv_timeout(Duration::from_secs(90)).is_ok());
    std::thread::sleep(Duration::from_secs(3));
    // Frames are flowing: the workers with parts hold the device's session and deployments.
    let during = held(&scenario);
    assert!(during.iter().all(|(_, s, _)| *s == 1), "{during:?}");
    assert!(during.iter().any(|(_, _, d)| *d >= 1), "{during:?}");
    run.kill().unwrap();
    run.wait().unwrap();
    let died = Instant::now();
    let _ = reader.join();
    loop {
        let now = held(&scenario);
        if now.iter().all(|(_, s, d)| *s == 0 && *d == 0) {
            break;
        }
        assert!(
            died.elapsed() < Duration::from_secs(6),
            "still held: {now:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!(
        "nothing left on any worker {:?} after the device died",
        died.elapsed()
    );
}

#[test]
fn a_run_that_ends_in_an_error_still_accounts_for_every_frame_it_fed() {
    // Heartbeats too rare to see the hang: the frames' timeout ends the run instead.
    let slow_watch = [
        "--heartbeat-ms",
        "30000",
        "--lease",
        "600",
        "--timeout",
        "3",
    ];
    let (v, text, status) = run_with_fault(&slow_watch, |w| w.signal("edge0", "-STOP"));
    assert_eq!(status.code(), Some(2), "{text}");
    assert!(text.contains("RUN ENDED EARLY"), "{text}");
    let ended = v["ended"].as_str().unwrap();
    assert!(ended.contains("not answering a ping: edge0"), "{ended}");
    let failures = v["failures"].as_array().unwrap();
    assert!(!failures.is_empty(), "{text}");
    // fed = answered + failed, each failure with its reason.
    assert_eq!(
        v["fed"].as_u64().unwrap(),
        v["frames"].as_u64().unwrap() + failures.len() as u64,
        "{text}"
    );
    assert!(failures.iter().all(|f| !f[1].as_str().unwrap().is_empty()));
}
