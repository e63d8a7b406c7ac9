//! Server-side sessions: tower-sessions records in the app's own database.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use time::OffsetDateTime;
use tower_sessions::{
    ExpiredDeletion, Session, SessionStore,
    session::{Id, Record},
    session_store,
};
use tower_sessions_sqlx_store::{PostgresStore, SqliteStore};

use crate::{cluster::Heard, db::Db};

const ACCOUNT_KEY: &str = "account_id";
const EPOCH_KEY: &str = "account_epoch";
/// This browser's row in `signed_in_device`, and when it was last marked as seen there.
const DEVICE_KEY: &str = "device_id";
const DEVICE_SEEN_KEY: &str = "device_seen_at";
/// Set while a sign-in waits for its second step (when it started): the session names the
/// account but isn't signed in (see `signed_in_account_id`).
const SECOND_STEP_KEY: &str = "second_step_since";

/// How often a signed-in browser's "last active" time is written: often enough for the
/// devices list to say "today" or "3 days ago", rarely enough to cost nothing per request.
const DEVICE_SEEN_EVERY_MS: i64 = 60 * 60 * 1000;

/// How long a session lasts without being used (the session layer's inactivity expiry): a
/// device not seen for this long is signed out.
pub const SESSION_IDLE_DAYS: i64 = 14;

/// Accounts' session epochs as this server last read them, for a couple of seconds: a signed-in
/// request checks its session's epoch against its account's without a database round trip
/// each time (the wallet's one-click purchase is mostly that round trip otherwise). An epoch
/// raised on another server is seen here within the lifetime of an entry.
fn epochs() -> &'static moka::sync::Cache<String, i64> {
    static EPOCHS: std::sync::OnceLock<moka::sync::Cache<String, i64>> = std::sync::OnceLock::new();
    EPOCHS.get_or_init(|| moka::sync::Cache::builder().max_capacity(100_000).time_to_live(Duration::from_secs(2)).build())
}

/// The account signed in on this session, if any, and if its sessions weren't ended since
/// (see `accounts.session_epoch`).
pub async fn signed_in_account_id(session: &Session, db: &Db) -> Option<String> {
    let account_id = session.get::<String>(ACCOUNT_KEY).await.ok().flatten()?;
    if session.get::<i64>(SECOND_STEP_KEY).await.ok().flatten().is_some() {
        return None;
    }
    let signed_in_under = session.get::<i64>(EPOCH_KEY).await.ok().flatten().unwrap_or(0);
    let current = match epochs().get(&account_id) {
        Some(epoch) => epoch,
        None => {
            let epoch = super::store::session_epoch(db, &account_id).await.ok().flatten()?;
            epochs().insert(account_id.clone(), epoch);
            epoch
        }
    };
    if current != signed_in_under {
        return None;
    }
    mark_device_seen(session, db).await;
    Some(account_id)
}

/// Moves this browser's "last active" time forward, at most once per [`DEVICE_SEEN_EVERY_MS`].
/// A failure only leaves the time older than it could be.
async fn mark_device_seen(session: &Session, db: &Db) {
    let Ok(Some(device_id)) = session.get::<String>(DEVICE_KEY).await else { return };
    let seen = session.get::<i64>(DEVICE_SEEN_KEY).await.ok().flatten().unwrap_or(0);
    let now = crate::db::now_ms();
    if now - seen < DEVICE_SEEN_EVERY_MS {
        return;
    }
    if super::store::touch_device(db, &device_id, now).await.is_ok() {
        let _ = session.insert(DEVICE_SEEN_KEY, now).await;
    }
}

/// This browser's id in the devices list, if it is signed in.
pub async fn this_device(session: &Session) -> Option<String> {
    session.get::<String>(DEVICE_KEY).await.ok().flatten()
}

/// Forgets this server's copy of an account's epoch (it was just raised).
pub fn forget_epoch(account_id: &str) {
    epochs().invalidate(account_id);
}

