//! Link health from the data plane. Each node pings every peer the device asked it to watch
//! (the scenario's links leaving it) over a data connection of the watch's own, so a ping never
//! waits behind a tensor, and the peer echoes each one. A link that echoes nothing for
//! [`DEAD_AFTER`], or whose peer cannot be dialled, is down; the node's heartbeat answers carry
//! its down links to the device, which tells a cut link from a dead node by whether the far end
//! still answers heartbeats.
//!
//! An emulated cut ([`crate::LinkShape::cut`]) holds the pings as it holds the link's tensors,
//! so a cut on a one-machine cluster is seen the way a pulled cable is: by silence.
//!
//! Each echo also times the round trip, logged for the device's estimators: the link's delay
//! measured on the path itself. Emulated one-way delays are added to it both ways, as the
//! transport adds them to every tensor.

use crate::conn::dial_data;
use crate::deployment::Emulation;
use crate::ids::SessionId;
use crate::observation_log::{Observation, ObservationLog};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tiersplit_graph::DType;
use tiersplit_net::{read_frame, write_frame, Frame, FrameKind, Limits};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Time between two pings on a watched link.
pub const PING_EVERY: Duration = Duration::from_millis(250);
/// A watched link whose peer echoed nothing for this long is down (four pings lost).
pub const DEAD_AFTER: Duration = Duration::from_millis(1000);

/// Where a node's link watch reads what it needs.
#[derive(Clone)]
pub(crate) struct WatchContext {
    /// The watching node.
    pub from: String,
    /// The device's session, named in the pings.
    pub session: SessionId,
    /// The session's emulation: a link it cuts gets no pings.
    pub emulation: Arc<RwLock<Emulation>>,
    /// Mutual TLS towards the peers, when the node has an identity.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// The node's log, where round trips go for the device's estimators.
    pub log: ObservationLog,
}

/// A ping's round trip to a watched peer and back.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RoundTripSample {
    /// Name of the peer that echoed the ping.
    pub to: String,
    /// From writing the ping to reading its echo, emulated delays both ways included, in µs.
    pub micros: u64,
}

/// Pings whose echo is awaited: a ping older than the newest few is given up (its echo, if
/// it comes, is no sample).
const AWAITED: usize = 8;

/// When each awaited ping was written, by sequence number.
#[derive(Default)]
struct Sent(Mutex<VecDeque<(u64, Instant)>>);

impl Sent {
    fn wrote(&self, seq: u64, at: Instant) {
        let mut s = self.0.lock().expect("not poisoned");
        if s.len() == AWAITED {
            s.pop_front();
        }
        s.push_back((seq, at));
    }

    /// When ping `seq` was written, once: a duplicate echo is no second sample.
    fn echoed(&self, seq: u64) -> Option<Instant> {
        let mut s = self.0.lock().expect("not poisoned");
        let i = s.iter().position(|(q, _)| *q == seq)?;
        s.remove(i).map(|(_, at)| at)
    }
}

/// The round trip of an echo read at `now` for a ping written at `sent`, with the emulated
/// delays of both directions in force now.
fn round_trip(cx: &WatchContext, to: &str, sent: Instant, now: Instant) -> RoundTripSample {
    let e = cx.emulation.read().expect("not poisoned");
    let delay = |a: &str, b: &str| e.link(a, b).map_or(0.0, |l| l.delay_ms);
    let emulated = Duration::from_secs_f64((delay(&cx.from, to) + delay(to, &cx.from)) / 1e3);
    RoundTripSample {
        to: to.to_string(),
        micros: (now.duration_since(sent) + emulated).as_micros() as u64,
    }
}

/// A watched link's state: `None` while up, the cause while down.
type State = Arc<Mutex<Option<String>>>;

struct Watched {
    addr: String,
    state: State,
    task: JoinHandle<()>,
}

/// The links one node watches in one session; their tasks end when it is dropped.
#[derive(Default)]
pub(crate) struct LinkWatch {
    peers: HashMap<String, Watched>,
}

impl Drop for LinkWatch {
    fn drop(&mut self) {
        for w in self.peers.values() {
            w.task.abort();
        }
    }
}

impl LinkWatch {
    /// Watches exactly `peers` (name, data-plane address) from now on: links no longer listed,
    /// or whose peer moved, stop being watched; new ones start, up until found otherwise.
    pub fn follow(&mut self, peers: &[(String, String)], cx: &WatchContext) {
        self.peers.retain(|name, w| {
            let keep = peers.iter().any(|(n, a)| n == name && *a == w.addr);
            if !keep {
                w.task.abort();
            }
            keep
        });
        for (name, addr) in peers {
            if self.peers.contains_key(name) {
                continue;
            }
            let state = State::default();
            let task = tokio::spawn(watch_peer(
                name.clone(),
                addr.clone(),
                cx.clone(),
                state.clone(),
            ));
            self.peers.insert(
                name.clone(),
                Watched {
                    addr: addr.clone(),
                    state,
                    task,
                },
            );
        }
    }

