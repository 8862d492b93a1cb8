//! Helpers shared by the end-to-end tests.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};

/// The shared fixtures (real models and photos) beside the checkout. CI has them: a missing
/// folder is a test failure, not a skip.
pub fn shared() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.ancestors()
        .map(|a| a.join("shared"))
        .find(|p| p.join("models").is_dir())
        .expect("../shared/models must exist beside the checkout")
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
