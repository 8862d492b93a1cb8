//! A cluster inside this process: one [`Worker`] per non-device node of a scenario, each on
//! its own ephemeral loopback port, serving the real control and data planes over mutual TLS
//! with certificates made for the sandbox. For tests and for applications that want a whole
//! cluster without starting processes.

use crate::error::{Result, SessionError};
use crate::node_engine;
use crate::session::Connect;
use std::time::Duration;
use tiersplit_cost::{Scenario, Tier};
use tiersplit_exec::EngineSpec;
use tiersplit_runtime::tls::{ClusterCa, NodeIdentity};
use tiersplit_runtime::Worker;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// Workers serving in this process, stopped when dropped.
pub struct Sandbox {
    /// (node name, address) of every worker.
    pub nodes: Vec<(String, String)>,
    device: String,
    /// The device's certificate of the sandbox's CA.
    identity: NodeIdentity,
    /// The engine the device runs.
    device_engine: EngineSpec,
    tasks: Vec<JoinHandle<std::io::Result<()>>>,
}

impl Sandbox {
    /// Starts a worker for every node of `scenario` but the device. Must be called within a
    /// tokio runtime, which then runs them.
    pub async fn start(scenario: &Scenario) -> Result<Sandbox> {
        let device = scenario
            .nodes
            .iter()
            .find(|n| n.tier == Tier::Device)
            .ok_or_else(|| SessionError::invalid("the scenario has no device"))?
            .name
            .clone();
        let ca = ClusterCa::generate()?;
        let mut nodes = Vec::new();
        let mut tasks = Vec::new();
        for n in scenario.nodes.iter().filter(|n| n.tier != Tier::Device) {
            let worker = Worker::with_executor(&n.name, node_engine(n).executor()?)
                .with_identity(&ca.issue(&n.name)?)?;
            let listener = TcpListener::bind("127.0.0.1:0")
                .await
                .map_err(|e| SessionError::invalid(format!("node {}: {e}", n.name)))?;
            let addr = listener
                .local_addr()
                .map_err(|e| SessionError::invalid(format!("node {}: {e}", n.name)))?;
            tasks.push(tokio::spawn(worker.serve(listener)));
            nodes.push((n.name.clone(), addr.to_string()));
        }
        Ok(Sandbox {
            nodes,
            identity: ca.issue(&device)?,
            device,
            device_engine: node_engine(scenario.device()),
            tasks,
        })
    }

    /// How the scenario's device reaches this cluster, every wait bounded by `timeout`.
    pub fn connect(&self, timeout: Duration) -> Connect {
        Connect {
            tls: Some(self.identity.clone()),
            engine: self.device_engine,
            ..Connect::new(&self.device, self.nodes.clone(), timeout)
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}
