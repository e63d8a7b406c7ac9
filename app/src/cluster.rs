//! Announcements between app servers that share one PostgreSQL database. A server that changes
//! something the others keep a copy of (a session, a rendered link page) says so on a channel
//! with `NOTIFY`, and every server drops its copy. On SQLite one process owns the database, so
//! there is nobody to tell.

use std::time::Duration;

use sqlx::{PgPool, postgres::PgListener};

/// What a follower hears on its channel.
pub enum Heard<'a> {
    /// An announcement, with its payload.
    Note(&'a str),
    /// Announcements may have been missed (a new connection, or one that dropped): forget
    /// everything that an announcement could have been about.
    MaybeMissed,
}

/// Follows `channel` until the process ends, calling `on` for what it hears, and reconnects
/// after the database restarts or the connection drops.
pub async fn follow(pool: PgPool, channel: &'static str, on: impl Fn(Heard<'_>)) {
    loop {
        match PgListener::connect_with(&pool).await {
            Ok(mut listener) => match listener.listen(channel).await {
                Ok(()) => {
                    on(Heard::MaybeMissed);
                    // `try_recv` answers `None` when the connection dropped: the listener then
                    // reconnects by itself on the next call, and anything in between is lost.
                    while let Ok(next) = listener.try_recv().await {
                        match next {
                            Some(note) => on(Heard::Note(note.payload())),
                            None => on(Heard::MaybeMissed),
                        }
                    }
                }
                Err(err) => tracing::warn!(error = %err, channel, "could not listen for other servers' changes; retrying"),
            },
            Err(err) => tracing::warn!(error = %err, channel, "could not connect to listen for other servers' changes; retrying"),
        }
        on(Heard::MaybeMissed);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Tells every server following `channel` (this one too) about `payload`.
pub async fn announce(pool: &PgPool, channel: &str, payload: &str) -> Result<(), sqlx::Error> {
    sqlx::query("select pg_notify($1, $2)").bind(channel).bind(payload).execute(pool).await.map(|_| ())
}
