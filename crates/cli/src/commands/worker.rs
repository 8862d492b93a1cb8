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
    /// Speak mutual TLS on both planes with the certificates in this directory (`tiersplit
    /// certs`): NAME.pem and NAME.key for this node, ca.pem for its peers. Plaintext is refused.
    #[arg(long)]
    certs: Option<std::path::PathBuf>,
    /// Seconds a request or frame in progress may pause before the node gives up on it.
    #[arg(long, default_value_t = 30)]
    io_timeout: u64,
    /// Megabytes of models (ONNX size) the node keeps loaded; past it, the least recently
    /// used models no deployment runs are dropped, and uploads that still do not fit are
    /// refused.
    #[arg(long, default_value_t = tiersplit_runtime::MODEL_BUDGET >> 20)]
    model_budget_mb: u64,
    #[command(flatten)]
    engine: crate::engine_args::EngineArgs,
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
        let engine = a.engine.spec()?;
        let executor = engine.executor()?;
        // One line, the address last: local clusters read it and then close the pipe.
        println!(
            "worker {} ({engine}) listening on {}",
            a.name,
            listener.local_addr()?
        );
        std::io::stdout().flush()?;
        let budget = a
            .model_budget_mb
            .checked_mul(1 << 20)
            .context("--model-budget-mb is too large")?;
        let mut w = Worker::with_executor(&a.name, executor).with_model_budget(budget);
        if let Some(dir) = &a.certs {
            w = w.with_identity(&tiersplit_session::certs::read_identity(dir, &a.name)?)?;
        }
        w.io_timeout = std::time::Duration::from_secs(a.io_timeout);
        w.serve(listener).await.context("worker stopped")?;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
