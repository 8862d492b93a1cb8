use crate::conn::{Conn, Peer};
use crate::control_service::{
    pb::control_server::ControlServer, ControlService, MAX_CONTROL_MESSAGE,
};
use crate::deployment::{Deployment, Emulation};
use crate::ids::ModelHash;
use crate::node::{Active, FrameResult, NodeState, NodeStats};
use crate::observation_log::Observations;
use crate::protocol::frame_tensor;
use crate::tls::{NodeIdentity, TlsError, ALPN_CONTROL, ALPN_DATA};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tiersplit_exec::{Executor, HostTensor, LoadedModel, TractExecutor};
use tiersplit_net::{read_frame, write_frame, Frame, FrameKind, Limits, NetError};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// The two planes a node's port serves.
enum Plane {
    Control,
    Data,
}

/// A deployment and the first frame it serves.
type Served = (u64, Arc<Active>);

/// Deployments a node keeps serving their frames after a newer one starts.
const KEPT_DEPLOYMENTS: usize = 3;

/// First and longest wait after a failed accept.
const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(10);
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// A node that runs partitions for others.
#[derive(Clone)]
pub struct Worker {
    /// The node's name in deployments and scenarios (a key of `Deployment::nodes`).
    pub name: String,
    /// The engine this node loads and runs its models with.
    executor: Arc<dyn Executor>,
    /// Deployed models by content hash, shared by all connections.
    models: Arc<Mutex<HashMap<ModelHash, Arc<dyn LoadedModel>>>>,
    /// The deployments this node is part of, by the first frame each serves, oldest first: a
    /// frame runs on the newest deployment that starts at or before it, so frames in flight
    /// finish on the plan they started on while new frames use the new one.
    active: Arc<Mutex<Vec<Served>>>,
    /// The emulation in force and the measurement log, shared by the deployments.
    state: NodeState,
    /// The node's mutual-TLS server side: when set, both planes speak only TLS with peers
    /// holding a certificate of the cluster CA.
    tls: Option<Arc<rustls::ServerConfig>>,
    /// Bound on waiting for the next frame of a request in progress.
    pub io_timeout: Duration,
    /// Bound on an idle connection (no request) before the worker drops it.
    pub idle_timeout: Duration,
}

impl Worker {
    /// A node named `name` running its models on tract (the engine that needs nothing
    /// installed).
    pub fn new(name: &str) -> Worker {
        Worker::with_executor(name, Arc::new(TractExecutor))
    }

    /// A node named `name` running its models on `executor`.
    pub fn with_executor(name: &str, executor: Arc<dyn Executor>) -> Worker {
        Worker {
            name: name.into(),
            executor,
            models: Default::default(),
            active: Default::default(),
            state: NodeState::default(),
            tls: None,
            io_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(3600),
        }
    }

    /// Speaks mutual TLS on both planes as node `id.name`: connections must present a
    /// certificate of the cluster CA, and the tensors this node sends go over TLS to peers
    /// that prove their names. Plaintext is refused.
    pub fn with_identity(mut self, id: &NodeIdentity) -> Result<Worker, TlsError> {
        self.tls = Some(id.server_config()?);
        self.state.data_tls = Some(id.client_config(ALPN_DATA)?);
        Ok(self)
    }

    /// Loads a model into the cache (in process, as a blob upload would) and returns its hash.
    pub fn add_model(&self, bytes: &[u8]) -> Result<ModelHash, String> {
        self.add_model_cached(bytes).map(|(key, _)| key)
    }

    /// [`Worker::add_model`], also saying whether the model was cached already.
    pub fn add_model_cached(&self, bytes: &[u8]) -> Result<(ModelHash, bool), String> {
        let key = ModelHash::of(bytes);
        if self.models.lock().expect("not poisoned").contains_key(&key) {
            return Ok((key, true));
        }
        let m = self.executor.load(bytes, &[]).map_err(|e| e.to_string())?;
        self.models
            .lock()
            .expect("not poisoned")
            .insert(key.clone(), Arc::from(m));
        Ok((key, false))
    }

