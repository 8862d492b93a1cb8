use anyhow::{Context, Result};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum ZooCommand {
    /// List the built-in models.
    List,
    /// Write a zoo model as ONNX.
    Export {
        name: String,
        #[arg(short, long)]
        output: PathBuf,
        /// Seed of the random weights.
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
}

pub fn run(c: ZooCommand) -> Result<ExitCode> {
    match c {
        ZooCommand::List => {
            for e in tiersplit_zoo::ZOO {
                println!("{:<12} input {:?}  {}", e.name, e.input, e.description);
            }
        }
        ZooCommand::Export { name, output, seed } => {
            let bytes = tiersplit_zoo::build_bytes(&name, seed)?;
            std::fs::write(&output, &bytes)
                .with_context(|| format!("writing {}", output.display()))?;
            println!("wrote {} ({} bytes)", output.display(), bytes.len());
        }
    }
    Ok(ExitCode::SUCCESS)
}
