//! Helpers shared by the end-to-end tests.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};

/// The real models and photos: `$TIERSPLIT_ASSETS` (where `scripts/test` fetched them when
/// there is no `shared/` folder beside the checkout), or that folder. A missing folder is a
/// test failure, not a skip.
pub fn shared() -> PathBuf {
    let complete = |p: &PathBuf| p.join("models/mobilenet_v2_imagenet.onnx").is_file();
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    std::env::var_os("TIERSPLIT_ASSETS")
        .map(PathBuf::from)
        .into_iter()
        .chain(here.ancestors().map(|a| a.join("shared")))
        .find(complete)
        .expect("no real models: run scripts/fetch-assets (scripts/test does) or put shared/ beside the checkout")
}

pub fn shared_model(name: &str) -> PathBuf {
    shared().join("models").join(name)
}

pub fn tiersplit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tiersplit"))
        .args(args)
        .output()
        .expect("run tiersplit")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A `tiersplit worker` process on an ephemeral port, and its address.
pub fn spawn_worker(name: &str, extra: &[&str]) -> (std::process::Child, String) {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let mut worker = Command::new(env!("CARGO_BIN_EXE_tiersplit"))
        .args(["worker", "--listen", "127.0.0.1:0", "--name", name])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(worker.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line.trim().rsplit(' ').next().unwrap().to_string();
    (worker, addr)
}