    /// Starts this node's share of `dep` for frames from `dep.first_frame` on. Earlier
    /// deployments keep serving earlier frames (the last few are kept); deployments that start
    /// no earlier than this one are replaced. On the sink node, answered frames go
    /// to `results`. Must be called within a tokio runtime.
    pub fn deploy(
        &self,
        dep: Deployment,
        results: Option<mpsc::UnboundedSender<FrameResult>>,
    ) -> Result<(), String> {
        let first = dep.first_frame;
        let models = self.models.lock().expect("not poisoned").clone();
        let active = Active::start(
            dep,
            &self.name,
            &models,
            results,
            self.io_timeout,
            self.state.clone(),
        )?;
        let mut all = self.active.lock().expect("not poisoned");
        // Deployments that start at or after this one never serve a frame again; earlier ones
        // keep their frames in flight (two switches before the next frame is fed replace only
        // the first of them; a deployment from frame 0 replaces them all).
        all.retain(|(f, _)| *f < first);
        all.push((first, active));
        let excess = all.len().saturating_sub(KEPT_DEPLOYMENTS);
        all.drain(..excess);
        Ok(())
    }

    /// Changes this node's emulated link rates, delays and speed from now on, for every
    /// deployment (how a trace of changing conditions is played on a one-machine cluster).
    pub fn set_emulation(&self, e: Emulation) -> Result<(), String> {
        e.check()?;
        *self.state.emulation.write().expect("not poisoned") = e;
        Ok(())
    }

    /// What this node measured (part runs, transfers, probes) from sequence number `since` on.
    pub fn observations(&self, since: u64) -> Observations {
        self.state.log.since(&self.name, since)
    }

    /// Sends `bytes` of filler to node `to` over this node's link to it, shaped like tensors
    /// are; the transfer shows in [`Worker::observations`] as a probe.
    pub fn probe(&self, to: &str, bytes: usize) -> Result<(), String> {
        let newest = self.active.lock().expect("not poisoned").last().cloned();
        match newest {
            Some((_, a)) => a.probe(to, bytes),
            None => Err(format!(
                "node {} has no deployment to probe from",
                self.name
            )),
        }
    }

    /// The deployment that serves `frame`.
    fn active_for(&self, frame: u64) -> Result<Arc<Active>, String> {
        let all = self.active.lock().expect("not poisoned");
        all.iter()
            .rev()
            .find(|(first, _)| *first <= frame)
            .map(|(_, a)| a.clone())
            .ok_or_else(|| match all.first() {
                None => format!("node {} has no deployment", self.name),
                Some((first, _)) => format!(
                    "node {} has no deployment for frame {frame} (the oldest kept starts at {first})",
                    self.name
                ),
            })
    }

    /// Publishes a tensor of `frame` on this node under the deployment serving that frame:
    /// how the device feeds graph inputs.
    pub fn publish(&self, frame: u64, name: &str, t: HostTensor) -> Result<(), String> {
        self.active_for(frame)?.publish(frame, name, t);
        Ok(())
    }

    /// What this node did under the deployments it keeps (named after the newest): after a
    /// live switch, frames finished on the old plan are counted too.
    pub fn stats(&self) -> Option<NodeStats> {
        let all = self.active.lock().expect("not poisoned");
        let mut merged = all.last()?.1.stats();
        for (_, a) in all.iter().rev().skip(1) {
            let s = a.stats();
            merged.parts.extend(s.parts);
            merged.links.extend(s.links);
        }
        Some(merged)
    }

