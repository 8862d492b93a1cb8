//! What adaptation reads from a running cluster, over real loopback sockets: probes of an idle
//! link measured chunk by chunk at the emulated rate, a rate changed live by the driver (as a
//! trace does) showing in the next samples, and the observation cursor returning each record
//! once; and a link the runtime does not shape (a pacing proxy between the nodes stands for
//! the kernel's shaping or a real network) timed where its bytes arrive. Every wait is under a
//! timeout.

mod common;

use common::{rt, T};

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tiersplit_runtime::{
    ClusterDriver, Deployment, Emulation, LinkShape, Observation, Observations, SessionId, Worker,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn shaped(mbps: f64) -> Emulation {
    Emulation {
        links: vec![LinkShape {
            from: "device".into(),
            to: "edge0".into(),
            mbps: Some(mbps),
            delay_ms: 1.0,
            cut: false,
        }],
        slowdown: BTreeMap::new(),
        radios: BTreeMap::new(),
    }
}

/// A deployment with no parts: only the node table, so the device can reach edge0.
fn node_table() -> Deployment {
    Deployment {
        id: "probe".into(),
        session: Default::default(),
        first_frame: 0,
        nodes: Default::default(),
        parts: vec![],
        routes: vec![],
        sink: "device".into(),
        inputs: vec![],
        outputs: vec![],
        watch: Vec::new(),
    }
}

/// Bytes and Mbit/s of the probe samples device -> edge0 among `obs`.
fn probe_rate(obs: &[Observations]) -> (u64, f64) {
    let (mut bytes, mut micros) = (0u64, 0u64);
    for o in obs.iter().filter(|o| o.node == "device") {
        for r in &o.records {
            if let Observation::Transfer(x) = r {
                assert!(x.probe && x.to == "edge0", "{x:?}");
                bytes += x.bytes;
                micros += x.micros;
            }
        }
    }
    (bytes, bytes as f64 * 8.0 / micros.max(1) as f64)
}

async fn wait_for_probes(d: &mut ClusterDriver, bytes: u64) -> Vec<Observations> {
    let deadline = tokio::time::Instant::now() + T;
    let mut all = Vec::new();
    loop {
        all.extend(d.observe().await.unwrap());
        if probe_rate(&all).0 >= bytes {
            return all;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "probe not measured in time"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[test]
fn probes_measure_the_emulated_rate_and_follow_a_live_change() {
    rt().block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(Worker::new("edge0").serve(listener));
        let mut d = ClusterDriver::start("device", "127.0.0.1:0", &[("edge0".into(), addr)], T)
            .await
            .unwrap();
        let dep = node_table();
        d.set_emulation(shaped(40.0)).await.unwrap();
        d.deploy(&dep, &Default::default()).await.unwrap();
        assert!(d
            .observe()
            .await
            .unwrap()
            .iter()
            .all(|o| o.records.is_empty()));

        // 256 KiB at 40 Mbit/s: sixteen 16 KiB chunks of about 3 ms each, in samples of 20 ms
        // or more.
        d.probe("device", "edge0", 256 << 10).await.unwrap();
        let obs = wait_for_probes(&mut d, 256 << 10).await;
        let (n, mbps) = probe_rate(&obs);
        assert_eq!(n, 256 << 10);
        assert!((mbps / 40.0 - 1.0).abs() < 0.2, "{mbps} Mbit/s");
        // The sender shapes this link: its receiver does not time it a second time.
        assert!(!obs.iter().any(|o| o
            .records
            .iter()
            .any(|r| matches!(r, Observation::Arrival(_)))));
        // Read once: the cursor moved past them.
        assert_eq!(probe_rate(&d.observe().await.unwrap()).0, 0);

        // The link collapses to 4 Mbit/s while the cluster runs.
        d.set_emulation(shaped(4.0)).await.unwrap();
        d.probe("device", "edge0", 64 << 10).await.unwrap();
        let (n, mbps) = probe_rate(&wait_for_probes(&mut d, 64 << 10).await);
        assert_eq!(n, 64 << 10);
        assert!((mbps / 4.0 - 1.0).abs() < 0.2, "{mbps} Mbit/s");

        // Bad requests are refused with the reason.
        let e = d.probe("device", "nowhere", 1024).await.unwrap_err();
        assert!(e.to_string().contains("cannot probe 'nowhere'"), "{e}");
        let e = d.probe("edge0", "device", 1 << 30).await.unwrap_err();
        assert!(e.to_string().contains("must be 1 to"), "{e}");
        let mut bad = shaped(4.0);
        bad.slowdown.insert("edge0".into(), 0.5);
        let e = d.set_emulation(bad).await.unwrap_err();
        assert!(e.to_string().contains("slowdown of node 'edge0'"), "{e}");
    });
}

#[test]
fn two_switches_before_the_next_frame_keep_the_frames_in_flight_on_their_plan() {
    rt().block_on(async {
        let w = Worker::new("device");
        let dep = |id: &str, first: u64| Deployment {
            id: id.into(),
            session: Default::default(),
            first_frame: first,
            nodes: [("device".to_string(), "127.0.0.1:1".to_string())].into(),
            parts: vec![],
            routes: vec![],
            sink: "device".into(),
            inputs: vec![],
            outputs: vec![],
            watch: Vec::new(),
        };
        let t = tiersplit_exec::HostTensor::f32(vec![1], vec![0.0]).unwrap();
        w.deploy(dep("a", 1), None).unwrap();
        // A quick plan from frame 5, then its refinement from frame 5 too: frame 4, still in
        // flight on the first plan, must keep it.
        w.deploy(dep("quick", 5), None).unwrap();
        w.deploy(dep("refined", 5), None).unwrap();
        w.publish(SessionId::NONE, 4, "x", t.clone()).unwrap();
        w.publish(SessionId::NONE, 5, "x", t.clone()).unwrap();
        // A new run from frame 0 replaces them all.
        w.deploy(dep("again", 0), None).unwrap();
        w.publish(SessionId::NONE, 4, "x", t).unwrap();
        assert_eq!(
            w.stats(SessionId::NONE).unwrap().deployment.as_str(),
            "again"
        );
    });
}

/// A TCP proxy to `to` that carries what its clients send at `bits_per_s` (read as it paces,
/// so the sender's socket buffers fill and its writes wait, as under the kernel's shaping) and
/// what `to` answers unpaced. Returns its address.
async fn pacing_proxy(to: String, bits_per_s: Arc<AtomicU64>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = TcpStream::connect(&to).await else {
                continue;
            };
            let (mut cr, mut cw) = client.into_split();
            let (mut sr, mut sw) = server.into_split();
            tokio::spawn(async move { tokio::io::copy(&mut sr, &mut cw).await });
            let rate = bits_per_s.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4 << 10];
                let mut due = tokio::time::Instant::now();
                loop {
                    let n = match cr.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    let bits = rate.load(Ordering::Relaxed) as f64;
                    // Paced from when the bytes are due, not from when the timer woke (up to
                    // a millisecond late), unless the link was idle.
                    let now = tokio::time::Instant::now();
                    if due + Duration::from_millis(10) < now {
                        due = now;
                    }
                    due += Duration::from_secs_f64(n as f64 * 8.0 / bits);
                    tokio::time::sleep_until(due).await;
                    if sw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

/// Bytes and Mbit/s of the arrival samples of probes device -> edge0 among `obs`.
fn arrival_rate(obs: &[Observations]) -> (u64, f64) {
    let (mut bytes, mut micros) = (0u64, 0u64);
    for o in obs {
        for r in &o.records {
            match r {
                Observation::Arrival(x) => {
                    assert!(o.node == "edge0" && x.from == "device" && x.probe, "{x:?}");
                    bytes += x.bytes;
                    micros += x.micros;
                }
                Observation::Transfer(x) => panic!("a sender timed an unshaped link: {x:?}"),
                Observation::Part(_) | Observation::RoundTrip(_) => {}
            }
        }
    }
    (bytes, bytes as f64 * 8.0 / micros.max(1) as f64)
}

#[test]
fn a_link_shaped_outside_the_runtime_is_timed_where_its_bytes_arrive() {
    rt().block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let edge0 = listener.local_addr().unwrap().to_string();
        tokio::spawn(Worker::new("edge0").serve(listener));
        let rate = Arc::new(AtomicU64::new(20_000_000));
        let proxy = pacing_proxy(edge0, rate.clone()).await;
        let mut d = ClusterDriver::start("device", "127.0.0.1:0", &[("edge0".into(), proxy)], T)
            .await
            .unwrap();
        let dep = node_table();
        // Delays only, as in testbed mode: the runtime leaves the rate to the path.
        let mut delays = shaped(1.0);
        delays.links[0].mbps = None;
        d.set_emulation(delays).await.unwrap();
        d.deploy(&dep, &Default::default()).await.unwrap();
        d.observe().await.unwrap();

        for (mbps, bytes) in [(20.0, 1u64 << 20), (4.0, 256 << 10)] {
            // The last probe's tail lands first: its samples are not this one's.
            tokio::time::sleep(Duration::from_millis(300)).await;
            d.observe().await.unwrap();
            rate.store((mbps * 1e6) as u64, Ordering::Relaxed);
            d.probe("device", "edge0", bytes).await.unwrap();
            let deadline = tokio::time::Instant::now() + T;
            let mut all = Vec::new();
            // All but what the first read took (it waited in the socket, untimed) and a last
            // blink too short to time: a few KiB here, as the proxy writes 4 KiB at a time.
            while arrival_rate(&all).0 < bytes - (64 << 10) {
                assert!(tokio::time::Instant::now() < deadline, "probe not timed");
                tokio::time::sleep(Duration::from_millis(20)).await;
                all.extend(d.observe().await.unwrap());
            }
            let (_, measured) = arrival_rate(&all);
            println!("a {mbps} Mbit/s path timed at {measured:.2} Mbit/s where it arrives");
            assert!(
                (measured / mbps - 1.0).abs() < 0.15,
                "{measured} Mbit/s timed on a {mbps} Mbit/s path"
            );
        }
    });
}
