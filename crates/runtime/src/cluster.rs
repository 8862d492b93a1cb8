//! The device's side of running a plan: this process is the sink node (an in-process
//! [`Worker`] with its own listener, so other nodes can send it results), and every other node
//! is reached over a control connection that uploads models, deploys and collects statistics.

use crate::control_service::pb::control_client::ControlClient;
use crate::control_service::pb::{
    DeployRequest, EmulateRequest, HasRequest, HelloReply, HelloRequest, ModelChunk,
    ObserveRequest, ProbeRequest, StatsRequest,
};
use crate::control_service::{CONTROL_VERSION, MAX_CONTROL_MESSAGE, UPLOAD_CHUNK};
use crate::error::NodeError;
use crate::health::{CutLink, HealthConfig, HealthWatch, NodeHealth};
use crate::ids::SessionId;
use crate::node::{FrameResult, NodeStats};
use crate::observation_log::Observations;
use crate::tls::NodeIdentity;
use crate::{Deployment, Emulation, ModelHash, RuntimeError, Worker};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;
use tiersplit_exec::HostTensor;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

#[derive(Clone)]
struct RemoteNode {
    name: String,
    addr: String,
    client: ControlClient<Channel>,
    /// The engine it said it runs, and its threads.
    engine: (String, usize),
}

/// Uploads a deployment's models to its nodes without holding the driver, so frames keep
/// flowing on the current plan while the next one's models load (the slow half of a switch).
#[derive(Clone)]
pub struct Uploader {
    device: Worker,
    /// The nodes that were up when it was made.
    remotes: Vec<RemoteNode>,
}

impl Uploader {
    /// Sends every node the models of `dep` it does not hold (it is asked first, so models it
    /// evicted or lost in a restart are sent again; `models`: content hash -> ONNX bytes), all
    /// nodes at once, and loads the device's own. Returns how many models a node already had in
    /// its content-hash cache.
    pub async fn upload(
        &self,
        dep: &Deployment,
        models: &HashMap<ModelHash, Vec<u8>>,
    ) -> Result<usize, RuntimeError> {
        let mut tasks = tokio::task::JoinSet::new();
        let mut cached = 0;
        for r in &self.remotes {
            let hashes: Vec<ModelHash> = dep.model_hashes(&r.name).into_iter().cloned().collect();
            let present = holds(&mut r.clone(), &hashes).await?;
            cached += present.iter().filter(|p| **p).count();
            // Only the models the node lacks are copied for its upload.
            let wanted: Vec<(ModelHash, Vec<u8>)> = hashes
                .into_iter()
                .zip(present)
                .filter(|(_, p)| !p)
                .map(|(h, _)| Ok((h.clone(), bytes_of(models, &r.name, &h)?)))
                .collect::<Result<_, RuntimeError>>()?;
            tasks.spawn(upload_missing(r.clone(), wanted));
        }
        cached += self.load_on_device(dep, models).await?;
        while let Some(r) = tasks.join_next().await {
            let device_err = remote_error(&self.device.name);
            cached += r.map_err(|e| device_err(format!("upload task failed: {e}")))??;
        }
        Ok(cached)
    }

    /// Loads the device's own models of `dep` it does not hold.
    async fn load_on_device(
        &self,
        dep: &Deployment,
        models: &HashMap<ModelHash, Vec<u8>>,
    ) -> Result<usize, RuntimeError> {
        let device_err = remote_error(&self.device.name);
        let mut cached = 0;
        for hash in dep.model_hashes(&self.device.name) {
            if self.device.has_model(hash) {
                cached += 1;
                continue;
            }
            let bytes = bytes_of(models, &self.device.name, hash)?;
            let device = self.device.clone();
            // Loading optimises the model: off the async threads, which keep serving frames
            // in flight during a live switch.
            tokio::task::spawn_blocking(move || device.add_model_cached(&bytes))
                .await
                .map_err(|e| device_err(format!("loader panicked: {e}")))?
                .map_err(|e| device_err(e.to_string()))?;
        }
        Ok(cached)
    }
}

