//! A worker under crafted input, on ephemeral loopback ports: deployments that would make it
//! recurse forever or allocate without bound, absurd emulation values, uploads that announce
//! more than they send or come all at once, and tensors of frames that never complete. Each
//! is refused or bounded with the reason, and the worker keeps serving.

mod common;

use common::{rt, T};

use std::time::Duration;
use tiersplit_exec::HostTensor;
use tiersplit_runtime::control_pb::control_client::ControlClient;
use tiersplit_runtime::control_pb::{
    DeployRequest, EmulateRequest, HelloRequest, ModelChunk, UploadReply,
};
use tiersplit_runtime::{
    Deployment, ModelHash, PartSpec, Route, SessionId, Work, Worker, CONTROL_VERSION,
    MAX_CONCURRENT_UPLOADS, MAX_MODEL_BYTES, MAX_WAITING,
};
use tokio::net::TcpListener;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};

async fn start(worker: Worker) -> ControlClient<Channel> {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(worker.serve(listener));
    let ch = Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_timeout(T)
        .timeout(T)
        .connect()
        .await
        .unwrap();
    ControlClient::new(ch)
}

async fn alive(c: &mut ControlClient<Channel>) {
    c.hello(HelloRequest {
        protocol_version: CONTROL_VERSION,
        client: "t".into(),
        ..Default::default()
    })
    .await
    .expect("the worker still answers");
}

/// A deployment of `parts` and `routes` between edge0 and the device.
fn deployment(parts: Vec<PartSpec>, routes: Vec<Route>) -> Deployment {
    Deployment {
        id: "t".into(),
        session: SessionId::random(),
        first_frame: 0,
        nodes: [
            ("edge0".to_string(), "127.0.0.1:1".to_string()),
            ("device".to_string(), "127.0.0.1:2".to_string()),
        ]
        .into(),
        parts,
        routes,
        sink: "device".into(),
        inputs: vec!["x".into()],
        outputs: vec!["y".into()],
        watch: Vec::new(),
    }
}

fn route(from: &str, tensor: &str, to: &str, deliver_as: &str) -> Route {
    Route {
        tensor: tensor.into(),
        from: from.into(),
        to: to.into(),
        crop: None,
        deliver_as: deliver_as.into(),
    }
}

fn stitch(id: &str, node: &str, shape: [usize; 4], regions: Vec<[usize; 4]>) -> PartSpec {
    PartSpec {
        id: id.into(),
        node: node.into(),
        work: Work::Stitch { shape, regions },
        inputs: vec![("a".into(), "a".into()), ("b".into(), "b".into())],
        outputs: vec![("y".into(), "y".into())],
    }
}

async fn deploy(c: &mut ControlClient<Channel>, d: &Deployment) -> Result<(), Status> {
    c.deploy(DeployRequest {
        deployment_json: serde_json::to_string(d).unwrap(),
    })
    .await
    .map(|_| ())
}

#[test]
fn crafted_deployments_are_refused_and_the_worker_keeps_serving() {
    rt().block_on(async {
        let mut c = start(Worker::new("edge0")).await;
        let halves = vec![[0, 2, 0, 4], [2, 4, 0, 4]];
        let attacks = [
            (
                deployment(vec![], vec![route("edge0", "x", "edge0", "x")]),
                "routes form a cycle",
            ),
            (
                deployment(
                    vec![],
                    vec![
                        route("edge0", "x", "device", "y"),
                        route("device", "y", "edge0", "x"),
                    ],
                ),
                "routes form a cycle",
            ),
            (
                deployment(
                    vec![stitch(
                        "s",
                        "edge0",
                        [1, 1 << 16, 1 << 16, 1 << 16],
                        halves.clone(),
                    )],
                    vec![],
                ),
                "over 268435456 elements",
            ),
            (
                deployment(
                    vec![stitch(
                        "s",
                        "edge0",
                        [1, 1, 4, 4],
                        vec![[0, 2, 0, 4], [2, 9, 0, 4]],
                    )],
                    vec![],
                ),
                "is not inside",
            ),
            (
                deployment(
                    vec![
                        stitch("s", "edge0", [1, 1, 4, 4], halves.clone()),
                        stitch("s", "edge0", [1, 1, 4, 4], halves.clone()),
                    ],
                    vec![],
                ),
                "used twice",
            ),
        ];
        for (d, reason) in &attacks {
            let e = deploy(&mut c, d).await.unwrap_err();
            assert!(e.message().contains(reason), "{reason}: {e}");
            alive(&mut c).await;
        }
        // The legitimate deployment after them all is taken.
        let ok = deployment(vec![stitch("s", "edge0", [1, 1, 4, 4], halves)], vec![]);
        deploy(&mut c, &ok).await.unwrap();
    });
}

#[test]
fn absurd_emulation_values_are_refused() {
    rt().block_on(async {
        let mut c = start(Worker::new("edge0")).await;
        for json in [
            r#"{"links":[],"slowdown":{"edge0":1e300}}"#,
            r#"{"links":[{"from":"edge0","to":"cloud","mbps":0.0,"delay_ms":1}],"slowdown":{}}"#,
            r#"{"links":[{"from":"edge0","to":"cloud","mbps":10.0,"delay_ms":1e15}],"slowdown":{}}"#,
        ] {
            let e = c
                .emulate(EmulateRequest {
                    emulation_json: json.into(),
                    session: SessionId::random().to_string(),
                })
                .await
                .unwrap_err();
            assert_eq!(e.code(), Code::InvalidArgument, "{json}: {e}");
            alive(&mut c).await;
        }
        c.emulate(EmulateRequest {
            emulation_json: r#"{"links":[],"slowdown":{"edge0":3.0}}"#.into(),
            session: SessionId::random().to_string(),
        })
        .await
        .unwrap();
    });
}

