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

/// A session untouched (no control call, no tensor) this long may be dropped to make room for
/// a new one when the node serves [`MAX_SESSIONS`].
pub const SESSION_IDLE: Duration = Duration::from_secs(600);

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
}

impl Session {
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

    /// Session `id`, opened for `caller` with `state` if it is new. A new session past
    /// [`MAX_SESSIONS`] takes the place of the longest idle one, if one is idle for
    /// [`SESSION_IDLE`]; otherwise it is refused.
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
                },
            );
        }
        self.get(id, caller, now)
    }

    /// Drops the sessions opened from the network that are idle for [`SESSION_IDLE`] (their
    /// devices stopped); returns how many. Sessions opened in process live as long as their
    /// process wants them.
    pub fn sweep(&mut self, now: Instant) -> usize {
        let before = self.sessions.len();
        self.sessions.retain(|_, s| {
            s.owner.is_none() || now.saturating_duration_since(s.touched) < SESSION_IDLE
        });
        before - self.sessions.len()
    }

    fn make_room(&mut self, now: Instant) -> Result<(), NodeError> {
        if self.sessions.len() < MAX_SESSIONS {
            return Ok(());
        }
        let idlest = self
            .sessions
            .iter()
            .filter(|(_, s)| s.owner.is_some())
            .min_by_key(|(_, s)| s.touched)
            .map(|(id, s)| (*id, now.saturating_duration_since(s.touched)));
        match idlest {
            Some((id, idle)) if idle >= SESSION_IDLE => {
                tracing::info!(session = %id, "dropped after {idle:?} idle to make room");
                self.sessions.remove(&id);
                Ok(())
            }
            _ => Err(NodeError::Busy(format!(
                "the node serves {MAX_SESSIONS} active sessions already"
            ))),
        }
    }

    /// The session a data frame names, with no authorisation (the data plane checks the
    /// sender against the deployment instead).
    pub fn for_data(&mut self, id: SessionId, now: Instant) -> Option<&mut Session> {
        let s = self.sessions.get_mut(&id)?;
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
    fn a_full_table_drops_only_idle_sessions() {
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
        let later = start + SESSION_IDLE;
        let new = SessionId::random();
        t.open(new, Caller::Local, later, NodeState::default)
            .unwrap();
        assert_eq!(t.sessions.len(), MAX_SESSIONS);
        assert!(t.get(new, Caller::Local, later).is_ok());
        // The session opened in process is never the one dropped; a sweep drops every idle
        // remote one.
        assert!(t.get(local, Caller::Local, later).is_ok());
        assert_eq!(t.sweep(later + SESSION_IDLE), MAX_SESSIONS - 2);
        assert_eq!(t.sessions.len(), 2);
    }
}