/// The bytes of model `hash`, which node `node` needs.
fn bytes_of(
    models: &HashMap<ModelHash, Vec<u8>>,
    node: &str,
    hash: &ModelHash,
) -> Result<Vec<u8>, RuntimeError> {
    models
        .get(hash)
        .cloned()
        .ok_or_else(|| RuntimeError::Protocol {
            worker: node.to_string(),
            message: format!("no bytes for model {hash}"),
        })
}

/// Which of `hashes` node `r` holds, in order.
async fn holds(r: &mut RemoteNode, hashes: &[ModelHash]) -> Result<Vec<bool>, RuntimeError> {
    if hashes.is_empty() {
        return Ok(Vec::new());
    }
    let present = r
        .client
        .has(HasRequest {
            hashes: hashes.iter().map(|h| h.to_string()).collect(),
        })
        .await
        .map_err(|s| status_err(&r.name, s))?
        .into_inner()
        .present;
    if present.len() != hashes.len() {
        return Err(RuntimeError::Protocol {
            worker: r.name.clone(),
            message: format!("{} answers to {} models asked", present.len(), hashes.len()),
        });
    }
    Ok(present)
}

/// Uploads `wanted` to `r`; returns how many it turned out to hold already (another device
/// may have uploaded one meanwhile).
async fn upload_missing(
    mut r: RemoteNode,
    wanted: Vec<(ModelHash, Vec<u8>)>,
) -> Result<usize, RuntimeError> {
    let mut cached = 0;
    for (hash, bytes) in wanted {
        let total = bytes.len() as u64;
        let chunks: Vec<ModelChunk> = bytes
            .chunks(UPLOAD_CHUNK)
            .map(|c| ModelChunk {
                hash: hash.to_string(),
                total_bytes: total,
                data: c.to_vec(),
            })
            .collect();
        let reply = r
            .client
            .upload(tokio_stream::iter(chunks))
            .await
            .map_err(|s| status_err(&r.name, s))?
            .into_inner();
        cached += usize::from(reply.cached);
    }
    Ok(cached)
}

/// The whole chain of causes of an error, for messages (tonic's top level says only
/// "transport error").
fn source_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// Turns a message of node `worker` into an error naming it.
fn remote_error(worker: &str) -> impl Fn(String) -> RuntimeError {
    let worker = worker.to_string();
    move |message| RuntimeError::Remote {
        worker: worker.clone(),
        message,
    }
}

/// Turns a refusal of node `worker` (the device's own) into an error naming it.
fn node_err(worker: &str) -> impl Fn(NodeError) -> RuntimeError {
    let worker = worker.to_string();
    move |e| match e {
        NodeError::MissingModels { .. } => RuntimeError::MissingModels {
            worker: worker.clone(),
            message: e.to_string(),
        },
        e => RuntimeError::Remote {
            worker: worker.clone(),
            message: e.to_string(),
        },
    }
}

fn status_err(worker: &str, s: tonic::Status) -> RuntimeError {
    if s.code() == tonic::Code::NotFound {
        return RuntimeError::MissingModels {
            worker: worker.to_string(),
            message: s.message().to_string(),
        };
    }
    RuntimeError::Remote {
        worker: worker.to_string(),
        message: format!("{:?}: {}", s.code(), s.message()),
    }
}

/// A control call's answer; `None` when the node could not be reached (it died or its link
/// broke since the last heartbeat) or no longer has this session (it restarted): the
/// heartbeats decide whether it is down, and a call that only reads or adjusts
/// (observations, emulation, statistics) goes on without it.
fn tolerate_lost<T>(
    node: &str,
    r: Result<tonic::Response<T>, tonic::Status>,
) -> Result<Option<tonic::Response<T>>, RuntimeError> {
    match r {
        Ok(r) => Ok(Some(r)),
        // Unreachable, or restarted without this session (re-admitted once the heartbeats
        // see it back).
        Err(s)
            if matches!(
                s.code(),
                tonic::Code::Unavailable | tonic::Code::FailedPrecondition
            ) =>
        {
            tracing::warn!(node = %node, "left out: {}", s.message());
            Ok(None)
        }
        Err(s) => Err(status_err(node, s)),
    }
}

