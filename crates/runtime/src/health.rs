//! Node health from heartbeats on the control connections the device already holds: a hello
//! every `interval`, each bounded by `timeout`. A node whose connection is refused or reset
//! (its process died; its host rebooted) is down at the first failed heartbeat; a node that
//! takes longer than `timeout` to answer `misses` heartbeats in a row (hung, stopped, or its
//! host gone without a word) is down then. A node that answers but no longer holds the device's
//! session (it restarted between two heartbeats, or stayed hung past the lease) has lost what
//! the device deployed there: it is `Restarted` until the device re-admits it. Each heartbeat
//! names the device's session and renews its lease on the node, so a device that dies leaves
//! nothing behind once the lease runs out.
//!
//! The decision is pure ([`Beats`]); the I/O is one task per node ([`HealthWatch`]).

use crate::control_service::pb::control_client::ControlClient;
use crate::control_service::pb::HelloRequest;
use crate::control_service::CONTROL_VERSION;
use crate::ids::SessionId;
use std::collections::{BTreeMap, BTreeSet};
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
    /// How long a node keeps the device's session after the last heartbeat renewed it.
    pub lease: Duration,
}

impl Default for HealthConfig {
    /// A killed node is seen within about 0.3 s, a hung one within about 1.5 s; a dead
    /// device's session is dropped 10 s after its last heartbeat.
    fn default() -> HealthConfig {
        HealthConfig {
            interval: Duration::from_millis(250),
            timeout: Duration::from_millis(500),
            misses: 2,
            lease: Duration::from_secs(10),
        }
    }
}

/// What one heartbeat found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Beat {
    /// The node answered, saying whether it holds the device's session.
    Answered {
        /// Whether the node holds the session (false before the device opened it there, and
        /// after the node restarted or the lease ran out).
        holds: bool,
        /// The node process's instance (0 when unknown): a new one is a restart.
        instance: u64,
    },
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
    /// Answering, but without the device's session since `since`: it restarted (or stayed
    /// hung past the lease), and what was deployed there is gone until the device re-admits it.
    Restarted {
        /// When a heartbeat found the session gone.
        since: Instant,
    },
}

impl NodeHealth {
    /// Whether the node is up.
    pub fn is_up(&self) -> bool {
        matches!(self, NodeHealth::Up)
    }

    /// Whether the node answers (up, or restarted and waiting to be re-admitted).
    pub fn answers(&self) -> bool {
        !matches!(self, NodeHealth::Down { .. })
    }

    /// Why the node is not up, in words; `None` when it is.
    pub fn cause(&self) -> Option<String> {
        match self {
            NodeHealth::Up => None,
            NodeHealth::Down { cause, .. } => Some(cause.clone()),
            NodeHealth::Restarted { .. } => Some(
                "it no longer holds this device's session (restarted, or hung past the lease)"
                    .into(),
            ),
        }
    }
}

/// The decision of one node's heartbeats: pure, so it is tested without sockets.
#[derive(Debug, Clone)]
pub struct Beats {
    config: HealthConfig,
    late_in_a_row: u32,
    /// Whether the node has held the session: from then on, an answer without it means the
    /// node lost it.
    held: bool,
    /// The instance the node answered with last (0: none yet).
    instance: u64,
    health: NodeHealth,
}

impl Beats {
    /// A node just connected (up).
    pub fn new(config: HealthConfig) -> Beats {
        Beats {
            config,
            late_in_a_row: 0,
            held: false,
            instance: 0,
            health: NodeHealth::Up,
        }
    }

