//! A node's share of a deployment: a dataflow engine. Tensors published on the node (computed
//! here, received from a peer, or fed as graph inputs on the sink) are sent along the node's
//! routes and handed to the local parts that read them; a part runs when all its inputs for a
//! frame are there. One part runs at a time (one engine per machine), off the async threads,
//! while the links keep sending, so frame k+1 computes while frame k is on the wire.

use crate::arrival::{ArrivalMeter, ArrivalRecord};
use crate::conn::Peer;
use crate::deployment::{Deployment, Emulation, Route, Work};
use crate::ids::{DeploymentId, ModelHash};
use crate::kept::Kept;
use crate::link_shaper::{start_link, LinkContext, LinkRecord, Outgoing, Radio, SendFailure};
use crate::link_watch::LinkWatch;
use crate::observation_log::{Observation, ObservationLog};
use crate::protocol::tensor_frame;
use crate::thread_cpu_time::ThreadCpuTime;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;
use tiersplit_exec::{crop_nchw, stitch_nchw, HostTensor, LoadedModel};
use tiersplit_net::Frame;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// The answer to one frame, on the sink node.
#[derive(Debug)]
pub struct FrameResult {
    /// Number of the frame, as assigned when it was fed.
    pub frame: u64,
    /// Graph outputs by name, or why the frame failed (the node and the reason).
    pub outputs: Result<HashMap<String, HostTensor>, String>,
    /// When the sink had the whole answer (or the failure).
    pub done: Instant,
}

/// One part run on this node.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PartRecord {
    /// Number of the frame the part ran for.
    pub frame: u64,
    /// The deployment the part belongs to.
    #[serde(default)]
    pub deployment: DeploymentId,
    /// The part's `PartSpec::id`.
    pub part: String,
    /// CPU time the engine took (the thread's own, so contention does not count).
    pub compute_us: u64,
    /// Time the node was busy with it: compute stretched by the emulated slowdown.
    pub busy_us: u64,
    /// Time between all inputs arriving and the part starting (waiting for the engine).
    pub queued_us: u64,
}

/// What a node did under its current deployment.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NodeStats {
    /// Name of the node.
    pub node: String,
    /// The node's newest deployment, which the statistics are named after (records of older
    /// deployments it still keeps are merged in; `PartRecord::deployment` tells them apart).
    pub deployment: DeploymentId,
    /// Part runs on this node, one record per part and frame.
    pub parts: Vec<PartRecord>,
    /// Messages this node sent (tensors and error reports, not probes), one record per message.
    pub links: Vec<LinkRecord>,
    /// Tensors this node received over links whose rate the runtime does not shape (the
    /// kernel or the network does), timed as they arrived; one record per message.
    #[serde(default)]
    pub arrivals: Vec<ArrivalRecord>,
}

struct LocalPart {
    id: String,
    work: LocalWork,
    inputs: Vec<String>,
    outputs: Vec<String>,
}

enum LocalWork {
    Model(Arc<dyn LoadedModel>),
    Stitch {
        shape: [usize; 4],
        regions: Vec<[usize; 4]>,
    },
}

/// A part's inputs for one frame, filled as they arrive.
type Slots = Vec<Option<HostTensor>>;

/// Frames (per part) a node holds partial inputs or partial answers for at most: past it, the
/// oldest such frame fails, so tensors of frames that never complete (lost peers, a flood of
/// forged frame numbers) cannot grow a node's memory without end.
pub const MAX_WAITING: usize = 4096;

fn oldest_frame(frames: impl Iterator<Item = u64>) -> Option<u64> {
    frames.min()
}

fn over_bound(node: &str, what: &str) -> String {
    format!("dropped by node {node}: over {MAX_WAITING} frames {what}")
}

struct Job {
    frame: u64,
    part: usize,
    inputs: Vec<HostTensor>,
    ready: Instant,
}

/// A deployment running on this node.
pub(crate) struct Active {
    dep: Deployment,
    me: String,
    parts: Vec<LocalPart>,
    /// Tensor name -> (local part, input slot) pairs that read it.
    readers: HashMap<String, Vec<(usize, usize)>>,
    routes: HashMap<String, Vec<Route>>,
    /// Tensor name on this node -> the node that sends it here (`None`: several do).
    senders: HashMap<String, Option<String>>,
    /// Inputs gathered so far, per (frame, local part).
    waiting: Mutex<HashMap<(u64, usize), Slots>>,
    /// Graph outputs gathered so far per frame (sink only).
    answers: Mutex<HashMap<u64, HashMap<String, HostTensor>>>,
    jobs: mpsc::UnboundedSender<Job>,
    links: Mutex<HashMap<String, mpsc::UnboundedSender<Outgoing>>>,
    failures: mpsc::UnboundedSender<SendFailure>,
    results: Option<mpsc::UnboundedSender<FrameResult>>,
    part_records: Arc<Mutex<Kept<PartRecord>>>,
    link_records: Arc<Mutex<Kept<LinkRecord>>>,
    arrival_records: Arc<Mutex<Kept<ArrivalRecord>>>,
    io_timeout: Duration,
    node: NodeState,
}

