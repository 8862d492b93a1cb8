use serde::Serialize;
use std::collections::VecDeque;

/// What to do with frames that arrive faster than the cluster answers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Overload {
    /// The source waits: a frame is taken only when there is room, so frames come later than
    /// their schedule (counted as delayed) and none is dropped.
    BackPressure,
    /// The source keeps its rate; when the queue is full the oldest waiting frame is dropped
    /// (counted), so the freshest frames are answered.
    DropOldest,
}

impl std::str::FromStr for Overload {
    type Err = String;
    fn from_str(s: &str) -> Result<Overload, String> {
        match s {
            "back-pressure" => Ok(Overload::BackPressure),
            "drop-oldest" => Ok(Overload::DropOldest),
            _ => Err(format!(
                "unknown overload policy '{s}' (back-pressure or drop-oldest)"
            )),
        }
    }
}

/// A frame the source produced: its index in the stream and when (seconds).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Arrival {
    /// Position in the stream (0 for the first frame produced).
    pub index: u64,
    /// When the frame was produced (seconds, caller's clock).
    pub at_s: f64,
}

/// What happened to an arriving frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Admission {
    /// Queued, nothing dropped.
    Queued,
    /// Queued, and this older frame was dropped to make room.
    DroppedOldest(Arrival),
    /// No room: under back-pressure the source must hold the frame and offer it again.
    Blocked,
}

/// The device's queue between the source and the cluster, with the overload policy applied
/// and every frame accounted for: each arrival is eventually taken or counted as dropped.
#[derive(Debug, Clone)]
pub struct FrameQueue {
    /// What happens to a frame that finds the queue full.
    pub policy: Overload,
    /// Frames that can wait at once (at least 1).
    pub capacity: usize,
    waiting: VecDeque<Arrival>,
    arrived: u64,
    dropped: Vec<Arrival>,
    blocked: u64,
    /// Under back-pressure, the source holds a frame that found the queue full.
    holding: bool,
}

impl FrameQueue {
    /// An empty queue; a `capacity` of 0 is raised to 1.
    pub fn new(policy: Overload, capacity: usize) -> FrameQueue {
        FrameQueue {
            policy,
            capacity: capacity.max(1),
            waiting: VecDeque::new(),
            arrived: 0,
            dropped: Vec::new(),
            blocked: 0,
            holding: false,
        }
    }

    /// A frame produced at `at_s` (offered again, while [`FrameQueue::holding`], until there
    /// is room).
    pub fn arrive(&mut self, at_s: f64) -> Admission {
        if self.waiting.len() >= self.capacity {
            match self.policy {
                Overload::BackPressure => {
                    // One wait per held frame, however often it is offered again.
                    self.blocked += u64::from(!self.holding);
                    self.holding = true;
                    return Admission::Blocked;
                }
                Overload::DropOldest => {
                    let old = self.waiting.pop_front().expect("full");
                    self.dropped.push(old);
                    self.push(at_s);
                    return Admission::DroppedOldest(old);
                }
            }
        }
        self.push(at_s);
        Admission::Queued
    }

    fn push(&mut self, at_s: f64) {
        self.holding = false;
        self.waiting.push_back(Arrival {
            index: self.arrived,
            at_s,
        });
        self.arrived += 1;
    }

    /// The next frame to feed, oldest first.
    pub fn take(&mut self) -> Option<Arrival> {
        self.waiting.pop_front()
    }

    /// Frames queued and not yet taken.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }

    /// Frames the source produced (blocked offers not counted: they were not produced).
    pub fn arrived(&self) -> u64 {
        self.arrived
    }

    /// Frames dropped to make room (drop-oldest), in the order they were dropped.
    pub fn dropped(&self) -> &[Arrival] {
        &self.dropped
    }

    /// Times the source had to wait for room.
    pub fn blocked(&self) -> u64 {
        self.blocked
    }

    /// The source holds a frame the queue had no room for (back-pressure): it is produced
    /// when offered again after a [`FrameQueue::take`].
    pub fn holding(&self) -> bool {
        self.holding
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn drop_oldest_keeps_the_freshest() {
        let mut q = FrameQueue::new(Overload::DropOldest, 2);
        for t in 0..4 {
            q.arrive(t as f64);
        }
        assert_eq!(
            q.dropped().iter().map(|a| a.index).collect::<Vec<_>>(),
            [0, 1]
        );
        assert_eq!(q.take().unwrap().index, 2);
    }

    #[test]
    fn back_pressure_never_drops() {
        let mut q = FrameQueue::new(Overload::BackPressure, 1);
        assert_eq!(q.arrive(0.0), Admission::Queued);
        assert_eq!(q.arrive(0.1), Admission::Blocked);
        assert_eq!(q.arrive(0.15), Admission::Blocked);
        assert!(q.holding());
        assert_eq!(q.take().unwrap().index, 0);
        assert_eq!(q.arrive(0.2), Admission::Queued);
        assert!(!q.holding());
        assert!(q.dropped().is_empty());
        assert_eq!((q.arrived(), q.blocked()), (2, 1));
    }

    proptest! {
        /// Whatever the arrivals and takes, every frame produced is taken, waiting or dropped,
        /// exactly once.
        #[test]
        fn every_frame_is_accounted_for(ops in prop::collection::vec(any::<bool>(), 0..200), cap in 1usize..5, drop in any::<bool>()) {
            let policy = if drop { Overload::DropOldest } else { Overload::BackPressure };
            let mut q = FrameQueue::new(policy, cap);
            let mut taken = Vec::new();
            for (i, arrive) in ops.iter().enumerate() {
                if *arrive {
                    q.arrive(i as f64);
                } else if let Some(a) = q.take() {
                    taken.push(a.index);
                }
            }
            let mut all: Vec<u64> = taken.clone();
            all.extend(q.dropped().iter().map(|a| a.index));
            while let Some(a) = q.take() {
                all.push(a.index);
            }
            all.sort();
            prop_assert_eq!(all, (0..q.arrived()).collect::<Vec<_>>());
            prop_assert!(taken.windows(2).all(|w| w[0] < w[1]));
        }
    }
}
