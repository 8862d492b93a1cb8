//! The gRPC control plane on ephemeral loopback ports, every call under a timeout: version
//! checks, chunked uploads that must match their hash, bad deployments refused with the reason,
//! a node that is not who the scenario says, and peers that do not speak gRPC.

use std::time::Duration;
use tiersplit_runtime::control_pb::control_client::ControlClient;
use tiersplit_runtime::control_pb::{DeployRequest, HelloRequest, ModelChunk, StatsRequest};
use tiersplit_runtime::{ClusterDriver, ModelHash, Worker, CONTROL_VERSION};
use tokio::net::TcpListener;
use tonic::transport::{Channel, Endpoint};
use tonic::Code;

const T: Duration = Duration::from_secs(10);

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

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
            })
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::FailedPrecondition);
        assert!(e.message().contains("version 2, the client 99"), "{e}");
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
        let e = c.stats(StatsRequest {}).await.unwrap_err();
        assert!(e.message().contains("no deployment"), "{e}");
        // A deployment whose part needs a model that was never uploaded, and one that names a
        // model by something that is not a hash.
        let missing = ModelHash::of(b"never uploaded");
        let dep = |hash: &str| {
            serde_json::json!({
                "id": "t", "nodes": {"edge0": addr, "device": "127.0.0.1:1"},
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
        let expected = format!("model {missing} was not uploaded");
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
fn the_control_plane_runs_over_tls_when_asked() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tls");
    let read = |f: &str| std::fs::read(dir.join(f)).unwrap();
    rt().block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(
            Worker::new("edge0")
                .with_tls(read("node.pem"), read("node.key"))
                .serve(listener),
        );
        let tls = tiersplit_runtime::ClientTls {
            ca_pem: read("ca.pem"),
            domain: String::new(),
        };
        let remotes = [("edge0".to_string(), addr.clone())];
        let mut d = ClusterDriver::start_tls("device", "127.0.0.1:0", &remotes, T, Some(&tls))
            .await
            .unwrap();
        // Stats before any deployment: a remote error over TLS, not a transport error.
        let e = d.stats().await.unwrap_err();
        assert!(e.to_string().contains("no deployment"), "{e}");
        // Plain HTTP/2 to a TLS node fails, naming the node, within the timeout.
        let e = ClusterDriver::start("device", "127.0.0.1:0", &remotes, Duration::from_secs(3))
            .await
            .err()
            .expect("plaintext to a TLS node");
        assert!(e.to_string().contains("edge0"), "{e}");
        // A CA that did not sign the node's certificate is refused.
        let wrong = tiersplit_runtime::ClientTls {
            ca_pem: read("node.pem"),
            domain: "nobody.example".into(),
        };
        let e = ClusterDriver::start_tls("device", "127.0.0.1:0", &remotes, T, Some(&wrong))
            .await
            .err()
            .expect("wrong CA and name");
        assert!(e.to_string().contains("edge0"), "{e}");
    });
}