    /// The node's health after heartbeat `b` at `now`; `Some` when it changed.
    pub fn record(&mut self, b: Beat, now: Instant) -> Option<NodeHealth> {
        let next = match b {
            Beat::Answered { holds, instance } => {
                self.late_in_a_row = 0;
                let new_process = self.instance != 0 && instance != 0 && instance != self.instance;
                if instance != 0 {
                    self.instance = instance;
                }
                let lost = new_process || (self.held && !holds);
                self.held |= holds;
                match &self.health {
                    // Once restarted, it stays so until the device re-admits it.
                    NodeHealth::Restarted { .. } => return None,
                    _ if lost => NodeHealth::Restarted { since: now },
                    // Up; or not yet holding a session the device has not opened there yet.
                    _ => NodeHealth::Up,
                }
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
        if std::mem::discriminant(&next) == std::mem::discriminant(&self.health) {
            return None;
        }
        self.health = next.clone();
        Some(next)
    }

    /// The node's health now.
    pub fn health(&self) -> &NodeHealth {
        &self.health
    }

    /// The device re-admitted the node (its session open there again): up.
    pub fn readmitted(&mut self) {
        if matches!(self.health, NodeHealth::Restarted { .. }) {
            self.health = NodeHealth::Up;
        }
    }
}

/// A link found cut: its sender's pings go unanswered (or it cannot dial its peer) while the
/// peer itself still answers the device's heartbeats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CutLink {
    /// The sending node.
    pub from: String,
    /// The receiving node.
    pub to: String,
    /// Why, as its sender said.
    pub cause: String,
}

/// The links the nodes report down, each with when the device first saw it so: pure, so the
/// cut-or-dead decision is tested without sockets.
#[derive(Debug, Default)]
pub struct LinkReports {
    down: BTreeMap<(String, String), (Instant, String)>,
}

impl LinkReports {
    /// Node `from`'s report at `now`: the links it watches that are down, (to, why). Its links
    /// not listed are up.
    pub fn report(&mut self, from: &str, down: &[(String, String)], now: Instant) {
        self.down
            .retain(|(f, t), _| f != from || down.iter().any(|(to, _)| to == t));
        for (to, cause) in down {
            self.down
                .entry((from.to_string(), to.clone()))
                .and_modify(|e| e.1 = cause.clone())
                .or_insert((now, cause.clone()));
        }
    }

    /// The links down whose sender is up and whose receiver answered since the link was first
    /// seen down (`answered_since(node, t)`): cut links, where a dead or hung receiver would
    /// have stopped answering too.
    pub fn cut(
        &self,
        up: impl Fn(&str) -> bool,
        answered_since: impl Fn(&str, Instant) -> bool,
    ) -> Vec<CutLink> {
        self.down
            .iter()
            .filter(|((from, to), (since, _))| up(from) && answered_since(to, *since))
            .map(|((from, to), (_, cause))| CutLink {
                from: from.clone(),
                to: to.clone(),
                cause: cause.clone(),
            })
            .collect()
    }
}

/// Every watched node's health, shared with the heartbeat tasks.
type Table = Arc<Mutex<BTreeMap<String, NodeHealth>>>;

/// A time per node: when each last answered a heartbeat, or last came back up.
type NodeTimes = Arc<Mutex<BTreeMap<String, Instant>>>;

/// Records now as `node`'s time in `times`.
fn mark_now(times: &NodeTimes, node: &str) {
    let mut times = times.lock().expect("not poisoned");
    times.insert(node.to_string(), Instant::now());
}

/// A node back up after being down or restarted leaves its links reported down for a moment
/// (their watch dials again every 250 ms): for this long after it, they are not called cut.
const SETTLE: Duration = Duration::from_millis(750);

/// Heartbeat tasks for a set of nodes; they stop when it is dropped.
pub struct HealthWatch {
    table: Table,
    /// When each node last answered a heartbeat.
    answered: NodeTimes,
    /// When each node last came back up (answering again, or re-admitted).
    back: NodeTimes,
    links: Arc<Mutex<LinkReports>>,
    config: HealthConfig,
    tasks: Vec<JoinHandle<()>>,
}

impl HealthWatch {
    /// Watches every `(name, client)` as `config` says, heartbeats saying they come from
    /// `device` and renewing the lease of `session`.
    pub fn start(
        device: &str,
        session: SessionId,
        nodes: Vec<(String, ControlClient<Channel>)>,
        config: HealthConfig,
    ) -> HealthWatch {
        let table: Table = Arc::new(Mutex::new(
            nodes
                .iter()
                .map(|(n, _)| (n.clone(), NodeHealth::Up))
                .collect(),
        ));
        let now = Instant::now();
        let answered: NodeTimes = Arc::new(Mutex::new(
            nodes.iter().map(|(n, _)| (n.clone(), now)).collect(),
        ));
        let links = Arc::new(Mutex::new(LinkReports::default()));
        let back: NodeTimes = Arc::default();
        let tasks = nodes
            .into_iter()
            .map(|(name, client)| {
                let shared = (table.clone(), answered.clone(), links.clone(), back.clone());
                let hello = HelloRequest {
                    protocol_version: CONTROL_VERSION,
                    client: device.to_string(),
                    session: session.to_string(),
                    lease_ms: config.lease.as_millis().min(u32::MAX as u128) as u32,
                };
                tokio::spawn(heartbeat(hello, name, client, config, shared))
            })
            .collect();
        HealthWatch {
            table,
            answered,
            back,
            links,
            config,
            tasks,
        }
    }

