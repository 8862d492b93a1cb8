//! A slow but progressing link is never cut: a 16 MiB tensor over an emulated 5 Mbit/s link
//! takes about 27 s, far longer than the 5 s bound on every network wait, and arrives whole,
//! because the bound is on inactivity, not on the whole transfer.

mod common;

use common::{route, rt};

use std::collections::BTreeMap;
use std::time::Duration;
use tiersplit_exec::HostTensor;
use tiersplit_runtime::{
    ClusterDriver, Deployment, Emulation, LinkShape, PartSpec, SessionId, Work, Worker,
};
use tokio::net::TcpListener;
use tokio::time::Instant;

/// 1 x 1 x 2048 x 2048 float32: 16 MiB.
const SIDE: usize = 2048;

/// The device sends `x` to edge0, which hands it back whole (a one-region stitch).
fn echo() -> Deployment {
    Deployment {
        id: "echo".into(),
        session: SessionId::NONE,
        first_frame: 0,
        nodes: Default::default(),
        parts: vec![PartSpec {
            id: "echo".into(),
            node: "edge0".into(),
            work: Work::Stitch {
                shape: [1, 1, SIDE, SIDE],
                regions: vec![[0, SIDE, 0, SIDE]],
            },
            inputs: vec![("x".into(), "x".into())],
            outputs: vec![("y".into(), "y".into())],
        }],
        routes: vec![route("x", "device", "edge0"), route("y", "edge0", "device")],
        sink: "device".into(),
        inputs: vec!["x".into()],
        outputs: vec!["y".into()],
        watch: Vec::new(),
    }
}

#[test]
fn sixteen_mebibytes_cross_a_five_megabit_link_whole() {
    rt().block_on(async {
        let bound = Duration::from_secs(5);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let mut edge0 = Worker::new("edge0");
        edge0.io_timeout = bound;
        tokio::spawn(edge0.serve(listener));
        let mut d = ClusterDriver::start("device", "127.0.0.1:0", &[("edge0".into(), addr)], bound)
            .await
            .unwrap();
        d.set_emulation(Emulation {
            links: vec![LinkShape {
                from: "device".into(),
                to: "edge0".into(),
                mbps: Some(5.0),
                delay_ms: 5.0,
                cut: false,
            }],
            slowdown: BTreeMap::new(),
            radios: BTreeMap::new(),
        })
        .await
        .unwrap();
        d.deploy(&echo(), &Default::default()).await.unwrap();
        let values: Vec<f32> = (0..SIDE * SIDE).map(|i| i as f32).collect();
        let x = HostTensor::f32(vec![1, 1, SIDE, SIDE], values.clone()).unwrap();
        let start = Instant::now();
        d.feed(&[("x".into(), x)]).unwrap();
        let r = d
            .next_result(Instant::now() + Duration::from_secs(90))
            .await
            .expect("answered");
        let took = start.elapsed();
        let y = r.outputs.expect("no error").remove("y").unwrap();
        assert_eq!(y.to_f32(), values);
        // 16 MiB at 5 Mbit/s is 26.8 s: it really crawled, far past the 5 s bound.
        eprintln!("16 MiB over 5 Mbit/s in {took:?}");
        assert!(took > Duration::from_secs(20), "{took:?}");
    });
}
