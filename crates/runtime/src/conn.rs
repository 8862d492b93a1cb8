//! A node's connections, plaintext or mutual TLS, as one stream type: what the data plane reads
//! and writes and what the gRPC server is handed, with the verified identity of the peer.

use crate::tls::{peer_is, ALPN_DATA};
use rustls::pki_types::{CertificateDer, ServerName};
use std::io::IoSlice;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::{client, server, TlsConnector};

/// One connection of a node, holding its place among the node's connections (a permit of the
/// connection limit) for as long as it lives.
pub(crate) struct Conn {
    io: Io,
    _slot: Option<tokio::sync::OwnedSemaphorePermit>,
}

/// The stream under a connection.
pub(crate) enum Io {
    /// No TLS (a cluster without certificates).
    Plain(TcpStream),
    /// Accepted over mutual TLS.
    Server(Box<server::TlsStream<TcpStream>>),
    /// Dialled over mutual TLS.
    Client(Box<client::TlsStream<TcpStream>>),
}

/// Who is at the other end of a connection: the certificate chain its TLS handshake verified
/// against the cluster CA, empty on plaintext.
#[derive(Debug, Clone, Default)]
pub struct Peer {
    certs: Arc<Vec<CertificateDer<'static>>>,
}

impl Peer {
    /// Whether the connection is authenticated at all.
    pub fn authenticated(&self) -> bool {
        !self.certs.is_empty()
    }

    /// Whether the peer is node `name` (its certificate is valid for that name).
    pub fn is(&self, name: &str) -> bool {
        peer_is(&self.certs, name)
    }

    /// Whether both connections come from the holder of the same certificate (both
    /// unauthenticated counts as the same: plaintext tells no one apart).
    pub fn same_as(&self, other: &Peer) -> bool {
        self.certs.first() == other.certs.first()
    }
}

impl Conn {
    /// A connection over `io`.
    pub fn new(io: Io) -> Conn {
        Conn { io, _slot: None }
    }

    /// The connection, holding `slot` until it closes.
    pub fn holding(self, slot: tokio::sync::OwnedSemaphorePermit) -> Conn {
        Conn {
            _slot: Some(slot),
            ..self
        }
    }

    /// The verified peer of this connection.
    pub fn peer(&self) -> Peer {
        let certs = match &self.io {
            Io::Plain(_) => None,
            Io::Server(s) => s.get_ref().1.peer_certificates(),
            Io::Client(s) => s.get_ref().1.peer_certificates(),
        };
        Peer {
            certs: Arc::new(
                certs
                    .unwrap_or_default()
                    .iter()
                    .map(|c| c.clone().into_owned())
                    .collect(),
            ),
        }
    }
}

/// Opens a data-plane connection to node `to` at `addr`: over mutual TLS when `tls` is given
/// (the node must prove it is `to`), plaintext otherwise. The handshake is under `timeout` too.
pub(crate) async fn dial_data(
    addr: &str,
    to: &str,
    tls: Option<&Arc<rustls::ClientConfig>>,
    timeout: Duration,
) -> std::io::Result<Conn> {
    let late = || std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer in time");
    let tcp = tokio::time::timeout(timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| late())??;
    tcp.set_nodelay(true)?;
    let Some(config) = tls else {
        return Ok(Conn::new(Io::Plain(tcp)));
    };
    debug_assert_eq!(config.alpn_protocols, [ALPN_DATA.to_vec()]);
    let name = ServerName::try_from(to.to_string())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let tls = tokio::time::timeout(
        timeout,
        TlsConnector::from(config.clone()).connect(name, tcp),
    )
    .await
    .map_err(|_| late())??;
    Ok(Conn::new(Io::Client(Box::new(tls))))
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Io::Server(s) => Pin::new(s).poll_read(cx, buf),
            Io::Client(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Io::Server(s) => Pin::new(s).poll_write(cx, buf),
            Io::Client(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Io::Server(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Io::Client(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match &self.io {
            Io::Plain(s) => s.is_write_vectored(),
            Io::Server(s) => s.is_write_vectored(),
            Io::Client(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_flush(cx),
            Io::Server(s) => Pin::new(s).poll_flush(cx),
            Io::Client(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Io::Server(s) => Pin::new(s).poll_shutdown(cx),
            Io::Client(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

impl tonic::transport::server::Connected for Conn {
    type ConnectInfo = Peer;

    fn connect_info(&self) -> Peer {
        self.peer()
    }
}
