//! What the runtime's integration tests share: a bound on every wait and a small runtime.

use std::time::Duration;

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
