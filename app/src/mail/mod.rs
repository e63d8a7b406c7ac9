//! Email: receipts with download links, new-sale notices, library magic links. Sent through
//! SMTP (`CLINK_SMTP_URL`) or, with no SMTP configured, written as `.eml` files to the data
//! directory's `outbox/` (shown at `/dev/outbox` in dev mode). Messages go through a durable
//! outbox table, written in the transaction that decided to send them, and are retried.

#[cfg(feature = "ssr")]
pub mod outbox;
#[cfg(feature = "ssr")]
pub mod sender;
#[cfg(feature = "ssr")]
pub mod templates;