/// How a sign-in went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "a sign-in may wait for its second step: send the browser where `then` says"]
pub enum SignedIn {
    /// Signed in.
    Now,
    /// The account has two-step sign-in on: the browser goes to `/login/two-step` for the code.
    AfterSecondStep,
}

impl SignedIn {
    /// Where the browser goes next: `next`, or the second step on the way to it.
    pub fn then(self, next: &str) -> String {
        match self {
            SignedIn::Now => next.to_string(),
            SignedIn::AfterSecondStep => {
                format!("/login/two-step?next={}", percent_encoding::utf8_percent_encode(next, percent_encoding::NON_ALPHANUMERIC))
            }
        }
    }
}

/// Signs `account_id` in under its current session epoch, and lists this browser among the
/// account's signed-in devices (described by its `user_agent`). The session id is cycled
/// first, so an id planted before login (session fixation) is worthless afterwards.
///
/// Every way in (password, emailed link, reset, sign-up, a new wallet) comes through here, so
/// every one of them asks an account with two-step sign-in on for its code: the session then
/// only waits for it ([`SignedIn::AfterSecondStep`]) and signs nobody in until
/// [`finish_second_step`].
pub async fn sign_in(
    session: &Session,
    db: &Db,
    account_id: &str,
    epoch: i64,
    user_agent: &str,
) -> Result<SignedIn, tower_sessions::session::Error> {
    if super::two_step::is_on(db, account_id).await.map_err(|e| store_error_text(&e.to_string()))? {
        let previous_device = this_device(session).await;
        session.cycle_id().await?;
        if let Some(previous) = previous_device {
            super::store::delete_device(db, &previous).await.map_err(store_error)?;
            session.remove::<String>(DEVICE_KEY).await?;
        }
        // The wait first: should a later insert fail, the session names an account but isn't signed in.
        session.insert(SECOND_STEP_KEY, crate::db::now_ms()).await?;
        forget_one_time_values(session, account_id).await?;
        session.insert(ACCOUNT_KEY, account_id).await?;
        session.insert(EPOCH_KEY, epoch).await?;
        return Ok(SignedIn::AfterSecondStep);
    }
    enter(session, db, account_id, epoch, user_agent).await?;
    Ok(SignedIn::Now)
}

/// The account whose sign-in waits for its second step on this session, and the epoch it
/// signed in under; `None` if none does, or it waited longer than
/// [`super::two_step::PENDING_SIGN_IN_MS`].
pub async fn awaiting_second_step(session: &Session) -> Option<(String, i64)> {
    let since = session.get::<i64>(SECOND_STEP_KEY).await.ok().flatten()?;
    if crate::db::now_ms() - since > super::two_step::PENDING_SIGN_IN_MS {
        return None;
    }
    let account_id = session.get::<String>(ACCOUNT_KEY).await.ok().flatten()?;
    let epoch = session.get::<i64>(EPOCH_KEY).await.ok().flatten()?;
    Some((account_id, epoch))
}

/// Keeps a signed-in browser signed in under its account's new epoch, after it ended every other
/// session (a password change, "sign out of all other devices"). Only for a request whose
/// session was signed in, second step included, when it began: nothing is asked again.
pub async fn keep_signed_in(
    session: &Session,
    db: &Db,
    account_id: &str,
    epoch: i64,
    user_agent: &str,
) -> Result<(), tower_sessions::session::Error> {
    enter(session, db, account_id, epoch, user_agent).await
}

/// The code was right: the waiting sign-in completes (a new session id again).
pub async fn finish_second_step(session: &Session, db: &Db, user_agent: &str) -> Result<(), tower_sessions::session::Error> {
    let Some((account_id, epoch)) = awaiting_second_step(session).await else {
        return Err(store_error_text("no sign-in waits for a second step"));
    };
    session.remove::<i64>(SECOND_STEP_KEY).await?;
    enter(session, db, &account_id, epoch, user_agent).await
}

