//! Devices sharing a node over mutual TLS, each in its own session: the same frame numbers
//! never meet, and no one but a session's device (the same certificate) may deploy, emulate,
//! observe, probe or read statistics in it, not another device of the cluster, not a second
//! certificate for the same name, not a node knocking at the device's own port. Each attempt is
//! refused with the reason while the legitimate sessions keep answering exactly.

mod common;

use common::{round_trip, rt, T};

use tiersplit_exec::HostTensor;
use tiersplit_runtime::control_pb::control_client::ControlClient;
use tiersplit_runtime::control_pb::{
    DeployRequest, EmulateRequest, ObserveRequest, ProbeRequest, StatsRequest,
};
use tiersplit_runtime::tls::{ClusterCa, NodeIdentity};
use tiersplit_runtime::{ClusterDriver, Deployment, SessionId, Worker};
use tokio::net::TcpListener;
use tokio::time::Instant;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use tonic::Code;

async fn edge0(ca: &ClusterCa) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let w = Worker::new("edge0")
        .with_identity(&ca.issue("edge0").unwrap())
        .unwrap();
    tokio::spawn(w.serve(listener));
    addr
}

async fn device(ca: &ClusterCa, name: &str, edge0: &str) -> ClusterDriver {
    let id = ca.issue(name).unwrap();
    let remotes = [("edge0".to_string(), edge0.to_string())];
    let mut d = ClusterDriver::start_tls(name, "127.0.0.1:0", &remotes, T, Some(&id))
        .await
        .unwrap();
    d.deploy(&round_trip(name), &Default::default())
        .await
        .unwrap();
    d
}

/// Feeds one frame whose halves hold `v` and `v + 1`; checks the answer is that frame's map.
async fn answers_exactly(d: &mut ClusterDriver, v: f32) {
    let half = |x: f32| HostTensor::f32(vec![1, 1, 2, 4], vec![x; 8]).unwrap();
    let frame = d
        .feed(&[("a".into(), half(v)), ("b".into(), half(v + 1.0))])
        .unwrap();
    let r = d.next_result(Instant::now() + T).await.unwrap();
    assert_eq!(r.frame, frame);
    let mut want = vec![v; 8];
    want.extend([v + 1.0; 8]);
    let want = HostTensor::f32(vec![1, 1, 4, 4], want).unwrap();
    assert_eq!(r.outputs.unwrap()["y"], want);
}

/// A control client at `addr` (node `server`) holding `id`'s certificate.
async fn control(id: &NodeIdentity, addr: &str, server: &str) -> ControlClient<Channel> {
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(&id.ca_pem))
        .identity(Identity::from_pem(&id.cert_pem, &id.key_pem))
        .domain_name(server);
    let ch = Endpoint::from_shared(format!("https://{addr}"))
        .unwrap()
        .connect_timeout(T)
        .timeout(T)
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .unwrap();
    ControlClient::new(ch)
}

/// Every control call of session `session` through `c`, each refused with PermissionDenied.
async fn all_denied(c: &mut ControlClient<Channel>, session: SessionId, dep: &Deployment) {
    let s = session.to_string();
    let denied = |r: Result<(), tonic::Status>, what: &str| {
        let e = r.expect_err(what);
        assert_eq!(e.code(), Code::PermissionDenied, "{what}: {e}");
    };
    let json = serde_json::to_string(dep).unwrap();
    denied(
        c.deploy(DeployRequest {
            deployment_json: json,
        })
        .await
        .map(drop),
        "deploy",
    );
    let emulate = EmulateRequest {
        emulation_json: r#"{"links":[],"slowdown":{"edge0":50.0}}"#.into(),
        session: s.clone(),
    };
    denied(c.emulate(emulate).await.map(drop), "emulate");
    let observe = ObserveRequest {
        since: 0,
        session: s.clone(),
    };
    denied(c.observe(observe).await.map(drop), "observe");
    let probe = ProbeRequest {
        to: "edge0".into(),
        bytes: 1 << 20,
        session: s.clone(),
    };
    denied(c.probe(probe).await.map(drop), "probe");
    denied(
        c.stats(StatsRequest { session: s }).await.map(drop),
        "stats",
    );
}

#[test]
fn two_devices_share_a_node_each_in_its_own_session() {
    rt().block_on(async {
        let ca = ClusterCa::generate().unwrap();
        let edge0 = edge0(&ca).await;
        let mut phone = device(&ca, "phone", &edge0).await;
        let mut camera = device(&ca, "camera", &edge0).await;
        assert_ne!(phone.session(), camera.session());
        // Both number their frames from 1; each gets its own answers.
        for k in 0..4 {
            answers_exactly(&mut phone, k as f32).await;
            answers_exactly(&mut camera, 100.0 + k as f32).await;
        }
        // A new deployment of one session from frame 0 leaves the other alone.
        camera
            .deploy(&round_trip("camera"), &Default::default())
            .await
            .unwrap();
        answers_exactly(&mut phone, 7.0).await;
        answers_exactly(&mut camera, 70.0).await;
    });
}

#[test]
fn only_a_sessions_device_controls_it() {
    rt().block_on(async {
        let ca = ClusterCa::generate().unwrap();
        let edge0 = edge0(&ca).await;
        let mut phone = device(&ca, "phone", &edge0).await;
        answers_exactly(&mut phone, 1.0).await;
        // A take-over: the phone's own deployment from frame 0 with the phone's session.
        let mut take_over = round_trip("phone");
        take_over.session = phone.session();
        take_over.nodes = phone.addresses();
        // Another device of the cluster, and a second certificate for the phone's name.
        for name in ["camera", "phone"] {
            let id = ca.issue(name).unwrap();
            let mut c = control(&id, &edge0, "edge0").await;
            all_denied(&mut c, phone.session(), &take_over).await;
            // Nor may it deploy for the phone in a session of its own.
            if name == "camera" {
                let mut other = take_over.clone();
                other.session = SessionId::random();
                let e = c
                    .deploy(DeployRequest {
                        deployment_json: serde_json::to_string(&other).unwrap(),
                    })
                    .await
                    .unwrap_err();
                assert_eq!(e.code(), Code::PermissionDenied, "{e}");
                assert!(e.message().contains("only the deployment's device"), "{e}");
            }
        }
        // A node at the device's own port: the session there was opened in process, so no
        // remote caller controls it (its camera frames cannot be redirected).
        let id = ca.issue("edge0").unwrap();
        let mut c = control(&id, phone.device_addr(), "phone").await;
        let mut redirect = take_over.clone();
        redirect.sink = "edge0".into();
        all_denied(&mut c, phone.session(), &redirect).await;
        // The phone's session is untouched: same plan, no emulation, exact answers.
        answers_exactly(&mut phone, 2.0).await;
        let stats = phone.stats().await.unwrap();
        assert!(stats.iter().all(|s| s.deployment.as_str() == "stitch"));
    });
}
