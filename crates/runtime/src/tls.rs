//! Mutual TLS for a cluster: a cluster CA, one certificate per node naming it, and the rustls
//! configurations both ends of every connection use. A node's certificate carries its name as
//! a DNS subject alternative name, so a peer is known by name once its handshake verified (a
//! certificate of the cluster's CA valid for that name), never by what it claims in a message.
//!
//! One TLS port serves both planes, told apart by ALPN: `h2` is the gRPC control plane,
//! [`ALPN_DATA`] the raw frame data plane.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use std::sync::Arc;

/// ALPN protocol of the gRPC control plane.
pub const ALPN_CONTROL: &[u8] = b"h2";
/// ALPN protocol of the raw frame data plane.
pub const ALPN_DATA: &[u8] = b"tiersplit-data/1";

/// Why certificates could not be made, read or used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// Generating or signing a certificate failed.
    #[error("certificate generation: {0}")]
    Generate(#[from] rcgen::Error),
    /// A PEM file holds no certificate or key, or a malformed one.
    #[error("{what}: {msg}")]
    Pem {
        /// Which file or part of the identity.
        what: String,
        /// What is wrong with it.
        msg: String,
    },
    /// A node name is not usable as a certificate name (a DNS name: letters, digits, `-`, `.`).
    #[error("node name '{0}' is not a valid DNS name, which a certificate needs")]
    BadName(String),
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
    /// The client certificate verifier could not be built.
    #[error("TLS client verification: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The distinguished name every tiersplit cluster CA has; each cluster's CA has its own key,
/// which is what nodes trust.
const CA_NAME: &str = "tiersplit cluster CA";

/// The calendar year now (close enough for validity periods that start a year back).
fn this_year() -> i32 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    1970 + (secs / 31_556_952) as i32
}

/// Valid from the start of last year (clocks of nodes disagree) for `years` more years.
fn validity(params: &mut CertificateParams, years: i32) {
    let now = this_year();
    params.not_before = rcgen::date_time_ymd(now - 1, 1, 1);
    params.not_after = rcgen::date_time_ymd(now + years, 1, 1);
}

/// Years a cluster CA and a node certificate are valid.
const CA_YEARS: i32 = 10;
const NODE_YEARS: i32 = 5;

fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    validity(&mut params, CA_YEARS);
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.distinguished_name.push(DnType::CommonName, CA_NAME);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params
}

/// A cluster's certificate authority: it signs every node's certificate.
pub struct ClusterCa {
    cert_pem: String,
    key_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl ClusterCa {
    /// A new CA with a fresh key (ECDSA P-256).
    pub fn generate() -> Result<ClusterCa, TlsError> {
        let key = KeyPair::generate()?;
        let cert = ca_params().self_signed(&key)?;
        let key_pem = key.serialize_pem();
        Ok(ClusterCa {
            cert_pem: cert.pem(),
            key_pem,
            issuer: Issuer::new(ca_params(), key),
        })
    }

    /// The CA written by [`ClusterCa::cert_pem`] and [`ClusterCa::key_pem`].
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<ClusterCa, TlsError> {
        certificates(cert_pem.as_bytes(), "CA certificate")?;
        let key = KeyPair::from_pem(key_pem).map_err(|e| TlsError::Pem {
            what: "CA key".into(),
            msg: e.to_string(),
        })?;
        Ok(ClusterCa {
            cert_pem: cert_pem.to_string(),
            key_pem: key_pem.to_string(),
            issuer: Issuer::new(ca_params(), key),
        })
    }

    /// The CA certificate (PEM): what every node trusts.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA's private key (PEM): keep it off the nodes.
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    /// A certificate and key for node `name`, valid for that name as both server and client.
    pub fn issue(&self, name: &str) -> Result<NodeIdentity, TlsError> {
        ServerName::try_from(name.to_string()).map_err(|_| TlsError::BadName(name.into()))?;
        let mut params = CertificateParams::new(vec![name.to_string()])
            .map_err(|_| TlsError::BadName(name.into()))?;
        params.distinguished_name.push(DnType::CommonName, name);
        validity(&mut params, NODE_YEARS);
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(NodeIdentity {
            name: name.to_string(),
            ca_pem: self.cert_pem.clone(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

/// What a node needs for mutual TLS: its name, the cluster CA's certificate, and its own
/// certificate and key (all PEM).
#[derive(Clone)]
pub struct NodeIdentity {
    /// The node's name, which its certificate is valid for.
    pub name: String,
    /// The cluster CA's certificate: peers must present certificates it signed.
    pub ca_pem: String,
    /// The node's certificate chain.
    pub cert_pem: String,
    /// The node's private key.
    pub key_pem: String,
}

impl std::fmt::Debug for NodeIdentity {
    // The key stays out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeIdentity")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

fn certificates(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bad = |msg: String| TlsError::Pem {
        what: what.into(),
        msg,
    };
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(e.to_string()))?;
    if certs.is_empty() {
        return Err(bad("no certificate in it".into()));
    }
    Ok(certs)
}

impl NodeIdentity {
    fn roots(&self) -> Result<Arc<RootCertStore>, TlsError> {
        let mut roots = RootCertStore::empty();
        for c in certificates(self.ca_pem.as_bytes(), "CA certificate")? {
            roots.add(c)?;
        }
        Ok(Arc::new(roots))
    }

    fn chain_and_key(
        &self,
    ) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
        let chain = certificates(self.cert_pem.as_bytes(), "node certificate")?;
        let key =
            PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes()).map_err(|e| TlsError::Pem {
                what: "node key".into(),
                msg: e.to_string(),
            })?;
        Ok((chain, key))
    }

    /// The server side: TLS 1.3 only, a client certificate of the cluster CA required, both
    /// planes offered by ALPN.
    pub fn server_config(&self) -> Result<Arc<ServerConfig>, TlsError> {
        let verifier =
            WebPkiClientVerifier::builder_with_provider(self.roots()?, provider()).build()?;
        let (chain, key) = self.chain_and_key()?;
        let mut cfg = ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)?;
        cfg.alpn_protocols = vec![ALPN_CONTROL.to_vec(), ALPN_DATA.to_vec()];
        Ok(Arc::new(cfg))
    }

    /// The client side for one plane (`alpn`): the server must present a certificate of the
    /// cluster CA valid for the node name the client dials, and this node shows its own.
    pub fn client_config(&self, alpn: &[u8]) -> Result<Arc<ClientConfig>, TlsError> {
        let (chain, key) = self.chain_and_key()?;
        let mut cfg = ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_root_certificates(self.roots()?)
            .with_client_auth_cert(chain, key)?;
        cfg.alpn_protocols = vec![alpn.to_vec()];
        Ok(Arc::new(cfg))
    }
}

/// Whether the verified certificate chain a peer presented (end entity first) is valid for node
/// `name`. The chain itself was checked against the CA in the handshake; this binds it to the
/// name a message or a deployment gives the peer.
pub fn peer_is(certs: &[CertificateDer<'_>], name: &str) -> bool {
    let Some(end) = certs.first() else {
        return false;
    };
    let Ok(server_name) = ServerName::try_from(name) else {
        return false;
    };
    webpki::EndEntityCert::try_from(end)
        .and_then(|cert| cert.verify_is_valid_for_subject_name(&server_name))
        .is_ok()
}
