//! Worker processes on loopback: a one-machine cluster of real processes (the demo's), each a
//! `tiersplit worker` started from the given binary.

use crate::error::{Result, SessionError};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;
use tiersplit_cost::{Scenario, Tier};

/// A `tiersplit worker` child process, killed when dropped.
pub struct LocalWorker {
    child: Child,
    /// The node it serves.
    pub name: String,
    /// The address it listens on, as it printed it.
    pub addr: String,
}

impl LocalWorker {
    /// Starts `exe worker` as node `name` on an ephemeral loopback port and waits (bounded)
    /// for the address it prints.
    pub fn start(exe: &Path, name: &str) -> Result<LocalWorker> {
        let failed = |e: String| SessionError::invalid(format!("worker {name}: {e}"));
        let mut child = Command::new(exe)
            .args(["worker", "--listen", "127.0.0.1:0", "--name", name])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| failed(format!("cannot start {}: {e}", exe.display())))?;
        let stdout = child.stdout.take().expect("piped");
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
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .map_err(|_| failed("did not report its address within 20 s".into()))?;
        w.addr = line
            .trim()
            .rsplit(' ')
            .next()
            .unwrap_or_default()
            .to_string();
        if !w.addr.contains(':') {
            return Err(failed(format!(
                "printed '{}' instead of its address",
                line.trim()
            )));
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

/// Every node but the device: (name, address), and the processes started for them here.
pub struct StartedNodes {
    /// Every node but the device: (name, control address), local workers included.
    pub remotes: Vec<(String, String)>,
    /// The worker processes started here (killed when dropped).
    pub local: Vec<LocalWorker>,
}

/// Starts a local worker process of `exe` for each non-device node of `scenario` that has no
/// `address`; the others are reached where the scenario says.
pub fn start_nodes(scenario: &Scenario, exe: &Path) -> Result<StartedNodes> {
    let mut remotes = Vec::new();
    let mut local = Vec::new();
    for n in scenario.nodes.iter().filter(|n| n.tier != Tier::Device) {
        match &n.address {
            Some(a) => remotes.push((n.name.clone(), a.clone())),
            None => {
                let w = LocalWorker::start(exe, &n.name)?;
                remotes.push((n.name.clone(), w.addr.clone()));
                local.push(w);
            }
        }
    }
    Ok(StartedNodes { remotes, local })
}
