//! Node health from heartbeats on the control connections the device already holds: a hello
//! every `interval`, each bounded by `timeout`. A node whose connection is refused or reset
//! (its process died; its host rebooted) is down at the first failed heartbeat; a node that
//! takes longer than `timeout` to answer `misses` heartbeats in a row (hung, stopped, or its
//! host gone without a word) is down then. A down node that answers again is up again.
//!
//! The decision is pure ([`Beats`]); the I/O is one task per node ([`HealthWatch`]).

use crate::control_service::pb::control_client::ControlClient;
use crate::control_service::pb::HelloRequest;
use crate::control_service::CONTROL_VERSION;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tonic::transport::Channel;

/// How nodes are watched.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HealthConfig {
    /// Time between the end of one heartbeat and the next.
    pub interval: Duration,
    /// A heartbeat unanswered this long is a miss.
    pub timeout: Duration,
    /// Misses in a row that make a node down (a refused or reset connection needs one).
    pub misses: u32,
}

impl Default for HealthConfig {
    /// A killed node is seen within about 0.3 s, a hung one within about 1.5 s.
    fn default() -> HealthConfig {
        HealthConfig {
            interval: Duration::from_millis(250),
            timeout: Duration::from_millis(500),
            misses: 2,
        }
    }
}

/// What one heartbeat found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Beat {
    /// The node answered.
    Answered,
    /// No answer within the timeout.
    Late,
    /// The connection was refused, reset or closed: nothing is listening there now.
    Refused(String),
}

/// A node's health as the heartbeats see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeHealth {
    /// Answering.
    Up,
    /// Not answering, since `since`, for `cause`.
    Down {
        /// When the heartbeat made it down.
        since: Instant,
        /// Why, in words: "connection refused: ...", "no answer to 2 heartbeats in 500 ms".
        cause: String,
    },
}

impl NodeHealth {
    /// Whether the node is up.
    pub fn is_up(&self) -> bool {
        matches!(self, NodeHealth::Up)
    }
}

/// The decision of one node's heartbeats: pure, so it is tested without sockets.
#[derive(Debug, Clone)]
pub struct Beats {
    config: HealthConfig,
    late_in_a_row: u32,
    health: NodeHealth,
}

impl Beats {
    /// A node just connected (up).
    pub fn new(config: HealthConfig) -> Beats {
        Beats {
            config,
            late_in_a_row: 0,
            health: NodeHealth::Up,
        }
    }

    /// The node's health after heartbeat `b` at `now`; `Some` when it changed.
    pub fn record(&mut self, b: Beat, now: Instant) -> Option<NodeHealth> {
        let next = match b {
            Beat::Answered => {
                self.late_in_a_row = 0;
                NodeHealth::Up
            }
            Beat::Late => {
                self.late_in_a_row += 1;
                if self.late_in_a_row < self.config.misses.max(1) {
                    return None;
                }
                NodeHealth::Down {
                    since: now,
                    cause: format!(
                        "no answer to {} heartbeats in a row within {} ms",
                        self.late_in_a_row,
                        self.config.timeout.as_millis()
                    ),
                }
            }
            Beat::Refused(why) => NodeHealth::Down {
                since: now,
                cause: format!("connection refused or reset: {why}"),
            },
        };
        if next.is_up() == self.health.is_up() {
            return None;
        }
        self.health = next.clone();
        Some(next)
    }

    /// The node's health now.
    pub fn health(&self) -> &NodeHealth {
        &self.health
    }
}

/// Every watched node's health, shared with the heartbeat tasks.
type Table = Arc<Mutex<BTreeMap<String, NodeHealth>>>;

/// Heartbeat tasks for a set of nodes; they stop when it is dropped.
pub struct HealthWatch {
    table: Table,
    tasks: Vec<JoinHandle<()>>,
}

impl HealthWatch {
    /// Watches every `(name, client)` as `config` says, heartbeats saying they come from
    /// `device`.
    pub fn start(
        device: &str,
        nodes: Vec<(String, ControlClient<Channel>)>,
        config: HealthConfig,
    ) -> HealthWatch {
        let table: Table = Arc::new(Mutex::new(
            nodes
                .iter()
                .map(|(n, _)| (n.clone(), NodeHealth::Up))
                .collect(),
        ));
        let tasks = nodes
            .into_iter()
            .map(|(name, client)| {
                let table = table.clone();
                tokio::spawn(heartbeat(device.to_string(), name, client, config, table))
            })
            .collect();
        HealthWatch { table, tasks }
    }

    /// Every watched node's health now.
    pub fn snapshot(&self) -> BTreeMap<String, NodeHealth> {
        self.table.lock().expect("not poisoned").clone()
    }
}

impl Drop for HealthWatch {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// One node's heartbeats, forever (until aborted).
async fn heartbeat(
    device: String,
    name: String,
    mut client: ControlClient<Channel>,
    config: HealthConfig,
    table: Table,
) {
    let mut beats = Beats::new(config);
    loop {
        tokio::time::sleep(config.interval).await;
        let hello = client.hello(HelloRequest {
            protocol_version: CONTROL_VERSION,
            client: device.clone(),
        });
        let beat = match tokio::time::timeout(config.timeout, hello).await {
            Ok(Ok(_)) => Beat::Answered,
            Ok(Err(s)) if s.code() == tonic::Code::Unavailable => {
                Beat::Refused(s.message().to_string())
            }
            // Any other answer (even an error status) came from a live node.
            Ok(Err(_)) => Beat::Answered,
            Err(_) => Beat::Late,
        };
        if let Some(h) = beats.record(beat, Instant::now()) {
            match &h {
                NodeHealth::Up => tracing::info!(node = %name, "node answers again"),
                NodeHealth::Down { cause, .. } => {
                    tracing::warn!(node = %name, "node down: {cause}")
                }
            }
            table.lock().expect("not poisoned").insert(name.clone(), h);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_connection_is_down_at_once_and_late_answers_after_the_misses() {
        let now = Instant::now();
        let mut b = Beats::new(HealthConfig::default());
        assert_eq!(b.record(Beat::Answered, now), None);
        assert!(matches!(
            b.record(Beat::Refused("reset".into()), now),
            Some(NodeHealth::Down { .. })
        ));
        // Still down: no change reported.
        assert_eq!(b.record(Beat::Refused("reset".into()), now), None);
        assert_eq!(b.record(Beat::Answered, now), Some(NodeHealth::Up));
        // One late heartbeat is noise; two in a row are a hung node.
        assert_eq!(b.record(Beat::Late, now), None);
        assert_eq!(b.record(Beat::Answered, now), None);
        assert_eq!(b.record(Beat::Late, now), None);
        match b.record(Beat::Late, now) {
            Some(NodeHealth::Down { cause, .. }) => assert!(cause.contains("2 heartbeats")),
            other => panic!("{other:?}"),
        }
        assert!(!b.health().is_up());
    }
}
