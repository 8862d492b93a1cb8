//! Worker processes on loopback: a one-machine cluster of real processes (the demo's), each a
//! `tiersplit worker` started from the given binary, speaking mutual TLS by default with
//! certificates made for the cluster when it starts.

use crate::certs;
use crate::error::{Result, SessionError};
use crate::node_engine;
use crate::session::Connect;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Duration;
use tiersplit_cost::{Scenario, Tier};
use tiersplit_exec::{Accelerator, EngineSpec};
use tiersplit_runtime::tls::NodeIdentity;

/// A `tiersplit worker` child process, killed when dropped.
pub struct LocalWorker {
    child: Child,
    /// The node it serves.
    pub name: String,
    /// The address it listens on, as it printed it.
    pub addr: String,
    /// How it was started, to start it again.
    spec: WorkerSpec,
}

/// What a local worker is started from.
#[derive(Clone)]
struct WorkerSpec {
    exe: PathBuf,
    certs: Option<PathBuf>,
    engine: EngineSpec,
}

impl LocalWorker {
    /// Starts `exe worker` as node `name` on an ephemeral loopback port and waits (bounded)
    /// for the address it prints.
    /// With `certs`, it speaks mutual TLS with the certificates there; it runs its parts on
    /// `engine`.
    pub fn start(
        exe: &Path,
        name: &str,
        certs: Option<&Path>,
        engine: &EngineSpec,
    ) -> Result<LocalWorker> {
        let spec = WorkerSpec {
            exe: exe.to_path_buf(),
            certs: certs.map(Path::to_path_buf),
            engine: *engine,
        };
        LocalWorker::start_at(spec, name, "127.0.0.1:0")
    }

    fn start_at(spec: WorkerSpec, name: &str, listen: &str) -> Result<LocalWorker> {
        let failed = |e: String| SessionError::invalid(format!("worker {name}: {e}"));
        let engine = &spec.engine;
        let mut command = Command::new(&spec.exe);
        command.args(["worker", "--listen", listen, "--name", name]);
        command.args(["--engine", engine.kind.name()]);
        command.arg("--threads").arg(engine.threads.to_string());
        if engine.accelerator == Accelerator::Cuda {
            command.args(["--accelerator", "cuda"]);
        }
        if let Some(dir) = &spec.certs {
            command.arg("--certs").arg(dir);
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| failed(format!("cannot start {}: {e}", spec.exe.display())))?;
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
            spec,
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

    /// The process's id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the process (SIGKILL) and waits for it.
    pub fn kill(&mut self) -> Result<()> {
        let failed =
            |e: std::io::Error| SessionError::invalid(format!("killing worker {}: {e}", self.name));
        self.child.kill().map_err(failed)?;
        self.child.wait().map_err(failed)?;
        Ok(())
    }

    /// Kills the process if it runs and starts it again at the same address (the port may take
    /// a moment to be free: tried for up to 2 s).
    pub fn restart(&mut self) -> Result<()> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let mut last = None;
        for _ in 0..40 {
            match LocalWorker::start_at(self.spec.clone(), &self.name, &self.addr) {
                Ok(w) if w.addr == self.addr => {
                    *self = w;
                    return Ok(());
                }
                Ok(w) => last = Some(format!("it came back at {} instead", w.addr)),
                Err(e) => last = Some(e.to_string()),
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(SessionError::invalid(format!(
            "worker {} could not start again at {}: {}",
            self.name,
            self.addr,
            last.unwrap_or_default()
        )))
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
    /// The device's certificate when the cluster speaks mutual TLS.
    pub device: Option<NodeIdentity>,
    /// The engine the device runs (the scenario's, or the fastest installed).
    pub device_engine: EngineSpec,
    /// Certificates made for this cluster, deleted with it.
    _made: Option<MadeCerts>,
}

impl StartedNodes {
    /// How the device `device` reaches these nodes: over mutual TLS when they speak it.
    pub fn connect(&self, device: &str, timeout: Duration) -> Connect {
        Connect {
            tls: self.device.clone(),
            engine: self.device_engine,
            ..Connect::new(device, self.remotes.clone(), timeout)
        }
    }
}

/// How a one-machine cluster's connections are secured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalTls {
    /// Mutual TLS with a CA and certificates made now for this cluster and deleted with it
    /// (the default); plaintext when some node runs elsewhere (it cannot have them).
    OnTheFly,
    /// Mutual TLS with the certificates in this directory (`tiersplit certs`), every node's
    /// and the device's among them.
    Dir(PathBuf),
    /// Plaintext, to measure what TLS costs.
    Off,
}

/// A directory of certificates made for one cluster, removed when dropped.
struct MadeCerts(PathBuf);

impl MadeCerts {
    fn make(scenario: &Scenario) -> Result<MadeCerts> {
        static SERIAL: AtomicU64 = AtomicU64::new(0);
        let n = SERIAL.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("tiersplit-certs-{}-{n}", std::process::id()));
        let made = MadeCerts(dir);
        certs::init_ca(&made.0, true)?;
        for node in &scenario.nodes {
            certs::issue(&made.0, &node.name)?;
        }
        Ok(made)
    }
}

impl Drop for MadeCerts {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// [`start_nodes_with`] with mutual TLS on certificates made for the cluster.
pub fn start_nodes(scenario: &Scenario, exe: &Path) -> Result<StartedNodes> {
    start_nodes_with(scenario, exe, LocalTls::OnTheFly)
}

/// Starts a local worker process of `exe` for each non-device node of `scenario` that has no
/// `address`; the others are reached where the scenario says. `tls` says how they connect.
pub fn start_nodes_with(scenario: &Scenario, exe: &Path, tls: LocalTls) -> Result<StartedNodes> {
    let elsewhere = scenario
        .nodes
        .iter()
        .any(|n| n.tier != Tier::Device && n.address.is_some());
    let made = match tls {
        LocalTls::OnTheFly if !elsewhere => Some(MadeCerts::make(scenario)?),
        LocalTls::OnTheFly => {
            tracing::warn!("nodes run elsewhere and no certificates were given: plaintext");
            None
        }
        _ => None,
    };
    let dir = match (&tls, &made) {
        (LocalTls::Dir(d), _) => Some(d.clone()),
        (_, Some(m)) => Some(m.0.clone()),
        _ => None,
    };
    let mut remotes = Vec::new();
    let mut local = Vec::new();
    for n in scenario.nodes.iter().filter(|n| n.tier != Tier::Device) {
        match &n.address {
            Some(a) => remotes.push((n.name.clone(), a.clone())),
            None => {
                let w = LocalWorker::start(exe, &n.name, dir.as_deref(), &node_engine(n))?;
                remotes.push((n.name.clone(), w.addr.clone()));
                local.push(w);
            }
        }
    }
    let device = match &dir {
        Some(d) => Some(certs::read_identity(d, &scenario.device().name)?),
        None => None,
    };
    Ok(StartedNodes {
        remotes,
        local,
        device,
        device_engine: node_engine(scenario.device()),
        _made: made,
    })
}
