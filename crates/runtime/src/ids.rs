//! Typed names the runtime passes between device and nodes, so a model's content hash cannot be
//! taken for a deployment's name and neither is pieced together with `format!` at a call site.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;

/// A model's content hash: SHA-256 of its ONNX bytes, written `sha256:` and 64 hex digits.
/// Nodes cache models by it and check every upload against it, so a collision-resistant hash is
/// what keeps one device's upload from standing in for another's model.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ModelHash(String);

const PREFIX: &str = "sha256:";

impl ModelHash {
    /// The hash of `bytes`.
    pub fn of(bytes: &[u8]) -> ModelHash {
        let digest = Sha256::digest(bytes);
        let mut s = String::with_capacity(PREFIX.len() + 64);
        s.push_str(PREFIX);
        for b in digest {
            s.push(char::from_digit(u32::from(b >> 4), 16).expect("a nibble"));
            s.push(char::from_digit(u32::from(b & 0xf), 16).expect("a nibble"));
        }
        ModelHash(s)
    }

    /// Reads a hash as written by [`ModelHash::of`] (from the wire), refusing anything else.
    pub fn parse(s: &str) -> Result<ModelHash, InvalidModelHash> {
        let hex = s
            .strip_prefix(PREFIX)
            .filter(|h| h.len() == 64 && h.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')));
        match hex {
            Some(_) => Ok(ModelHash(s.to_string())),
            None => Err(InvalidModelHash(s.chars().take(80).collect())),
        }
    }

    /// The written form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A string that is not a model hash.
#[derive(Debug, Clone, thiserror::Error)]
#[error("'{0}' is not a model hash (sha256: and 64 lower-case hex digits)")]
pub struct InvalidModelHash(String);

impl TryFrom<String> for ModelHash {
    type Error = InvalidModelHash;
    fn try_from(s: String) -> Result<ModelHash, InvalidModelHash> {
        ModelHash::parse(&s)
    }
}

impl From<ModelHash> for String {
    fn from(h: ModelHash) -> String {
        h.0
    }
}

impl fmt::Display for ModelHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Names a deployment in logs, statistics and measurements: the plan's algorithm and its serial
/// number in the run (`best#2`), or any name an application gives.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DeploymentId(String);

impl DeploymentId {
    /// A deployment named as the application likes.
    pub fn new(name: impl Into<String>) -> DeploymentId {
        DeploymentId(name.into())
    }

    /// The `serial`-th deployment of a run, of a plan made by `algorithm`.
    pub fn of_plan(algorithm: &str, serial: u64) -> DeploymentId {
        DeploymentId(format!("{algorithm}#{serial}"))
    }

    /// The written form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for DeploymentId {
    fn from(name: &str) -> DeploymentId {
        DeploymentId::new(name)
    }
}

impl fmt::Display for DeploymentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A device's run on the cluster: 128 random bits, drawn from the operating system's
/// cryptographic generator (through `rand`'s thread generator) when the device starts, written
/// as 32 hex digits. Every deployment and data frame names its session; nodes keep sessions
/// apart by it (frame numbers count within a session) and let only the session's device
/// control it. 0 (`SessionId::NONE`) is no session: nodes refuse to deploy it from the
/// network.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct SessionId(u128);

impl SessionId {
    /// No session.
    pub const NONE: SessionId = SessionId(0);

    /// A fresh, unguessable session id (never `NONE`).
    pub fn random() -> SessionId {
        loop {
            let v: u128 = rand::random();
            if v != 0 {
                return SessionId(v);
            }
        }
    }

    /// The id as it travels in data-frame headers.
    pub fn to_wire(self) -> u128 {
        self.0
    }

    /// The id of a data-frame header.
    pub fn from_wire(v: u128) -> SessionId {
        SessionId(v)
    }

    /// Reads the written form (32 lower-case hex digits).
    pub fn parse(s: &str) -> Result<SessionId, InvalidSessionId> {
        let bad = || InvalidSessionId(s.chars().take(80).collect());
        if s.len() != 32 || !s.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(bad());
        }
        u128::from_str_radix(s, 16)
            .map(SessionId)
            .map_err(|_| bad())
    }
}

/// A string that is not a session id.
#[derive(Debug, Clone, thiserror::Error)]
#[error("'{0}' is not a session id (32 lower-case hex digits)")]
pub struct InvalidSessionId(String);

impl TryFrom<String> for SessionId {
    type Error = InvalidSessionId;
    fn try_from(s: String) -> Result<SessionId, InvalidSessionId> {
        SessionId::parse(&s)
    }
}

impl From<SessionId> for String {
    fn from(s: SessionId) -> String {
        s.to_string()
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_hash_round_trips_and_refuses_other_strings() {
        let h = ModelHash::of(b"abc");
        assert_eq!(
            h.as_str(),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(ModelHash::parse(h.as_str()).unwrap(), h);
        let json = serde_json::to_string(&h).unwrap();
        assert_eq!(serde_json::from_str::<ModelHash>(&json).unwrap(), h);
        for bad in [
            "",
            "sha256:",
            "cbf29ce484222325-3",
            &h.as_str().to_uppercase(),
        ] {
            assert!(ModelHash::parse(bad).is_err(), "{bad}");
        }
        assert!(serde_json::from_str::<ModelHash>("\"deadbeef\"").is_err());
    }

    #[test]
    fn session_ids_are_random_and_round_trip() {
        let a = SessionId::random();
        assert_ne!(a, SessionId::random());
        assert_ne!(a, SessionId::NONE);
        assert_eq!(SessionId::parse(&a.to_string()).unwrap(), a);
        assert_eq!(SessionId::from_wire(a.to_wire()), a);
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(serde_json::from_str::<SessionId>(&json).unwrap(), a);
        for bad in ["", "0", &"g".repeat(32), &"A".repeat(32), &"0".repeat(33)] {
            assert!(SessionId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn deployment_ids_name_plan_and_serial() {
        assert_eq!(DeploymentId::of_plan("best", 2).to_string(), "best#2");
    }
}