/// Longest the device waits for a measurement or emulation call before leaving the node out
/// for that round: a node that hangs must not hold up the frames (its heartbeats call it
/// down soon after), and these calls are small.
const QUICK_CALL: Duration = Duration::from_secs(1);

/// Longest a node given work may take to take a deployment (a few hundred kB of JSON) before
/// the deployment fails: a node that hangs meanwhile must not hold the frames for the whole
/// timeout.
const DEPLOY_CALL: Duration = Duration::from_secs(5);

/// `call` to `node` within [`QUICK_CALL`], a lost or late node left out (`None`).
async fn quick<T>(
    node: &str,
    call: impl std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
) -> Result<Option<tonic::Response<T>>, RuntimeError> {
    match tokio::time::timeout(QUICK_CALL, call).await {
        Ok(r) => tolerate_lost(node, r),
        Err(_) => {
            tracing::warn!(node = %node, "left out: no answer within {QUICK_CALL:?}");
            Ok(None)
        }
    }
}

/// What a node says of itself: its engine and what it holds for all devices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeStatus {
    /// Its name (checked against the one asked for).
    pub node: String,
    /// Its engine and the threads one part's run may use.
    pub engine: (String, usize),
    /// Sessions it holds (devices whose leases have not run out), and the deployments they
    /// keep.
    pub sessions: usize,
    /// Deployments kept across those sessions.
    pub deployments: usize,
}

/// Asks node `name` at `addr` what it holds (over mutual TLS when `tls` is given, as
/// `tls.name`), within `timeout`.
pub async fn node_status(
    name: &str,
    addr: &str,
    tls: Option<&NodeIdentity>,
    timeout: Duration,
) -> Result<NodeStatus, RuntimeError> {
    let asker = tls.map_or("status", |id| id.name.as_str());
    let (_, hello) = connect_control(asker, name, addr, tls, timeout).await?;
    Ok(NodeStatus {
        node: hello.node,
        engine: (hello.engine, hello.threads as usize),
        sessions: hello.sessions as usize,
        deployments: hello.deployments as usize,
    })
}

