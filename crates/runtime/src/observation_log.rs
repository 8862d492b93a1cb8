//! What a node has measured, across deployments, numbered in the order it happened: the
//! device reads it incrementally (everything after a cursor) to estimate link rates and node
//! speeds while frames flow, without re-reading what it has seen.

use crate::arrival::ArrivalSample;
use crate::link_shaper::TransferSample;
use crate::link_watch::RoundTripSample;
use crate::node::PartRecord;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// Records kept per node; older ones are dropped (a device that reads at least every few
/// thousand records sees them all).
const KEPT: usize = 8192;

/// One measurement of a node.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Observation {
    /// A part run.
    Part(PartRecord),
    /// A chunk of a message or probe crossing a link this node shapes (emulation): the rate
    /// samples of its sender.
    Transfer(TransferSample),
    /// Part of a message or probe that arrived here over a link whose rate this runtime does
    /// not shape (the kernel or the network does): the rate samples of its receiver.
    Arrival(ArrivalSample),
    /// A ping's round trip to a peer this node watches its link to.
    RoundTrip(RoundTripSample),
}

/// The records of one node after a cursor.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Observations {
    /// Name of the node that recorded them.
    pub node: String,
    /// The cursor to ask from next time.
    pub next: u64,
    /// Records that were dropped before they were read (the reader fell behind).
    pub missed: u64,
    /// The records from the cursor asked for up to `next`, oldest first.
    pub records: Vec<Observation>,
}

/// A node's bounded, numbered log of measurements, shared by its deployments and links.
#[derive(Debug, Clone, Default)]
pub(crate) struct ObservationLog {
    inner: Arc<Mutex<LogInner>>,
}

#[derive(Debug, Default)]
struct LogInner {
    /// Sequence number of `records[0]`.
    first: u64,
    records: VecDeque<Observation>,
}

impl ObservationLog {
    pub(crate) fn push(&self, o: Observation) {
        let mut l = self.inner.lock().expect("not poisoned");
        l.records.push_back(o);
        if l.records.len() > KEPT {
            l.records.pop_front();
            l.first += 1;
        }
    }

    /// Everything recorded at or after sequence number `since`.
    pub(crate) fn since(&self, node: &str, since: u64) -> Observations {
        let l = self.inner.lock().expect("not poisoned");
        let next = l.first + l.records.len() as u64;
        let start = since.clamp(l.first, next);
        Observations {
            node: node.to_string(),
            next,
            missed: l.first.saturating_sub(since),
            records: l
                .records
                .iter()
                .skip((start - l.first) as usize)
                .cloned()
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(bytes: u64) -> Observation {
        Observation::Transfer(TransferSample {
            bytes,
            ..Default::default()
        })
    }

    #[test]
    fn reads_after_a_cursor_and_counts_what_was_dropped() {
        let log = ObservationLog::default();
        for f in 0..3 {
            log.push(link(f));
        }
        let a = log.since("n", 0);
        assert_eq!((a.next, a.missed, a.records.len()), (3, 0, 3));
        log.push(link(3));
        let b = log.since("n", a.next);
        assert_eq!((b.next, b.records.len()), (4, 1));
        for f in 0..KEPT as u64 {
            log.push(link(10 + f));
        }
        let c = log.since("n", b.next);
        assert_eq!((c.missed, c.records.len()), (0, KEPT));
        assert_eq!(c.next, 4 + KEPT as u64);
        let late = log.since("n", 1);
        assert_eq!((late.missed, late.records.len()), (3, KEPT));
    }
}