/// Signs in for good: a new session id, a row in the devices list.
async fn enter(session: &Session, db: &Db, account_id: &str, epoch: i64, user_agent: &str) -> Result<(), tower_sessions::session::Error> {
    let previous_device = this_device(session).await;
    session.cycle_id().await?;
    // A second step started for another account and left is over: this sign-in replaces it.
    session.remove::<i64>(SECOND_STEP_KEY).await?;
    forget_one_time_values(session, account_id).await?;
    let device_id = uuid::Uuid::new_v4().simple().to_string();
    let now = crate::db::now_ms();
    // The description is the browser's own words, kept short: it is only ever shown, escaped.
    let user_agent: String = user_agent.chars().filter(|c| !c.is_control()).take(300).collect();
    super::store::insert_device(db, &device_id, account_id, epoch, &user_agent, now).await.map_err(store_error)?;
    if let Some(previous) = previous_device {
        super::store::delete_device(db, &previous).await.map_err(store_error)?;
    }
    session.insert(ACCOUNT_KEY, account_id).await?;
    session.insert(EPOCH_KEY, epoch).await?;
    session.insert(DEVICE_KEY, device_id).await?;
    session.insert(DEVICE_SEEN_KEY, now).await
}

/// Values shown once to the account that made them (new recovery codes, a new API token): a
/// browser that now signs in to another account never sees them.
pub const RECOVERY_CODES_KEY: &str = "fresh_recovery_codes";
pub const API_TOKEN_KEY: &str = "fresh_api_token";

async fn forget_one_time_values(session: &Session, account_id: &str) -> Result<(), tower_sessions::session::Error> {
    if session.get::<String>(ACCOUNT_KEY).await.ok().flatten().as_deref() != Some(account_id) {
        session.remove::<serde_json::Value>(RECOVERY_CODES_KEY).await?;
        session.remove::<serde_json::Value>(API_TOKEN_KEY).await?;
    }
    Ok(())
}

/// Signs out: deletes the server-side record, this browser's place in the devices list, and
/// clears the cookie.
pub async fn sign_out(session: &Session, db: &Db) -> Result<(), tower_sessions::session::Error> {
    if let Some(device_id) = this_device(session).await {
        super::store::delete_device(db, &device_id).await.map_err(store_error)?;
    }
    session.flush().await
}

fn store_error(e: sqlx::Error) -> tower_sessions::session::Error {
    store_error_text(&e.to_string())
}

fn store_error_text(e: &str) -> tower_sessions::session::Error {
    tower_sessions::session::Error::Store(session_store::Error::Backend(e.to_string()))
}

/// The session store of whichever backend the app runs on.
#[derive(Debug, Clone)]
pub enum SessionBackend {
    Sqlite(SqliteStore),
    /// The store, and the pool that also carries change announcements between app servers.
    Postgres(PostgresStore, sqlx::PgPool),
}

impl SessionBackend {
    /// Builds the store over the `session` table, which the migrations create (under the
    /// migrator's lock: servers starting together on a fresh database raced when each store
    /// created it). On PostgreSQL the table lives in the connection's current schema, next to
    /// the app's own tables.
    pub async fn for_db(db: &Db) -> Result<SessionBackend, sqlx::Error> {
        match db {
            Db::Sqlite(pool) => {
                let store = SqliteStore::new(pool.clone()).with_table_name("session").map_err(config_error)?;
                Ok(SessionBackend::Sqlite(store))
            }
            Db::Postgres(pool) => {
                let schema: String = sqlx::query_scalar("select current_schema()").fetch_one(pool).await?;
                let store = PostgresStore::new(pool.clone())
                    .with_schema_name(schema)
                    .and_then(|s| s.with_table_name("session"))
                    .map_err(config_error)?;
                Ok(SessionBackend::Postgres(store, pool.clone()))
            }
        }
    }
}

fn config_error(msg: String) -> sqlx::Error {
    sqlx::Error::Configuration(msg.into())
}

#[async_trait]
impl SessionStore for SessionBackend {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        match self {
            SessionBackend::Sqlite(s) => s.create(record).await,
            SessionBackend::Postgres(s, _) => s.create(record).await,
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        match self {
            SessionBackend::Sqlite(s) => s.save(record).await,
            SessionBackend::Postgres(s, _) => s.save(record).await,
        }
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        match self {
            SessionBackend::Sqlite(s) => s.load(id).await,
            SessionBackend::Postgres(s, _) => s.load(id).await,
        }
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        match self {
            SessionBackend::Sqlite(s) => s.delete(id).await,
            SessionBackend::Postgres(s, _) => s.delete(id).await,
        }
    }
}