/// A control connection to node `name` at `addr`, and its hello, checked to come from that
/// node and to speak this protocol version.
async fn connect_control(
    device: &str,
    name: &str,
    addr: &str,
    tls: Option<&NodeIdentity>,
    timeout: Duration,
) -> Result<(ControlClient<Channel>, HelloReply), RuntimeError> {
    let connect_err = |message: String| RuntimeError::Connect {
        worker: name.to_string(),
        message,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let mut endpoint = Endpoint::from_shared(format!("{scheme}://{addr}"))
        .map_err(|e| connect_err(format!("{addr}: {e}")))?
        .connect_timeout(timeout)
        .timeout(timeout)
        .tcp_nodelay(true);
    if let Some(id) = tls {
        endpoint = endpoint
            .tls_config(
                ClientTlsConfig::new()
                    .ca_certificate(Certificate::from_pem(&id.ca_pem))
                    .identity(Identity::from_pem(&id.cert_pem, &id.key_pem))
                    .domain_name(name),
            )
            .map_err(|e| connect_err(format!("TLS: {}", source_chain(&e))))?;
    }
    let channel = endpoint
        .connect()
        .await
        .map_err(|e| connect_err(format!("{addr}: {}", source_chain(&e))))?;
    let mut client = ControlClient::new(channel)
        .max_decoding_message_size(MAX_CONTROL_MESSAGE)
        .max_encoding_message_size(MAX_CONTROL_MESSAGE);
    let hello = client
        .hello(HelloRequest {
            protocol_version: CONTROL_VERSION,
            client: device.to_string(),
            ..Default::default()
        })
        .await
        .map_err(|s| status_err(name, s))?
        .into_inner();
    if hello.node != name {
        return Err(RuntimeError::Protocol {
            worker: name.to_string(),
            message: format!(
                "the node at {addr} calls itself '{}', the scenario '{name}'",
                hello.node
            ),
        });
    }
    Ok((client, hello))
}

/// Drives a deployment from the device.
pub struct ClusterDriver {
    /// The device's own node: it feeds the graph inputs and collects the graph outputs (the
    /// deployment's sink).
    pub device: Worker,
    device_addr: String,
    remotes: Vec<RemoteNode>,
    results_tx: mpsc::UnboundedSender<FrameResult>,
    results_rx: mpsc::UnboundedReceiver<FrameResult>,
    /// Bound on every control exchange and on waiting for any frame's answer.
    pub timeout: Duration,
    next_frame: u64,
    /// Per node, the cursor of its observation log read so far.
    cursors: HashMap<String, u64>,
    /// This driver's session on every node.
    session: SessionId,
    /// Heartbeats to every remote node.
    health: HealthWatch,
    /// The emulation last set on every node (sent again to a node re-admitted).
    emulation: Emulation,
    /// The newest deployment started (sent again to a node re-admitted, so it knows the
    /// cluster's addresses and can probe its links).
    newest: Option<Deployment>,
    /// Nodes the emulation in force has not reached yet.
    stale_emulation: BTreeSet<String>,
    /// The directed links every deployment asks its nodes to watch.
    watched: Vec<(String, String)>,
}

impl ClusterDriver {
    /// Starts the device node listening on `listen` and connects to the `remotes`
    /// (name, address), each within `timeout`, over plain HTTP/2.
    pub async fn start(
        device: &str,
        listen: &str,
        remotes: &[(String, String)],
        timeout: Duration,
    ) -> Result<ClusterDriver, RuntimeError> {
        ClusterDriver::start_tls(device, listen, remotes, timeout, None).await
    }

    /// [`ClusterDriver::start`], over mutual TLS on both planes when the device has an
    /// identity (`tls`, whose name is `device`'s): every node must present a certificate of
    /// the cluster CA valid for its name in `remotes`, and the device shows its own.
    pub async fn start_tls(
        device: &str,
        listen: &str,
        remotes: &[(String, String)],
        timeout: Duration,
        tls: Option<&NodeIdentity>,
    ) -> Result<ClusterDriver, RuntimeError> {
        let device = Worker::new(device);
        ClusterDriver::start_on(device, listen, remotes, timeout, tls).await
    }

    /// [`ClusterDriver::start_tls`] with the device node given (its name and engine; its
    /// identity and timeout are set here).
    pub async fn start_on(
        device: Worker,
        listen: &str,
        remotes: &[(String, String)],
        timeout: Duration,
        tls: Option<&NodeIdentity>,
    ) -> Result<ClusterDriver, RuntimeError> {
        let mut worker = device;
        let device = worker.name.clone();
        let device = device.as_str();
        let connect_err = |worker: &str, message: String| RuntimeError::Connect {
            worker: worker.to_string(),
            message,
        };
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|e| connect_err(device, format!("cannot listen on {listen}: {e}")))?;
        let device_addr = listener
            .local_addr()
            .map_err(|e| connect_err(device, e.to_string()))?
            .to_string();
        if let Some(id) = tls {
            worker = worker
                .with_identity(id)
                .map_err(|e| connect_err(device, e.to_string()))?;
        }
        worker.io_timeout = timeout;
        tokio::spawn(worker.clone().serve(listener));
        let mut nodes = Vec::new();
        for (name, addr) in remotes {
            let (client, hello) = connect_control(device, name, addr, tls, timeout).await?;
            nodes.push(RemoteNode {
                name: name.clone(),
                addr: addr.clone(),
                client,
                engine: (hello.engine, hello.threads as usize),
            });
        }
        let (results_tx, results_rx) = mpsc::unbounded_channel();
        let mut driver = ClusterDriver {
            device: worker,
            device_addr,
            remotes: nodes,
            results_tx,
            results_rx,
            timeout,
            next_frame: 1,
            cursors: HashMap::new(),
            session: SessionId::random(),
            health: HealthWatch::start(
                device,
                SessionId::NONE,
                Vec::new(),
                HealthConfig::default(),
            ),
            emulation: Emulation::default(),
            newest: None,
            stale_emulation: BTreeSet::new(),
            watched: Vec::new(),
        };
        driver.watch_health(HealthConfig::default());
        // Opens the session on every node, so it is this device's before anyone else names it.
        driver.set_emulation(Emulation::default()).await?;
        Ok(driver)
    }

    /// Watches every remote node's health as `config` says, from now on (the driver starts
    /// with [`HealthConfig::default`]).
    pub fn watch_health(&mut self, config: HealthConfig) {
        let nodes = self
            .remotes
            .iter()
            .map(|r| (r.name.clone(), r.client.clone()))
            .collect();
        self.health = HealthWatch::start(&self.device.name, self.session, nodes, config);
    }

    /// Has the nodes watch the directed links `links` (from, to) from the next deployment on:
    /// each pings its peers over them ([`crate::PING_EVERY`]) and reports those that stop
    /// answering, which [`ClusterDriver::cut_links`] reads.
    pub fn watch_links(&mut self, links: Vec<(String, String)>) {
        self.watched = links;
    }

    /// The watched links found cut now: down as their sender sees them while their receiver
    /// still answers heartbeats (a dead or hung node is [`ClusterDriver::health`]'s news).
    pub fn cut_links(&self) -> Vec<CutLink> {
        let own = self.device.links_down(self.session);
        self.health.cut_links(&self.device.name, &own)
    }

    /// Every watched link some node reports down now, cut or not (a dead receiver's too).
    pub fn links_reported_down(&self) -> BTreeSet<(String, String)> {
        let own = self.device.links_down(self.session);
        self.health.reported_down(&self.device.name, &own)
    }

    /// Catches up the nodes an emulation change missed (they were down or suspect then), so a
    /// trace's cut or restore reaches them even in a run that does not observe.
    pub async fn catch_up(&mut self) -> Result<(), RuntimeError> {
        self.resend_emulation().await
    }

    /// Every remote node's health as its heartbeats see it now.
    pub fn health(&self) -> BTreeMap<String, NodeHealth> {
        self.health.snapshot()
    }

    /// The remote nodes that are not up now (down, or restarted and not re-admitted), with
    /// why.
    pub fn down_nodes(&self) -> Vec<(String, String)> {
        self.health()
            .into_iter()
            .filter_map(|(n, h)| h.cause().map(|c| (n, c)))
            .collect()
    }

    /// Every node's engine and threads as it reported them (the device's own first), for
    /// reports: `("edge0", "ort", 2)`.
    pub fn engines(&self) -> Vec<(String, String, usize)> {
        let (engine, threads) = self.device.engine();
        let mut all = vec![(self.device.name.clone(), engine.to_string(), threads)];
        all.extend(
            self.remotes
                .iter()
                .map(|r| (r.name.clone(), r.engine.0.clone(), r.engine.1)),
        );
        all
    }

    /// This driver's session: every deployment and frame of the run carries it.
    pub fn session(&self) -> SessionId {
        self.session
    }

    /// A handle that uploads models to this cluster's nodes that are up while the driver
    /// keeps running.
    pub fn uploader(&self) -> Uploader {
        let down = self.down_set();
        Uploader {
            device: self.device.clone(),
            remotes: self
                .remotes
                .iter()
                .filter(|r| !down.contains(&r.name))
                .cloned()
                .collect(),
        }
    }

    /// Sends the emulation in force to the nodes that have not taken it yet (left out of a
    /// change while they hung), skipping those down or suspect for now.
    async fn resend_emulation(&mut self) -> Result<(), RuntimeError> {
        if self.stale_emulation.is_empty() {
            return Ok(());
        }
        let json = serde_json::to_string(&self.emulation).expect("serialisable");
        let skip = self.skip_set();
        for r in self.remotes.iter_mut() {
            if !self.stale_emulation.contains(&r.name) || skip.contains(&r.name) {
                continue;
            }
            let sent = r.client.emulate(EmulateRequest {
                emulation_json: json.clone(),
                session: self.session.to_string(),
            });
            if quick(&r.name, sent).await?.is_some() {
                self.stale_emulation.remove(&r.name);
            }
        }
        Ok(())
    }

    /// Nodes down, and nodes whose heartbeats are overdue: the quick calls skip both.
    fn skip_set(&self) -> BTreeSet<String> {
        let mut s = self.down_set();
        s.extend(self.health.suspect());
        s
    }

    /// Names of the remote nodes that are down now.
    fn down_set(&self) -> BTreeSet<String> {
        self.down_nodes().into_iter().map(|(n, _)| n).collect()
    }

    /// Re-admits `node` after it came back (a restart lost this session there): opens the
    /// session on it again with the emulation in force. Its models are sent again, or found in
    /// its cache, by the next deployment that gives it work.
    pub async fn readmit(&mut self, node: &str) -> Result<(), RuntimeError> {
        let json = serde_json::to_string(&self.emulation).expect("serialisable");
        let session = self.session.to_string();
        let r = self
            .remotes
            .iter_mut()
            .find(|r| r.name == node)
            .ok_or_else(|| RuntimeError::Protocol {
                worker: node.to_string(),
                message: "no such node in this cluster".into(),
            })?;
        r.client
            .emulate(EmulateRequest {
                emulation_json: json,
                session,
            })
            .await
            .map_err(|s| status_err(&r.name, s))?;
        // The newest deployment gives it no work (it was planned around), but tells it where
        // the others are.
        if let Some(dep) = &self.newest {
            let sent = r.client.deploy(DeployRequest {
                deployment_json: serde_json::to_string(dep).expect("serialisable"),
            });
            if let Err(s) = sent.await {
                tracing::warn!(node = %node, "re-admitted without the newest deployment: {}", s.message());
            }
        }
        // A restarted node numbers its observations from the start again.
        self.cursors.remove(node);
        self.health.readmitted(node);
        Ok(())
    }

    /// Changes the emulation on every node now, frames in flight included: the session's
    /// emulation, whatever deployments come later.
    pub async fn set_emulation(&mut self, e: Emulation) -> Result<(), RuntimeError> {
        self.emulation = e.clone();
        let down = self.down_set();
        self.stale_emulation = self
            .remotes
            .iter()
            .map(|r| r.name.clone())
            .filter(|n| !down.contains(n))
            .collect();
        self.resend_emulation().await?;
        self.device
            .set_emulation(self.session, e)
            .map_err(node_err(&self.device.name))
    }

    /// What every node measured since the last call (the device's first).
    pub async fn observe(&mut self) -> Result<Vec<Observations>, RuntimeError> {
        let since = |c: &HashMap<String, u64>, n: &str| c.get(n).copied().unwrap_or(0);
        let mut all = vec![self
            .device
            .observations(self.session, since(&self.cursors, &self.device.name))
            .map_err(node_err(&self.device.name))?];
        self.resend_emulation().await?;
        let skip = self.skip_set();
        for r in self.remotes.iter_mut().filter(|r| !skip.contains(&r.name)) {
            let asked = r.client.observe(ObserveRequest {
                since: since(&self.cursors, &r.name),
                session: self.session.to_string(),
            });
            let Some(reply) = quick(&r.name, asked).await? else {
                continue;
            };
            let reply = reply.into_inner();
            let o: Observations = serde_json::from_str(&reply.observations_json).map_err(|e| {
                RuntimeError::Protocol {
                    worker: r.name.clone(),
                    message: format!("bad observations: {e}"),
                }
            })?;
            if o.node != r.name {
                return Err(RuntimeError::Protocol {
                    worker: r.name.clone(),
                    message: format!("observations are of node '{}'", o.node),
                });
            }
            all.push(o);
        }
        for o in &all {
            self.cursors.insert(o.node.clone(), o.next);
        }
        Ok(all)
    }

    /// Has node `from` send `bytes` of filler to `to` over its link, to measure it.
    pub async fn probe(&mut self, from: &str, to: &str, bytes: u64) -> Result<(), RuntimeError> {
        let skip = self.skip_set();
        if skip.contains(from) || skip.contains(to) {
            return Ok(()); // nothing to measure on a link to a node that is down or hangs
        }
        if from == self.device.name {
            return self
                .device
                .probe(self.session, to, bytes as usize)
                .map_err(node_err(&self.device.name));
        }
        let r = self
            .remotes
            .iter_mut()
            .find(|r| r.name == from)
            .ok_or_else(|| RuntimeError::Protocol {
                worker: from.to_string(),
                message: "no such node in this cluster".into(),
            })?;
        let sent = r.client.probe(ProbeRequest {
            to: to.to_string(),
            bytes,
            session: self.session.to_string(),
        });
        quick(&r.name, sent).await?;
        Ok(())
    }

    /// The frame number the next [`ClusterDriver::feed`] uses.
    pub fn next_frame(&self) -> u64 {
        self.next_frame
    }

    /// Publishes one frame's graph inputs on the device and returns its number; its answer
    /// comes from [`ClusterDriver::next_result`].
    pub fn feed(&mut self, inputs: &[(String, HostTensor)]) -> Result<u64, RuntimeError> {
        let frame = self.next_frame;
        self.next_frame += 1;
        for (name, t) in inputs {
            self.device
                .publish(self.session, frame, name, t.clone())
                .map_err(node_err(&self.device.name))?;
        }
        Ok(frame)
    }

    /// The next answered (or failed) frame, or `None` when none came before `deadline`.
    pub async fn next_result(&mut self, deadline: Instant) -> Option<FrameResult> {
        tokio::time::timeout_at(deadline, self.results_rx.recv())
            .await
            .ok()
            .flatten()
    }

    /// The device node's data-plane address, for the deployment's node table.
    pub fn device_addr(&self) -> &str {
        &self.device_addr
    }

    /// Every node's name and address, the device's included.
    pub fn addresses(&self) -> BTreeMap<String, String> {
        let mut m: BTreeMap<String, String> = self
            .remotes
            .iter()
            .map(|r| (r.name.clone(), r.addr.clone()))
            .collect();
        m.insert(self.device.name.clone(), self.device_addr.clone());
        m
    }

    /// Uploads each node's models (`models`: content hash -> ONNX bytes; models a node was
    /// sent before are skipped, and nodes that have one cached skip loading it) and starts the
    /// deployment everywhere, for frames from the next one fed on. Returns how many models
    /// were already cached on their node.
    pub async fn deploy(
        &mut self,
        dep: &Deployment,
        models: &HashMap<ModelHash, Vec<u8>>,
    ) -> Result<usize, RuntimeError> {
        let dep = self.bind(dep.clone())?;
        let cached = self.uploader().upload(&dep, models).await?;
        match self.start_deployment(dep.clone()).await {
            // A node evicted a model between the upload and the deploy (another session's
            // uploads filled its cache): once more, which sends it again.
            Err(RuntimeError::MissingModels { worker, message }) => {
                tracing::warn!(node = %worker, "deploying again: {message}");
                self.uploader().upload(&dep, models).await?;
                self.start_deployment(dep).await?;
            }
            r => r?,
        }
        Ok(cached)
    }

    /// `dep` with this cluster's node addresses and the next frame fed as its first, checked.
    fn bind(&self, mut dep: Deployment) -> Result<Deployment, RuntimeError> {
        dep.first_frame = self.next_frame;
        dep.nodes = self.addresses();
        dep.session = self.session;
        dep.watch = self
            .watched
            .iter()
            .filter(|(a, b)| dep.nodes.contains_key(a) && dep.nodes.contains_key(b))
            .cloned()
            .collect();
        dep.check().map_err(|message| RuntimeError::Protocol {
            worker: self.device.name.clone(),
            message,
        })?;
        Ok(dep)
    }

    /// Starts `dep` on every node for frames from the next one fed on; frames in flight
    /// finish on theirs. Its models must have been uploaded ([`Uploader::upload`]): this is
    /// the quick half of a switch.
    pub async fn start_deployment(&mut self, dep: Deployment) -> Result<(), RuntimeError> {
        let dep = self.bind(dep)?;
        let json = serde_json::to_string(&dep).expect("serialisable");
        let down = self.down_set();
        if let Some(n) = dep.nodes_with_work().into_iter().find(|n| down.contains(n)) {
            return Err(RuntimeError::Connect {
                worker: n,
                message: "the node is down: a deployment must not give it work".into(),
            });
        }
        let working = dep.nodes_with_work();
        let suspect = self.health.suspect();
        for r in self.remotes.iter_mut().filter(|r| !down.contains(&r.name)) {
            let call = r.client.deploy(DeployRequest {
                deployment_json: json.clone(),
            });
            if !working.contains(&r.name) {
                // A node the deployment gives no work only needs it to probe its links: one
                // hanging or dying meanwhile is left to the heartbeats (and re-admission).
                if !suspect.contains(&r.name) {
                    if let Err(e) = quick(&r.name, call).await {
                        tracing::warn!(node = %r.name, "deployment left out: {e}");
                    }
                }
                continue;
            }
            let limit = DEPLOY_CALL.min(self.timeout);
            match tokio::time::timeout(limit, call).await {
                Ok(Ok(_)) => {}
                Ok(Err(s)) => return Err(status_err(&r.name, s)),
                Err(_) => {
                    return Err(RuntimeError::Connect {
                        worker: r.name.clone(),
                        message: format!("no answer to the deployment within {limit:?}"),
                    })
                }
            }
        }
        self.newest = Some(dep.clone());
        self.device
            .deploy(dep, Some(self.results_tx.clone()))
            .map_err(node_err(&self.device.name))
    }

    /// Remote nodes that do not answer a hello within a second: the ones to name when frames
    /// go unanswered.
    pub async fn unreachable_nodes(&mut self) -> Vec<String> {
        let mut dead = Vec::new();
        for r in &mut self.remotes {
            let hello = r.client.hello(HelloRequest {
                protocol_version: CONTROL_VERSION,
                client: String::new(),
                ..Default::default()
            });
            if !matches!(
                tokio::time::timeout(Duration::from_secs(1), hello).await,
                Ok(Ok(_))
            ) {
                dead.push(r.name.clone());
            }
        }
        dead
    }

    /// Every node's statistics for the current deployment, the device's first.
    pub async fn stats(&mut self) -> Result<Vec<NodeStats>, RuntimeError> {
        let mut all = vec![self.device.stats(self.session).unwrap_or_default()];
        let down = self.down_set();
        for r in self.remotes.iter_mut().filter(|r| !down.contains(&r.name)) {
            let asked = r
                .client
                .stats(StatsRequest {
                    session: self.session.to_string(),
                })
                .await;
            let Some(reply) = tolerate_lost(&r.name, asked)? else {
                continue;
            };
            let reply = reply.into_inner();
            all.push(serde_json::from_str(&reply.stats_json).map_err(|e| {
                RuntimeError::Protocol {
                    worker: r.name.clone(),
                    message: format!("bad statistics: {e}"),
                }
            })?);
        }
        Ok(all)
    }
}
