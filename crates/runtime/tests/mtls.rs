//! Mutual TLS handshakes between nodes on loopback, with certificates made by the cluster CA:
//! both ends verified, names bound to certificates, and every other peer refused (no client
//! certificate, another cluster's certificate, a certificate for another name, plaintext).

mod common;

use common::{rt, T};

use std::sync::Arc;
use std::time::Duration;
use tiersplit_runtime::tls::{peer_is, ClusterCa, NodeIdentity, TlsError, ALPN_DATA};
use tiersplit_runtime::{SessionId, Worker};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// What the server saw of one connection: the peer's certificate chain and the protocol.
#[derive(Debug)]
struct Accepted {
    peer: Vec<tokio_rustls::rustls::pki_types::CertificateDer<'static>>,
    alpn: Option<Vec<u8>>,
}

/// A server for `id` that accepts one connection and echoes one byte.
async fn serve_once(
    id: &NodeIdentity,
) -> (String, tokio::task::JoinHandle<std::io::Result<Accepted>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let acceptor = TlsAcceptor::from(id.server_config().unwrap());
    let task = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await?;
        let mut tls = tokio::time::timeout(T, acceptor.accept(tcp)).await??;
        let (_, conn) = tls.get_ref();
        let accepted = Accepted {
            peer: conn
                .peer_certificates()
                .map(|c| c.iter().map(|c| c.clone().into_owned()).collect())
                .unwrap_or_default(),
            alpn: conn.alpn_protocol().map(|p| p.to_vec()),
        };
        let mut b = [0u8; 1];
        tls.read_exact(&mut b).await?;
        tls.write_all(&b).await?;
        tls.flush().await?;
        Ok(accepted)
    });
    (addr, task)
}

/// Connects as `client` to `addr`, expecting the server to be node `server_name`.
async fn dial(
    config: Arc<tokio_rustls::rustls::ClientConfig>,
    addr: &str,
    server_name: &str,
) -> std::io::Result<()> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from(server_name.to_string()).unwrap();
    let mut tls = tokio::time::timeout(T, TlsConnector::from(config).connect(name, tcp)).await??;
    tls.write_all(b"x").await?;
    tls.flush().await?;
    let mut b = [0u8; 1];
    tls.read_exact(&mut b).await?;
    Ok(())
}

#[test]
fn nodes_of_one_cluster_verify_each_other_by_name() {
    rt().block_on(async {
        let ca = ClusterCa::generate().unwrap();
        let edge0 = ca.issue("edge0").unwrap();
        let device = ca.issue("device").unwrap();
        let (addr, server) = serve_once(&edge0).await;
        dial(device.client_config(ALPN_DATA).unwrap(), &addr, "edge0")
            .await
            .unwrap();
        let seen = server.await.unwrap().unwrap();
        assert!(peer_is(&seen.peer, "device"));
        assert!(!peer_is(&seen.peer, "edge1"));
        assert!(!peer_is(&[], "device"));
        assert_eq!(seen.alpn.as_deref(), Some(ALPN_DATA));
    });
}

#[test]
fn a_server_with_another_name_is_refused_by_the_client() {
    rt().block_on(async {
        let ca = ClusterCa::generate().unwrap();
        let (addr, server) = serve_once(&ca.issue("edge0").unwrap()).await;
        let device = ca.issue("device").unwrap();
        let e = dial(device.client_config(ALPN_DATA).unwrap(), &addr, "edge1")
            .await
            .unwrap_err();
        assert!(e.to_string().contains("certificate"), "{e}");
        assert!(server.await.unwrap().is_err());
    });
}

