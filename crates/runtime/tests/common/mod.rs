//! What the runtime's integration tests share: a bound on every wait, a small runtime and a
//! deployment that uses both directions of the data plane.
#![allow(dead_code)]

use std::time::Duration;
use tiersplit_runtime::{Deployment, PartSpec, Route, SessionId, Work};

/// Bound on every network wait in the tests.
pub const T: Duration = Duration::from_secs(10);

/// A two-thread runtime, as on the 2-core machines the project runs on.
pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Tensor `t` sent whole from `from` to `to`, under its own name.
pub fn route(t: &str, from: &str, to: &str) -> Route {
    Route {
        tensor: t.into(),
        from: from.into(),
        to: to.into(),
        crop: None,
        deliver_as: t.into(),
    }
}

/// `device` sends two halves to edge0, which stitches them and sends the map back.
pub fn round_trip(device: &str) -> Deployment {
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
            route("a", device, "edge0"),
            route("b", device, "edge0"),
            route("y", "edge0", device),
        ],
        sink: device.into(),
        inputs: vec!["a".into(), "b".into()],
        outputs: vec!["y".into()],
        watch: Vec::new(),
    }
}
