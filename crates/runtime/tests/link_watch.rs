//! Links are watched on the data plane: each ping's round trip is logged, the emulated delays
//! included; a link the emulation cuts is reported cut within about a second while both its
//! ends keep answering heartbeats, tensors wait on it rather than vanish, and it is up again
//! soon after it is mended.

mod common;

use common::{round_trip, rt, T};
use std::collections::BTreeMap;
use std::time::Duration;
use tiersplit_exec::HostTensor;
use tiersplit_runtime::{
    ClusterDriver, CutLink, Emulation, LinkShape, Observation, Worker, DEAD_AFTER,
};
use tokio::net::TcpListener;
use tokio::time::Instant;

fn emulation(cut: bool) -> Emulation {
    let shape = |from: &str, to: &str| LinkShape {
        from: from.into(),
        to: to.into(),
        mbps: Some(100.0),
        delay_ms: 1.0,
        cut,
    };
    Emulation {
        links: vec![shape("device", "edge0"), shape("edge0", "device")],
        slowdown: BTreeMap::new(),
        radios: BTreeMap::new(),
    }
}

/// Polls `cut_links` until `done` holds of them, within `limit`; how long it took.
async fn until(
    d: &ClusterDriver,
    limit: Duration,
    done: impl Fn(&[CutLink]) -> bool,
) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if done(&d.cut_links()) {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

#[test]
fn a_cut_link_is_seen_held_and_mended() {
    rt().block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let peers = vec![(
            "edge0".to_string(),
            listener.local_addr().unwrap().to_string(),
        )];
        tokio::spawn(Worker::new("edge0").serve(listener));
        let mut d = ClusterDriver::start("device", "127.0.0.1:0", &peers, T)
            .await
            .unwrap();
        d.watch_links(vec![
            ("device".into(), "edge0".into()),
            ("edge0".into(), "device".into()),
        ]);
        d.set_emulation(emulation(false)).await.unwrap();
        d.deploy(&round_trip("device"), &Default::default())
            .await
            .unwrap();
        // Watched and up: nothing cut for a while.
        let cut = until(&d, Duration::from_millis(1500), |c| !c.is_empty()).await;
        assert_eq!(cut, None, "{:?}", d.cut_links());
        // Each end timed its pings: 1 ms of emulated delay each way, plus loopback's own.
        let mut least: BTreeMap<String, u64> = BTreeMap::new();
        for o in d.observe().await.unwrap() {
            for r in o.records {
                if let Observation::RoundTrip(x) = r {
                    let e = least
                        .entry(format!("{}->{}", o.node, x.to))
                        .or_insert(u64::MAX);
                    *e = (*e).min(x.micros);
                }
            }
        }
        assert_eq!(least.len(), 2, "{least:?}");
        for (link, micros) in &least {
            assert!((2000..4000).contains(micros), "{link}: {micros} µs");
        }

        let half = |v: f32| HostTensor::f32(vec![1, 1, 2, 4], vec![v; 8]).unwrap();
        let inputs = [("a".to_string(), half(1.0)), ("b".to_string(), half(2.0))];
        d.set_emulation(emulation(true)).await.unwrap();
        let cut_at = Instant::now();
        let frame = d.feed(&inputs).unwrap();
        let both = |c: &[CutLink]| c.len() == 2;
        let seen = until(&d, Duration::from_secs(5), both)
            .await
            .expect("cut seen");
        assert!(seen >= DEAD_AFTER, "seen after {seen:?}");
        assert!(seen < DEAD_AFTER + Duration::from_millis(1000), "{seen:?}");
        let links = d.cut_links();
        assert!(links[0].cause.contains("no answer to pings"), "{links:?}");
        // The frame waits on the cut link: neither answered nor failed.
        let waited = d
            .next_result(Instant::now() + Duration::from_millis(200))
            .await;
        assert!(waited.is_none(), "{waited:?}");

        d.set_emulation(emulation(false)).await.unwrap();
        let mended = until(&d, Duration::from_secs(3), |c| c.is_empty()).await;
        assert!(mended.expect("mended") < Duration::from_millis(1000));
        // What waited crosses once the link carries again.
        let r = d.next_result(Instant::now() + T).await.expect("answered");
        assert_eq!(r.frame, frame);
        assert!(r.outputs.is_ok(), "{:?}", r.outputs.err());
        assert!(cut_at.elapsed() > seen);
    });
}
