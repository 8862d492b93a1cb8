//! `tiersplit status`: what each node of a scenario that runs elsewhere holds now (its engine,
//! the devices' sessions and their deployments), so an operator sees that a dead device's
//! session is gone once its lease ran out.

use anyhow::{bail, Result};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use tiersplit_session::{certs, Setting};

#[derive(clap::Args)]
pub struct Args {
    /// Scenario TOML: every node with an `address` is asked.
    #[arg(long)]
    scenario: PathBuf,
    /// Ask over mutual TLS with the device's certificate in this directory (`tiersplit
    /// certs`); without it, in plaintext.
    #[arg(long)]
    certs: Option<PathBuf>,
    /// Seconds to wait for each node.
    #[arg(long, default_value_t = 5)]
    timeout: u64,
}

pub fn run(a: Args) -> Result<ExitCode> {
    let setting = Setting::read(&a.scenario)?;
    let tls = match &a.certs {
        Some(dir) => Some(certs::read_identity(dir, setting.device_name()?)?),
        None => None,
    };
    let nodes: Vec<(String, String)> = setting
        .scenario
        .nodes
        .iter()
        .filter_map(|n| Some((n.name.clone(), n.address.clone()?)))
        .collect();
    if nodes.is_empty() {
        bail!("no node of {} has an address to ask", a.scenario.display());
    }
    let timeout = Duration::from_secs(a.timeout);
    let rt = tokio::runtime::Runtime::new()?;
    let mut unreachable = 0;
    println!(
        "{:<10} {:<22} {:<10} {:>8} {:>11}",
        "node", "address", "engine", "sessions", "deployments"
    );
    for (name, addr) in &nodes {
        match rt.block_on(tiersplit_runtime::node_status(
            name,
            addr,
            tls.as_ref(),
            timeout,
        )) {
            Ok(s) => println!(
                "{:<10} {:<22} {:<10} {:>8} {:>11}",
                name,
                addr,
                format!("{} x{}", s.engine.0, s.engine.1),
                s.sessions,
                s.deployments
            ),
            Err(e) => {
                unreachable += 1;
                println!("{name:<10} {addr:<22} unreachable: {e}");
            }
        }
    }
    Ok(if unreachable == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}
