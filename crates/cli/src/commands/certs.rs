//! `tiersplit certs`: a cluster CA and node certificates for mutual TLS, two commands away.

use anyhow::Result;
use std::path::PathBuf;
use std::process::ExitCode;
use tiersplit_session::certs;

#[derive(clap::Subcommand)]
pub enum CertsCommand {
    /// Create the cluster's certificate authority in DIR (ca.pem, and ca.key: keep it off the
    /// nodes).
    Init {
        /// Where the cluster's certificates live.
        #[arg(long, default_value = "certs")]
        dir: PathBuf,
        /// Replace an existing CA (every certificate it signed stops being trusted).
        #[arg(long)]
        force: bool,
    },
    /// Issue node NAME (its name in the scenario) a certificate of the CA in DIR: NAME.pem and
    /// NAME.key, which the node serves with and the device dials it by.
    Issue {
        /// The node's name in the scenario.
        name: String,
        /// Where the cluster's certificates live.
        #[arg(long, default_value = "certs")]
        dir: PathBuf,
    },
}

pub fn run(c: CertsCommand) -> Result<ExitCode> {
    match c {
        CertsCommand::Init { dir, force } => {
            let cert = certs::init_ca(&dir, force)?;
            println!(
                "cluster CA written: {} (and ca.key beside it)",
                cert.display()
            );
        }
        CertsCommand::Issue { name, dir } => {
            let (cert, key) = certs::issue(&dir, &name)?;
            println!(
                "node {name}: certificate {}, key {}",
                cert.display(),
                key.display()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
