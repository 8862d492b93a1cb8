//! Real worker processes on loopback: partitions deployed over TCP, frames run through them,
//! outputs equal to unsplit execution; unreachable, garbage-speaking and silent peers give a
//! clear error within the timeout.

mod common;

use common::{shared, shared_model, stderr, stdout};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A worker process, killed when dropped.
struct WorkerProcess {
    child: Child,
    addr: String,
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_worker(name: &str) -> WorkerProcess {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tiersplit"))
        .args(["worker", "--listen", "127.0.0.1:0", "--name", name])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn worker");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("worker printed its address in time");
    let addr = line.trim().rsplit(' ').next().expect("address").to_string();
    assert!(addr.starts_with("127.0.0.1:"), "{line}");
    WorkerProcess { child, addr }
}

fn run_remote(args: &[&str]) -> std::process::Output {
    let mut all = vec!["run-remote"];
    all.extend_from_slice(args);
    Command::new(env!("CARGO_BIN_EXE_tiersplit"))
        .args(all)
        .output()
        .expect("run tiersplit")
}

#[test]
fn partitions_on_worker_processes_equal_unsplit() {
    let (a, b) = (spawn_worker("edge0"), spawn_worker("cloud"));
    let workers = format!("{},{}", a.addr, b.addr);
    let model = shared_model("mobilenet_v2_imagenet.onnx");
    let image = shared().join("images/chelsea.png");
    let args = [
        model.to_str().unwrap(),
        "--workers",
        &workers,
        "--partitions",
        "3",
        "--frames",
        "4",
        "--image",
        image.to_str().unwrap(),
        "--json",
    ];
    let out = run_remote(&args);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["pass"], true, "{v}");
    assert_eq!(v["latency_ms"].as_array().unwrap().len(), 4);
    let parts = v["parts"].as_array().unwrap();
    assert_eq!(parts.len(), 3);
    assert!(
        parts.iter().any(|p| p["worker"] == a.addr.as_str())
            && parts.iter().any(|p| p["worker"] == b.addr.as_str())
    );
    // Deploying the same model again hits the workers' content-hash cache.
    let out = run_remote(&args);
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert!(
        v["parts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["cached"] == true),
        "{v}"
    );
    // A DAG model with branches, on the same workers.
    let out = run_remote(&[
        "zoo:googlenet",
        "--workers",
        &workers,
        "--partitions",
        "4",
        "--frames",
        "2",
    ]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("PASS"));
}

#[test]
fn unreachable_dead_garbage_and_silent_peers_fail_fast() {
    // Nothing listens: connection refused.
    let dead = spawn_worker("doomed");
    let addr = dead.addr.clone();
    drop(dead);
    let start = Instant::now();
    let out = run_remote(&["zoo:resnet18", "--workers", &addr, "--timeout", "3"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains(&format!("cannot reach worker {addr}")),
        "{}",
        stderr(&out)
    );
    assert!(start.elapsed() < Duration::from_secs(30));

    // A peer that answers with garbage.
    let garbage = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let gaddr = garbage.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        if let Ok((mut s, _)) = garbage.accept() {
            let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n");
            // Keep reading so the sender's upload completes and it reads our answer.
            let mut buf = [0u8; 1 << 16];
            while matches!(s.read(&mut buf), Ok(n) if n > 0) {}
        }
    });
    let out = run_remote(&["zoo:resnet18", "--workers", &gaddr, "--timeout", "3"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("not a tiersplit frame"),
        "{}",
        stderr(&out)
    );

    // A peer that accepts and never answers: the timeout fires.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let saddr = silent.local_addr().unwrap().to_string();
    let keep = std::thread::spawn(move || {
        silent.accept().map(|(s, _)| {
            std::thread::sleep(Duration::from_secs(6));
            drop(s);
        })
    });
    let start = Instant::now();
    let out = run_remote(&["zoo:resnet18", "--workers", &saddr, "--timeout", "2"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("timed out after 2s"),
        "{}",
        stderr(&out)
    );
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "took {:?}",
        start.elapsed()
    );
    let _ = keep.join();
}