    /// Serves connections for as long as the task runs: a failed accept (out of file
    /// descriptors, say) is logged and retried after a back-off, never the end of the node.
    ///
    /// One port carries both planes. With an identity, every connection is a mutual-TLS
    /// handshake and its ALPN protocol picks the plane; without, a connection that opens with
    /// the HTTP/2 preface goes to the gRPC control service and any other is read as
    /// data-plane frames (which refuse what is not a frame).
    pub async fn serve(self, listener: TcpListener) -> std::io::Result<()> {
        let (grpc_tx, grpc_rx) = tokio::sync::mpsc::channel::<std::io::Result<Conn>>(16);
        let service = ControlServer::new(ControlService::new(self.clone()))
            .max_decoding_message_size(MAX_CONTROL_MESSAGE)
            .max_encoding_message_size(MAX_CONTROL_MESSAGE);
        let name = self.name.clone();
        let mut builder = tonic::transport::Server::builder().timeout(Duration::from_secs(600));
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
            if let Err(e) = stream.set_nodelay(true) {
                tracing::warn!(node = %self.name, "connection dropped: {e}");
                continue;
            }
            let me = self.clone();
            let grpc = grpc_tx.clone();
            tokio::spawn(async move {
                let conn = match &me.tls {
                    Some(tls) => me.accept_tls(stream, tls.clone()).await,
                    None => Ok(me.sniff(stream).await),
                };
                match conn {
                    Ok((Plane::Control, c)) => {
                        let _ = grpc.send(Ok(c)).await;
                    }
                    Ok((Plane::Data, c)) => match me.connection(c).await {
                        Ok(()) => {}
                        // A peer that stopped (killed, or its deployment dropped without a
                        // TLS close) is not news; anything else on the wire is.
                        Err(NetError::Io(e))
                            if matches!(
                                e.kind(),
                                std::io::ErrorKind::UnexpectedEof
                                    | std::io::ErrorKind::ConnectionReset
                            ) =>
                        {
                            tracing::debug!(node = %me.name, "peer went away: {e}")
                        }
                        Err(e) => tracing::warn!(node = %me.name, "connection ended: {e}"),
                    },
                    Err(e) => tracing::warn!(node = %me.name, "connection refused: {e}"),
                }
            });
        }
    }

    /// A plaintext connection, sent to the plane its first bytes say.
    async fn sniff(&self, stream: TcpStream) -> (Plane, Conn) {
        let plane = if self.speaks_http2(&stream).await {
            Plane::Control
        } else {
            Plane::Data
        };
        (plane, Conn::Plain(stream))
    }

    /// The mutual-TLS handshake of a connection (under the I/O timeout), sent to the plane its
    /// ALPN protocol names.
    async fn accept_tls(
        &self,
        stream: TcpStream,
        tls: Arc<rustls::ServerConfig>,
    ) -> std::io::Result<(Plane, Conn)> {
        let accept = tokio_rustls::TlsAcceptor::from(tls).accept(stream);
        let s = tokio::time::timeout(self.io_timeout, accept)
            .await
            .map_err(|_| std::io::Error::other("no TLS handshake in time"))??;
        let plane = match s.get_ref().1.alpn_protocol() {
            Some(p) if p == ALPN_CONTROL => Plane::Control,
            Some(p) if p == ALPN_DATA => Plane::Data,
            _ => return Err(std::io::Error::other("no known ALPN protocol")),
        };
        Ok((plane, Conn::Server(Box::new(s))))
    }

    /// The deployment serving `frame`, if the connection's peer may send for it: over TLS,
    /// only a node of that deployment may. `checked` is the deployment the peer last passed
    /// on this connection (held weakly: a superseded deployment must still be able to end),
    /// so a certificate is not verified again for every frame.
    fn serving_for(
        &self,
        frame: u64,
        peer: &Peer,
        checked: &mut Weak<Active>,
    ) -> Result<Arc<Active>, String> {
        let active = self.active_for(frame)?;
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
        tokio::time::timeout(self.io_timeout, peek)
            .await
            .unwrap_or(false)
    }

    async fn connection(&self, mut s: Conn) -> Result<(), NetError> {
        let peer = s.peer();
        let mut checked = Weak::new();
        while let Some(f) = read_frame(&mut s, Limits::default(), self.idle_timeout).await? {
            match f.kind {
                FrameKind::Tensor => {
                    let t = frame_tensor(&f)?;
                    let published = self
                        .serving_for(f.frame, &peer, &mut checked)
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
                    match self.serving_for(f.frame, &peer, &mut checked) {
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
