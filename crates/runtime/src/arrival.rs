//! Link rates timed where the bytes arrive. A sender cannot time a link the kernel shapes, or a
//! real one: its writes return as soon as the socket buffers take the bytes. The receiver sees
//! them land at the rate the path carries, whoever shapes it, so each node times the payloads
//! it reads and logs the rate samples for the device's estimators.

use crate::kept::Kept;
use crate::observation_log::{Observation, ObservationLog};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// Part of a message (or a probe) timed as it arrived: `bytes` landed in `micros`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ArrivalSample {
    /// Name of the sending node.
    pub from: String,
    /// Bytes that landed in this sample.
    pub bytes: u64,
    /// Time they took to land, in µs.
    pub micros: u64,
    /// Whether the bytes were probe filler rather than part of a tensor.
    pub probe: bool,
}

/// One tensor message as it arrived, for the statistics: its payload between the first read
/// (what was already waiting in the socket tells nothing of the rate) and the read before the
/// last (the last may come after the link fell idle), and the time between them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ArrivalRecord {
    /// Number of the frame the tensor belonged to.
    pub frame: u64,
    /// Name of the sending node.
    pub from: String,
    /// Payload bytes timed (all but the first and last reads').
    pub bytes: u64,
    /// From the first read of the payload to the read before its last, in µs.
    pub micros: u64,
}

/// Samples span at least this long: a read lands when the scheduler gets to it, a few tens of
/// µs late, which would swamp the time of one chunk on a fast link.
const SAMPLE_WINDOW: Duration = Duration::from_millis(20);
/// A message's last, shorter window is a sample only when at least this long.
const SHORTEST_TAIL: Duration = Duration::from_millis(1);
/// Reads this close together drain one backlog: TLS hands a read about one 16 KiB record, so
/// what waited in the socket comes out over several reads microseconds apart.
const SAME_READ: Duration = Duration::from_micros(200);

/// Times one payload as it arrives, read by read.
///
/// A read that lands late (the receiver was busy: computing, or held by a CPU quota) returns
/// every byte that arrived meanwhile, so a window that ends at a read inside the payload times
/// the link right: the link carried the message all along. Only the last read may come after
/// the link fell idle, so the time to it is never counted: a window is closed at a read only
/// once a later read shows it was not the last, and the payload's tail ends at the read before
/// its last. Reads that follow each other within [`SAME_READ`] count as one.
pub(crate) struct ArrivalMeter {
    from: String,
    frame: u64,
    probe: bool,
    log: ObservationLog,
    records: Option<Arc<Mutex<Kept<ArrivalRecord>>>>,
    /// When the first read landed: its bytes had been waiting, untimed.
    first: Option<Instant>,
    /// When the current window began, and the bytes read in it since.
    start: Option<Instant>,
    bytes: u64,
    /// The last read and the one before it: (when, bytes of the window up to it).
    last: Option<(Instant, u64)>,
    /// When the latest read landed, merged or not.
    latest: Option<Instant>,
    before: Option<(Instant, u64)>,
    /// Bytes timed in the windows closed so far.
    timed: u64,
}

impl ArrivalMeter {
    /// A meter for a payload from `from`, logging its samples to `log` and, for a tensor of
    /// `frame`, its record to `records`.
    pub(crate) fn new(
        from: String,
        frame: u64,
        log: ObservationLog,
        records: Option<Arc<Mutex<Kept<ArrivalRecord>>>>,
    ) -> ArrivalMeter {
        ArrivalMeter {
            from,
            frame,
            probe: records.is_none(),
            log,
            records,
            first: None,
            start: None,
            bytes: 0,
            last: None,
            latest: None,
            before: None,
            timed: 0,
        }
    }

    /// `n` bytes landed at `now`.
    pub(crate) fn arrived(&mut self, n: usize, now: Instant) {
        let same = self
            .latest
            .is_some_and(|t| now.duration_since(t) < SAME_READ);
        self.latest = Some(now);
        let Some(start) = self.start else {
            self.first = Some(now);
            self.start = Some(now);
            return;
        };
        if same {
            // More of the same read: the first one (still untimed), or the last one so far.
            match self.last.as_mut() {
                None => (self.first, self.start) = (Some(now), Some(now)),
                Some(last) => {
                    self.bytes += n as u64;
                    *last = (now, self.bytes);
                }
            }
            return;
        }
        // A read after the last one: the window may close there.
        if let Some((t, b)) = self.last {
            if t.duration_since(start) >= SAMPLE_WINDOW {
                self.sample(b, t.duration_since(start));
                self.timed += b;
                self.start = Some(t);
                self.bytes -= b;
                self.last = None;
            }
        }
        self.bytes += n as u64;
        self.before = self.last;
        self.last = Some((now, self.bytes));
    }

