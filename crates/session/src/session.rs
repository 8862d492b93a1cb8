//! A device's session with its cluster: the driver (this process is the device node) and the
//! emulation in force, which every node follows whatever plan is deployed.

use crate::compile::Compiled;
use crate::error::{Context, Result, SessionError};
use crate::faults::{FaultPlayer, Shaping};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tiersplit_adapt::Fault;
use tiersplit_exec::EngineSpec;
use tiersplit_runtime::tls::NodeIdentity;
use tiersplit_runtime::Worker;
use tiersplit_runtime::{ClusterDriver, Emulation, HealthConfig};

/// The device side of a cluster: deploys compiled plans, feeds frames, reads measurements.
pub struct Session {
    /// The cluster driver: this process as the device node.
    pub driver: ClusterDriver,
    emulation: Emulation,
    /// What plays a trace's faults on the nodes' processes, when one was given.
    faults: Option<Arc<Mutex<FaultPlayer>>>,
}

/// How the device reaches its nodes.
#[derive(Debug, Clone)]
pub struct Connect {
    /// The device's node name in the scenario.
    pub device: String,
    /// The address the device listens on for results and tensors (`127.0.0.1:0`: any port).
    pub listen: String,
    /// Every other node: (name, control address).
    pub nodes: Vec<(String, String)>,
    /// Bound on every network wait and on any frame's answer.
    pub timeout: Duration,
    /// The device's certificate for mutual TLS on both planes, when the cluster has them
    /// ([`crate::certs`]).
    pub tls: Option<NodeIdentity>,
    /// The engine the device runs its own parts on.
    pub engine: EngineSpec,
    /// How the device watches the nodes (heartbeats, hung-node verdict, its lease on them).
    pub health: HealthConfig,
}

impl Connect {
    /// Device `device` on any loopback port, reaching `nodes` (name, address) in plain
    /// HTTP/2, every wait bounded by `timeout`.
    pub fn new(device: &str, nodes: Vec<(String, String)>, timeout: Duration) -> Connect {
        Connect {
            device: device.to_string(),
            listen: "127.0.0.1:0".into(),
            nodes,
            timeout,
            tls: None,
            engine: EngineSpec::default(),
            health: HealthConfig::default(),
        }
    }
}

impl Session {
    /// Starts the device node and connects to every other node.
    pub async fn connect(c: &Connect) -> Result<Session> {
        let device = Worker::with_executor(&c.device, c.engine.executor()?);
        let mut driver =
            ClusterDriver::start_on(device, &c.listen, &c.nodes, c.timeout, c.tls.as_ref()).await?;
        if c.health != HealthConfig::default() {
            driver.watch_health(c.health);
        }
        Ok(Session {
            driver,
            emulation: Emulation::default(),
            faults: None,
        })
    }

    /// Plays traces' faults with `player` from now on.
    pub fn set_faults(&mut self, player: FaultPlayer) {
        self.faults = Some(Arc::new(Mutex::new(player)));
    }

    /// Starts doing `fault` to `node`, off the async threads (a restart waits for the node to
    /// listen again), so frames keep flowing meanwhile; the handle says how it went.
    pub fn start_inject(
        &mut self,
        fault: Fault,
        node: &str,
    ) -> Result<tokio::task::JoinHandle<Result<()>>> {
        let player = self.faults.clone().ok_or_else(|| {
            SessionError::invalid(format!(
                "the trace does {fault} to {node}, but this session has no way to fault nodes"
            ))
        })?;
        let node = node.to_string();
        Ok(tokio::task::spawn_blocking(move || {
            player.lock().expect("not poisoned").inject(fault, &node)
        }))
    }

