//! The gRPC control plane on ephemeral loopback ports, every call under a timeout: version
//! checks, chunked uploads that must match their hash, bad deployments refused with the reason,
//! a node that is not who the scenario says, and peers that do not speak gRPC.

mod common;

use common::{round_trip, rt, T};

use std::time::Duration;
use tiersplit_exec::HostTensor;
use tiersplit_runtime::control_pb::control_client::ControlClient;
use tiersplit_runtime::control_pb::{DeployRequest, HelloRequest, ModelChunk, StatsRequest};
use tiersplit_runtime::tls::ClusterCa;
use tiersplit_runtime::{ClusterDriver, ModelHash, SessionId, Worker, CONTROL_VERSION};
use tokio::net::TcpListener;
use tokio::time::Instant;
use tonic::transport::{Channel, Endpoint};
use tonic::Code;

async fn start_worker(name: &str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(Worker::new(name).serve(listener));
    addr
}

async fn client(addr: &str) -> ControlClient<Channel> {
    let ch = Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_timeout(T)
        .timeout(T)
        .connect()
        .await
        .unwrap();
    ControlClient::new(ch)
}

#[test]
fn hello_checks_the_protocol_version() {
    rt().block_on(async {
        let addr = start_worker("edge0").await;
        let mut c = client(&addr).await;
        let ok = c
            .hello(HelloRequest {
                protocol_version: CONTROL_VERSION,
                client: "t".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            (ok.node.as_str(), ok.protocol_version),
            ("edge0", CONTROL_VERSION)
        );
        let e = c
            .hello(HelloRequest {
                protocol_version: 99,
                client: "t".into(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::FailedPrecondition);
        assert!(
            e.message()
                .contains(&format!("version {CONTROL_VERSION}, the client 99")),
            "{e}"
        );
    });
}

#[test]
fn uploads_must_match_their_hash_and_size() {
    rt().block_on(async {
        let addr = start_worker("edge0").await;
        let mut c = client(&addr).await;
        let bytes = vec![7u8; 3 << 20];
        let chunk = |data: &[u8], hash: &str, total: u64| ModelChunk {
            hash: hash.into(),
            total_bytes: total,
            data: data.to_vec(),
        };
        let other = ModelHash::of(b"other").to_string();
        // Not a hash at all.
        let e = c
            .upload(tokio_stream::iter(vec![chunk(&bytes, "nope", 10)]))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{e}");
        assert!(e.message().contains("'nope' is not a model hash"), "{e}");
        // The right size, the wrong hash.
        let e = c
            .upload(tokio_stream::iter(vec![
                chunk(&bytes[..1 << 20], &other, bytes.len() as u64),
                chunk(&bytes[1 << 20..], &other, bytes.len() as u64),
            ]))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::DataLoss, "{e}");
        // More bytes than announced.
        let e = c
            .upload(tokio_stream::iter(vec![chunk(&bytes, &other, 10)]))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::ResourceExhausted, "{e}");
        // Chunks that disagree.
        let h = ModelHash::of(&bytes).to_string();
        let e = c
            .upload(tokio_stream::iter(vec![
                chunk(&bytes[..1 << 20], &h, bytes.len() as u64),
                chunk(&bytes[1 << 20..], &other, bytes.len() as u64),
            ]))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{e}");
        // Matching bytes that are not a model: refused by the loader, with its reason.
        let e = c
            .upload(tokio_stream::iter(vec![chunk(
                &bytes,
                &h,
                bytes.len() as u64,
            )]))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{e}");
    });
}

#[test]
fn bad_deployments_and_missing_ones_are_refused_with_the_reason() {
    rt().block_on(async {
        let addr = start_worker("edge0").await;
        let mut c = client(&addr).await;
        let e = c
            .deploy(DeployRequest {
                deployment_json: "{not json".into(),
            })
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument);
        let e = c
            .stats(StatsRequest {
                session: SessionId::random().to_string(),
            })
            .await
            .unwrap_err();
        assert!(e.message().contains("no session"), "{e}");
        // A deployment whose part needs a model that was never uploaded, and one that names a
        // model by something that is not a hash.
        let missing = ModelHash::of(b"never uploaded");
        let dep = |hash: &str| {
            serde_json::json!({
                "id": "t", "session": SessionId::random(),
                "nodes": {"edge0": addr, "device": "127.0.0.1:1"},
                "parts": [{"id": "p", "node": "edge0", "work": {"Model": {"hash": hash}},
                           "inputs": [["x", "x"]], "outputs": [["y", "y"]]}],
                "routes": [], "sink": "device", "inputs": ["x"], "outputs": ["y"]
            })
            .to_string()
        };
        let e = c
            .deploy(DeployRequest {
                deployment_json: dep(missing.as_str()),
            })
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::NotFound, "{e}");
        let expected = format!("node edge0 does not hold model(s) {missing}");
        assert!(e.message().contains(&expected), "{e}");
        let e = c
            .deploy(DeployRequest {
                deployment_json: dep("abc"),
            })
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument);
        assert!(e.message().contains("'abc' is not a model hash"), "{e}");
    });
}

