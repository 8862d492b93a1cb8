use crate::arrival::ArrivalMeter;
use crate::conn::{Conn, Io, Peer};
use crate::control_service::{
    pb::control_server::ControlServer, ControlService, MAX_CONTROL_MESSAGE,
};
use crate::deployment::{Deployment, Emulation};
use crate::error::NodeError;
use crate::ids::{ModelHash, SessionId};
use crate::link_watch::WatchContext;
use crate::model_cache::{ModelCache, MODEL_BUDGET};
use crate::node::{Active, FrameResult, NodeState, NodeStats};
use crate::observation_log::Observations;
use crate::protocol::frame_tensor;
use crate::session_table::{Caller, Session, SessionTable};
use crate::tls::{NodeIdentity, TlsError, ALPN_CONTROL, ALPN_DATA};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tiersplit_exec::{Executor, HostTensor, LoadedModel, TractExecutor};
use tiersplit_net::{read_body, read_head, write_frame, Frame, FrameKind, Limits, NetError};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};

/// The two planes a node's port serves.
enum Plane {
    Control,
    Data,
}

/// Connections a node holds open at once (both planes); past it, new ones are closed at once,
/// so a flood of connections costs a socket each for a moment, never memory that grows.
pub const MAX_CONNECTIONS: usize = 512;

/// Requests in flight at once on one control connection (HTTP/2 streams).
const MAX_STREAMS: u32 = 32;

/// Longest a new connection may take to finish its TLS handshake (or, on plaintext, to say
/// which plane it wants): it holds a connection slot before it is authenticated.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// First and longest wait after a failed accept.
const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(10);
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// How often a node looks for sessions whose leases ran out.
const SWEEP_INTERVAL: Duration = Duration::from_millis(500);

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A node that runs partitions for others.
#[derive(Clone)]
pub struct Worker {
    /// The node's name in deployments and scenarios (a key of `Deployment::nodes`).
    pub name: String,
    /// The engine this node loads and runs its models with.
    executor: Arc<dyn Executor>,
    /// Loaded models by content hash, shared by all sessions (a hash names its bytes, so one
    /// device's upload cannot stand in for another's model), within a byte budget.
    models: Arc<Mutex<ModelCache<dyn LoadedModel>>>,
    /// The devices' sessions this node serves.
    sessions: Arc<Mutex<SessionTable>>,
    /// The data plane's mutual-TLS client side, when the node has an identity.
    data_tls: Option<Arc<rustls::ClientConfig>>,
    /// The node's mutual-TLS server side: when set, both planes speak only TLS with peers
    /// holding a certificate of the cluster CA.
    tls: Option<Arc<rustls::ServerConfig>>,
    /// Bound on waiting for the next frame of a request in progress.
    pub io_timeout: Duration,
    /// Bound on an idle connection (no request) before the worker drops it.
    pub idle_timeout: Duration,
    /// Random per process, told in the hello: a restart changes it.
    instance: u64,
}

impl Worker {
    /// A node named `name` running its models on tract (the engine that needs nothing
    /// installed).
    pub fn new(name: &str) -> Worker {
        Worker::with_executor(name, Arc::new(TractExecutor::default()))
    }

    /// A node named `name` running its models on `executor`.
    pub fn with_executor(name: &str, executor: Arc<dyn Executor>) -> Worker {
        Worker {
            name: name.into(),
            executor,
            models: Arc::new(Mutex::new(ModelCache::new(MODEL_BUDGET))),
            sessions: Default::default(),
            data_tls: None,
            tls: None,
            io_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(3600),
            instance: rand::random(),
        }
    }

    /// The engine this node runs its parts on, and the threads one run may use.
    pub fn engine(&self) -> (&'static str, usize) {
        (self.executor.name(), self.executor.threads())
    }

    /// Speaks mutual TLS on both planes as node `id.name`: connections must present a
    /// certificate of the cluster CA, and the tensors this node sends go over TLS to peers
    /// that prove their names. Plaintext is refused.
    pub fn with_identity(mut self, id: &NodeIdentity) -> Result<Worker, TlsError> {
        self.tls = Some(id.server_config()?);
        self.data_tls = Some(id.client_config(ALPN_DATA)?);
        Ok(self)
    }

