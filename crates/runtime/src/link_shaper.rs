//! The sending end of one link: a queue of frames to one peer, shaped (when emulating) by a
//! token bucket and a one-way delay, written in order over one TCP connection.

use crate::deployment::LinkShape;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tiersplit_net::{write_frame, Frame};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// What a link did, for the statistics.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct LinkRecord {
    pub frame: u64,
    pub to: String,
    pub bytes: u64,
    /// From the moment the frame reached the head of the queue to the end of its write,
    /// emulated serialisation and delay included.
    pub busy_us: u64,
    /// Time spent waiting behind earlier frames on this link.
    pub queued_us: u64,
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

/// Starts the link's tasks; frames sent to the returned queue go to `addr` in order. Failures
/// are reported on `failures` with the frame they cost.
pub(crate) fn start_link(
    to: String,
    addr: String,
    shape: Option<LinkShape>,
    io_timeout: Duration,
    records: Arc<Mutex<Vec<LinkRecord>>>,
    failures: mpsc::UnboundedSender<SendFailure>,
) -> mpsc::UnboundedSender<Outgoing> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Outgoing>();
    // Shaping and writing are two tasks so the one-way delay pipelines: a frame in flight does
    // not hold the link for its delay, only for its serialisation time.
    let (wire_tx, mut wire_rx) = mpsc::unbounded_channel::<(Instant, Instant, Instant, Frame)>();
    tokio::spawn(async move {
        let mut free_at = Instant::now();
        while let Some(out) = rx.recv().await {
            let now = Instant::now();
            let start = free_at.max(now);
            let (hold, delay) = match &shape {
                Some(s) => (
                    s.mbps.map_or(Duration::ZERO, |r| {
                        Duration::from_secs_f64(out.frame.payload.len() as f64 * 8.0 / (r * 1e6))
                    }),
                    Duration::from_secs_f64(s.delay_ms / 1e3),
                ),
                None => (Duration::ZERO, Duration::ZERO),
            };
            free_at = start + hold;
            // Tokio's timer ticks in milliseconds: sleeping for nothing would still cost one.
            if free_at > Instant::now() {
                tokio::time::sleep_until(free_at).await;
            }
            if wire_tx
                .send((out.enqueued, start, free_at + delay, out.frame))
                .is_err()
            {
                break;
            }
        }
    });
    tokio::spawn(async move {
        let mut stream: Option<TcpStream> = None;
        while let Some((enqueued, start, deliver_at, frame)) = wire_rx.recv().await {
            if deliver_at > Instant::now() {
                tokio::time::sleep_until(deliver_at).await;
            }
            if stream.is_none() {
                match tokio::time::timeout(io_timeout, TcpStream::connect(&addr)).await {
                    Ok(Ok(s)) => {
                        let _ = s.set_nodelay(true);
                        stream = Some(s);
                    }
                    Ok(Err(e)) => {
                        let _ = failures.send(SendFailure {
                            frame: frame.frame,
                            message: format!("cannot reach node {to} at {addr}: {e}"),
                        });
                        continue;
                    }
                    Err(_) => {
                        let _ = failures.send(SendFailure {
                            frame: frame.frame,
                            message: format!(
                                "node {to} at {addr} did not answer within {io_timeout:?}"
                            ),
                        });
                        continue;
                    }
                }
            }
            let s = stream.as_mut().expect("connected above");
            match write_frame(s, &frame, io_timeout).await {
                Ok(()) => records.lock().expect("not poisoned").push(LinkRecord {
                    frame: frame.frame,
                    to: to.clone(),
                    bytes: frame.payload.len() as u64,
                    busy_us: Instant::now().duration_since(start).as_micros() as u64,
                    queued_us: start.duration_since(enqueued).as_micros() as u64,
                }),
                Err(e) => {
                    stream = None;
                    let _ = failures.send(SendFailure {
                        frame: frame.frame,
                        message: format!("sending '{}' to node {to}: {e}", frame.name),
                    });
                }
            }
        }
    });
    tx
}
