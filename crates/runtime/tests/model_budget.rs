//! A node's model cache within its byte budget, with real (tiny) ONNX models: unused models are
//! evicted to make room, models a deployment runs are not, and a device whose model a node
//! evicted uploads it again, because it asks the node what it holds rather than trusting its
//! own record.

mod common;

use common::{rt, T};

use prost::Message;
use std::collections::HashMap;
use tiersplit_exec::{Executor, HostTensor, TractExecutor};
use tiersplit_runtime::{
    ClusterDriver, Deployment, ModelHash, NodeError, PartSpec, Route, SessionId, Work, Worker,
};
use tokio::net::TcpListener;
use tokio::time::Instant;

/// A one-convolution model, different weights per seed.
fn tiny(seed: u64) -> Vec<u8> {
    let mut b = tiersplit_zoo::NetBuilder::new("tiny", seed);
    let x = b.input("x", &[1, 3, 8, 8]);
    let y = b.conv(&x, 4, 3, 1, 1, 1, true);
    b.finish(std::slice::from_ref(&y)).encode_to_vec()
}

/// The model of `hash` on edge0, fed by the device and answering it.
fn on_edge0(hash: &ModelHash, input: &str, output: &str) -> Deployment {
    let route = |t: &str, from: &str, to: &str| Route {
        tensor: t.into(),
        from: from.into(),
        to: to.into(),
        crop: None,
        deliver_as: t.into(),
    };
    Deployment {
        id: "tiny".into(),
        session: SessionId::NONE,
        first_frame: 0,
        nodes: Default::default(),
        parts: vec![PartSpec {
            id: "conv".into(),
            node: "edge0".into(),
            work: Work::Model { hash: hash.clone() },
            inputs: vec![("x".into(), input.into())],
            outputs: vec![(output.into(), "y".into())],
        }],
        routes: vec![route("x", "device", "edge0"), route("y", "edge0", "device")],
        sink: "device".into(),
        inputs: vec!["x".into()],
        outputs: vec!["y".into()],
        watch: Vec::new(),
    }
}

#[test]
fn evicted_models_are_uploaded_again_and_models_in_use_stay() {
    let (m1, m2) = (tiny(1), tiny(2));
    let (h1, h2) = (ModelHash::of(&m1), ModelHash::of(&m2));
    let one_model = m1.len().max(m2.len()) as u64;
    let names = {
        let m = TractExecutor::default().load(&m1, &[]).unwrap();
        (m.input_names()[0].clone(), "y".to_string())
    };
    let x = HostTensor::f32(
        vec![1, 3, 8, 8],
        (0..192).map(|i| i as f32 / 64.0).collect(),
    )
    .unwrap();
    let want = TractExecutor::default()
        .load(&m1, &[])
        .unwrap()
        .run(vec![x.clone()])
        .unwrap();
    rt().block_on(async {
        let edge0 = Worker::new("edge0").with_model_budget(one_model);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(edge0.clone().serve(listener));
        // The device uploads and runs m1.
        let remotes = [("edge0".to_string(), addr)];
        let mut d = ClusterDriver::start("device", "127.0.0.1:0", &remotes, T)
            .await
            .unwrap();
        let models: HashMap<_, _> = [(h1.clone(), m1.clone())].into();
        let dep = on_edge0(&h1, &names.0, &names.1);
        assert_eq!(d.deploy(&dep, &models).await.unwrap(), 0);
        // While a deployment runs m1, m2 does not fit: refused, m1 kept.
        let e = edge0.add_model(&m2).unwrap_err();
        assert!(matches!(e, NodeError::Busy(_)), "{e}");
        assert!(edge0.has_model(&h1));
        // Once nothing runs m1 (a deployment from frame 0 without it replaces the device's),
        // m2 takes its place.
        let mut bare = dep.clone();
        bare.parts.clear();
        bare.routes.clear();
        bare.outputs.clear();
        bare.nodes = d.addresses();
        bare.session = d.session();
        edge0.deploy(bare, None).unwrap();
        edge0.add_model(&m2).unwrap();
        assert!(edge0.has_model(&h2) && !edge0.has_model(&h1));
        // The device deploys m1 again: the node says it lacks it, so it is sent again.
        assert_eq!(d.deploy(&dep, &models).await.unwrap(), 0);
        assert!(edge0.has_model(&h1) && !edge0.has_model(&h2));
        let frame = d.feed(&[("x".into(), x)]).unwrap();
        let r = d.next_result(Instant::now() + T).await.unwrap();
        assert_eq!(r.frame, frame);
        assert_eq!(r.outputs.unwrap()["y"], want[0]);
    });
}

#[test]
fn a_model_that_would_read_the_nodes_files_is_refused() {
    use tiersplit_onnx::proto::StringStringEntryProto;
    let mut b = tiersplit_zoo::NetBuilder::new("tiny", 1);
    let x = b.input("x", &[1, 3, 8, 8]);
    let y = b.conv(&x, 4, 3, 1, 1, 1, true);
    let mut m = b.finish(std::slice::from_ref(&y));
    let w = &mut m.graph.as_mut().unwrap().initializer[0];
    w.raw_data.clear();
    w.float_data.clear();
    w.data_location = 1;
    w.external_data = vec![StringStringEntryProto {
        key: "location".into(),
        value: "certs/edge0.key".into(),
    }];
    let e = Worker::new("edge0")
        .add_model(&m.encode_to_vec())
        .unwrap_err();
    assert!(matches!(e, NodeError::Invalid(_)), "{e}");
    assert!(e.to_string().contains("external file"), "{e}");
}
