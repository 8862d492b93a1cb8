//! Faults a trace does to the cluster's processes (`kill`, `stop`, `resume`, `restart`) and to
//! links the emulation does not shape (`cut`, `restore`), through one trait with two
//! implementations: the worker processes this device started ([`LocalFaults`]: signalled,
//! restarted at their address) and an outside command ([`HookFaults`], `COMMAND FAULT TARGET`:
//! `scripts/testbed` signals its namespaced workers and drops a cut link's packets so).
//! [`FaultPlayer`] remembers what it broke, so the cluster is healed between runs.

use crate::error::{Result, SessionError};
use crate::local_cluster::LocalWorker;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};
use tiersplit_adapt::Fault;

/// Something that can fault the nodes' processes.
pub trait FaultInjector: Send {
    /// Does `fault` to node `node`'s process now; blocks until it is done (a restarted node
    /// listens again).
    fn inject(&mut self, fault: Fault, node: &str) -> Result<()>;

    /// Changes links' rates and nodes' speeds outside the emulation (the testbed's kernel
    /// shapes them), all at once; blocks until done. An injector that cannot refuses with the
    /// reason.
    fn shape(&mut self, changes: &[Shaping]) -> Result<()> {
        match changes.first() {
            None => Ok(()),
            Some(c) => Err(SessionError::invalid(format!(
                "cannot shape {c}: the local cluster's rates and speeds are emulated"
            ))),
        }
    }
}

/// A change of conditions made outside the emulation, where the kernel shapes links and caps
/// nodes' CPU (testbed mode).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub enum Shaping {
    /// The link `from -> to` carries `mbps` from now on.
    Rate {
        /// Sending node.
        from: String,
        /// Receiving node.
        to: String,
        /// Its rate, Mbit/s.
        mbps: f64,
    },
    /// Node `node` computes at `share` of the fastest node's speed from now on.
    Speed {
        /// The node.
        node: String,
        /// Its speed over the fastest node's (0 to 1).
        share: f64,
    },
}

impl Shaping {
    /// The hook's arguments: `rate FROM->TO MBPS` or `speed NODE SHARE`.
    pub fn args(&self) -> [String; 3] {
        match self {
            Shaping::Rate { from, to, mbps } => {
                ["rate".into(), format!("{from}->{to}"), mbps.to_string()]
            }
            Shaping::Speed { node, share } => ["speed".into(), node.clone(), share.to_string()],
        }
    }
}

impl std::fmt::Display for Shaping {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Shaping::Rate { from, to, mbps } => write!(f, "link {from}->{to} to {mbps} Mbit/s"),
            Shaping::Speed { node, share } => write!(f, "node {node} to {share} of the fastest"),
        }
    }
}

/// The worker processes this device started on loopback.
pub struct LocalFaults {
    workers: Vec<LocalWorker>,
}

impl LocalFaults {
    /// Faults `workers` (and keeps them running as long as it lives).
    pub fn new(workers: Vec<LocalWorker>) -> LocalFaults {
        LocalFaults { workers }
    }
}

/// Sends `signal` (`-STOP`, `-CONT`) to process `pid` with the system's `kill`.
fn signal(pid: u32, signal: &str) -> Result<()> {
    let status = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .map_err(|e| SessionError::invalid(format!("kill {signal} {pid}: {e}")))?;
    if !status.success() {
        return Err(SessionError::invalid(format!(
            "kill {signal} {pid}: {status}"
        )));
    }
    Ok(())
}

impl FaultInjector for LocalFaults {
    fn inject(&mut self, fault: Fault, node: &str) -> Result<()> {
        let w = self
            .workers
            .iter_mut()
            .find(|w| w.name == node)
            .ok_or_else(|| {
                SessionError::invalid(format!(
                    "cannot {fault} {node}: it is not a worker this device started (give a fault hook for nodes elsewhere)"
                ))
            })?;
        match fault {
            Fault::Kill => w.kill(),
            Fault::Stop => signal(w.pid(), "-STOP"),
            Fault::Resume => signal(w.pid(), "-CONT"),
            Fault::Restart => w.restart(),
            // The session cuts a local cluster's links in its emulation; a link fault that
            // gets here has no emulated link to cut.
            Fault::Cut | Fault::Restore => Err(SessionError::invalid(format!(
                "cannot {fault} {node}: the local cluster cuts only links its emulation shapes"
            ))),
        }
    }
}

impl Drop for LocalFaults {
    fn drop(&mut self) {
        // A stopped process ignores nothing but SIGKILL, which the workers' drop sends; wake
        // them anyway so that nothing is left stopped if that ever changes.
        for w in &self.workers {
            let _ = signal(w.pid(), "-CONT");
        }
    }
}

/// Longest a fault hook may take.
const HOOK_TIMEOUT: Duration = Duration::from_secs(30);

/// An outside command run as `COMMAND FAULT NODE` for each fault (`kill edge0`), and for each
/// change of conditions it shapes as `COMMAND` followed by every change's words, `rate FROM->TO
/// MBPS` or `speed NODE SHARE` (one run per change of the trace: `rate device->edge0 1.1 rate
/// device->edge1 1.1`); it must exit 0 once done.
pub struct HookFaults {
    command: PathBuf,
}

impl HookFaults {
    /// Faults through `command`.
    pub fn new(command: PathBuf) -> HookFaults {
        HookFaults { command }
    }
}

impl FaultInjector for HookFaults {
    fn inject(&mut self, fault: Fault, node: &str) -> Result<()> {
        self.call(&[fault.name(), node])
    }

