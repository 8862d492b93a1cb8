use std::path::PathBuf;

/// The project's shared fixtures folder (real models and photos): `$TIERSPLIT_SHARED`, or a
/// `shared/` folder beside the current directory or one of its ancestors (the checkout lives
/// next to it).
pub fn shared_dir() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("TIERSPLIT_SHARED") {
        return Some(PathBuf::from(p));
    }
    let cwd = std::env::current_dir().ok()?;
    cwd.ancestors()
        .flat_map(|a| [a.join("shared"), a.join("../shared")])
        .find(|p| p.join("models").is_dir())
}