    /// Every link reported down now, the device's own (`device`, whose report is `own`) among
    /// them.
    pub fn reported_down(
        &self,
        device: &str,
        own: &[(String, String)],
    ) -> BTreeSet<(String, String)> {
        let mut links = self.links.lock().expect("not poisoned");
        links.report(device, own, Instant::now());
        links.down.keys().cloned().collect()
    }

    /// The links found cut, the device's own (`device`, whose report is `own`) among them.
    pub fn cut_links(&self, device: &str, own: &[(String, String)]) -> Vec<CutLink> {
        let mut links = self.links.lock().expect("not poisoned");
        links.report(device, own, Instant::now());
        let table = self.table.lock().expect("not poisoned");
        let answered = self.answered.lock().expect("not poisoned");
        let back = self.back.lock().expect("not poisoned");
        let now = Instant::now();
        // A node back lately (from down, or re-admitted) reports, and is reported of, stale
        // link states until its watches dial again: neither end counts before it settled.
        let settled = |n: &str| back.get(n).is_none_or(|b| now > *b + SETTLE);
        links.cut(
            |n| n == device || (table.get(n).is_some_and(NodeHealth::is_up) && settled(n)),
            |n, since| {
                let from = match back.get(n) {
                    Some(b) => since.max(*b + SETTLE),
                    None => since,
                };
                n == device || answered.get(n).is_some_and(|at| *at > from)
            },
        )
    }