    /// The payload is complete: the window up to the read before the last is a sample if long
    /// enough, and a tensor's arrival up to that read a record.
    pub(crate) fn finish(self) {
        let (Some(first), Some(start)) = (self.first, self.start) else {
            return;
        };
        let (end, bytes) = match self.before {
            Some((t, b)) => (t, b),
            None => (start, 0),
        };
        if bytes > 0 && end.duration_since(start) >= SHORTEST_TAIL {
            self.sample(bytes, end.duration_since(start));
        }
        let timed = self.timed + bytes;
        if let (Some(records), true) = (&self.records, timed > 0) {
            records.lock().expect("not poisoned").push(ArrivalRecord {
                frame: self.frame,
                from: self.from.clone(),
                bytes: timed,
                micros: end.duration_since(first).as_micros() as u64,
            });
        }
    }

    fn sample(&self, bytes: u64, took: Duration) {
        self.log.push(Observation::Arrival(ArrivalSample {
            from: self.from.clone(),
            bytes,
            micros: took.as_micros() as u64,
            probe: self.probe,
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(log: &ObservationLog) -> Vec<(u64, u64)> {
        log.since("edge0", 0)
            .records
            .into_iter()
            .map(|r| match r {
                Observation::Arrival(a) => (a.bytes, a.micros),
                other => panic!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn the_first_read_starts_the_clock_and_windows_time_the_rest() {
        let log = ObservationLog::default();
        let records = Arc::new(Mutex::new(Kept::default()));
        let mut m = ArrivalMeter::new("device".into(), 7, log.clone(), Some(records.clone()));
        let t0 = Instant::now();
        // A burst that waited in the socket, then 16 KiB every 5 ms (26.2 Mbit/s) for 50 ms.
        m.arrived(1 << 20, t0);
        for i in 1..=10 {
            m.arrived(16 << 10, t0 + Duration::from_millis(5 * i));
        }
        m.finish();
        // The last read is never timed: the link may have been idle before it.
        assert_eq!(
            samples(&log),
            [(4 * 16384, 20_000), (4 * 16384, 20_000), (16384, 5_000)]
        );
        let r = records.lock().unwrap().to_vec();
        assert_eq!(
            r,
            [ArrivalRecord {
                frame: 7,
                from: "device".into(),
                bytes: 9 * 16384,
                micros: 45_000
            }]
        );
    }

    #[test]
    fn a_receiver_late_for_the_last_read_does_not_slow_the_link() {
        let log = ObservationLog::default();
        let t0 = Instant::now();
        let mut m = ArrivalMeter::new("device".into(), 0, log.clone(), None);
        m.arrived(4096, t0);
        for i in 1..=3 {
            m.arrived(16 << 10, t0 + Duration::from_millis(5 * i));
        }
        // The rest landed by 20 ms; the receiver computed until 60 ms.
        m.arrived(16 << 10, t0 + Duration::from_millis(60));
        m.finish();
        assert_eq!(samples(&log), [(3 * 16384, 15_000)]);
    }

    #[test]
    fn a_backlog_drained_in_records_counts_as_one_read() {
        let log = ObservationLog::default();
        let t0 = Instant::now();
        let us = |n: u64| t0 + Duration::from_micros(n);
        let mut m = ArrivalMeter::new("device".into(), 0, log.clone(), None);
        // 64 KiB that waited, in four 16 KiB records 20 µs apart: all untimed.
        for i in 0..4 {
            m.arrived(16 << 10, us(20 * i));
        }
        // Then 16 KiB every 5 ms, the last backlog again in records after a stall.
        for i in 1..=6 {
            m.arrived(16 << 10, us(60 + 5000 * i));
        }
        for i in 0..3 {
            m.arrived(16 << 10, us(60 + 40_000 + 20 * i));
        }
        m.finish();
        // The stalled last read, in three records, is left out whole.
        assert_eq!(samples(&log), [(4 * 16384, 20_000), (2 * 16384, 10_000)]);
    }

    #[test]
    fn a_payload_in_one_read_or_a_blink_is_no_sample() {
        let log = ObservationLog::default();
        let t0 = Instant::now();
        let mut m = ArrivalMeter::new("device".into(), 0, log.clone(), None);
        m.arrived(1 << 20, t0);
        m.finish();
        let mut m = ArrivalMeter::new("device".into(), 0, log.clone(), None);
        m.arrived(1 << 10, t0);
        m.arrived(1 << 10, t0 + Duration::from_micros(300));
        m.arrived(1 << 10, t0 + Duration::from_micros(600));
        m.finish();
        assert!(samples(&log).is_empty());
    }
}
