//! A device's session with its cluster: the driver (this process is the device node) and the
//! emulation in force, which every node follows whatever plan is deployed.

use crate::compile::Compiled;
use crate::error::{Context, Result};
use std::time::Duration;
use tiersplit_exec::EngineSpec;
use tiersplit_runtime::tls::NodeIdentity;
use tiersplit_runtime::Worker;
use tiersplit_runtime::{ClusterDriver, Emulation};

/// The device side of a cluster: deploys compiled plans, feeds frames, reads measurements.
pub struct Session {
    /// The cluster driver: this process as the device node.
    pub driver: ClusterDriver,
    emulation: Emulation,
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
        }
    }
}

impl Session {
    /// Starts the device node and connects to every other node.
    pub async fn connect(c: &Connect) -> Result<Session> {
        let device = Worker::with_executor(&c.device, c.engine.executor()?);
        let driver =
            ClusterDriver::start_on(device, &c.listen, &c.nodes, c.timeout, c.tls.as_ref()).await?;
        Ok(Session {
            driver,
            emulation: Emulation::default(),
        })
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
