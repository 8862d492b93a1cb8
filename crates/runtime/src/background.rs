//! Work that must not slow inference (re-planning, writing the next plan's sub-models) on a
//! thread of its own at the lowest scheduling priority: on a machine whose cores also run
//! parts, the engine threads then get the cores first and the adaptation waits.

use tokio::sync::oneshot;

/// Runs `f` on a new low-priority thread and waits for its result without blocking the async
/// threads. Errors only if `f` panicked.
pub async fn in_background<T, F>(f: F) -> Result<T, String>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let (tx, rx) = oneshot::channel();
    std::thread::Builder::new()
        .name("tiersplit-background".into())
        .spawn(move || {
            lower_priority();
            let _ = tx.send(f());
        })
        .map_err(|e| format!("cannot start a background thread: {e}"))?;
    rx.await
        .map_err(|_| "the background work panicked".to_string())
}

/// Nice 19 for the calling thread (Linux schedules threads by their own nice value); a
/// failure leaves it at normal priority, which is only slower for the others.
#[allow(unsafe_code)] // setpriority and gettid have no safe wrapper in libc
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: plain system calls on the calling thread's own id.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, 19);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returns_the_result_and_reports_a_panic() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        assert_eq!(rt.block_on(in_background(|| 6 * 7)), Ok(42));
        let e = rt
            .block_on(in_background(|| -> u8 { panic!("boom") }))
            .unwrap_err();
        assert!(e.contains("panicked"), "{e}");
    }
}
