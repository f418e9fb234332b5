//! One mail transaction on an open connection: MAIL FROM, RCPT TO, DATA and the
//! message, noting whether the connection is still fit for the next one when it fails.

use lettre::address::Envelope;
use lettre::transport::smtp::client::AsyncSmtpConnection;
use lettre::transport::smtp::commands::{Data, Mail, Rcpt};
use lettre::transport::smtp::extension::{Extension, MailBodyParameter, MailParameter};
use lettre::transport::smtp::response::Response;
use lettre::transport::smtp::Error;

use super::error::{classify, EmailError};

/// Why a transaction did not end with the server taking the message.
pub(super) enum Failure {
    /// The server lacks an extension the message needs; nothing was said, and the
    /// connection is as it was.
    Unsendable(EmailError),
    /// A negative answer: the connection may be mid-transaction but still speaks SMTP,
    /// and the RSET before its next use ends the transaction.
    Refused(Error),
    /// No answer, one that could not be read, or `421` (the server is closing the
    /// connection): the connection is of no further use.
    Broken(Error),
}

impl Failure {
    /// Whether the connection may carry the next message.
    pub(super) fn keeps_connection(&self) -> bool {
        !matches!(self, Failure::Broken(_))
    }

    /// What the caller of a send is told.
    pub(super) fn into_error(self) -> EmailError {
        match self {
            Failure::Unsendable(error) => error,
            Failure::Refused(error) | Failure::Broken(error) => classify(&error),
        }
    }
}

/// Sends `message` (the formatted email) to the envelope's recipients.
///
/// Each step waits for its answer: the transaction needs no PIPELINING, so it works with
/// every server.
pub(super) async fn send(
    connection: &mut AsyncSmtpConnection,
    envelope: &Envelope,
    message: &[u8],
) -> Result<Response, Failure> {
    let parameters = mail_parameters(connection, envelope, message)?;
    let mail = Mail::new(envelope.from().cloned(), parameters);
    connection.command(mail).await.map_err(sort)?;
    for to in envelope.to() {
        let rcpt = Rcpt::new(to.clone(), vec![]);
        connection.command(rcpt).await.map_err(sort)?;
    }
    connection.command(Data).await.map_err(sort)?;
    connection.message(message).await.map_err(sort)
}

/// The MAIL FROM parameters the message needs, if the server offers them: SMTPUTF8 for
/// addresses beyond ASCII, 8BITMIME for a message beyond ASCII.
fn mail_parameters(
    connection: &AsyncSmtpConnection,
    envelope: &Envelope,
    message: &[u8],
) -> Result<Vec<MailParameter>, Failure> {
    let server = connection.server_info();
    let unsendable = |detail: &str| {
        Failure::Unsendable(EmailError::Incompatible {
            detail: detail.to_string(),
        })
    };
    let mut parameters = Vec::new();
    let mut addresses = envelope.from().into_iter().chain(envelope.to());
    if !addresses.all(|address| AsRef::<str>::as_ref(address).is_ascii()) {
        if !server.supports_feature(Extension::SmtpUtfEight) {
            return Err(unsendable(
                "an address is not ASCII and the server does not offer SMTPUTF8",
            ));
        }
        parameters.push(MailParameter::SmtpUtfEight);
    }
    if !message.is_ascii() {
        if !server.supports_feature(Extension::EightBitMime) {
            return Err(unsendable(
                "the message is not ASCII and the server does not offer 8BITMIME",
            ));
        }
        parameters.push(MailParameter::Body(MailBodyParameter::EightBitMime));
    }
    Ok(parameters)
}

/// Refused when the server answered and means to go on; broken otherwise.
fn sort(error: Error) -> Failure {
    match error.status().map(u16::from) {
        Some(421) | None => Failure::Broken(error),
        Some(_) => Failure::Refused(error),
    }
}
