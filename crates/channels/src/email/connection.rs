//! Opening a connection to the SMTP server: TCP with Nagle's algorithm off, then TLS,
//! the greeting, EHLO and AUTH, as the server's URL and the credentials ask.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures_io::{AsyncRead as _, AsyncWrite as _};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
#[allow(deprecated)]
use lettre::transport::smtp::client::AsyncNetworkStream;
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use tokio::io::ReadBuf;
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::config::{Security, SmtpServer};
use super::error::{classify, EmailError};

/// The mechanisms offered to a server that asks for AUTH, in order of preference.
const MECHANISMS: [Mechanism; 2] = [Mechanism::Plain, Mechanism::Login];

/// Everything needed to open a ready-to-send connection to one SMTP server.
pub(super) struct Connector {
    pub server: SmtpServer,
    /// The TLS settings for STARTTLS or implicit TLS; `None` for a plain server.
    pub tls: Option<TlsParameters>,
    /// The name given in EHLO.
    pub hello: ClientId,
    pub credentials: Option<Credentials>,
}

impl Connector {
    /// Connects, sets up TLS, reads the greeting, says EHLO and logs in. Connecting
    /// fails once `deadline` passes; the caller bounds the rest.
    ///
    /// # Errors
    /// [`EmailError::Retryable`] when the server cannot be reached in time or the TLS
    /// handshake fails; otherwise as [`classify`] sorts lettre's error.
    pub(super) async fn open(&self, deadline: Instant) -> Result<AsyncSmtpConnection, EmailError> {
        let tcp = self.connect_tcp(deadline).await?;
        let stream = match (&self.tls, self.server.security) {
            (Some(tls), Security::ImplicitTls) => implicit_tls(tcp, tls).await?,
            _ => Box::new(tcp),
        };
        let mut connection = AsyncSmtpConnection::connect_with_transport(stream, &self.hello)
            .await
            .map_err(|error| classify(&error))?;
        if let (Some(tls), Security::StartTls) = (&self.tls, self.server.security) {
            connection
                .starttls(tls.clone(), &self.hello)
                .await
                .map_err(|error| classify(&error))?;
        }
        if let Some(credentials) = &self.credentials {
            connection
                .auth(&MECHANISMS, credentials)
                .await
                .map_err(|error| classify(&error))?;
        }
        Ok(connection)
    }

    /// A TCP connection to the server with `TCP_NODELAY` set.
    ///
    /// SMTP waits for an answer after every command but one: the message, which lettre
    /// writes as its body and then the final `.` line. With Nagle's algorithm on, the
    /// kernel holds that last small write until the server acknowledges the body, and
    /// servers delay that acknowledgement (about 40 ms on Linux), so each email would
    /// wait for it. Tidings writes whole commands, never byte by byte, so there is
    /// nothing for Nagle's algorithm to coalesce.
    async fn connect_tcp(&self, deadline: Instant) -> Result<TcpStream, EmailError> {
        let address = (self.server.host.as_str(), self.server.port);
        let connect = tokio::time::timeout_at(deadline, TcpStream::connect(address));
        let tcp = match connect.await {
            Ok(connected) => connected.map_err(|error| unreachable(&self.server, &error))?,
            Err(_) => {
                return Err(EmailError::Retryable {
                    reason: format!(
                        "connecting to the SMTP server {}:{} took longer than the send \
                         timeout (email.timeout_secs)",
                        self.server.host, self.server.port
                    ),
                })
            }
        };
        tcp.set_nodelay(true)
            .map_err(|error| unreachable(&self.server, &error))?;
        Ok(tcp)
    }
}

fn unreachable(server: &SmtpServer, error: &io::Error) -> EmailError {
    EmailError::Retryable {
        reason: format!(
            "cannot connect to the SMTP server {}:{}: {error}",
            server.host, server.port
        ),
    }
}

/// Runs the TLS handshake on `tcp` before anything else is said, as `smtps` does.
///
/// lettre's connection reads the greeting as soon as it gets its stream, so the stream
/// it gets must be encrypted already. lettre's own TLS stream does the handshake, with
/// the same settings that STARTTLS uses; [`ImplicitTls`] hands it over.
async fn implicit_tls(
    tcp: TcpStream,
    tls: &TlsParameters,
) -> Result<Box<dyn AsyncTokioStream>, EmailError> {
    // lettre marks its stream type as not meant for outside use, but it is the only way
    // to run its TLS over a socket Tidings opened.
    #[allow(deprecated)]
    let mut stream = AsyncNetworkStream::use_existing_tokio1(Box::new(tcp));
    stream
        .upgrade_tls(tls.clone())
        .await
        .map_err(|error| classify(&error))?;
    Ok(Box::new(ImplicitTls(stream)))
}

/// lettre's TLS stream (futures' I/O traits) seen as the Tokio stream that lettre's
/// connection takes.
#[allow(deprecated)]
#[derive(Debug)]
struct ImplicitTls(AsyncNetworkStream);

impl tokio::io::AsyncRead for ImplicitTls {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let read = ready!(Pin::new(&mut self.0).poll_read(cx, buf.initialize_unfilled()))?;
        buf.advance(read);
        Poll::Ready(Ok(()))
    }
}

impl tokio::io::AsyncWrite for ImplicitTls {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_close(cx)
    }
}

impl AsyncTokioStream for ImplicitTls {
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.0.peer_addr()
    }
}
