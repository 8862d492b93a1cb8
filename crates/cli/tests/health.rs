//! Node health seen from the device, on real worker processes: one killed with SIGKILL is down
//! within a second; one stopped with SIGSTOP (hung: its sockets open, nothing answering) is
//! down within two seconds and up again after SIGCONT.

mod common;

use common::spawn_worker;
use std::time::Duration;
use tiersplit_runtime::{ClusterDriver, NodeHealth};
use tokio::time::Instant;

fn signal(child: &std::process::Child, sig: &str) {
    let ok = std::process::Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig}");
}

/// How long from now until `node` is as `up` says (None: not within `limit`).
async fn until(driver: &ClusterDriver, node: &str, up: bool, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if driver.health().get(node).map(NodeHealth::is_up) == Some(up) {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_node_is_down_within_a_second_and_a_hung_one_within_two() {
    let (mut killed, killed_addr) = spawn_worker("edge0", &[]);
    let (mut hung, hung_addr) = spawn_worker("edge1", &[]);
    let remotes = vec![
        ("edge0".to_string(), killed_addr),
        ("edge1".to_string(), hung_addr),
    ];
    let driver = ClusterDriver::start("device", "127.0.0.1:0", &remotes, Duration::from_secs(10))
        .await
        .unwrap();
    // Both up after a few heartbeats.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(driver.health().values().all(NodeHealth::is_up));

    signal(&killed, "-KILL");
    let seen = until(&driver, "edge0", false, Duration::from_secs(5)).await;
    let seen = seen.expect("the killed node was never seen down");
    eprintln!("SIGKILL seen after {seen:?}");
    assert!(seen < Duration::from_secs(1), "{seen:?}");
    let down = driver.down_nodes();
    assert_eq!(down.len(), 1, "{down:?}");
    assert!(down[0].1.contains("refused"), "{down:?}");
    assert!(driver.health()["edge1"].is_up());

    signal(&hung, "-STOP");
    let seen = until(&driver, "edge1", false, Duration::from_secs(5)).await;
    signal(&hung, "-CONT");
    let seen = seen.expect("the stopped node was never seen down");
    eprintln!("SIGSTOP seen after {seen:?}");
    assert!(seen < Duration::from_secs(2), "{seen:?}");
    let back = until(&driver, "edge1", true, Duration::from_secs(5)).await;
    eprintln!("SIGCONT: up again after {back:?}");
    assert!(back.is_some(), "the resumed node stayed down");
    assert!(!driver.health()["edge0"].is_up());

    let _ = killed.wait();
    let _ = hung.kill();
    let _ = hung.wait();
}
