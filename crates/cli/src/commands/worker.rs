use anyhow::{Context, Result};
use std::io::Write;
use std::process::ExitCode;
use tiersplit_runtime::Worker;

#[derive(clap::Args)]
pub struct Args {
    /// Address to listen on (port 0 picks a free port; the chosen address is printed).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: String,
    /// This node's name: it must match the node's name in the device's scenario.
    #[arg(long, default_value = "worker")]
    name: String,
    /// Serve the control plane over TLS with this PEM certificate chain (needs --tls-key).
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<std::path::PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<std::path::PathBuf>,
    /// Seconds to wait for the next frame of a request in progress.
    #[arg(long, default_value_t = 30)]
    io_timeout: u64,
}

pub fn run(a: Args) -> Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(&a.listen)
            .await
            .with_context(|| format!("cannot listen on {}", a.listen))?;
        println!("worker {} listening on {}", a.name, listener.local_addr()?);
        std::io::stdout().flush()?;
        let mut w = Worker::new(&a.name);
        if let (Some(cert), Some(key)) = (&a.tls_cert, &a.tls_key) {
            let read = |p: &std::path::Path| {
                std::fs::read(p).with_context(|| format!("reading {}", p.display()))
            };
            w = w.with_tls(read(cert)?, read(key)?);
        }
        w.io_timeout = std::time::Duration::from_secs(a.io_timeout);
        w.serve(listener).await.context("worker stopped")?;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