    /// Holds at most `bytes` of models (ONNX size; default 4 GiB), evicting the least
    /// recently used ones no deployment runs.
    pub fn with_model_budget(self, bytes: u64) -> Worker {
        *self.models.lock().expect("not poisoned") = ModelCache::new(bytes);
        self
    }

    /// Loads a model into the cache (in process, as a blob upload would) and returns its hash.
    pub fn add_model(&self, bytes: &[u8]) -> Result<ModelHash, NodeError> {
        self.add_model_cached(bytes).map(|(key, _)| key)
    }

    /// [`Worker::add_model`], also saying whether the model was cached already.
    pub fn add_model_cached(&self, bytes: &[u8]) -> Result<(ModelHash, bool), NodeError> {
        let key = ModelHash::of(bytes);
        if self.has_model(&key) {
            return Ok((key, true));
        }
        // The engine loads only what was checked: no tensor reading a file of this node.
        let sealed = tiersplit_onnx::sealed_model(bytes)
            .map_err(|e| NodeError::Invalid(format!("model refused: {e}")))?;
        let m: Arc<dyn LoadedModel> = Arc::from(
            self.executor
                .load(&sealed, &[])
                .map_err(|e| NodeError::Invalid(e.to_string()))?,
        );
        let size = bytes.len() as u64;
        let mut cache = self.models.lock().expect("not poisoned");
        let evicted = match cache.insert(key.clone(), m.clone(), size) {
            Ok(evicted) => evicted,
            // Models of sessions long idle (devices gone) may hold the room: drop those
            // sessions and try once more.
            Err(_) => {
                drop(cache);
                self.sweep_sessions();
                cache = self.models.lock().expect("not poisoned");
                cache
                    .insert(key.clone(), m, size)
                    .map_err(NodeError::Busy)?
            }
        };
        for h in evicted {
            tracing::info!(node = %self.name, held = cache.bytes(), "model {h} evicted from the cache");
        }
        Ok((key, false))
    }

    /// Whether the node holds model `hash` (and keeps it a while longer: a device asks before
    /// deploying it).
    pub fn has_model(&self, hash: &ModelHash) -> bool {
        self.models.lock().expect("not poisoned").contains(hash)
    }

    /// Drops the sessions whose leases ran out (their devices are gone), and with them their
    /// deployments (their parts, links and frames in progress end) and the models only they
    /// ran become evictable.
    fn sweep_sessions(&self) {
        let expired = self
            .sessions
            .lock()
            .expect("not poisoned")
            .sweep(std::time::Instant::now());
        for id in expired {
            tracing::info!(node = %self.name, session = %id, "session dropped: its device stopped renewing its lease");
        }
    }

