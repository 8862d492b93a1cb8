//! A node's emulated radio is shared by every link it sends on: an input sent to two edge nodes
//! at once takes twice as long over one 40 Mbit/s radio as over two 40 Mbit/s links of their
//! own, and both copies arrive whole.

mod common;

use common::{route, rt, T};

use std::collections::BTreeMap;
use std::time::Duration;
use tiersplit_exec::HostTensor;
use tiersplit_runtime::{
    ClusterDriver, Deployment, Emulation, LinkShape, PartSpec, SessionId, Work, Worker,
};
use tokio::net::TcpListener;
use tokio::time::Instant;

/// 1 x 1 x 1024 x 1024 float32: 4 MiB, 0.84 s at 40 Mbit/s.
const SIDE: usize = 1024;
const MBPS: f64 = 40.0;

/// The device sends `x` to edge0 and edge1, which each hand it back whole.
fn scatter() -> Deployment {
    let echo = |node: &str, out: &str| PartSpec {
        id: node.into(),
        node: node.into(),
        work: Work::Stitch {
            shape: [1, 1, SIDE, SIDE],
            regions: vec![[0, SIDE, 0, SIDE]],
        },
        inputs: vec![("x".into(), "x".into())],
        outputs: vec![("y".into(), out.into())],
    };
    Deployment {
        id: "scatter".into(),
        session: SessionId::NONE,
        first_frame: 0,
        nodes: Default::default(),
        parts: vec![echo("edge0", "y0"), echo("edge1", "y1")],
        routes: vec![
            route("x", "device", "edge0"),
            route("x", "device", "edge1"),
            route("y0", "edge0", "device"),
            route("y1", "edge1", "device"),
        ],
        sink: "device".into(),
        inputs: vec!["x".into()],
        outputs: vec!["y0".into(), "y1".into()],
        watch: Vec::new(),
    }
}

/// One frame of [`scatter`] with or without the device's radio: how long it took.
async fn one_frame(radio: bool) -> Duration {
    let mut peers = Vec::new();
    for name in ["edge0", "edge1"] {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        peers.push((name.to_string(), listener.local_addr().unwrap().to_string()));
        tokio::spawn(Worker::new(name).serve(listener));
    }
    let mut d = ClusterDriver::start("device", "127.0.0.1:0", &peers, T)
        .await
        .unwrap();
    let shape = |to: &str| LinkShape {
        from: "device".into(),
        to: to.into(),
        mbps: Some(MBPS),
        delay_ms: 1.0,
        cut: false,
    };
    let radios = match radio {
        true => BTreeMap::from([("device".to_string(), MBPS)]),
        false => BTreeMap::new(),
    };
    d.set_emulation(Emulation {
        links: vec![shape("edge0"), shape("edge1")],
        slowdown: BTreeMap::new(),
        radios,
    })
    .await
    .unwrap();
    d.deploy(&scatter(), &Default::default()).await.unwrap();
    let values: Vec<f32> = (0..SIDE * SIDE).map(|i| i as f32).collect();
    let x = HostTensor::f32(vec![1, 1, SIDE, SIDE], values.clone()).unwrap();
    let start = Instant::now();
    d.feed(&[("x".into(), x)]).unwrap();
    let mut r = d
        .next_result(Instant::now() + Duration::from_secs(30))
        .await
        .expect("answered");
    let took = start.elapsed();
    let outputs = r.outputs.as_mut().expect("no error");
    for y in ["y0", "y1"] {
        assert_eq!(outputs.remove(y).unwrap().to_f32(), values, "{y}");
    }
    took
}

#[test]
fn a_radio_is_shared_by_the_links_it_sends_on() {
    let upload = Duration::from_secs_f64((SIDE * SIDE * 4) as f64 * 8.0 / (MBPS * 1e6));
    let (own, shared) = rt().block_on(async { (one_frame(false).await, one_frame(true).await) });
    eprintln!("two 4 MiB uploads: {own:?} on links of their own, {shared:?} over one radio");
    // The shaper never sends faster than its rate: over one radio the two copies take at
    // least two uploads' time.
    assert!(shared >= upload * 2, "{shared:?}");
    // On links of their own they go side by side: well under two uploads.
    assert!(own < upload * 2 - Duration::from_millis(200), "{own:?}");
}
