//! A `tiersplit worker` process over mutual TLS under a flood, while a device's session runs
//! on it: hundreds of connections that never finish a handshake, data-plane frames (from a
//! node of the cluster) that claim the largest payload and stop half-way, claims over the
//! limit, and model uploads that announce 4 GiB and stall. The worker's resident memory stays
//! under a stated bound, it stays up, and every frame of the legitimate session is answered
//! exactly; and one out of file descriptors backs off and recovers.

mod common;

use common::spawn_worker;
use std::time::{Duration, Instant};
use tiersplit_exec::HostTensor;
use tiersplit_graph::DType;
use tiersplit_net::MAX_PAYLOAD;
use tiersplit_runtime::control_pb::control_client::ControlClient;
use tiersplit_runtime::control_pb::ModelChunk;
use tiersplit_runtime::tls::{NodeIdentity, ALPN_DATA};
use tiersplit_runtime::{
    ClusterDriver, Deployment, ModelHash, PartSpec, Route, SessionId, Work, MAX_CONNECTIONS,
    MAX_MODEL_BYTES,
};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

const T: Duration = Duration::from_secs(20);

/// The bound this test holds the flooded worker's resident memory to.
const RSS_BOUND_MIB: u64 = 192;

/// Resident memory of process `pid`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// The device sends two halves to edge0, which stitches them and sends the map back.
fn round_trip() -> Deployment {
    let route = |t: &str, from: &str, to: &str| Route {
        tensor: t.into(),
        from: from.into(),
        to: to.into(),
        crop: None,
        deliver_as: t.into(),
    };
    Deployment {
        id: "stitch".into(),
        session: SessionId::NONE,
        first_frame: 0,
        nodes: Default::default(),
        parts: vec![PartSpec {
            id: "stitch".into(),
            node: "edge0".into(),
            work: Work::Stitch {
                shape: [1, 1, 4, 4],
                regions: vec![[0, 2, 0, 4], [2, 4, 0, 4]],
            },
            inputs: vec![("a".into(), "a".into()), ("b".into(), "b".into())],
            outputs: vec![("y".into(), "y".into())],
        }],
        routes: vec![
            route("a", "device", "edge0"),
            route("b", "device", "edge0"),
            route("y", "edge0", "device"),
        ],
        sink: "device".into(),
        inputs: vec!["a".into(), "b".into()],
        outputs: vec!["y".into()],
        watch: Vec::new(),
    }
}

