//! The sending end of one link: a queue of frames to one peer, shaped (when emulating) by a
//! token bucket and a one-way delay, written in order over one TCP connection.

use crate::conn::{dial_data, Conn};
use crate::deployment::Emulation;
use crate::kept::Kept;
use crate::observation_log::{Observation, ObservationLog};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tiersplit_net::{write_frame, write_header, write_payload, Frame, FrameKind};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// What a link did, for the statistics.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct LinkRecord {
    /// Number of the frame the message belonged to.
    pub frame: u64,
    /// Name of the receiving node.
    pub to: String,
    /// Payload bytes sent (the frame header excluded).
    pub bytes: u64,
    /// From the moment the frame reached the head of the queue to the end of its write,
    /// emulated serialisation and delay included.
    pub busy_us: u64,
    /// Time spent waiting behind earlier frames on this link.
    pub queued_us: u64,
}

/// First and longest wait before dialling a peer again after a dial failed.
const REDIAL_MIN: Duration = Duration::from_millis(50);
const REDIAL_MAX: Duration = Duration::from_secs(2);

/// When a link may dial its peer again: after a failed dial, not before a back-off that
/// doubles with each failure in a row, so the frames queued for a dead peer fail at once
/// instead of each dialling it (and a peer coming back is not flooded with dials).
#[derive(Debug, Default)]
struct Redial {
    /// Failed dials in a row and the last one's error, with the earliest next attempt.
    failing: Option<(u32, String, Instant)>,
}

impl Redial {
    /// `Some(why)` while dialling must wait: the last dial's error.
    fn refused(&self, now: Instant) -> Option<String> {
        match &self.failing {
            Some((_, why, next)) if now < *next => Some(format!(
                "{why} (next attempt in {} ms)",
                next.duration_since(now).as_millis()
            )),
            _ => None,
        }
    }

    /// A dial failed at `now` with `why`.
    fn failed(&mut self, now: Instant, why: String) {
        let n = self.failing.as_ref().map_or(0, |(n, _, _)| *n);
        let wait = REDIAL_MIN.saturating_mul(1u32 << n.min(16)).min(REDIAL_MAX);
        self.failing = Some((n + 1, why, now + wait));
    }

    /// A dial succeeded.
    fn connected(&mut self) {
        self.failing = None;
    }
}

/// A node's radio in one session: when it is next free. Every link the node sends on shares
/// it when the emulation gives the node a radio.
#[derive(Clone, Default)]
pub(crate) struct Radio(Arc<Mutex<Option<Instant>>>);

impl Radio {
    /// Holds the radio for `airtime`, from `at` or when it is next free if later; returns
    /// when that starts. Links reserve chunk by chunk, so messages overlapping on the radio
    /// take turns with each other's chunks and share its rate, as flows share a real radio.
    fn reserve(&self, at: Instant, airtime: Duration) -> Instant {
        let mut free = self.0.lock().expect("not poisoned");
        let start = free.map_or(at, |f| f.max(at));
        *free = Some(start + airtime);
        start
    }
}

/// Why a frame could not be sent.
pub(crate) struct SendFailure {
    pub frame: u64,
    pub message: String,
}

pub(crate) struct Outgoing {
    pub frame: Frame,
    pub enqueued: Instant,
}

/// Messages are shaped in chunks of this size, each at the rate in force when it starts
/// (small enough that a collapsed link shows within a fraction of a second).
const SHAPING_CHUNK: usize = 16 << 10;
/// How often a link held by an emulated cut looks whether it is mended.
const CUT_POLL: Duration = Duration::from_millis(10);
/// Shaped chunks are reported as progress samples of at least this long (or a whole message).
const SAMPLE_WINDOW: Duration = Duration::from_millis(20);

/// Part of a message (or a probe) that a shaped link carried: `bytes` in `micros`.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct TransferSample {
    /// Name of the receiving node.
    pub to: String,
    /// Bytes the link carried in this sample.
    pub bytes: u64,
    /// Time the shaped link took for them, in µs.
    pub micros: u64,
    /// Whether the bytes were probe filler rather than part of a tensor or error message.
    pub probe: bool,
}

