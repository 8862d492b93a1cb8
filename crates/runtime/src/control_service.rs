//! The node's gRPC control plane (`proto/control.proto`): hello with a protocol version,
//! chunked model upload into the content-hash cache, deployment, statistics. It shares the
//! node's port with the data plane: a connection that opens with the HTTP/2 preface is gRPC.

use crate::conn::Peer;
use crate::error::NodeError;
use crate::ids::{ModelHash, SessionId};
use crate::session_table::Caller;
use crate::{Deployment, Worker};
use tonic::{Request, Response, Status, Streaming};

#[allow(clippy::all, missing_docs)]
pub mod pb {
    tonic::include_proto!("tiersplit.control.v1");
}

use pb::{
    DeployReply, DeployRequest, EmulateReply, EmulateRequest, HasReply, HasRequest, HelloReply,
    HelloRequest, LinkDown, ModelChunk, ObserveReply, ObserveRequest, ProbeReply, ProbeRequest,
    StatsReply, StatsRequest, UploadReply,
};

/// The control protocol version; a peer speaking another is refused at hello.
pub const CONTROL_VERSION: u32 = 5;
/// Most hashes one `Has` call asks about.
const MAX_HAS: usize = 4096;
/// Largest control message either side accepts (deployments are JSON of a few hundred kB).
pub const MAX_CONTROL_MESSAGE: usize = 16 << 20;
/// Model upload chunk size.
pub const UPLOAD_CHUNK: usize = 1 << 20;
/// Largest model a node accepts.
pub const MAX_MODEL_BYTES: u64 = 4 << 30;
/// Largest probe a node sends: probes measure, they must not hog a link.
pub const MAX_PROBE_BYTES: u64 = 16 << 20;

/// Model uploads a node receives at once; more are refused until one ends, so a flood of
/// uploads cannot hold more than this many models' bytes in memory.
pub const MAX_CONCURRENT_UPLOADS: usize = 4;

pub(crate) struct ControlService {
    pub worker: Worker,
    pub uploads: std::sync::Arc<tokio::sync::Semaphore>,
}

impl ControlService {
    pub fn new(worker: Worker) -> ControlService {
        ControlService {
            worker,
            uploads: std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT_UPLOADS)),
        }
    }
}

/// The gRPC status of a refusal.
fn status(e: NodeError) -> Status {
    let message = e.to_string();
    match e {
        NodeError::Invalid(_) => Status::invalid_argument(message),
        NodeError::Denied(_) => Status::permission_denied(message),
        NodeError::NoSession(_) => Status::failed_precondition(message),
        NodeError::Busy(_) => Status::resource_exhausted(message),
        NodeError::MissingModels { .. } => Status::not_found(message),
    }
}

/// The verified peer of a request (unauthenticated on plaintext).
fn peer<T>(req: &Request<T>) -> Peer {
    req.extensions().get::<Peer>().cloned().unwrap_or_default()
}

/// The session a request names.
fn session(s: &str) -> Result<SessionId, Status> {
    SessionId::parse(s).map_err(|e| Status::invalid_argument(e.to_string()))
}

#[tonic::async_trait]
impl pb::control_server::Control for ControlService {
    async fn hello(&self, req: Request<HelloRequest>) -> Result<Response<HelloReply>, Status> {
        let caller = peer(&req);
        let req = req.into_inner();
        let v = req.protocol_version;
        if v != CONTROL_VERSION {
            return Err(Status::failed_precondition(format!(
                "node {} speaks control protocol version {CONTROL_VERSION}, the client {v}",
                self.worker.name
            )));
        }
        // A heartbeat naming its session renews the session's lease.
        let holds_session = !req.session.is_empty()
            && self.worker.renew_as(
                session(&req.session)?,
                Caller::Remote(&caller),
                match req.lease_ms {
                    0 => crate::DEFAULT_LEASE,
                    ms => std::time::Duration::from_millis(ms.into()),
                },
            );
        let (engine, threads) = self.worker.engine();
        let (sessions, deployments) = self.worker.held();
        let links_down = match holds_session {
            true => self
                .worker
                .links_down_as(session(&req.session)?, Caller::Remote(&caller))
                .into_iter()
                .map(|(to, cause)| LinkDown { to, cause })
                .collect(),
            false => Vec::new(),
        };
        Ok(Response::new(HelloReply {
            protocol_version: CONTROL_VERSION,
            node: self.worker.name.clone(),
            engine: engine.into(),
            threads: threads as u32,
            holds_session,
            sessions: sessions as u32,
            deployments: deployments as u32,
            instance: self.worker.instance(),
            links_down,
        }))
    }

    async fn has(&self, req: Request<HasRequest>) -> Result<Response<HasReply>, Status> {
        let hashes = req.into_inner().hashes;
        if hashes.len() > MAX_HAS {
            return Err(Status::invalid_argument(format!(
                "{} hashes asked at once (limit {MAX_HAS})",
                hashes.len()
            )));
        }
        let present = hashes
            .iter()
            .map(|h| {
                ModelHash::parse(h)
                    .map(|h| self.worker.has_model(&h))
                    .map_err(|e| Status::invalid_argument(e.to_string()))
            })
            .collect::<Result<_, _>>()?;
        Ok(Response::new(HasReply { present }))
    }

