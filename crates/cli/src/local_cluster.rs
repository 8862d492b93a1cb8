//! Worker processes of this same binary on loopback: the demo's local cluster.

use anyhow::{bail, Context, Result};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A `tiersplit worker` child process, killed when dropped.
pub struct LocalWorker {
    child: Child,
    pub name: String,
    pub addr: String,
}

impl LocalWorker {
    /// Starts a worker on an ephemeral loopback port and waits (bounded) for its address.
    pub fn start(name: &str) -> Result<LocalWorker> {
        let exe = std::env::current_exe().context("locating the tiersplit binary")?;
        let mut child = Command::new(exe)
            .args(["worker", "--listen", "127.0.0.1:0", "--name", name])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting worker {name}"))?;
        let stdout = child.stdout.take().context("worker stdout")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let mut w = LocalWorker {
            child,
            name: name.into(),
            addr: String::new(),
        };
        let line = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(l) => l,
            Err(_) => bail!("worker {name} did not report its address within 20 s"),
        };
        w.addr = line
            .trim()
            .rsplit(' ')
            .next()
            .unwrap_or_default()
            .to_string();
        if !w.addr.contains(':') {
            bail!(
                "worker {name} printed '{}' instead of its address",
                line.trim()
            );
        }
        Ok(w)
    }
}

impl Drop for LocalWorker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