/// Where a link's sender reads its emulated shape and writes what it did.
pub(crate) struct LinkContext {
    /// The sending node.
    pub from: String,
    /// The node's current emulation: read for every message, so a trace can change a link's
    /// rate while frames flow.
    pub emulation: Arc<RwLock<Emulation>>,
    pub io_timeout: Duration,
    /// Mutual TLS towards the peer, when the node has an identity.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// The deployment's records, for its statistics.
    pub records: Arc<Mutex<Kept<LinkRecord>>>,
    /// The node's log, for the device's estimators.
    pub log: ObservationLog,
    /// The node's radio, shared by its links when the emulation gives it one.
    pub radio: Radio,
    pub failures: mpsc::UnboundedSender<SendFailure>,
}

/// What the shaper hands the writer: a message begins, then its payload is released piece by
/// piece, each due at the peer at its time.
enum Wire {
    /// A message reached the head of the queue at `start` (queued at `enqueued`).
    Begin {
        frame: Frame,
        enqueued: Instant,
        start: Instant,
    },
    /// The payload up to byte `upto` may be at the peer at `at`.
    Release { upto: usize, at: Instant },
}

/// Starts the link's tasks; frames sent to the returned queue go to `addr` in order. Failures
/// are reported on `failures` with the frame they cost.
pub(crate) fn start_link(
    to: String,
    addr: String,
    cx: LinkContext,
) -> mpsc::UnboundedSender<Outgoing> {
    let (tx, rx) = mpsc::unbounded_channel::<Outgoing>();
    // Shaping and writing are two tasks so the one-way delay pipelines: a frame in flight does
    // not hold the link for its delay, only for its serialisation time.
    let (wire_tx, wire_rx) = mpsc::unbounded_channel::<Wire>();
    let writer = Writer {
        to: to.clone(),
        addr,
        io_timeout: cx.io_timeout,
        tls: cx.tls.clone(),
        records: cx.records.clone(),
        failures: cx.failures.clone(),
    };
    tokio::spawn(shape(to, cx, rx, wire_tx));
    tokio::spawn(writer.run(wire_rx));
    tx
}

