//! Server-side sessions: tower-sessions records in the app's own database.

use async_trait::async_trait;
use tower_sessions::{
    ExpiredDeletion, Session, SessionStore,
    session::{Id, Record},
    session_store,
};
use tower_sessions_sqlx_store::{PostgresStore, SqliteStore};

use crate::db::Db;

const ACCOUNT_KEY: &str = "account_id";

/// The account signed in on this session, if any.
pub async fn signed_in_account_id(session: &Session) -> Option<String> {
    session.get::<String>(ACCOUNT_KEY).await.ok().flatten()
}

/// Signs `account_id` in. The session id is cycled first, so an id planted before login
/// (session fixation) is worthless afterwards.
pub async fn sign_in(session: &Session, account_id: &str) -> Result<(), tower_sessions::session::Error> {
    session.cycle_id().await?;
    session.insert(ACCOUNT_KEY, account_id).await
}

/// Signs out: deletes the server-side record and clears the cookie.
pub async fn sign_out(session: &Session) -> Result<(), tower_sessions::session::Error> {
    session.flush().await
}

/// The session store of whichever backend the app runs on.
#[derive(Debug, Clone)]
pub enum SessionBackend {
    Sqlite(SqliteStore),
    Postgres(PostgresStore),
}

impl SessionBackend {
    /// Builds the store and creates its table. On PostgreSQL the table lives in the connection's
    /// current schema, next to the app's own tables.
    pub async fn for_db(db: &Db) -> Result<SessionBackend, sqlx::Error> {
        match db {
            Db::Sqlite(pool) => {
                let store = SqliteStore::new(pool.clone()).with_table_name("session").map_err(config_error)?;
                store.migrate().await?;
                Ok(SessionBackend::Sqlite(store))
            }
            Db::Postgres(pool) => {
                let schema: String = sqlx::query_scalar("select current_schema()").fetch_one(pool).await?;
                let store = PostgresStore::new(pool.clone())
                    .with_schema_name(schema)
                    .and_then(|s| s.with_table_name("session"))
                    .map_err(config_error)?;
                store.migrate().await?;
                Ok(SessionBackend::Postgres(store))
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
            SessionBackend::Postgres(s) => s.create(record).await,
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        match self {
            SessionBackend::Sqlite(s) => s.save(record).await,
            SessionBackend::Postgres(s) => s.save(record).await,
        }
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        match self {
            SessionBackend::Sqlite(s) => s.load(id).await,
            SessionBackend::Postgres(s) => s.load(id).await,
        }
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        match self {
            SessionBackend::Sqlite(s) => s.delete(id).await,
            SessionBackend::Postgres(s) => s.delete(id).await,
        }
    }
}

#[async_trait]
impl ExpiredDeletion for SessionBackend {
    async fn delete_expired(&self) -> session_store::Result<()> {
        match self {
            SessionBackend::Sqlite(s) => s.delete_expired().await,
            SessionBackend::Postgres(s) => s.delete_expired().await,
        }
    }
}