#[async_trait]
impl ExpiredDeletion for SessionBackend {
    async fn delete_expired(&self) -> session_store::Result<()> {
        match self {
            SessionBackend::Sqlite(s) => s.delete_expired().await,
            SessionBackend::Postgres(s, _) => s.delete_expired().await,
        }
    }
}

/// The session store the app uses: the backend's table, with the records it has seen kept in
/// memory so that a signed-in request doesn't pay a database round trip just to learn who it
/// is (the wallet's one-click purchase is mostly that round trip otherwise).
///
/// Writes go to the database first, then to the cache. With several app servers on one
/// PostgreSQL, a server that changes or deletes a record (sign-out, id cycling at login)
/// announces it with `NOTIFY`, and every server drops its copy; a server whose listening
/// connection drops forgets everything it cached, since it may have missed announcements.
/// Cached records still expire on their own `expiry_date`, and at the latest after
/// [`CACHED_FOR`], which bounds how long a record can outlive a lost announcement.
#[derive(Debug, Clone)]
pub struct CachedSessions {
    backend: SessionBackend,
    records: moka::sync::Cache<Id, Arc<Record>>,
}

/// The longest a record is served from memory without a fresh read.
pub const CACHED_FOR: Duration = Duration::from_secs(60);

/// The PostgreSQL channel that carries "this session changed" between app servers.
const CHANNEL: &str = "clink_session_changed";

impl CachedSessions {
    pub fn new(backend: SessionBackend) -> CachedSessions {
        let records = moka::sync::Cache::builder().max_capacity(100_000).time_to_live(CACHED_FOR).build();
        CachedSessions { backend, records }
    }

    /// On PostgreSQL: listens for other servers' changes until the process ends. Returns at
    /// once on SQLite, where one process owns the database.
    pub async fn follow_other_servers(self) {
        let SessionBackend::Postgres(_, pool) = &self.backend else { return };
        crate::cluster::follow(pool.clone(), CHANNEL, |heard| match heard {
            Heard::Note(payload) => match payload.parse::<Id>() {
                Ok(id) => self.records.invalidate(&id),
                Err(_) => self.records.invalidate_all(),
            },
            Heard::MaybeMissed => self.records.invalidate_all(),
        })
        .await
    }

    /// Tells the other app servers to forget `id` (PostgreSQL only).
    async fn announce(&self, id: &Id) -> session_store::Result<()> {
        if let SessionBackend::Postgres(_, pool) = &self.backend {
            crate::cluster::announce(pool, CHANNEL, &id.to_string()).await.map_err(|e| session_store::Error::Backend(e.to_string()))?;
        }
        Ok(())
    }

    fn remember(&self, record: &Record) {
        self.records.insert(record.id, Arc::new(record.clone()));
    }
}

#[async_trait]
impl SessionStore for CachedSessions {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        // A new id (a fresh or cycled session): nobody else can hold a copy of it.
        self.backend.create(record).await?;
        self.remember(record);
        Ok(())
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        self.backend.save(record).await?;
        self.remember(record);
        self.announce(&record.id).await
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        if let Some(record) = self.records.get(id) {
            if record.expiry_date > OffsetDateTime::now_utc() {
                return Ok(Some(Record::clone(&record)));
            }
            self.records.invalidate(id);
        }
        let record = self.backend.load(id).await?;
        if let Some(record) = &record {
            self.remember(record);
        }
        Ok(record)
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.records.invalidate(id);
        self.backend.delete(id).await?;
        self.records.invalidate(id);
        self.announce(id).await
    }
}

#[async_trait]
impl ExpiredDeletion for CachedSessions {
    async fn delete_expired(&self) -> session_store::Result<()> {
        self.backend.delete_expired().await
    }
}
