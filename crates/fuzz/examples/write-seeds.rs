//! Writes every fuzz target's seeds into `DIR/<target>/seed-<n>`, the corpus layout cargo-fuzz
//! reads (`scripts/fuzz` runs it before fuzzing).

fn main() -> std::io::Result<()> {
    let dir = std::env::args_os()
        .nth(1)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| "fuzz/corpus".into());
    for (name, _) in tiersplit_fuzz::TARGETS {
        let d = dir.join(name);
        std::fs::create_dir_all(&d)?;
        for (i, seed) in tiersplit_fuzz::seeds(name).iter().enumerate() {
            std::fs::write(d.join(format!("seed-{i}")), seed)?;
        }
    }
    Ok(())
}
