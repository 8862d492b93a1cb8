//! CPU time of the calling thread, for emulating slower machines on a shared one.
//!
//! std has no thread CPU clock; this reads POSIX `CLOCK_THREAD_CPUTIME_ID` through libc (the
//! one unsafe call in the crate). Where that clock is missing it falls back to wall time.

use std::time::{Duration, Instant};

/// A point on the calling thread's CPU clock.
pub(crate) struct ThreadCpuTime {
    cpu: Option<Duration>,
    wall: Instant,
}

#[allow(unsafe_code)] // clock_gettime has no safe wrapper in libc
fn thread_cpu() -> Option<Duration> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    (rc == 0).then(|| Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
}

impl ThreadCpuTime {
    pub(crate) fn now() -> ThreadCpuTime {
        ThreadCpuTime {
            cpu: thread_cpu(),
            wall: Instant::now(),
        }
    }

    /// CPU time the calling thread (which must be the one that called `now`) used since.
    pub(crate) fn elapsed(&self) -> Duration {
        match (self.cpu, thread_cpu()) {
            (Some(a), Some(b)) if b >= a => b - a,
            _ => self.wall.elapsed(),
        }
    }
}