    /// The watched links that are down now: (peer, why).
    pub fn down(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self
            .peers
            .iter()
            .filter_map(|(n, w)| {
                let why = w.state.lock().expect("not poisoned").clone()?;
                Some((n.clone(), why))
            })
            .collect();
        out.sort();
        out
    }
}

fn set(state: &State, to: Option<String>) {
    *state.lock().expect("not poisoned") = to;
}

/// Whether the session's emulation cuts the link to `to` now.
fn cut(cx: &WatchContext, to: &str) -> bool {
    let e = cx.emulation.read().expect("not poisoned");
    e.link(&cx.from, to).is_some_and(|l| l.cut)
}

/// Whether `heard` is older than [`DEAD_AFTER`]: then the link is down, and `state` says so.
fn judge(state: &State, heard: &Mutex<Instant>, from: &str) -> bool {
    let silent = heard.lock().expect("not poisoned").elapsed();
    let down = silent > DEAD_AFTER;
    if down {
        let why = format!(
            "no answer to pings from {from} for {} ms",
            silent.as_millis()
        );
        set(state, Some(why));
    }
    down
}

/// Pings `to` at `addr` forever (until aborted), keeping `state` up to date: up on every echo
/// and on every connection made (its handshake crossed the link both ways), down after
/// [`DEAD_AFTER`] without one, or at once when a dial fails.
async fn watch_peer(to: String, addr: String, cx: WatchContext, state: State) {
    let mut seq = 0u64;
    // The last sign of life, over any connection.
    let heard = Arc::new(Mutex::new(Instant::now()));
    loop {
        // An emulated cut holds dials as it holds pings.
        if cut(&cx, &to) {
            judge(&state, &heard, &cx.from);
            tokio::time::sleep(PING_EVERY).await;
            continue;
        }
        let conn = match dial_data(&addr, &to, cx.tls.as_ref(), DEAD_AFTER).await {
            Ok(c) => c,
            Err(e) => {
                set(
                    &state,
                    Some(format!("cannot reach node {to} at {addr}: {e}")),
                );
                tokio::time::sleep(PING_EVERY).await;
                continue;
            }
        };
        let connected = Instant::now();
        *heard.lock().expect("not poisoned") = connected;
        set(&state, None);
        let (mut rd, mut wr) = tokio::io::split(conn);
        let (echoes, up) = (heard.clone(), state.clone());
        let sent = Arc::new(Sent::default());
        let (awaited, rx, peer) = (sent.clone(), cx.clone(), to.clone());
        let reader = AbortOnDrop(tokio::spawn(async move {
            // Anything the peer sends back counts; the connection idles only if it does.
            while let Ok(Some(f)) = read_frame(&mut rd, Limits::default(), DEAD_AFTER * 60).await {
                let now = Instant::now();
                *echoes.lock().expect("not poisoned") = now;
                set(&up, None);
                let echo = (f.kind == FrameKind::Ping).then(|| awaited.echoed(f.frame));
                if let Some(at) = echo.flatten() {
                    let rtt = round_trip(&rx, &peer, at, now);
                    rx.log.push(Observation::RoundTrip(rtt));
                }
            }
        }));
        let mut tick = tokio::time::interval(PING_EVERY);
        loop {
            tick.tick().await;
            if reader.0.is_finished() {
                break;
            }
            if !cut(&cx, &to) {
                seq += 1;
                sent.wrote(seq, Instant::now());
                if write_frame(&mut wr, &ping(cx.session, seq), DEAD_AFTER)
                    .await
                    .is_err()
                {
                    break;
                }
            }
            // After an outage TCP retransmits on a back-off of seconds: a fresh connection
            // answers as soon as the path carries again.
            if judge(&state, &heard, &cx.from) && connected.elapsed() > DEAD_AFTER {
                break;
            }
        }
    }
}

/// A task aborted when its handle is dropped: the echo reader ends with its watch, and its
/// half of the connection with it.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn ping(session: SessionId, seq: u64) -> Frame {
    Frame {
        kind: FrameKind::Ping,
        session: session.to_wire(),
        frame: seq,
        name: String::new(),
        dtype: DType::U8,
        shape: vec![0],
        payload: Vec::new(),
    }
}
