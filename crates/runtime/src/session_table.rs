//! The sessions a node serves, each a device's run: its deployments (the few newest, by the
//! first frame each serves), its emulation and measurement log, and who may control it. Frame
//! numbers count within a session, so two devices' frames never meet; only the caller that
//! opened a session (the same certificate) may deploy, emulate, observe or probe in it, and a
//! session opened in process (the device's own node) by no remote caller at all.

use crate::conn::Peer;
use crate::error::NodeError;
use crate::ids::SessionId;
use crate::node::{Active, NodeState, NodeStats};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Deployments a session keeps serving their frames after a newer one starts.
const KEPT_DEPLOYMENTS: usize = 3;

/// Sessions a node serves at once.
pub const MAX_SESSIONS: usize = 64;

/// How long a session opened from the network lives untouched (no control call, no tensor, no
/// renewal) until its device renews it with a lease of its own: then it expires, and with it
/// its deployments, emulation and log.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);

/// The longest lease a device may ask for, so that no session outlives a dead device by more.
pub const MAX_LEASE: Duration = Duration::from_secs(600);

/// Who makes a request: the node's own process, or a caller over the network.
#[derive(Clone, Copy)]
pub(crate) enum Caller<'a> {
    /// An in-process call (the device driving its own node): trusted.
    Local,
    /// A control call from the network, with its verified peer.
    Remote(&'a Peer),
}

/// One device's run on this node.
pub(crate) struct Session {
    /// Who opened it; `None` when it was opened in process, which no remote caller controls.
    owner: Option<Peer>,
    /// Its emulation and measurement log.
    pub state: NodeState,
    /// Its deployments by the first frame each serves, oldest first: a frame runs on the newest
    /// that starts at or before it, so frames in flight finish on the plan they started on.
    served: Vec<(u64, Arc<Active>)>,
    touched: Instant,
    /// Untouched this long, the session has expired (its device stopped renewing it).
    lease: Duration,
}

impl Session {
    /// Whether the session's device has let its lease run out by `now` (never, for a session
    /// opened in process).
    fn expired(&self, now: Instant) -> bool {
        self.owner.is_some() && now.saturating_duration_since(self.touched) >= self.lease
    }

    fn allows(&self, caller: Caller<'_>) -> bool {
        match (caller, &self.owner) {
            (Caller::Local, _) => true,
            (Caller::Remote(c), Some(o)) => c.same_as(o),
            (Caller::Remote(_), None) => false,
        }
    }

    /// Starts `active` for frames from `first` on: deployments that start at or after it
    /// never serve a frame again; earlier ones keep their frames in flight.
    pub fn install(&mut self, first: u64, active: Arc<Active>) {
        self.served.retain(|(f, _)| *f < first);
        self.served.push((first, active));
        let excess = self.served.len().saturating_sub(KEPT_DEPLOYMENTS);
        self.served.drain(..excess);
    }

    /// The deployment that serves `frame`.
    pub fn serving(&self, frame: u64, node: &str) -> Result<Arc<Active>, String> {
        self.served
            .iter()
            .rev()
            .find(|(first, _)| *first <= frame)
            .map(|(_, a)| a.clone())
            .ok_or_else(|| match self.served.first() {
                None => format!("node {node} has no deployment in this session"),
                Some((first, _)) => format!(
                    "node {node} has no deployment for frame {frame} (the oldest kept starts at {first})"
                ),
            })
    }

    /// The session's newest deployment.
    pub fn newest(&self) -> Option<&Arc<Active>> {
        self.served.last().map(|(_, a)| a)
    }

    /// What the node did under the deployments the session keeps, named after the newest.
    pub fn stats(&self) -> Option<NodeStats> {
        let mut merged = self.newest()?.stats();
        for (_, a) in self.served.iter().rev().skip(1) {
            let s = a.stats();
            merged.parts.extend(s.parts);
            merged.links.extend(s.links);
            merged.arrivals.extend(s.arrivals);
        }
        Some(merged)
    }
}

/// The sessions of one node.
#[derive(Default)]
pub(crate) struct SessionTable {
    sessions: HashMap<SessionId, Session>,
}