/// What the deployments of one session on a node share: the emulation in force (a trace
/// changes it while frames flow), the node's radio and the log of measurements the device
/// reads.
#[derive(Clone, Default)]
pub(crate) struct NodeState {
    pub emulation: Arc<RwLock<Emulation>>,
    pub log: ObservationLog,
    /// The node's emulated radio, shared by all the links of all the session's deployments.
    pub radio: Radio,
    /// The data plane's mutual-TLS client side, when the node has an identity.
    pub data_tls: Option<Arc<rustls::ClientConfig>>,
    /// The links the session's newest deployment asked this node to watch.
    pub watch: Arc<Mutex<LinkWatch>>,
}

impl Active {
    /// Sets up `dep` on node `me`; models come from `models` by content hash. `results` is
    /// where the sink reports answered frames.
    pub(crate) fn start(
        dep: Deployment,
        me: &str,
        models: &HashMap<ModelHash, Arc<dyn LoadedModel>>,
        results: Option<mpsc::UnboundedSender<FrameResult>>,
        io_timeout: Duration,
        node: NodeState,
    ) -> Result<Arc<Active>, String> {
        dep.check()?;
        if !dep.nodes.contains_key(me) {
            return Err(format!(
                "this node ('{me}') is not in deployment '{}'",
                dep.id
            ));
        }
        let mut parts = Vec::new();
        for p in dep.parts.iter().filter(|p| p.node == me) {
            let work = match &p.work {
                Work::Model { hash } => LocalWork::Model(
                    models
                        .get(hash)
                        .cloned()
                        .ok_or_else(|| format!("part '{}': model {hash} was not uploaded", p.id))?,
                ),
                Work::Stitch { shape, regions } => LocalWork::Stitch {
                    shape: *shape,
                    regions: regions.clone(),
                },
            };
            if let LocalWork::Model(m) = &work {
                let names: Vec<&String> = p.inputs.iter().map(|(_, m)| m).collect();
                if m.input_names().iter().collect::<Vec<_>>() != names {
                    return Err(format!(
                        "part '{}': model inputs {:?} differ from the deployment's {names:?}",
                        p.id,
                        m.input_names()
                    ));
                }
            }
            parts.push(LocalPart {
                id: p.id.clone(),
                work,
                inputs: p.inputs.iter().map(|(t, _)| t.clone()).collect(),
                outputs: p.outputs.iter().map(|(_, t)| t.clone()).collect(),
            });
        }
        let mut readers: HashMap<String, Vec<(usize, usize)>> = HashMap::new();
        for (i, p) in parts.iter().enumerate() {
            for (slot, t) in p.inputs.iter().enumerate() {
                readers.entry(t.clone()).or_default().push((i, slot));
            }
        }
        let mut routes: HashMap<String, Vec<Route>> = HashMap::new();
        for r in dep.routes.iter().filter(|r| r.from == me) {
            routes.entry(r.tensor.clone()).or_default().push(r.clone());
        }
        let mut senders: HashMap<String, Option<String>> = HashMap::new();
        for r in dep.routes.iter().filter(|r| r.to == me) {
            senders
                .entry(r.deliver_as.clone())
                .and_modify(|s| {
                    if s.as_deref() != Some(&r.from) {
                        *s = None;
                    }
                })
                .or_insert_with(|| Some(r.from.clone()));
        }
        let (jobs, jobs_rx) = mpsc::unbounded_channel();
        let (failures, mut failures_rx) = mpsc::unbounded_channel::<SendFailure>();
        let active = Arc::new(Active {
            me: me.to_string(),
            results: if dep.sink == me { results } else { None },
            dep,
            parts,
            readers,
            routes,
            senders,
            waiting: Mutex::default(),
            answers: Mutex::default(),
            jobs,
            links: Mutex::default(),
            failures,
            part_records: Arc::default(),
            link_records: Arc::default(),
            arrival_records: Arc::default(),
            io_timeout,
            node,
        });
        // The executor holds the deployment weakly: when the node drops a superseded
        // deployment, its job queue closes and the executor, links and tasks all end.
        tokio::spawn(Active::executor(Arc::downgrade(&active), jobs_rx));
        let weak = Arc::downgrade(&active);
        tokio::spawn(async move {
            while let Some(f) = failures_rx.recv().await {
                match weak.upgrade() {
                    Some(a) => a.fail(f.frame, &f.message),
                    None => break,
                }
            }
        });
        Ok(active)
    }

