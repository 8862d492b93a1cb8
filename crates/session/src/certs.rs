//! A cluster's certificates on disk: `tiersplit certs init` makes the CA, `tiersplit certs
//! issue NAME` a node's certificate, and nodes read theirs back. Keys are written readable by
//! their owner only.

use crate::error::{Result, SessionError};
use std::path::{Path, PathBuf};
use tiersplit_runtime::tls::{ClusterCa, NodeIdentity};

const CA_CERT: &str = "ca.pem";
const CA_KEY: &str = "ca.key";

/// Creates a cluster CA in `dir` (`ca.pem`, `ca.key`); refuses to replace one unless `force`,
/// since every node certificate it signed would stop being trusted.
pub fn init_ca(dir: &Path, force: bool) -> Result<PathBuf> {
    let cert = dir.join(CA_CERT);
    if cert.exists() && !force {
        return Err(SessionError::invalid(format!(
            "{} exists: a new CA would invalidate every certificate it signed (pass --force)",
            cert.display()
        )));
    }
    std::fs::create_dir_all(dir).map_err(|e| SessionError::io(dir, e))?;
    let ca = ClusterCa::generate()?;
    write(&cert, ca.cert_pem(), false)?;
    write(&dir.join(CA_KEY), ca.key_pem(), true)?;
    Ok(cert)
}

/// Issues node `name` a certificate signed by the CA in `dir`: `NAME.pem` and `NAME.key`.
pub fn issue(dir: &Path, name: &str) -> Result<(PathBuf, PathBuf)> {
    let read = |f: &str| {
        let p = dir.join(f);
        std::fs::read_to_string(&p).map_err(|e| SessionError::io(p, e))
    };
    let ca = ClusterCa::from_pem(&read(CA_CERT)?, &read(CA_KEY)?)?;
    let id = ca.issue(name)?;
    let (cert, key) = node_files(dir, name);
    write(&cert, &id.cert_pem, false)?;
    write(&key, &id.key_pem, true)?;
    Ok((cert, key))
}

/// Node `name`'s identity as [`issue`] wrote it in `dir`, with the CA certificate beside it.
pub fn read_identity(dir: &Path, name: &str) -> Result<NodeIdentity> {
    let read = |p: PathBuf| std::fs::read_to_string(&p).map_err(|e| SessionError::io(p, e));
    let (cert, key) = node_files(dir, name);
    Ok(NodeIdentity {
        name: name.to_string(),
        ca_pem: read(dir.join(CA_CERT))?,
        cert_pem: read(cert)?,
        key_pem: read(key)?,
    })
}

fn node_files(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    (
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}.key")),
    )
}

fn write(path: &Path, text: &str, secret: bool) -> Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(path).map_err(|e| SessionError::io(path, e))?;
    f.write_all(text.as_bytes())
        .map_err(|e| SessionError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_issue_and_read_back() {
        let dir = std::env::temp_dir().join(format!("tiersplit-certs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        init_ca(&dir, false).unwrap();
        let again = init_ca(&dir, false).unwrap_err();
        assert!(again.to_string().contains("--force"), "{again}");
        let (_, key) = issue(&dir, "edge0").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&key).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let id = read_identity(&dir, "edge0").unwrap();
        assert_eq!(id.name, "edge0");
        id.server_config().unwrap();
        assert!(read_identity(&dir, "edge1").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