    /// Sweeps expired sessions every [`SWEEP_INTERVAL`] while the node serves.
    fn start_sweeper(&self) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SWEEP_INTERVAL);
            loop {
                tick.tick().await;
                me.sweep_sessions();
            }
        })
    }

    /// Renews `session` for `lease` if `caller` may control it; `false` when this node does
    /// not hold it (it restarted since, or the lease ran out).
    pub(crate) fn renew_as(&self, session: SessionId, caller: Caller<'_>, lease: Duration) -> bool {
        let now = std::time::Instant::now();
        self.sessions
            .lock()
            .expect("not poisoned")
            .renew(session, caller, lease, now)
    }

    /// This worker's instance: random per process, so a restart changes it.
    pub fn instance(&self) -> u64 {
        self.instance
    }

    /// The links this node watches for `session` that are down now: (peer, why). Empty when
    /// it holds no such session.
    pub fn links_down(&self, session: SessionId) -> Vec<(String, String)> {
        self.links_down_as(session, Caller::Local)
    }

    pub(crate) fn links_down_as(
        &self,
        session: SessionId,
        caller: Caller<'_>,
    ) -> Vec<(String, String)> {
        self.with_session(session, caller, false, |s| {
            Ok(s.state.watch.lock().expect("not poisoned").down())
        })
        .unwrap_or_default()
    }

    /// The sessions this node holds and the deployments they keep, across all devices.
    pub fn held(&self) -> (usize, usize) {
        self.sessions.lock().expect("not poisoned").counts()
    }

    fn new_state(&self) -> NodeState {
        NodeState {
            data_tls: self.data_tls.clone(),
            ..NodeState::default()
        }
    }

    /// Runs `f` on session `id` if `caller` may control it, opening it for the caller first
    /// when `open` is set.
    fn with_session<R>(
        &self,
        id: SessionId,
        caller: Caller<'_>,
        open: bool,
        f: impl FnOnce(&mut Session) -> Result<R, NodeError>,
    ) -> Result<R, NodeError> {
        let now = std::time::Instant::now();
        let mut all = self.sessions.lock().expect("not poisoned");
        let s = if open {
            all.open(id, caller, now, || self.new_state())?
        } else {
            all.get(id, caller, now)?
        };
        f(s)
    }

    /// Starts this node's share of `dep` for frames from `dep.first_frame` on, in the
    /// deployment's session (opened if new). Earlier deployments of the session keep serving
    /// earlier frames (the last few are kept); deployments that start no earlier than this one
    /// are replaced. On the sink node, answered frames go to `results`. Must be called within
    /// a tokio runtime.
    pub fn deploy(
        &self,
        dep: Deployment,
        results: Option<mpsc::UnboundedSender<FrameResult>>,
    ) -> Result<(), NodeError> {
        self.deploy_as(dep, results, Caller::Local)
    }

    /// [`Worker::deploy`] for a caller: over TLS only the deployment's device (its sink) may
    /// deploy, and only in a session it opened.
    pub(crate) fn deploy_as(
        &self,
        dep: Deployment,
        results: Option<mpsc::UnboundedSender<FrameResult>>,
        caller: Caller<'_>,
    ) -> Result<(), NodeError> {
        if let Caller::Remote(peer) = caller {
            if self.tls.is_some() && !peer.is(&dep.sink) {
                return Err(NodeError::Denied(format!(
                    "only the deployment's device ('{}') may deploy it",
                    dep.sink
                )));
            }
        }
        dep.check().map_err(NodeError::Invalid)?;
        let hashes = dep.model_hashes(&self.name);
        let mut models = std::collections::HashMap::new();
        let mut missing = Vec::new();
        {
            let mut cache = self.models.lock().expect("not poisoned");
            for h in hashes {
                match cache.get(h) {
                    Some(m) => drop(models.insert(h.clone(), m)),
                    None => missing.push(h.clone()),
                }
            }
        }
        if !missing.is_empty() {
            return Err(NodeError::MissingModels {
                node: self.name.clone(),
                hashes: missing,
            });
        }
        let (id, first) = (dep.session, dep.first_frame);
        let peers = dep.watched_from(&self.name);
        self.with_session(id, caller, true, |s| {
            let cx = WatchContext {
                from: self.name.clone(),
                session: id,
                emulation: s.state.emulation.clone(),
                tls: self.data_tls.clone(),
                log: s.state.log.clone(),
            };
            s.state
                .watch
                .lock()
                .expect("not poisoned")
                .follow(&peers, &cx);
            let active = Active::start(
                dep,
                &self.name,
                &models,
                results,
                self.io_timeout,
                s.state.clone(),
            )
            .map_err(NodeError::Invalid)?;
            s.install(first, active);
            Ok(())
        })
    }

    /// Changes this node's emulated link rates, delays and speed from now on, for every
    /// deployment of `session` (opened if new; how a trace of changing conditions is played on
    /// a one-machine cluster).
    pub fn set_emulation(&self, session: SessionId, e: Emulation) -> Result<(), NodeError> {
        self.emulate_as(session, e, Caller::Local)
    }

    pub(crate) fn emulate_as(
        &self,
        session: SessionId,
        e: Emulation,
        caller: Caller<'_>,
    ) -> Result<(), NodeError> {
        e.check().map_err(NodeError::Invalid)?;
        self.with_session(session, caller, true, |s| {
            *s.state.emulation.write().expect("not poisoned") = e;
            Ok(())
        })
    }

    /// What this node measured for `session` (part runs, transfers, probes) from sequence
    /// number `since` on.
    pub fn observations(&self, session: SessionId, since: u64) -> Result<Observations, NodeError> {
        self.observe_as(session, since, Caller::Local)
    }

    pub(crate) fn observe_as(
        &self,
        session: SessionId,
        since: u64,
        caller: Caller<'_>,
    ) -> Result<Observations, NodeError> {
        self.with_session(session, caller, false, |s| {
            Ok(s.state.log.since(&self.name, since))
        })
    }

    /// Sends `bytes` of filler to node `to` over this node's link to it in `session` (`to`
    /// must be another node of the session's newest deployment), shaped like tensors are; the
    /// transfer shows in [`Worker::observations`] as a probe.
    pub fn probe(&self, session: SessionId, to: &str, bytes: usize) -> Result<(), NodeError> {
        self.probe_as(session, to, bytes, Caller::Local)
    }

    pub(crate) fn probe_as(
        &self,
        session: SessionId,
        to: &str,
        bytes: usize,
        caller: Caller<'_>,
    ) -> Result<(), NodeError> {
        self.with_session(session, caller, false, |s| match s.newest() {
            Some(a) => a.probe(to, bytes).map_err(NodeError::Invalid),
            None => Err(NodeError::Invalid(format!(
                "node {} has no deployment to probe from",
                self.name
            ))),
        })
    }

    /// Publishes a tensor of `frame` on this node under the deployment of `session` serving
    /// that frame: how the device feeds graph inputs.
    pub fn publish(
        &self,
        session: SessionId,
        frame: u64,
        name: &str,
        t: HostTensor,
    ) -> Result<(), NodeError> {
        let active = self.with_session(session, Caller::Local, false, |s| {
            s.serving(frame, &self.name).map_err(NodeError::Invalid)
        })?;
        active.publish(frame, name, t);
        Ok(())
    }

    /// What this node did under the deployments `session` keeps (named after the newest):
    /// after a live switch, frames finished on the old plan are counted too.
    pub fn stats(&self, session: SessionId) -> Result<NodeStats, NodeError> {
        self.stats_as(session, Caller::Local)
    }

    pub(crate) fn stats_as(
        &self,
        session: SessionId,
        caller: Caller<'_>,
    ) -> Result<NodeStats, NodeError> {
        // A session with no deployment (re-opened on a node that restarted) did nothing yet.
        self.with_session(session, caller, false, |s| {
            Ok(s.stats().unwrap_or_else(|| NodeStats {
                node: self.name.clone(),
                ..NodeStats::default()
            }))
        })
    }

    /// Serves connections for as long as the task runs: a failed accept (out of file
    /// descriptors, say) is logged and retried after a back-off, never the end of the node.
    ///
    /// One port carries both planes. With an identity, every connection is a mutual-TLS
    /// handshake and its ALPN protocol picks the plane; without, a connection that opens with
    /// the HTTP/2 preface goes to the gRPC control service and any other is read as
    /// data-plane frames (which refuse what is not a frame).
    pub async fn serve(self, listener: TcpListener) -> std::io::Result<()> {
        let grpc = self.start_control_service();
        // Ends with this task: a node that stops serving sweeps nothing more.
        let _sweeper = AbortOnDrop(self.start_sweeper());
        let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        let mut backoff = ACCEPT_BACKOFF_MIN;
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => {
                    backoff = ACCEPT_BACKOFF_MIN;
                    stream
                }
                // Out of file descriptors, or a connection reset before it was accepted:
                // the node keeps serving the connections it has and tries again later.
                Err(e) => {
                    tracing::warn!(node = %self.name, "accept failed, retrying in {backoff:?}: {e}");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
                    continue;
                }
            };
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                tracing::debug!(node = %self.name, "{MAX_CONNECTIONS} connections open: closed a new one");
                continue;
            };
            if let Err(e) = stream.set_nodelay(true) {
                tracing::warn!(node = %self.name, "connection dropped: {e}");
                continue;
            }
            tokio::spawn(self.clone().handle(stream, slot, grpc.clone()));
        }
    }

    /// Starts the gRPC control service; connections for it go into the returned channel.
    fn start_control_service(&self) -> mpsc::Sender<std::io::Result<Conn>> {
        let (grpc_tx, grpc_rx) = mpsc::channel::<std::io::Result<Conn>>(16);
        let service = ControlServer::new(ControlService::new(self.clone()))
            .max_decoding_message_size(MAX_CONTROL_MESSAGE)
            .max_encoding_message_size(MAX_CONTROL_MESSAGE);
        let name = self.name.clone();
        let mut builder = tonic::transport::Server::builder()
            .timeout(Duration::from_secs(600))
            .max_concurrent_streams(MAX_STREAMS)
            .http2_keepalive_interval(Some(Duration::from_secs(30)))
            .http2_keepalive_timeout(Some(Duration::from_secs(20)));
        tokio::spawn(async move {
            let incoming = tokio_stream::wrappers::ReceiverStream::new(grpc_rx);
            if let Err(e) = builder
                .add_service(service)
                .serve_with_incoming(incoming)
                .await
            {
                tracing::error!(node = %name, "control service ended: {e}");
            }
        });
        grpc_tx
    }

    /// One accepted connection: its handshake, then the plane it asks for.
    async fn handle(
        self,
        stream: TcpStream,
        slot: tokio::sync::OwnedSemaphorePermit,
        grpc: mpsc::Sender<std::io::Result<Conn>>,
    ) {
        let conn = match &self.tls {
            Some(tls) => self.accept_tls(stream, tls.clone()).await,
            None => Ok(self.sniff(stream).await),
        };
        match conn {
            Ok((Plane::Control, c)) => {
                let _ = grpc.send(Ok(c.holding(slot))).await;
            }
            Ok((Plane::Data, c)) => match self.connection(c.holding(slot)).await {
                Ok(()) => {}
                // A peer that stopped (killed, or its deployment dropped without a TLS
                // close) is not news; anything else on the wire is.
                Err(NetError::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset
                    ) =>
                {
                    tracing::debug!(node = %self.name, "peer went away: {e}")
                }
                Err(e) => tracing::warn!(node = %self.name, "connection ended: {e}"),
            },
            Err(e) => tracing::warn!(node = %self.name, "connection refused: {e}"),
        }
    }

    /// A plaintext connection, sent to the plane its first bytes say.
    async fn sniff(&self, stream: TcpStream) -> (Plane, Conn) {
        let plane = if self.speaks_http2(&stream).await {
            Plane::Control
        } else {
            Plane::Data
        };
        (plane, Conn::new(Io::Plain(stream)))
    }

    /// The mutual-TLS handshake of a connection (under the I/O timeout), sent to the plane its
    /// ALPN protocol names.
    async fn accept_tls(
        &self,
        stream: TcpStream,
        tls: Arc<rustls::ServerConfig>,
    ) -> std::io::Result<(Plane, Conn)> {
        let accept = tokio_rustls::TlsAcceptor::from(tls).accept(stream);
        let s = tokio::time::timeout(self.io_timeout.min(HANDSHAKE_TIMEOUT), accept)
            .await
            .map_err(|_| std::io::Error::other("no TLS handshake in time"))??;
        let plane = match s.get_ref().1.alpn_protocol() {
            Some(p) if p == ALPN_CONTROL => Plane::Control,
            Some(p) if p == ALPN_DATA => Plane::Data,
            _ => return Err(std::io::Error::other("no known ALPN protocol")),
        };
        Ok((plane, Conn::new(Io::Server(Box::new(s)))))
    }

    /// The deployment of `session` serving `frame`, if the connection's peer may send for it:
    /// over TLS, only a node of that deployment may. `checked` is the deployment the peer last
    /// passed on this connection (held weakly: a superseded deployment must still be able to
    /// end), so a certificate is not verified again for every frame.
    fn serving_for(
        &self,
        session: SessionId,
        frame: u64,
        peer: &Peer,
        checked: &mut Weak<Active>,
    ) -> Result<Arc<Active>, String> {
        let active = {
            let mut all = self.sessions.lock().expect("not poisoned");
            let s = all
                .for_data(session, std::time::Instant::now())
                .ok_or_else(|| format!("node {} serves no session {session}", self.name))?;
            s.serving(frame, &self.name)?
        };
        if self.tls.is_none() || std::ptr::eq(checked.as_ptr(), Arc::as_ptr(&active)) {
            return Ok(active);
        }
        if !active.has_node(peer) {
            return Err(format!(
                "the sender is not a node of deployment '{}'",
                active.deployment_id()
            ));
        }
        *checked = Arc::downgrade(&active);
        Ok(active)
    }

    /// A meter for a probe from node `from` in `session`: its newest deployment's, when `from`
    /// is one of that deployment's nodes (and, with mutual TLS, the peer's certificate is
    /// `from`'s, so no node times a link in another's name). A probe renews no lease.
    fn probe_meter(&self, session: SessionId, from: &str, peer: &Peer) -> Option<ArrivalMeter> {
        let tls_peer = self.tls.as_ref().map(|_| peer);
        if tls_peer.is_some_and(|p| !p.is(from)) {
            return None;
        }
        let active = {
            let all = self.sessions.lock().expect("not poisoned");
            all.peek(session, std::time::Instant::now())?
                .newest()?
                .clone()
        };
        active.arrival_meter(from, 0, true, tls_peer)
    }

    /// Whether the peer's first bytes are the HTTP/2 client preface (gRPC), waiting at most
    /// the I/O timeout for them.
    async fn speaks_http2(&self, s: &TcpStream) -> bool {
        let mut buf = [0u8; 4];
        let peek = async {
            loop {
                match s.peek(&mut buf).await {
                    // The HTTP/2 preface, or a TLS handshake record (0x16 0x03) when the
                    // control plane is served over TLS.
                    Ok(n) if n >= 4 => return &buf == b"PRI ",
                    Ok(0) | Err(_) => return false,
                    Ok(_) => tokio::time::sleep(Duration::from_millis(1)).await,
                }
            }
        };
        tokio::time::timeout(self.io_timeout.min(HANDSHAKE_TIMEOUT), peek)
            .await
            .unwrap_or(false)
    }

    async fn connection(&self, mut s: Conn) -> Result<(), NetError> {
        let peer = s.peer();
        let mut checked = Weak::new();
        let limits = Limits {
            stall: self.io_timeout,
            ..Limits::default()
        };
        // A new connection that says nothing soon holds a connection slot for nothing: its
        // first frame is due within the I/O timeout, later ones within the idle timeout.
        let mut wait = self.io_timeout;
        while let Some(head) = read_head(&mut s, limits, wait).await? {
            wait = self.idle_timeout;
            let session = SessionId::from_wire(head.session);
            // Tensors and errors belong to the deployment serving their frame, found before
            // the payload arrives so that its arrival can be timed.
            let serving = match head.kind {
                FrameKind::Tensor | FrameKind::Error => {
                    Some(self.serving_for(session, head.frame, &peer, &mut checked))
                }
                _ => None,
            };
            let tls_peer = self.tls.as_ref().map(|_| &peer);
            let mut meter = match (&serving, head.kind) {
                (Some(Ok(a)), FrameKind::Tensor) => {
                    a.arrival_meter(&head.name, head.frame, false, tls_peer)
                }
                (_, FrameKind::Probe) => self.probe_meter(session, &head.name, &peer),
                _ => None,
            };
            let mut arrived = |n: usize| {
                if let Some(m) = meter.as_mut() {
                    m.arrived(n, tokio::time::Instant::now());
                }
            };
            let f = read_body(&mut s, head, limits.stall, &mut arrived).await?;
            if let Some(m) = meter {
                m.finish();
            }
            // Looked up again: the payload may have taken long enough for a deployment to be
            // installed, superseded or expired meanwhile.
            let serving = serving.map(|_| self.serving_for(session, f.frame, &peer, &mut checked));
            match f.kind {
                FrameKind::Tensor => {
                    let t = frame_tensor(&f)?;
                    let published = serving
                        .expect("resolved for tensors")
                        .map(|a| a.publish(f.frame, &f.name, t));
                    if let Err(e) = published {
                        tracing::warn!(
                            node = %self.name,
                            frame = f.frame,
                            "dropped tensor '{}': {e}",
                            f.name
                        );
                    }
                }
                FrameKind::Error => {
                    let message = String::from_utf8_lossy(&f.payload).to_string();
                    match serving.expect("resolved for errors") {
                        Ok(a) => a.fail(f.frame, &message),
                        Err(e) => tracing::warn!(
                            node = %self.name,
                            frame = f.frame,
                            "error dropped ({e}): {message}"
                        ),
                    }
                }
                FrameKind::Probe => {}
                FrameKind::Ping => {
                    write_frame(
                        &mut s,
                        &Frame {
                            kind: FrameKind::Ping,
                            ..f
                        },
                        self.io_timeout,
                    )
                    .await?
                }
            }
        }
        Ok(())
    }
}
