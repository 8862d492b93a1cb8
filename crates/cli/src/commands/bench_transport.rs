use anyhow::{Context, Result};
use std::process::ExitCode;
use std::time::{Duration, Instant};
use tiersplit_graph::DType;
use tiersplit_net::{read_frame, write_frame, Frame, Limits};
use tokio::net::{TcpListener, TcpStream};

const T: Duration = Duration::from_secs(30);

/// Sends `count` tensors of `mb` megabytes over one loopback TCP connection between two
/// threads of this process and reports the rate from first byte sent to last byte received.
pub fn run(mb: usize, count: usize) -> Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let receiver = tokio::spawn(async move {
            let (mut s, _) = tokio::time::timeout(T, listener.accept()).await.context("accept timed out")??;
            s.set_nodelay(true)?;
            let mut bytes = 0usize;
            let mut done = Instant::now();
            while let Some(f) = read_frame(&mut s, Limits::default(), T).await? {
                bytes += f.payload.len();
                done = Instant::now();
            }
            anyhow::Ok((bytes, done))
        });
        let mut c = tokio::time::timeout(T, TcpStream::connect(addr)).await.context("connect timed out")??;
        c.set_nodelay(true)?;
        let payload = vec![7u8; mb << 20];
        let frames: Vec<Frame> = (0..count).map(|i| Frame::tensor(i as u64, "activation", DType::U8, vec![payload.len() as u64], payload.clone())).collect();
        let start = Instant::now();
        for f in &frames {
            write_frame(&mut c, f, T).await?;
        }
        drop(c);
        let (bytes, done) = tokio::time::timeout(T, receiver).await.context("receiver timed out")???;
        let secs = done.duration_since(start).as_secs_f64();
        println!(
            "loopback TCP, raw frames: {count} x {mb} MiB = {:.1} MiB in {:.1} ms: {:.2} GB/s ({:.2} GiB/s) per hop",
            bytes as f64 / (1 << 20) as f64,
            secs * 1e3,
            bytes as f64 / secs / 1e9,
            bytes as f64 / secs / (1u64 << 30) as f64
        );
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
