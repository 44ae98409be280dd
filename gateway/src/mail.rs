//! Sending notification emails: over SMTP with lettre when `SMTP_URL` is set, otherwise through
//! the dev transport, which sends nothing.
//!
//! Errors say whether trying again may help (a 4xx reply, a refused or dropped connection, a
//! timeout) or not (a 5xx reply, an address that is not one). Their text never holds the body.

use std::time::Duration;

use async_trait::async_trait;
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use crate::settings::Settings;

/// One email to send.
#[derive(Debug, Clone)]
pub struct OutgoingEmail<'a> {
    pub to: &'a str,
    pub subject: &'a str,
    pub body: &'a str,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailError {
    #[error("temporary: {0}")]
    Temporary(String),
    #[error("permanent: {0}")]
    Permanent(String),
}

#[async_trait]
pub trait Mailer: Send + Sync {
    async fn send(&self, email: OutgoingEmail<'_>) -> Result<(), MailError>;
    /// For logs and metrics: `smtp` or `dev`.
    fn name(&self) -> &'static str;
}

/// How long one SMTP conversation may take before it counts as a temporary failure.
const SMTP_TIMEOUT: Duration = Duration::from_secs(20);

pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl SmtpMailer {
    /// Builds the transport for `url` (see `settings::parse_smtp_url`). Connects lazily.
    pub fn new(url: &str, from: Mailbox) -> Result<SmtpMailer, String> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|_| {
                // lettre's message may quote the URL, which may hold a password.
                "SMTP_URL: not a usable SMTP URL (check the scheme, host, port and tls parameter)"
                    .to_string()
            })?
            .timeout(Some(SMTP_TIMEOUT))
            .build();
        Ok(SmtpMailer { transport, from })
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, email: OutgoingEmail<'_>) -> Result<(), MailError> {
        let to: Mailbox = email
            .to
            .parse()
            .map_err(|_| MailError::Permanent("the recipient is not an email address".into()))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(email.subject)
            .header(ContentType::TEXT_PLAIN)
            .body(email.body.to_string())
            .map_err(|e| MailError::Permanent(format!("cannot build the email: {e}")))?;
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() => Err(MailError::Permanent(describe(&e))),
            Err(e) => Err(MailError::Temporary(describe(&e))),
        }
    }

    fn name(&self) -> &'static str {
        "smtp"
    }
}

/// The server's reply code when there is one (its text may repeat the address), else the kind
/// of failure.
fn describe(e: &lettre::transport::smtp::Error) -> String {
    match e.status() {
        Some(code) => format!("the SMTP server answered {code}"),
        None if e.is_timeout() => "the SMTP server did not answer in time".into(),
        None if e.is_tls() => "TLS with the SMTP server failed".into(),
        None => "could not talk to the SMTP server".into(),
    }
}

/// Sends nothing: the email stays readable in the email outbox (`GET /v1/dev/emails`).
pub struct DevMailer;

#[async_trait]
impl Mailer for DevMailer {
    async fn send(&self, _email: OutgoingEmail<'_>) -> Result<(), MailError> {
        Ok(())
    }

    fn name(&self) -> &'static str {
        "dev"
    }
}

/// The mailer the settings ask for.
pub fn from_settings(settings: &Settings) -> Result<std::sync::Arc<dyn Mailer>, String> {
    Ok(match &settings.smtp_url {
        Some(url) => {
            std::sync::Arc::new(SmtpMailer::new(url.expose(), settings.smtp_from.clone())?)
        }
        None => std::sync::Arc::new(DevMailer),
    })
}