    fn shape(&mut self, changes: &[Shaping]) -> Result<()> {
        if changes.is_empty() {
            return Ok(());
        }
        let args: Vec<String> = changes.iter().flat_map(Shaping::args).collect();
        self.call(&args.iter().map(String::as_str).collect::<Vec<_>>())
    }
}

impl HookFaults {
    /// Runs the hook with `args`, within [`HOOK_TIMEOUT`].
    fn call(&self, args: &[&str]) -> Result<()> {
        let hook = self.command.display().to_string();
        let line = args.join(" ");
        let failed = |e: String| SessionError::invalid(format!("fault hook `{hook} {line}`: {e}"));
        let mut child = Command::new(&self.command)
            .args(args)
            .spawn()
            .map_err(|e| failed(e.to_string()))?;
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().map_err(|e| failed(e.to_string()))? {
                return match status.success() {
                    true => Ok(()),
                    false => Err(failed(status.to_string())),
                };
            }
            if start.elapsed() > HOOK_TIMEOUT {
                let _ = child.kill();
                let _ = child.wait();
                return Err(failed(format!("still running after {HOOK_TIMEOUT:?}")));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Plays faults through an injector and remembers which nodes it left stopped or dead.
pub struct FaultPlayer {
    injector: Box<dyn FaultInjector>,
    broken: BTreeMap<String, Fault>,
}

impl FaultPlayer {
    /// Plays faults through `injector`.
    pub fn new(injector: Box<dyn FaultInjector>) -> FaultPlayer {
        FaultPlayer {
            injector,
            broken: BTreeMap::new(),
        }
    }

    /// Does `fault` to `node`.
    pub fn inject(&mut self, fault: Fault, node: &str) -> Result<()> {
        self.injector.inject(fault, node)?;
        match fault {
            Fault::Kill | Fault::Stop | Fault::Cut => {
                self.broken.insert(node.to_string(), fault);
            }
            Fault::Resume | Fault::Restart | Fault::Restore => {
                self.broken.remove(node);
            }
        }
        Ok(())
    }

    /// Makes `changes` outside the emulation, at once.
    pub fn shape(&mut self, changes: &[Shaping]) -> Result<()> {
        self.injector.shape(changes)
    }

    /// Undoes what the faults left: stopped nodes resumed, dead ones restarted. Returns what
    /// it did.
    pub fn heal(&mut self) -> Result<Vec<(Fault, String)>> {
        let broken = std::mem::take(&mut self.broken);
        let mut done = Vec::new();
        for (node, fault) in broken {
            let cure = match fault {
                Fault::Stop => Fault::Resume,
                Fault::Cut => Fault::Restore,
                _ => Fault::Restart,
            };
            self.injector.inject(cure, &node)?;
            done.push((cure, node));
        }
        Ok(done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// Records the faults it is asked for.
    struct Recorder(Arc<Mutex<Vec<(Fault, String)>>>);

    impl FaultInjector for Recorder {
        fn inject(&mut self, fault: Fault, node: &str) -> Result<()> {
            self.0.lock().unwrap().push((fault, node.to_string()));
            Ok(())
        }
    }

    #[test]
    fn healing_resumes_the_stopped_and_restarts_the_dead() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut p = FaultPlayer::new(Box::new(Recorder(log.clone())));
        p.inject(Fault::Stop, "edge0").unwrap();
        p.inject(Fault::Kill, "edge1").unwrap();
        p.inject(Fault::Stop, "cloud").unwrap();
        p.inject(Fault::Resume, "cloud").unwrap();
        p.inject(Fault::Cut, "edge0->cloud").unwrap();
        let healed = p.heal().unwrap();
        assert_eq!(
            healed,
            [
                (Fault::Resume, "edge0".to_string()),
                (Fault::Restore, "edge0->cloud".to_string()),
                (Fault::Restart, "edge1".to_string())
            ]
        );
        assert_eq!(log.lock().unwrap().len(), 8);
        assert!(p.heal().unwrap().is_empty());
    }

    #[test]
    fn a_hook_that_fails_is_an_error_naming_it() {
        let mut h = HookFaults::new(PathBuf::from("false"));
        let e = h.inject(Fault::Kill, "edge0").unwrap_err().to_string();
        assert!(e.contains("fault hook `false kill edge0`"), "{e}");
        let mut h = HookFaults::new(PathBuf::from("true"));
        h.inject(Fault::Kill, "edge0").unwrap();
    }

    #[test]
    fn changes_of_conditions_reach_a_hook_and_a_local_cluster_refuses_them() {
        let dir = tempfile::tempdir().unwrap();
        let (hook, said) = (dir.path().join("hook"), dir.path().join("said"));
        let script = format!("#!/bin/sh\necho \"$@\" >> '{}'\n", said.display());
        std::fs::write(&hook, script).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut p = FaultPlayer::new(Box::new(HookFaults::new(hook)));
        let changes = [
            Shaping::Rate {
                from: "device".into(),
                to: "edge0".into(),
                mbps: 1.1,
            },
            Shaping::Speed {
                node: "edge1".into(),
                share: 0.125,
            },
        ];
        p.shape(&changes).unwrap();
        assert_eq!(
            std::fs::read_to_string(&said).unwrap(),
            "rate device->edge0 1.1 speed edge1 0.125\n"
        );
        let mut local = FaultPlayer::new(Box::new(LocalFaults::new(Vec::new())));
        let e = local.shape(&changes).unwrap_err().to_string();
        assert!(
            e.contains("cannot shape link device->edge0 to 1.1 Mbit/s"),
            "{e}"
        );
    }
}