    /// Runs jobs one at a time, in the order their inputs completed.
    async fn executor(me: Weak<Active>, mut jobs: mpsc::UnboundedReceiver<Job>) {
        while let Some(job) = jobs.recv().await {
            let Some(me) = me.upgrade() else { break };
            let started = Instant::now();
            let slowdown = me
                .node
                .emulation
                .read()
                .expect("not poisoned")
                .slowdown_of(&me.me);
            let part = &me.parts[job.part];
            let id = part.id.clone();
            let (result, compute) = match &part.work {
                LocalWork::Model(m) => {
                    let m = m.clone();
                    let inputs = job.inputs;
                    tokio::task::spawn_blocking(move || {
                        let cpu = ThreadCpuTime::now();
                        let r = m.run(inputs).map_err(|e| e.to_string());
                        (r, cpu.elapsed())
                    })
                    .await
                    .unwrap_or_else(|e| (Err(format!("engine panicked: {e}")), Duration::ZERO))
                }
                LocalWork::Stitch { shape, regions } => {
                    let cpu = ThreadCpuTime::now();
                    let pieces: Vec<_> = regions
                        .iter()
                        .zip(job.inputs)
                        .map(|(r, t)| (r[0]..r[1], r[2]..r[3], t))
                        .collect();
                    let r = stitch_nchw(*shape, &pieces)
                        .map(|t| vec![t])
                        .map_err(|e| e.to_string());
                    (r, cpu.elapsed())
                }
            };
            // Emulated slowdown: the node stays busy for `slowdown` times the CPU time the work
            // took. CPU time, not wall time, so that other processes sharing this machine's
            // cores (the rest of a one-machine cluster) do not stretch it further.
            if slowdown > 1.0 {
                let target = compute.mul_f64(slowdown);
                let wall = started.elapsed();
                if target > wall {
                    tokio::time::sleep(target - wall).await;
                }
            }
            let record = PartRecord {
                frame: job.frame,
                deployment: me.dep.id.clone(),
                part: id.clone(),
                compute_us: compute.as_micros() as u64,
                busy_us: started.elapsed().as_micros() as u64,
                queued_us: started.duration_since(job.ready).as_micros() as u64,
            };
            me.node.log.push(Observation::Part(record.clone()));
            me.part_records.lock().expect("not poisoned").push(record);
            match result {
                Ok(outs) => {
                    for (name, t) in part.outputs.iter().zip(outs) {
                        me.publish(job.frame, name, t);
                    }
                }
                Err(e) => me.fail(job.frame, &format!("part '{id}' on node {}: {e}", me.me)),
            }
        }
    }

    /// A tensor of `frame` is now on this node: send it along its routes, hand it to the local
    /// parts that read it, and keep it if it is a graph output and this node is the sink.
    pub(crate) fn publish(&self, frame: u64, name: &str, t: HostTensor) {
        for r in self.routes.get(name).into_iter().flatten() {
            let piece = match r.crop {
                Some([r0, r1, c0, c1]) => match crop_nchw(&t, r0..r1, c0..c1) {
                    Ok(p) => p,
                    Err(e) => {
                        self.fail(frame, &format!("cutting '{name}' for {}: {e}", r.to));
                        continue;
                    }
                },
                None => t.clone(),
            };
            if r.to == self.me {
                self.publish(frame, &r.deliver_as, piece);
            } else {
                self.send(&r.to, tensor_frame(frame, &r.deliver_as, &piece));
            }
        }
        if let Some(readers) = self.readers.get(name) {
            let mut waiting = self.waiting.lock().expect("not poisoned");
            // Every frame dropped here fails, even when one tensor with several readers
            // pushes out more than one.
            let mut evicted = Vec::new();
            for &(part, slot) in readers {
                if waiting.len() >= MAX_WAITING && !waiting.contains_key(&(frame, part)) {
                    if let Some(old) = oldest_frame(waiting.keys().map(|k| k.0)) {
                        waiting.retain(|k, _| k.0 != old);
                        evicted.push(old);
                    }
                }
                let entry = waiting
                    .entry((frame, part))
                    .or_insert_with(|| vec![None; self.parts[part].inputs.len()]);
                entry[slot] = Some(t.clone());
                if entry.iter().all(Option::is_some) {
                    let inputs = waiting
                        .remove(&(frame, part))
                        .expect("present")
                        .into_iter()
                        .map(|t| t.expect("all present"))
                        .collect();
                    let _ = self.jobs.send(Job {
                        frame,
                        part,
                        inputs,
                        ready: Instant::now(),
                    });
                }
            }
            drop(waiting);
            for old in evicted {
                self.fail(old, &over_bound(&self.me, "waiting for inputs"));
            }
        }
        if self.results.is_some() && self.dep.outputs.iter().any(|o| o == name) {
            let mut answers = self.answers.lock().expect("not poisoned");
            if answers.len() >= MAX_WAITING && !answers.contains_key(&frame) {
                if let Some(old) = oldest_frame(answers.keys().copied()) {
                    answers.remove(&old);
                    drop(answers);
                    self.fail(old, &over_bound(&self.me, "partly answered"));
                    answers = self.answers.lock().expect("not poisoned");
                }
            }
            let got = answers.entry(frame).or_default();
            got.insert(name.to_string(), t);
            if got.len() == self.dep.outputs.len() {
                let outputs = answers.remove(&frame).expect("present");
                self.answer(FrameResult {
                    frame,
                    outputs: Ok(outputs),
                    done: Instant::now(),
                });
            }
        }
    }