/// Releases each message's payload chunk by chunk at the emulated rate in force for each
/// chunk (read afresh, so a trace's change takes effect mid-message), logging the chunks as
/// progress samples: the bytes over time a sender sees while its data drains onto a link.
async fn shape(
    to: String,
    cx: LinkContext,
    mut rx: mpsc::UnboundedReceiver<Outgoing>,
    wire: mpsc::UnboundedSender<Wire>,
) {
    let LinkContext {
        from,
        emulation,
        log,
        radio,
        ..
    } = cx;
    let mut free_at = Instant::now();
    while let Some(out) = rx.recv().await {
        let start = free_at.max(Instant::now());
        let probe = out.frame.kind == FrameKind::Probe;
        let len = out.frame.payload.len();
        let begin = Wire::Begin {
            frame: out.frame,
            enqueued: out.enqueued,
            start,
        };
        if wire.send(begin).is_err() {
            break;
        }
        let mut at = start;
        let mut left = len;
        let mut delay = Duration::ZERO;
        // Chunks are reported in windows of at least SAMPLE_WINDOW: the timer wakes up to a
        // millisecond late, which would swamp the time of one chunk on a fast link.
        let (mut sample_bytes, mut sample_from) = (0u64, start);
        // Time chunks waited for their turn on the node's radio: left out of the samples,
        // which measure the link's own rate (the planner accounts for the radio itself).
        let mut sample_waited = Duration::ZERO;
        loop {
            let (shape, shared) = {
                let e = emulation.read().expect("not poisoned");
                (e.link(&from, &to).cloned(), e.radio_of(&from))
            };
            if shape.as_ref().is_some_and(|s| s.cut) {
                // Held while the emulation cuts the link, as a pulled cable holds a
                // connection's bytes; the time held is no sample of the link's rate. A
                // deployment dropped meanwhile ends the link rather than wait for a mend.
                if rx.is_closed() {
                    return;
                }
                let held = Instant::now();
                tokio::time::sleep(CUT_POLL).await;
                sample_waited += held.elapsed();
                at = at.max(Instant::now());
                continue;
            }
            delay = shape
                .as_ref()
                .map_or(delay, |s| Duration::from_secs_f64(s.delay_ms / 1e3));
            let Some(rate) = shape.and_then(|s| s.mbps) else {
                break;
            };
            if left == 0 {
                break;
            }
            let chunk = left.min(SHAPING_CHUNK);
            left -= chunk;
            // Under a radio a chunk waits for its turn on it, holds it for its bytes at the
            // radio's rate, and crosses the link at the slower of the two.
            let time = |mbps: f64| Duration::from_secs_f64(chunk as f64 * 8.0 / (mbps * 1e6));
            at = match shared {
                Some(r) => {
                    let turn = radio.reserve(at, time(r));
                    sample_waited += turn.saturating_duration_since(at);
                    turn + time(r.min(rate))
                }
                None => at + time(rate),
            };
            wait_until(at, left == 0).await;
            let released = Wire::Release {
                upto: len - left,
                at: at + delay,
            };
            if wire.send(released).is_err() {
                return;
            }
            sample_bytes += chunk as u64;
            let took = Instant::now()
                .duration_since(sample_from)
                .saturating_sub(sample_waited);
            if took >= SAMPLE_WINDOW || left == 0 {
                log.push(Observation::Transfer(TransferSample {
                    to: to.clone(),
                    bytes: sample_bytes,
                    micros: took.as_micros() as u64,
                    probe,
                }));
                (sample_bytes, sample_from, sample_waited) = (0, at, Duration::ZERO);
            }
        }
        free_at = at;
        // What the rate did not release (an unshaped link: all of it) goes at once.
        if left > 0 || len == 0 {
            let rest = Wire::Release {
                upto: len,
                at: at + delay,
            };
            if wire.send(rest).is_err() {
                return;
            }
        }
    }
}

/// Sleeps until `at`. Tokio's timer wakes up to a millisecond late, which is most of a small
/// message's time on a fast link: the `last` chunk of a message (whose end is when the peer
/// has it all) waits out the final millisecond by yielding instead.
async fn wait_until(at: Instant, last: bool) {
    const TICK: Duration = Duration::from_millis(1);
    if !last {
        // Earlier chunks may wake late: the next ones are paced from `at`, not from now.
        if at > Instant::now() {
            tokio::time::sleep_until(at).await;
        }
        return;
    }
    if at > Instant::now() + TICK {
        tokio::time::sleep_until(at - TICK).await;
    }
    while Instant::now() < at {
        tokio::task::yield_now().await;
    }
}

/// The writing end of a link: one connection to the peer, dialled when needed.
struct Writer {
    to: String,
    addr: String,
    io_timeout: Duration,
    tls: Option<Arc<rustls::ClientConfig>>,
    records: Arc<Mutex<Kept<LinkRecord>>>,
    failures: mpsc::UnboundedSender<SendFailure>,
}

/// The message being written.
struct Current {
    frame: Frame,
    enqueued: Instant,
    start: Instant,
    /// Payload bytes written so far; `None` once the header is not yet out.
    written: Option<usize>,
    /// Why it failed, once it has (its later pieces are skipped).
    failed: bool,
}

impl Writer {
    /// Writes what the shaper releases, each piece when it is due, until the shaper ends;
    /// then ends the connection cleanly (a TLS close_notify), so the peer sees the end of a
    /// stream, not a truncation.
    async fn run(self, mut wire: mpsc::UnboundedReceiver<Wire>) {
        let mut stream: Option<Conn> = None;
        let mut redial = Redial::default();
        let mut current: Option<Current> = None;
        while let Some(item) = wire.recv().await {
            let (upto, at) = match item {
                Wire::Begin {
                    frame,
                    enqueued,
                    start,
                } => {
                    current = Some(Current {
                        frame,
                        enqueued,
                        start,
                        written: None,
                        failed: false,
                    });
                    continue;
                }
                Wire::Release { upto, at } => (upto, at),
            };
            let Some(c) = current.as_mut() else { continue };
            if !c.failed {
                if at > Instant::now() {
                    tokio::time::sleep_until(at).await;
                }
                if let Err(message) = self.piece(&mut stream, &mut redial, c, upto).await {
                    c.failed = true;
                    let _ = self.failures.send(SendFailure {
                        frame: c.frame.frame,
                        message,
                    });
                }
            }
            if upto == c.frame.payload.len() {
                if !c.failed && c.frame.kind != FrameKind::Probe {
                    self.record(c);
                }
                current = None;
            }
        }
        if let Some(mut s) = stream {
            let _ = tokio::time::timeout(self.io_timeout, s.shutdown()).await;
        }
    }