    async fn upload(
        &self,
        req: Request<Streaming<ModelChunk>>,
    ) -> Result<Response<UploadReply>, Status> {
        let busy = || {
            Status::resource_exhausted(format!(
                "{MAX_CONCURRENT_UPLOADS} model uploads are already in progress"
            ))
        };
        let _slot = tokio::time::timeout(self.worker.io_timeout, self.uploads.acquire())
            .await
            .map_err(|_| busy())?
            .map_err(|_| busy())?;
        let mut stream = req.into_inner();
        // Memory is taken as data arrives, never reserved for the announced size: an upload
        // that announces 4 GiB and sends nothing costs nothing.
        let mut bytes: Vec<u8> = Vec::new();
        let mut expect: Option<(ModelHash, u64)> = None;
        let io_timeout = self.worker.io_timeout;
        let stalled = |_| Status::deadline_exceeded(format!("no model chunk for {io_timeout:?}"));
        // A stalled upload gives its slot back after the I/O timeout, not tonic's 10 minutes.
        while let Some(chunk) = tokio::time::timeout(io_timeout, stream.message())
            .await
            .map_err(stalled)??
        {
            let announced = ModelHash::parse(&chunk.hash)
                .map_err(|e| Status::invalid_argument(e.to_string()))?;
            let (hash, total) = expect
                .get_or_insert_with(|| (announced.clone(), chunk.total_bytes))
                .clone();
            if announced != hash || chunk.total_bytes != total {
                return Err(Status::invalid_argument(
                    "model chunks disagree on the hash or size",
                ));
            }
            if total > MAX_MODEL_BYTES || (bytes.len() + chunk.data.len()) as u64 > total {
                return Err(Status::resource_exhausted(format!(
                    "model of {total} bytes: more than announced or over the {MAX_MODEL_BYTES}-byte limit"
                )));
            }
            bytes.extend_from_slice(&chunk.data);
        }
        let (hash, total) = expect.ok_or_else(|| Status::invalid_argument("empty upload"))?;
        if bytes.len() as u64 != total || ModelHash::of(&bytes) != hash {
            return Err(Status::data_loss(format!(
                "model {hash}: received {} bytes that do not match it",
                bytes.len()
            )));
        }
        let worker = self.worker.clone();
        let (hash, cached) = tokio::task::spawn_blocking(move || worker.add_model_cached(&bytes))
            .await
            .map_err(|e| Status::internal(format!("loader panicked: {e}")))?
            .map_err(status)?;
        Ok(Response::new(UploadReply {
            hash: hash.into(),
            cached,
        }))
    }

    async fn deploy(&self, req: Request<DeployRequest>) -> Result<Response<DeployReply>, Status> {
        let caller = peer(&req);
        let dep: Deployment = serde_json::from_str(&req.into_inner().deployment_json)
            .map_err(|e| Status::invalid_argument(format!("deployment: {e}")))?;
        let id = dep.id.clone();
        let parts = dep
            .parts
            .iter()
            .filter(|p| p.node == self.worker.name)
            .count() as u32;
        self.worker
            .deploy_as(dep, None, Caller::Remote(&caller))
            .map_err(status)?;
        Ok(Response::new(DeployReply {
            deployment: id.to_string(),
            parts,
        }))
    }

    async fn stats(&self, req: Request<StatsRequest>) -> Result<Response<StatsReply>, Status> {
        let caller = peer(&req);
        let id = session(&req.into_inner().session)?;
        let stats = self
            .worker
            .stats_as(id, Caller::Remote(&caller))
            .map_err(status)?;
        Ok(Response::new(StatsReply {
            stats_json: serde_json::to_string(&stats).expect("serialisable"),
        }))
    }

    async fn emulate(
        &self,
        req: Request<EmulateRequest>,
    ) -> Result<Response<EmulateReply>, Status> {
        let caller = peer(&req);
        let r = req.into_inner();
        let e = serde_json::from_str(&r.emulation_json)
            .map_err(|e| Status::invalid_argument(format!("emulation: {e}")))?;
        self.worker
            .emulate_as(session(&r.session)?, e, Caller::Remote(&caller))
            .map_err(status)?;
        Ok(Response::new(EmulateReply {}))
    }

    async fn observe(
        &self,
        req: Request<ObserveRequest>,
    ) -> Result<Response<ObserveReply>, Status> {
        let caller = peer(&req);
        let r = req.into_inner();
        let o = self
            .worker
            .observe_as(session(&r.session)?, r.since, Caller::Remote(&caller))
            .map_err(status)?;
        Ok(Response::new(ObserveReply {
            observations_json: serde_json::to_string(&o).expect("serialisable"),
        }))
    }

    async fn probe(&self, req: Request<ProbeRequest>) -> Result<Response<ProbeReply>, Status> {
        let caller = peer(&req);
        let ProbeRequest {
            to,
            bytes,
            session: id,
        } = req.into_inner();
        if bytes == 0 || bytes > MAX_PROBE_BYTES {
            return Err(Status::invalid_argument(format!(
                "probe of {bytes} bytes: must be 1 to {MAX_PROBE_BYTES}"
            )));
        }
        self.worker
            .probe_as(session(&id)?, &to, bytes as usize, Caller::Remote(&caller))
            .map_err(status)?;
        Ok(Response::new(ProbeReply {}))
    }
}