fn chunk(hash: &ModelHash, total: u64, data: &[u8]) -> ModelChunk {
    ModelChunk {
        hash: hash.to_string(),
        total_bytes: total,
        data: data.to_vec(),
    }
}

/// The hash the trickling uploads announce.
fn h2() -> ModelHash {
    ModelHash::of(b"trickle")
}

#[test]
fn uploads_are_bounded_in_size_and_number() {
    rt().block_on(async {
        let mut w = Worker::new("edge0");
        w.io_timeout = Duration::from_millis(500);
        let mut c = start(w).await;
        let h = ModelHash::of(b"x");
        // Announcing the largest model and sending one byte: refused when the stream ends, and
        // nothing was reserved for the announced size.
        let e = c
            .upload(tokio_stream::iter(vec![chunk(&h, MAX_MODEL_BYTES, b"x")]))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::DataLoss, "{e}");
        // An upload that stops sending gives its slot back after the I/O timeout.
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        tx.send(chunk(&h, 10, b"x")).await.unwrap();
        let e = c
            .upload(tokio_stream::wrappers::ReceiverStream::new(rx))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::DeadlineExceeded, "{e}");
        drop(tx);
        // Uploads that keep trickling take every slot; one more is refused after the timeout.
        let mut held = Vec::new();
        for _ in 0..MAX_CONCURRENT_UPLOADS {
            let (tx, rx) = tokio::sync::mpsc::channel(1);
            let feeder = tokio::spawn(async move {
                while tx.send(chunk(&h2(), 1 << 20, b"x")).await.is_ok() {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            });
            let mut c = c.clone();
            let call = tokio::spawn(async move {
                c.upload(tokio_stream::wrappers::ReceiverStream::new(rx))
                    .await
            });
            held.push((feeder, call));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let e = c
            .upload(tokio_stream::iter(vec![chunk(&h, 1, b"x")]))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::ResourceExhausted, "{e}");
        alive(&mut c).await;
        // Once they end, uploads are taken again (this one reaches the model loader).
        for (feeder, call) in held {
            feeder.abort();
            let r: Result<tonic::Response<UploadReply>, Status> = call.await.unwrap();
            assert_eq!(r.unwrap_err().code(), Code::DataLoss);
        }
        let e = c
            .upload(tokio_stream::iter(vec![chunk(&h, 1, b"x")]))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{e}");
    });
}

#[test]
fn frames_that_never_complete_are_failed_not_kept() {
    rt().block_on(async {
        let w = Worker::new("device");
        let (tx, mut results) = tokio::sync::mpsc::unbounded_channel();
        let halves = vec![[0, 2, 0, 4], [2, 4, 0, 4]];
        let mut d = deployment(vec![stitch("s", "device", [1, 1, 4, 4], halves)], vec![]);
        d.nodes.remove("edge0");
        let s = d.session;
        w.deploy(d, Some(tx)).unwrap();
        let half = HostTensor::f32(vec![1, 1, 2, 4], vec![1.0; 8]).unwrap();
        let extra = 10u64;
        // Only one half of each frame ever arrives.
        for frame in 0..MAX_WAITING as u64 + extra {
            w.publish(s, frame, "a", half.clone()).unwrap();
        }
        let mut failed = Vec::new();
        while let Ok(r) = results.try_recv() {
            let e = r.outputs.unwrap_err();
            assert!(e.contains("over 4096 frames waiting for inputs"), "{e}");
            failed.push(r.frame);
        }
        // The oldest frames failed, one per frame over the bound.
        assert_eq!(failed, (0..extra).collect::<Vec<_>>());
        // A frame that completes is still answered.
        let last = MAX_WAITING as u64 + extra - 1;
        w.publish(s, last, "b", half).unwrap();
        let r = tokio::time::timeout(T, results.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(r.frame, last);
        assert_eq!(r.outputs.unwrap()["y"].shape, vec![1, 1, 4, 4]);
    });
}

#[test]
fn every_frame_pushed_out_by_one_tensor_fails() {
    rt().block_on(async {
        let w = Worker::new("device");
        let (tx, mut results) = tokio::sync::mpsc::unbounded_channel();
        let halves = vec![[0, 2, 0, 4], [2, 4, 0, 4]];
        // Two parts read "a": one with "b", one with "c".
        let mut other = stitch("t", "device", [1, 1, 4, 4], halves.clone());
        other.inputs[1] = ("c".into(), "c".into());
        other.outputs = vec![("z".into(), "z".into())];
        let mut d = deployment(
            vec![stitch("s", "device", [1, 1, 4, 4], halves), other],
            vec![],
        );
        d.nodes.remove("edge0");
        d.outputs = vec!["y".into(), "z".into()];
        let s = d.session;
        w.deploy(d, Some(tx)).unwrap();
        let half = HostTensor::f32(vec![1, 1, 2, 4], vec![1.0; 8]).unwrap();
        // Frames waiting for one part each fill the bound...
        for frame in 0..MAX_WAITING as u64 {
            w.publish(s, frame, "b", half.clone()).unwrap();
        }
        // ...and one tensor of a new frame, read by both parts, pushes out the two oldest.
        w.publish(s, MAX_WAITING as u64, "a", half).unwrap();
        let mut failed = Vec::new();
        while let Ok(r) = results.try_recv() {
            assert!(r.outputs.is_err());
            failed.push(r.frame);
        }
        assert_eq!(failed, vec![0, 1]);
    });
}