/// Feeds frames one after another until `until`, each answered exactly; returns how many.
async fn serve_legitimately(d: &mut ClusterDriver, until: Instant) -> usize {
    let mut answered = 0;
    while Instant::now() < until {
        let v = answered as f32;
        let half = |x: f32| HostTensor::f32(vec![1, 1, 2, 4], vec![x; 8]).unwrap();
        let frame = d
            .feed(&[("a".into(), half(v)), ("b".into(), half(v + 1.0))])
            .unwrap();
        let r = d
            .next_result(tokio::time::Instant::now() + T)
            .await
            .expect("the legitimate session is answered during the flood");
        assert_eq!(r.frame, frame);
        let mut want = vec![v; 8];
        want.extend([v + 1.0; 8]);
        assert_eq!(
            r.outputs.unwrap()["y"],
            HostTensor::f32(vec![1, 1, 4, 4], want).unwrap()
        );
        answered += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    answered
}

/// Connections that open TCP and say nothing, more than the worker takes.
async fn silent_connections(addr: &str, n: usize) -> Vec<TcpStream> {
    let mut held = Vec::new();
    for _ in 0..n {
        if let Ok(s) = TcpStream::connect(addr).await {
            held.push(s);
        }
    }
    held
}

/// A mutual-TLS data-plane connection to edge0 as `id`.
async fn data_conn(
    id: &NodeIdentity,
    addr: &str,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    let connector = tokio_rustls::TlsConnector::from(id.client_config(ALPN_DATA).unwrap());
    let name = tokio_rustls::rustls::pki_types::ServerName::try_from("edge0").unwrap();
    connector.connect(name, tcp).await
}

/// A tensor frame of `session` claiming `bytes` of f32, cut after `sent` bytes of payload: the
/// header written out as the wire format has it (version 2).
fn half_frame(session: SessionId, bytes: u64, sent: usize) -> Vec<u8> {
    let name = b"a";
    let mut h = Vec::new();
    h.extend_from_slice(b"TSPL");
    h.extend_from_slice(&tiersplit_net::PROTOCOL_VERSION.to_le_bytes());
    h.push(1); // a tensor
    h.push(DType::F32.onnx_code() as u8);
    h.extend_from_slice(&session.to_wire().to_le_bytes());
    h.extend_from_slice(&1u64.to_le_bytes());
    h.extend_from_slice(&(name.len() as u16).to_le_bytes());
    h.push(1);
    h.extend_from_slice(name);
    h.extend_from_slice(&(bytes / 4).to_le_bytes());
    h.extend_from_slice(&bytes.to_le_bytes());
    h.resize(h.len() + sent, 0);
    h
}

#[test]
fn a_flooded_worker_stays_bounded_and_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    tiersplit_session::certs::init_ca(dir.path(), false).unwrap();
    for n in ["edge0", "device", "mallory"] {
        tiersplit_session::certs::issue(dir.path(), n).unwrap();
    }
    let certs = dir.path().to_str().unwrap();
    let (mut worker, addr) = spawn_worker("edge0", &["--certs", certs, "--io-timeout", "3"]);
    let pid = worker.id();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let device = tiersplit_session::certs::read_identity(dir.path(), "device").unwrap();
    let mallory = tiersplit_session::certs::read_identity(dir.path(), "mallory").unwrap();
    let (peak, answered) = rt.block_on(async {
        let remotes = [("edge0".to_string(), addr.clone())];
        let mut d = ClusterDriver::start_tls("device", "127.0.0.1:0", &remotes, T, Some(&device))
            .await
            .unwrap();
        d.deploy(&round_trip(), &Default::default()).await.unwrap();
        let session = d.session();
        let before = rss_kib(pid);
        let sampler = tokio::spawn(async move {
            let mut peak = 0;
            for _ in 0..400 {
                peak = peak.max(rss_kib(pid));
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            peak
        });
        let flood = tokio::spawn(flood(addr.clone(), mallory, session));
        let answered = serve_legitimately(&mut d, Instant::now() + Duration::from_secs(9)).await;
        flood.await.unwrap();
        let peak = sampler.await.unwrap();
        eprintln!(
            "worker RSS {} MiB before the flood, peak {} MiB during it; {answered} frames answered",
            before >> 10,
            peak >> 10
        );
        (peak, answered)
    });
    assert!(worker.try_wait().unwrap().is_none(), "the worker died");
    worker.kill().unwrap();
    assert!(answered >= 20, "{answered} frames answered");
    assert!(
        peak < RSS_BOUND_MIB << 10,
        "peak RSS {} MiB over the {RSS_BOUND_MIB} MiB bound",
        peak >> 10
    );
}

/// Everything at once, for a few seconds.
async fn flood(addr: String, mallory: NodeIdentity, session: SessionId) {
    // Half-sent frames claiming the largest payload, and claims over it.
    let mut frames = Vec::new();
    for i in 0..80 {
        let Ok(mut s) = data_conn(&mallory, &addr).await else {
            continue;
        };
        let claim = if i % 5 == 0 {
            MAX_PAYLOAD * 4096
        } else {
            MAX_PAYLOAD
        };
        let bytes = half_frame(session, claim, 1 << 20);
        let _ = s.write_all(&bytes).await;
        let _ = s.flush().await;
        frames.push(s);
    }
    // Uploads announcing the largest model, each sending 2 MiB and stalling.
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(&mallory.ca_pem))
        .identity(Identity::from_pem(&mallory.cert_pem, &mallory.key_pem))
        .domain_name("edge0");
    let ch = Endpoint::from_shared(format!("https://{addr}"))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut uploads = Vec::new();
    for _ in 0..8 {
        let (tx, rx) = tokio::sync::mpsc::channel(2);
        let hash = ModelHash::of(b"never").to_string();
        for _ in 0..2 {
            let chunk = ModelChunk {
                hash: hash.clone(),
                total_bytes: MAX_MODEL_BYTES,
                data: vec![0; 1 << 20],
            };
            tx.send(chunk).await.unwrap();
        }
        let mut c = ControlClient::new(ch.clone());
        let call = tokio::spawn(async move {
            c.upload(tokio_stream::wrappers::ReceiverStream::new(rx))
                .await
        });
        uploads.push((tx, call));
    }
    // Connections that never handshake, past the connection limit.
    let silent = silent_connections(&addr, MAX_CONNECTIONS + 100).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    drop((frames, silent));
    for (tx, call) in uploads {
        drop(tx);
        assert!(call.await.unwrap().is_err(), "a stalled upload was taken");
    }
}

/// Out of file descriptors: a worker allowed 64 takes 100 connections that say nothing. Its
/// accepts fail while they are held (logged, retried after a back-off); once they close it
/// serves a device's session as before.
#[test]
fn a_worker_out_of_file_descriptors_backs_off_and_recovers() {
    use std::process::{Command, Stdio};
    let mut worker = Command::new("sh")
        .args([
            "-c",
            "ulimit -n 64 && exec \"$0\" worker --listen 127.0.0.1:0 --name edge0",
        ])
        .arg(env!("CARGO_BIN_EXE_tiersplit"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let addr = {
        use std::io::{BufRead, BufReader};
        let mut line = String::new();
        BufReader::new(worker.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        line.trim().rsplit(' ').next().unwrap().to_string()
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let held = silent_connections(&addr, 100).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(worker.try_wait().unwrap().is_none(), "the worker died");
        drop(held);
        // The back-off is at most a second; the held connections' sniffing ends with them.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let remotes = [("edge0".to_string(), addr.clone())];
        let mut d = ClusterDriver::start("device", "127.0.0.1:0", &remotes, T)
            .await
            .unwrap();
        d.deploy(&round_trip(), &Default::default()).await.unwrap();
        assert!(serve_legitimately(&mut d, Instant::now() + Duration::from_millis(300)).await > 0);
    });
    worker.kill().unwrap();
    let mut log = String::new();
    std::io::Read::read_to_string(&mut worker.stderr.take().unwrap(), &mut log).unwrap();
    assert!(log.contains("accept failed, retrying"), "{log}");
}