#[test]
fn clients_without_a_certificate_of_the_cluster_are_refused() {
    rt().block_on(async {
        let ca = ClusterCa::generate().unwrap();
        let edge0 = ca.issue("edge0").unwrap();
        // A certificate of another cluster's CA, for a name the deployment uses.
        let stranger = ClusterCa::generate().unwrap().issue("device").unwrap();
        let mut trusting = stranger.clone();
        trusting.ca_pem = ca.cert_pem().to_string();
        let (addr, server) = serve_once(&edge0).await;
        assert!(
            dial(trusting.client_config(ALPN_DATA).unwrap(), &addr, "edge0")
                .await
                .is_err()
        );
        let e = server.await.unwrap().unwrap_err();
        assert!(e.to_string().contains("certificate"), "{e}");
        // No client certificate at all.
        let roots = {
            let mut r = tokio_rustls::rustls::RootCertStore::empty();
            for c in tokio_rustls::rustls::pki_types::CertificateDer::pem_slice_iter(
                ca.cert_pem().as_bytes(),
            ) {
                r.add(c.unwrap()).unwrap();
            }
            r
        };
        use tokio_rustls::rustls::pki_types::pem::PemObject;
        let anonymous = tokio_rustls::rustls::ClientConfig::builder_with_provider(Arc::new(
            tokio_rustls::rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let (addr, server) = serve_once(&edge0).await;
        assert!(dial(Arc::new(anonymous), &addr, "edge0").await.is_err());
        assert!(server.await.unwrap().is_err());
        // Plaintext.
        let (addr, server) = serve_once(&edge0).await;
        let mut tcp = TcpStream::connect(&addr).await.unwrap();
        tcp.write_all(b"TSPL plaintext frame").await.unwrap();
        let e = server.await.unwrap().unwrap_err();
        assert!(!e.to_string().is_empty());
    });
}

#[test]
fn a_ca_read_back_from_pem_issues_certificates_its_cluster_trusts() {
    rt().block_on(async {
        let ca = ClusterCa::generate().unwrap();
        let again = ClusterCa::from_pem(ca.cert_pem(), ca.key_pem()).unwrap();
        let edge0 = ca.issue("edge0").unwrap();
        let late = again.issue("edge7").unwrap();
        let (addr, server) = serve_once(&edge0).await;
        dial(late.client_config(ALPN_DATA).unwrap(), &addr, "edge0")
            .await
            .unwrap();
        assert!(peer_is(&server.await.unwrap().unwrap().peer, "edge7"));
        assert!(matches!(ca.issue("not a name"), Err(TlsError::BadName(_))));
        assert!(ClusterCa::from_pem("nothing", ca.key_pem()).is_err());
    });
}

/// Sends the two halves of frame `frame` of `session` to `addr` over the data plane as node
/// `id`.
/// A data connection to the device at `addr`, over mutual TLS as `id`.
async fn dial_device(id: &NodeIdentity, addr: &str) -> tokio_rustls::client::TlsStream<TcpStream> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from("device".to_string()).unwrap();
    let connector = TlsConnector::from(id.client_config(ALPN_DATA).unwrap());
    connector.connect(name, tcp).await.unwrap()
}

async fn send_halves(id: &NodeIdentity, addr: &str, session: SessionId, frame: u64) {
    use tiersplit_graph::DType;
    use tiersplit_net::{write_frame, Frame};
    let mut tls = dial_device(id, addr).await;
    for half in ["a", "b"] {
        let f = Frame::tensor(frame, half, DType::F32, vec![1, 1, 2, 4], vec![0u8; 32])
            .in_session(session.to_wire());
        write_frame(&mut tls, &f, T).await.unwrap();
    }
    tls.shutdown().await.unwrap();
}

#[test]
fn tensors_are_taken_only_from_nodes_of_their_deployment() {
    rt().block_on(async {
        let ca = ClusterCa::generate().unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let device = Worker::new("device")
            .with_identity(&ca.issue("device").unwrap())
            .unwrap();
        let (tx, mut results) = tokio::sync::mpsc::unbounded_channel();
        let session = SessionId::random();
        let dep = serde_json::json!({
            "id": "d", "session": session, "nodes": {"device": addr, "edge0": "127.0.0.1:9"},
            "parts": [{"id": "s", "node": "device", "work": {"Stitch": {"shape": [1, 1, 4, 4],
                       "regions": [[0, 2, 0, 4], [2, 4, 0, 4]]}},
                       "inputs": [["a", "a"], ["b", "b"]], "outputs": [["y", "y"]]}],
            "routes": [], "sink": "device", "inputs": [], "outputs": ["y"]
        });
        device
            .deploy(serde_json::from_value(dep).unwrap(), Some(tx))
            .unwrap();
        tokio::spawn(device.serve(listener));
        // A node of the cluster that is not in the deployment: its tensors are dropped.
        send_halves(&ca.issue("edge9").unwrap(), &addr, session, 1).await;
        let none = tokio::time::timeout(Duration::from_millis(500), results.recv()).await;
        assert!(
            none.is_err(),
            "a frame from outside the deployment was answered"
        );
        // A node of the deployment, naming another session (or none): dropped.
        let edge0 = ca.issue("edge0").unwrap();
        send_halves(&edge0, &addr, SessionId::random(), 1).await;
        send_halves(&edge0, &addr, SessionId::NONE, 1).await;
        let none = tokio::time::timeout(Duration::from_millis(500), results.recv()).await;
        assert!(none.is_err(), "a frame of another session was answered");
        // A node of the deployment, in its session: answered.
        send_halves(&edge0, &addr, session, 2).await;
        let r = tokio::time::timeout(T, results.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(r.frame, 2);
        assert!(r.outputs.is_ok());
    });
}

/// Sends 256 KiB as tensor `name` of frame 1 to `addr` as node `id`, its payload in 16 KiB
/// pieces 2 ms apart (a link of about 65 Mbit/s).
async fn send_paced(id: &NodeIdentity, addr: &str, session: SessionId, name: &str) {
    use tiersplit_graph::DType;
    use tiersplit_net::{write_header, write_payload, Frame};
    let mut tls = dial_device(id, addr).await;
    let f = Frame::tensor(
        1,
        name,
        DType::F32,
        vec![1, 1, 256, 256],
        vec![0u8; 256 << 10],
    )
    .in_session(session.to_wire());
    write_header(&mut tls, &f, T).await.unwrap();
    for piece in f.payload.chunks(16 << 10) {
        write_payload(&mut tls, piece, T).await.unwrap();
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    tls.shutdown().await.unwrap();
}

#[test]
fn a_tensor_is_timed_only_as_coming_from_the_node_its_route_names() {
    rt().block_on(async {
        let ca = ClusterCa::generate().unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let device = Worker::new("device")
            .with_identity(&ca.issue("device").unwrap())
            .unwrap();
        let session = SessionId::random();
        let dep = serde_json::json!({
            "id": "d", "session": session,
            "nodes": {"device": addr, "edge0": "127.0.0.1:9", "edge1": "127.0.0.1:9"},
            "parts": [],
            "routes": [{"tensor": "x", "from": "edge0", "to": "device", "deliver_as": "x"}],
            "sink": "device", "inputs": [], "outputs": []
        });
        device
            .deploy(serde_json::from_value(dep).unwrap(), None)
            .unwrap();
        tokio::spawn(device.clone().serve(listener));
        let arrivals = |d: &Worker| -> Vec<(String, u64)> {
            let obs = d.observations(session, 0).unwrap();
            obs.records
                .iter()
                .filter_map(|r| match r {
                    tiersplit_runtime::Observation::Arrival(a) => Some((a.from.clone(), a.bytes)),
                    _ => None,
                })
                .collect()
        };
        // edge1 is a node of the deployment, but the route says edge0 sends `x`: not timed.
        send_paced(&ca.issue("edge1").unwrap(), &addr, session, "x").await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(arrivals(&device), []);
        send_paced(&ca.issue("edge0").unwrap(), &addr, session, "x").await;
        // The message's record comes once its payload is in, after its last sample.
        let deadline = tokio::time::Instant::now() + T;
        while device.stats(session).unwrap().arrivals.is_empty() {
            assert!(tokio::time::Instant::now() < deadline, "never timed");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let timed: u64 = arrivals(&device).iter().map(|(_, b)| b).sum();
        assert!(arrivals(&device).iter().all(|(from, _)| from == "edge0"));
        // At most all but the first and last pieces (fewer when a busy machine reads late).
        assert!((1..=240 << 10).contains(&timed), "{timed} bytes timed");
        let stats = device.stats(session).unwrap();
        assert_eq!(stats.arrivals.len(), 1, "{:?}", stats.arrivals);
        assert_eq!(stats.arrivals[0].from, "edge0");
    });
}