    /// Writes `c`'s payload up to `upto` (its header first, dialling first if need be).
    async fn piece(
        &self,
        stream: &mut Option<Conn>,
        redial: &mut Redial,
        c: &mut Current,
        upto: usize,
    ) -> Result<(), String> {
        let to = &self.to;
        if stream.is_none() {
            *stream = Some(self.dial(redial).await?);
        }
        let s = stream.as_mut().expect("connected above");
        let sending =
            |e: tiersplit_net::NetError| format!("sending '{}' to node {to}: {e}", c.frame.name);
        if c.written.is_none() && upto == c.frame.payload.len() {
            // Released whole (an unshaped link): one vectored write.
            if let Err(e) = write_frame(s, &c.frame, self.io_timeout).await {
                *stream = None;
                return Err(sending(e));
            }
            c.written = Some(upto);
            return Ok(());
        }
        let from = match c.written {
            Some(n) => n,
            None => {
                if let Err(e) = write_header(s, &c.frame, self.io_timeout).await {
                    *stream = None;
                    return Err(sending(e));
                }
                0
            }
        };
        let piece = &c.frame.payload[from..upto.max(from)];
        if let Err(e) = write_payload(s, piece, self.io_timeout).await {
            *stream = None;
            return Err(sending(e));
        }
        c.written = Some(upto.max(from));
        Ok(())
    }

    /// A new connection to the peer, unless dials must wait after failing.
    async fn dial(&self, redial: &mut Redial) -> Result<Conn, String> {
        let (to, addr) = (&self.to, &self.addr);
        if let Some(why) = redial.refused(Instant::now()) {
            return Err(format!("cannot reach node {to} at {addr}: {why}"));
        }
        match dial_data(addr, to, self.tls.as_ref(), self.io_timeout).await {
            Ok(s) => {
                redial.connected();
                Ok(s)
            }
            Err(e) => {
                let why = if e.kind() == std::io::ErrorKind::TimedOut {
                    format!("no answer within {:?}", self.io_timeout)
                } else {
                    e.to_string()
                };
                redial.failed(Instant::now(), why.clone());
                Err(format!("cannot reach node {to} at {addr}: {why}"))
            }
        }
    }

    fn record(&self, c: &Current) {
        self.records.lock().expect("not poisoned").push(LinkRecord {
            frame: c.frame.frame,
            to: self.to.clone(),
            bytes: c.frame.payload.len() as u64,
            busy_us: Instant::now().duration_since(c.start).as_micros() as u64,
            queued_us: c.start.duration_since(c.enqueued).as_micros() as u64,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dials_again_only_after_a_back_off_that_doubles() {
        let mut r = Redial::default();
        let t0 = Instant::now();
        assert_eq!(r.refused(t0), None);
        let mut waits = Vec::new();
        let mut now = t0;
        for _ in 0..8 {
            r.failed(now, "refused".into());
            let Some((_, _, next)) = &r.failing else {
                unreachable!()
            };
            waits.push(next.duration_since(now).as_millis());
            assert!(r.refused(now).unwrap().contains("refused (next attempt in"));
            now = *next;
            assert_eq!(r.refused(now), None);
        }
        assert_eq!(waits, [50, 100, 200, 400, 800, 1600, 2000, 2000]);
        r.connected();
        r.failed(now, "refused".into());
        assert!(r.refused(now + REDIAL_MIN).is_none());
    }
}