#[test]
fn the_driver_checks_who_answers() {
    rt().block_on(async {
        let addr = start_worker("cloud").await;
        let e = ClusterDriver::start("device", "127.0.0.1:0", &[("edge0".into(), addr)], T)
            .await
            .err()
            .expect("a node that is not edge0");
        assert!(e.to_string().contains("calls itself 'cloud'"), "{e}");
    });
}

#[test]
fn peers_that_do_not_speak_grpc_fail_within_the_timeout() {
    rt().block_on(async {
        // Accepts and says nothing.
        let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let silent_addr = silent.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = silent.accept().await {
                held.push(s);
            }
        });
        let t0 = std::time::Instant::now();
        let e = ClusterDriver::start(
            "device",
            "127.0.0.1:0",
            &[("edge0".into(), silent_addr)],
            Duration::from_secs(2),
        )
        .await
        .err()
        .expect("silence is an error");
        assert!(e.to_string().contains("edge0"), "{e}");
        assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
        // Speaks HTTP/1.
        let http = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let http_addr = http.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            while let Ok((mut s, _)) = http.accept().await {
                let _ = s
                    .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
                    .await;
            }
        });
        let e = ClusterDriver::start(
            "device",
            "127.0.0.1:0",
            &[("edge0".into(), http_addr)],
            Duration::from_secs(2),
        )
        .await
        .err()
        .expect("HTTP/1 is an error");
        assert!(e.to_string().contains("edge0"), "{e}");
    });
}

#[test]
fn both_planes_run_over_mutual_tls() {
    rt().block_on(async {
        let ca = ClusterCa::generate().unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let edge0 = Worker::new("edge0")
            .with_identity(&ca.issue("edge0").unwrap())
            .unwrap();
        tokio::spawn(edge0.serve(listener));
        let device = ca.issue("device").unwrap();
        let remotes = [("edge0".to_string(), addr.clone())];
        let mut d = ClusterDriver::start_tls("device", "127.0.0.1:0", &remotes, T, Some(&device))
            .await
            .unwrap();
        // A probe before any deployment: a remote error over TLS, not a transport error.
        let e = d.probe("edge0", "device", 1024).await.unwrap_err();
        assert!(e.to_string().contains("no deployment"), "{e}");
        // Statistics before any deployment: nothing done yet.
        let stats = d.stats().await.unwrap();
        assert!(stats.iter().all(|s| s.parts.is_empty()), "{stats:?}");
        // Tensors go to edge0 and back over TLS, and the answer is exact.
        d.deploy(&round_trip("device"), &Default::default())
            .await
            .unwrap();
        let half = |v: f32| HostTensor::f32(vec![1, 1, 2, 4], vec![v; 8]).unwrap();
        d.feed(&[("a".into(), half(1.0)), ("b".into(), half(2.0))])
            .unwrap();
        let r = d.next_result(Instant::now() + T).await.unwrap();
        let y = r.outputs.unwrap().remove("y").unwrap();
        assert_eq!(y.shape, vec![1, 1, 4, 4]);
        // Plaintext data-plane bytes are refused (the handshake fails, the connection closes)
        // and the session carries on.
        let mut raw = tokio::net::TcpStream::connect(&addr).await.unwrap();
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        raw.write_all(b"TSPL\x01\x00 a forged tensor frame")
            .await
            .unwrap();
        let mut buf = [0u8; 64];
        // What comes back is at most a TLS alert record (content type 21), then the end.
        let n = tokio::time::timeout(T, raw.read(&mut buf)).await.unwrap();
        assert!(matches!(n, Ok(0) | Err(_)) || buf[0] == 21, "{n:?} {buf:?}");
        let rest = tokio::time::timeout(T, raw.read(&mut buf)).await.unwrap();
        assert!(matches!(rest, Ok(0) | Err(_)), "{rest:?}");
        d.feed(&[("a".into(), half(3.0)), ("b".into(), half(4.0))])
            .unwrap();
        let r = d.next_result(Instant::now() + T).await.unwrap();
        assert!(r.outputs.is_ok());
        // Plain HTTP/2 to a TLS node fails, naming the node, within the timeout.
        let e = ClusterDriver::start("device", "127.0.0.1:0", &remotes, Duration::from_secs(3))
            .await
            .err()
            .expect("plaintext to a TLS node");
        assert!(e.to_string().contains("edge0"), "{e}");
        // A device of another cluster, or one holding a certificate for another node's name,
        // is refused.
        let stranger = ClusterCa::generate().unwrap().issue("device").unwrap();
        let e = ClusterDriver::start_tls("device", "127.0.0.1:0", &remotes, T, Some(&stranger))
            .await
            .err()
            .expect("another cluster's device");
        assert!(e.to_string().contains("edge0"), "{e}");
        let remotes_misnamed = [("edge1".to_string(), addr.clone())];
        let e =
            ClusterDriver::start_tls("device", "127.0.0.1:0", &remotes_misnamed, T, Some(&device))
                .await
                .err()
                .expect("a node that is not edge1");
        assert!(e.to_string().contains("edge1"), "{e}");
    });
}