    /// Nodes up as far as the heartbeats have decided, but whose last answer is older than
    /// a heartbeat and its timeout: calls to them may hang, so quick ones skip them.
    pub fn suspect(&self) -> BTreeSet<String> {
        let now = Instant::now();
        let overdue = self.config.interval + self.config.timeout;
        self.answered
            .lock()
            .expect("not poisoned")
            .iter()
            .filter(|(_, at)| now.saturating_duration_since(**at) > overdue)
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// Every watched node's health now.
    pub fn snapshot(&self) -> BTreeMap<String, NodeHealth> {
        self.table.lock().expect("not poisoned").clone()
    }

    /// `node` holds the session again (the device re-admitted it): up from now, before the
    /// next heartbeat confirms it.
    pub fn readmitted(&self, node: &str) {
        if let Some(h) = self.table.lock().expect("not poisoned").get_mut(node) {
            *h = NodeHealth::Up;
        }
        mark_now(&self.back, node);
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
    hello: HelloRequest,
    name: String,
    mut client: ControlClient<Channel>,
    config: HealthConfig,
    (table, answered, links, back): (Table, NodeTimes, Arc<Mutex<LinkReports>>, NodeTimes),
) {
    let mut beats = Beats::new(config);
    loop {
        tokio::time::sleep(config.interval).await;
        // The device marks a re-admitted node up in the table; only it clears a restart.
        if table
            .lock()
            .expect("not poisoned")
            .get(&name)
            .is_some_and(NodeHealth::is_up)
        {
            beats.readmitted();
        }
        let call = client.hello(hello.clone());
        let beat = match tokio::time::timeout(config.timeout, call).await {
            Ok(Ok(r)) => {
                let r = r.into_inner();
                let down: Vec<(String, String)> =
                    r.links_down.into_iter().map(|l| (l.to, l.cause)).collect();
                links
                    .lock()
                    .expect("not poisoned")
                    .report(&name, &down, Instant::now());
                Beat::Answered {
                    holds: r.holds_session,
                    instance: r.instance,
                }
            }
            Ok(Err(s)) if s.code() == tonic::Code::Unavailable => {
                Beat::Refused(s.message().to_string())
            }
            // Any other answer (even an error status) came from a live node; whether it
            // holds the session is unknown, so nothing changes on that account.
            Ok(Err(_)) => Beat::Answered {
                holds: beats.held && !matches!(beats.health(), NodeHealth::Restarted { .. }),
                instance: 0,
            },
            Err(_) => Beat::Late,
        };
        if matches!(beat, Beat::Answered { .. }) {
            mark_now(&answered, &name);
        }
        if let Some(h) = beats.record(beat, Instant::now()) {
            if h.is_up() {
                mark_now(&back, &name);
            }
            match h.cause() {
                None => tracing::info!(node = %name, "node answers again"),
                Some(cause) => tracing::warn!(node = %name, "node lost: {cause}"),
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
        assert_eq!(
            b.record(
                Beat::Answered {
                    holds: true,
                    instance: 1
                },
                now
            ),
            None
        );
        assert!(matches!(
            b.record(Beat::Refused("reset".into()), now),
            Some(NodeHealth::Down { .. })
        ));
        // Still down: no change reported.
        assert_eq!(b.record(Beat::Refused("reset".into()), now), None);
        assert!(matches!(
            b.record(
                Beat::Answered {
                    holds: true,
                    instance: 1
                },
                now
            ),
            Some(NodeHealth::Up)
        ));
        // One late heartbeat is noise; two in a row are a hung node.
        assert_eq!(b.record(Beat::Late, now), None);
        assert_eq!(
            b.record(
                Beat::Answered {
                    holds: true,
                    instance: 1
                },
                now
            ),
            None
        );
        assert_eq!(b.record(Beat::Late, now), None);
        match b.record(Beat::Late, now) {
            Some(NodeHealth::Down { cause, .. }) => assert!(cause.contains("2 heartbeats")),
            other => panic!("{other:?}"),
        }
        assert!(!b.health().is_up());
    }

    #[test]
    fn a_node_that_forgot_the_session_restarted_until_readmitted() {
        let now = Instant::now();
        let mut b = Beats::new(HealthConfig::default());
        // Before the device opens its session there, no session is expected.
        assert_eq!(
            b.record(
                Beat::Answered {
                    holds: false,
                    instance: 1
                },
                now
            ),
            None
        );
        assert_eq!(
            b.record(
                Beat::Answered {
                    holds: true,
                    instance: 1
                },
                now
            ),
            None
        );
        // Restarted between two heartbeats: it answers, without the session.
        assert!(matches!(
            b.record(
                Beat::Answered {
                    holds: false,
                    instance: 1
                },
                now
            ),
            Some(NodeHealth::Restarted { .. })
        ));
        assert_eq!(
            b.record(
                Beat::Answered {
                    holds: false,
                    instance: 1
                },
                now
            ),
            None
        );
        assert!(b.health().answers() && !b.health().is_up());
        // Something opened the session there again: still restarted until re-admitted.
        assert_eq!(
            b.record(
                Beat::Answered {
                    holds: true,
                    instance: 1
                },
                now
            ),
            None
        );
        b.readmitted();
        assert!(b.health().is_up());
        // A new process that already holds a session (re-opened by an emulation or a
        // deployment before this heartbeat): restarted all the same.
        assert!(matches!(
            b.record(
                Beat::Answered {
                    holds: true,
                    instance: 2
                },
                now
            ),
            Some(NodeHealth::Restarted { .. })
        ));
        b.readmitted();
        // Killed, then back without the session: restarted, not merely up.
        assert!(b.record(Beat::Refused("reset".into()), now).is_some());
        assert!(!b.health().answers());
        assert!(matches!(
            b.record(
                Beat::Answered {
                    holds: false,
                    instance: 1
                },
                now
            ),
            Some(NodeHealth::Restarted { .. })
        ));
    }

    #[test]
    fn a_link_is_cut_only_while_its_receiver_still_answers() {
        let t0 = Instant::now();
        let later = t0 + Duration::from_millis(300);
        let down = |to: &str| vec![(to.to_string(), "no answer to pings".to_string())];
        let mut r = LinkReports::default();
        r.report("edge0", &down("cloud"), t0);
        r.report("device", &down("edge1"), t0);
        // The cloud answered after the link went down: cut. edge1 has not (dead or hung): not
        // a cut link.
        let answered = |n: &str, since: Instant| n == "cloud" && later > since;
        let cut = r.cut(|_| true, answered);
        assert_eq!(cut.len(), 1);
        assert_eq!(
            (cut[0].from.as_str(), cut[0].to.as_str()),
            ("edge0", "cloud")
        );
        // A sender that is down itself says nothing worth believing.
        assert!(r.cut(|n| n != "edge0", answered).is_empty());
        // A later report keeps the first time seen; one without the link mends it.
        r.report("edge0", &down("cloud"), later);
        assert!(r.cut(|_| true, |_, since| since < later).len() == 2);
        r.report("edge0", &[], later);
        assert!(r
            .cut(|_| true, |_, _| true)
            .iter()
            .all(|c| c.from == "device"));
    }
}