    /// Whether `peer` is one of this deployment's nodes.
    pub(crate) fn has_node(&self, peer: &Peer) -> bool {
        self.dep.nodes.keys().any(|n| peer.is(n))
    }

    /// The deployment's id.
    pub(crate) fn deployment_id(&self) -> &DeploymentId {
        &self.dep.id
    }

    /// Frame `frame` cannot be answered: tell the sink (which tells the device).
    pub(crate) fn fail(&self, frame: u64, message: &str) {
        if self.results.is_some() {
            self.answers.lock().expect("not poisoned").remove(&frame);
            self.answer(FrameResult {
                frame,
                outputs: Err(message.to_string()),
                done: Instant::now(),
            });
        } else {
            let sink = self.dep.sink.clone();
            self.send(&sink, Frame::error(frame, &self.me, message));
        }
    }

    fn answer(&self, r: FrameResult) {
        if let Some(tx) = &self.results {
            let _ = tx.send(r);
        }
    }

    /// Sends `bytes` of filler to `to` over this node's link to it, to measure the link.
    pub(crate) fn probe(&self, to: &str, bytes: usize) -> Result<(), String> {
        if to == self.me || !self.dep.nodes.contains_key(to) {
            return Err(format!(
                "node {} cannot probe '{to}': not another node of deployment '{}'",
                self.me, self.dep.id
            ));
        }
        self.send(to, Frame::probe_from(&self.me, bytes));
        Ok(())
    }

    fn send(&self, to: &str, frame: Frame) {
        let mut links = self.links.lock().expect("not poisoned");
        let link = links.entry(to.to_string()).or_insert_with(|| {
            start_link(
                to.to_string(),
                self.dep.nodes[to].clone(),
                LinkContext {
                    from: self.me.clone(),
                    emulation: self.node.emulation.clone(),
                    io_timeout: self.io_timeout,
                    tls: self.node.data_tls.clone(),
                    records: self.link_records.clone(),
                    log: self.node.log.clone(),
                    radio: self.node.radio.clone(),
                    failures: self.failures.clone(),
                },
            )
        });
        let _ = link.send(Outgoing {
            frame: frame.in_session(self.dep.session.to_wire()),
            enqueued: Instant::now(),
        });
    }

    pub(crate) fn stats(&self) -> NodeStats {
        NodeStats {
            node: self.me.clone(),
            deployment: self.dep.id.clone(),
            parts: self.part_records.lock().expect("not poisoned").to_vec(),
            links: self.link_records.lock().expect("not poisoned").to_vec(),
            arrivals: self.arrival_records.lock().expect("not poisoned").to_vec(),
        }
    }

    /// A meter for a payload arriving from a peer: tensor `name` of `frame`, or a probe whose
    /// name is its sender. `None` when the sender is unknown here or ambiguous, when `peer` is
    /// given (mutual TLS) and is not the sender, or when the sender shapes the link's rate
    /// itself (emulation): its own samples time that link, without the turns it waits for a
    /// shared radio, which a receiver cannot tell from a slower link.
    pub(crate) fn arrival_meter(
        &self,
        name: &str,
        frame: u64,
        probe: bool,
        peer: Option<&Peer>,
    ) -> Option<ArrivalMeter> {
        let from = if probe {
            self.dep.nodes.contains_key(name).then_some(name)?
        } else {
            self.senders.get(name)?.as_deref()?
        };
        if peer.is_some_and(|p| !p.is(from)) {
            return None;
        }
        let shaped = self
            .node
            .emulation
            .read()
            .expect("not poisoned")
            .link(from, &self.me)
            .is_some_and(|l| l.mbps.is_some());
        if shaped || from == self.me {
            return None;
        }
        let records = (!probe).then(|| self.arrival_records.clone());
        Some(ArrivalMeter::new(
            from.to_string(),
            frame,
            self.node.log.clone(),
            records,
        ))
    }
}
