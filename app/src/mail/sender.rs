//! The mail transport: SMTP, or `.eml` files in dev. `crate::mail_drain` drains the outbox
//! through it.

use std::path::PathBuf;

use lettre::{
    AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message as Email, Tokio1Executor,
    message::{Mailbox, MultiPart},
};

use super::templates::Message;

#[derive(Clone)]
pub enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Files(AsyncFileTransport<Tokio1Executor>),
}

#[derive(Clone)]
pub struct Mailer {
    transport: Transport,
    from: Mailbox,
    description: String,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.description)
    }
}

impl Mailer {
    /// SMTP from a URL like `smtp://user:pass@host:587?tls=required` or `smtps://host`.
    pub fn smtp(url: &str, from: &str) -> Result<Mailer, String> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url).map_err(|e| e.to_string())?.build();
        Ok(Mailer { transport: Transport::Smtp(transport), from: from.parse().map_err(|e| format!("{e}"))?, description: "SMTP".into() })
    }

    /// Writes each message as an `.eml` file into `dir`.
    pub fn files(dir: PathBuf, from: &str) -> Result<Mailer, String> {
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let description = format!("files in {}", dir.display());
        Ok(Mailer {
            transport: Transport::Files(AsyncFileTransport::new(dir)),
            from: from.parse().map_err(|e| format!("{e}"))?,
            description,
        })
    }

    /// Sends `message` to `to`. `mail_id` (the outbox row's id) becomes its `Message-ID`, so a
    /// retry after a crash between sending and marking it sent carries the same id, and a mail
    /// client or a test can tell a duplicate from a second message.
    pub async fn send(&self, mail_id: &str, to: &str, message: &Message) -> Result<(), String> {
        let email = Email::builder()
            .message_id(Some(format!("<{mail_id}@{}>", self.from.email.domain())))
            .from(self.from.clone())
            .to(to.parse::<Mailbox>().map_err(|e| e.to_string())?)
            .subject(&message.subject)
            .multipart(MultiPart::alternative_plain_html(message.text.clone(), message.html.clone()))
            .map_err(|e| e.to_string())?;
        match &self.transport {
            Transport::Smtp(t) => t.send(email).await.map(|_| ()).map_err(|e| e.to_string()),
            Transport::Files(t) => t.send(email).await.map(|_| ()).map_err(|e| e.to_string()),
        }
    }
}