impl SessionTable {
    /// Session `id`, if `caller` may control it.
    pub fn get(
        &mut self,
        id: SessionId,
        caller: Caller<'_>,
        now: Instant,
    ) -> Result<&mut Session, NodeError> {
        self.forget_if_expired(id, now);
        let s = self
            .sessions
            .get_mut(&id)
            .ok_or_else(|| NodeError::NoSession(format!("no session {id} on this node")))?;
        if !s.allows(caller) {
            return Err(NodeError::Denied(format!(
                "session {id} belongs to another device"
            )));
        }
        s.touched = now;
        Ok(s)
    }

    /// Session `id`, opened for `caller` with `state` if it is new (or its lease ran out). A
    /// new session past [`MAX_SESSIONS`] takes the place of the expired ones; with none, it is
    /// refused.
    pub fn open(
        &mut self,
        id: SessionId,
        caller: Caller<'_>,
        now: Instant,
        state: impl FnOnce() -> NodeState,
    ) -> Result<&mut Session, NodeError> {
        if id == SessionId::NONE && matches!(caller, Caller::Remote(_)) {
            return Err(NodeError::Invalid("the request names no session".into()));
        }
        self.forget_if_expired(id, now);
        if !self.sessions.contains_key(&id) {
            self.make_room(now)?;
            let owner = match caller {
                Caller::Local => None,
                Caller::Remote(p) => Some(p.clone()),
            };
            self.sessions.insert(
                id,
                Session {
                    owner,
                    state: state(),
                    served: Vec::new(),
                    touched: now,
                    lease: DEFAULT_LEASE,
                },
            );
        }
        self.get(id, caller, now)
    }

    /// An expired session is gone even before the sweep comes by.
    fn forget_if_expired(&mut self, id: SessionId, now: Instant) {
        if self.sessions.get(&id).is_some_and(|s| s.expired(now)) {
            tracing::info!(session = %id, "lease ran out");
            self.sessions.remove(&id);
        }
    }

    /// Renews session `id` for `lease` (at most [`MAX_LEASE`]) from `now`, if `caller` may
    /// control it; `false` when the node does not hold it (it restarted, or the lease ran out).
    pub fn renew(
        &mut self,
        id: SessionId,
        caller: Caller<'_>,
        lease: Duration,
        now: Instant,
    ) -> bool {
        match self.get(id, caller, now) {
            Ok(s) => {
                s.lease = lease.min(MAX_LEASE);
                true
            }
            Err(_) => false,
        }
    }

