//! Leases: a device's heartbeats renew its session on every node; once the device is gone
//! (its driver dropped, as when its process dies) the node drops the session, its deployments
//! with it, as soon as the lease runs out, and not before.

mod common;

use common::{round_trip, rt, T};

use std::time::Duration;
use tiersplit_exec::HostTensor;
use tiersplit_runtime::tls::ClusterCa;
use tiersplit_runtime::{node_status, ClusterDriver, HealthConfig, Worker};
use tokio::net::TcpListener;
use tokio::time::Instant;

#[test]
fn a_dead_devices_session_is_dropped_when_its_lease_runs_out() {
    rt().block_on(async {
        let ca = ClusterCa::generate().unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let w = Worker::new("edge0")
            .with_identity(&ca.issue("edge0").unwrap())
            .unwrap();
        tokio::spawn(w.serve(listener));
        let id = ca.issue("device").unwrap();
        let remotes = [("edge0".to_string(), addr.clone())];
        let mut d = ClusterDriver::start_tls("device", "127.0.0.1:0", &remotes, T, Some(&id))
            .await
            .unwrap();
        let lease = Duration::from_millis(1500);
        d.watch_health(HealthConfig {
            lease,
            ..HealthConfig::default()
        });
        d.deploy(&round_trip("device"), &Default::default())
            .await
            .unwrap();
        let half = HostTensor::f32(vec![1, 1, 2, 4], vec![1.0; 8]).unwrap();
        d.feed(&[("a".into(), half.clone()), ("b".into(), half)])
            .unwrap();
        let answer = d.next_result(Instant::now() + T).await.unwrap();
        assert!(answer.outputs.is_ok(), "{:?}", answer.outputs.err());
        let held = || async { node_status("edge0", &addr, Some(&id), T).await.unwrap() };
        let s = held().await;
        assert_eq!((s.sessions, s.deployments), (1, 1), "{s:?}");
        // Renewed by the heartbeats: still there well past one lease.
        tokio::time::sleep(lease * 2).await;
        let s = held().await;
        assert_eq!((s.sessions, s.deployments), (1, 1), "{s:?}");
        // The device dies: its heartbeats stop.
        drop(d);
        let died = Instant::now();
        loop {
            let s = held().await;
            if s.sessions == 0 {
                assert_eq!(s.deployments, 0);
                break;
            }
            assert!(died.elapsed() < lease * 3, "still held: {s:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let gone = died.elapsed();
        assert!(
            gone >= lease - Duration::from_millis(300),
            "dropped after {gone:?}"
        );
        eprintln!("session dropped {gone:?} after the device's last heartbeat");
    });
}