    /// Starts making `changes` outside the emulation (the testbed's kernel shapes the links and
    /// caps the nodes), through the session's fault hook, off the async threads.
    pub fn start_shape(
        &mut self,
        changes: Vec<Shaping>,
    ) -> Result<tokio::task::JoinHandle<Result<()>>> {
        let player = match (changes.first(), self.faults.clone()) {
            (None, _) => return Ok(tokio::task::spawn(async { Ok(()) })),
            (Some(c), None) => {
                return Err(SessionError::invalid(format!(
                    "the trace changes {c}, but this session has no way to shape links or nodes"
                )))
            }
            (Some(_), Some(p)) => p,
        };
        Ok(tokio::task::spawn_blocking(move || {
            player.lock().expect("not poisoned").shape(&changes)
        }))
    }

    /// Makes `changes` as [`Session::start_shape`] does and waits until they are done.
    pub async fn shape(&mut self, changes: Vec<Shaping>) -> Result<()> {
        self.start_shape(changes)?
            .await
            .map_err(|e| SessionError::Task(e.to_string()))?
    }

    /// Undoes what the faults left (stopped nodes resumed, dead ones restarted), then waits
    /// within the driver's timeout until every node answers and holds this session again
    /// (re-admitting the restarted ones), so the next run starts on the whole cluster.
    pub async fn heal(&mut self) -> Result<Vec<(Fault, String)>> {
        let Some(player) = self.faults.clone() else {
            return Ok(Vec::new());
        };
        let healed =
            tokio::task::spawn_blocking(move || player.lock().expect("not poisoned").heal())
                .await
                .map_err(|e| SessionError::Task(e.to_string()))??;
        let deadline = tokio::time::Instant::now() + self.driver.timeout;
        loop {
            let health = self.driver.health();
            if health.values().all(|h| h.is_up()) {
                return Ok(healed);
            }
            for (node, h) in health {
                if h.answers() && !h.is_up() {
                    self.driver.readmit(&node).await?;
                }
            }
            if tokio::time::Instant::now() >= deadline {
                let down: Vec<String> = self
                    .driver
                    .down_nodes()
                    .into_iter()
                    .map(|(n, why)| format!("{n} ({why})"))
                    .collect();
                return Err(SessionError::invalid(format!(
                    "after healing the faults, nodes still not up within {:?}: {}",
                    self.driver.timeout,
                    down.join(", ")
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Every node's engine as it reported it, for reports: `device ort x1, edge0 tract x2`.
    pub fn engines_line(&self) -> String {
        self.driver
            .engines()
            .iter()
            .map(|(node, engine, threads)| format!("{node} {engine} x{threads}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The nodes that run another engine or thread count than `scenario` asks of them, each
    /// said in words (a worker started elsewhere with other `--engine` or `--threads`): its
    /// parts run on the engine it has, but the plan's times assumed the scenario's.
    pub fn engine_mismatches(&self, scenario: &tiersplit_cost::Scenario) -> Vec<String> {
        let mut out = Vec::new();
        for (node, engine, threads) in self.driver.engines() {
            let Some(spec) = scenario.nodes.iter().find(|n| n.name == node) else {
                continue;
            };
            let asked = crate::node_engine(spec);
            // `auto` (and nothing) leaves the engine to the node.
            let named = matches!(
                spec.engine,
                Some(tiersplit_cost::EngineName::Tract | tiersplit_cost::EngineName::Ort)
            );
            if (named && asked.kind.name() != engine) || asked.threads != threads {
                out.push(format!(
                    "node {node} runs {engine} x{threads}, the scenario asks for {asked}"
                ));
            }
        }
        out
    }

    /// The emulation every node follows now.
    pub fn emulation(&self) -> &Emulation {
        &self.emulation
    }

    /// Sets the emulation on every node, now (frames in flight included).
    pub async fn set_emulation(&mut self, e: Emulation) -> Result<()> {
        self.driver.set_emulation(e.clone()).await?;
        self.emulation = e;
        Ok(())
    }

    /// Uploads a compiled plan's models and starts it for the next frame fed. Returns how
    /// many models the nodes had cached.
    pub async fn deploy(&mut self, c: &Compiled) -> Result<usize> {
        self.driver
            .deploy(&c.deployment, &c.models)
            .await
            .with_context(|| format!("deploying the {} plan", c.deployment.id))
    }
}