    /// Drops the sessions opened from the network whose leases ran out (their devices
    /// stopped renewing them); returns their ids. Sessions opened in process live as long as
    /// their process wants them.
    pub fn sweep(&mut self, now: Instant) -> Vec<SessionId> {
        let expired: Vec<SessionId> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.expired(now))
            .map(|(id, _)| *id)
            .collect();
        for id in &expired {
            self.sessions.remove(id);
        }
        expired
    }

    /// The sessions held, and the deployments they keep, across all devices.
    pub fn counts(&self) -> (usize, usize) {
        let deployments = self.sessions.values().map(|s| s.served.len()).sum();
        (self.sessions.len(), deployments)
    }

    fn make_room(&mut self, now: Instant) -> Result<(), NodeError> {
        if self.sessions.len() < MAX_SESSIONS {
            return Ok(());
        }
        let expired = self.sweep(now);
        if expired.is_empty() {
            return Err(NodeError::Busy(format!(
                "the node serves {MAX_SESSIONS} active sessions already"
            )));
        }
        tracing::info!("{} expired session(s) dropped to make room", expired.len());
        Ok(())
    }

    /// The session a data frame names, with no authorisation (the data plane checks the
    /// sender against the deployment instead).
    /// Session `id` unless expired, without renewing its lease: for what measures rather than
    /// works (a probe keeps no session alive).
    pub fn peek(&self, id: SessionId, now: Instant) -> Option<&Session> {
        self.sessions.get(&id).filter(|s| !s.expired(now))
    }

    pub fn for_data(&mut self, id: SessionId, now: Instant) -> Option<&mut Session> {
        let s = self.sessions.get_mut(&id).filter(|s| !s.expired(now))?;
        s.touched = now;
        Some(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_opener_controls_a_session() {
        let mut t = SessionTable::default();
        let now = Instant::now();
        let anyone = Peer::default();
        let local = SessionId::random();
        t.open(local, Caller::Local, now, NodeState::default)
            .unwrap();
        // A session opened in process is no remote caller's, not even a plaintext one's.
        assert!(matches!(
            t.get(local, Caller::Remote(&anyone), now),
            Err(NodeError::Denied(_))
        ));
        assert!(matches!(
            t.open(local, Caller::Remote(&anyone), now, NodeState::default),
            Err(NodeError::Denied(_))
        ));
        assert!(t.get(local, Caller::Local, now).is_ok());
        let remote = SessionId::random();
        t.open(remote, Caller::Remote(&anyone), now, NodeState::default)
            .unwrap();
        assert!(t.get(remote, Caller::Remote(&anyone), now).is_ok());
        assert!(matches!(
            t.get(SessionId::random(), Caller::Local, now),
            Err(NodeError::NoSession(_))
        ));
        assert!(matches!(
            t.open(
                SessionId::NONE,
                Caller::Remote(&anyone),
                now,
                NodeState::default
            ),
            Err(NodeError::Invalid(_))
        ));
    }

    #[test]
    fn a_session_lives_while_renewed_and_expires_when_not() {
        let mut t = SessionTable::default();
        let start = Instant::now();
        let device = Peer::default();
        let id = SessionId::random();
        t.open(id, Caller::Remote(&device), start, NodeState::default)
            .unwrap();
        let lease = Duration::from_secs(2);
        let mut now = start;
        for _ in 0..10 {
            now += Duration::from_secs(1);
            assert!(t.renew(id, Caller::Remote(&device), lease, now));
            assert!(t.sweep(now).is_empty());
        }
        // The device stops renewing: the session is there until its lease runs out, then gone.
        assert!(t.sweep(now + Duration::from_millis(1999)).is_empty());
        assert_eq!(t.sweep(now + lease), vec![id]);
        assert_eq!(t.counts(), (0, 0));
        // Renewing a session the node no longer holds says so; it does not open it again.
        assert!(!t.renew(id, Caller::Remote(&device), lease, now + lease));
        assert_eq!(t.counts(), (0, 0));
        // No device may hold a session longer than MAX_LEASE without a word.
        let other = SessionId::random();
        t.open(other, Caller::Remote(&device), now, NodeState::default)
            .unwrap();
        assert!(t.renew(other, Caller::Remote(&device), Duration::MAX, now));
        assert_eq!(t.sweep(now + MAX_LEASE), vec![other]);
    }

    #[test]
    fn a_full_table_drops_only_expired_sessions() {
        let mut t = SessionTable::default();
        let start = Instant::now();
        let anyone = Peer::default();
        let local = SessionId::random();
        t.open(local, Caller::Local, start, NodeState::default)
            .unwrap();
        for _ in 1..MAX_SESSIONS {
            t.open(
                SessionId::random(),
                Caller::Remote(&anyone),
                start,
                NodeState::default,
            )
            .unwrap();
        }
        let soon = start + Duration::from_secs(1);
        assert!(matches!(
            t.open(SessionId::random(), Caller::Local, soon, NodeState::default),
            Err(NodeError::Busy(_))
        ));
        let later = start + DEFAULT_LEASE;
        let new = SessionId::random();
        t.open(new, Caller::Local, later, NodeState::default)
            .unwrap();
        // Every expired session made way; the one opened in process is never dropped.
        assert_eq!(t.counts().0, 2);
        assert!(t.get(new, Caller::Local, later).is_ok());
        assert!(t.get(local, Caller::Local, later).is_ok());
        assert!(t.sweep(later + DEFAULT_LEASE).is_empty());
        assert_eq!(t.sessions.len(), 2);
    }
}
