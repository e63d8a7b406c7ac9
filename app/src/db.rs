//! The database handle: one enum over the two supported backends (SQLite embedded, PostgreSQL
//! for several app servers), so each store writes its SQL once and runs it on either.
//!
//! SQL is kept portable: integers for money and timestamps, text ids, `$n` placeholders (SQLite
//! accepts them too). The `on_db!` and `on_tx!` macros expand the same query for each backend,
//! so the type checker verifies it against both drivers. Where the dialects truly differ, a store
//! matches on the variant itself.

use std::{str::FromStr, time::Duration};

use sqlx::{
    Postgres, Sqlite, Transaction,
    migrate::MigrateError,
    postgres::{PgConnectOptions, PgPool, PgPoolOptions},
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous},
};

#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// A write transaction on either backend. Dropping it without `commit` rolls back.
pub enum Tx {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs `$body` with `$conn` bound to the backend's pool.
#[macro_export]
macro_rules! on_db {
    ($db:expr, $conn:ident => $body:expr) => {
        match $db {
            $crate::db::Db::Sqlite($conn) => $body,
            $crate::db::Db::Postgres($conn) => $body,
        }
    };
}

/// Stores a Rust enum as a text column on both databases: `$to_text` gives the stored word,
/// `$from_text` reads it back (`None` for a word it doesn't know, which is a decode error
/// naming `$kind`, never a default). Rows then hold the enum, and SQL binds it directly.
#[macro_export]
macro_rules! text_column {
    ($ty:ty, $kind:literal, $to_text:path, $from_text:path) => {
        impl<DB: sqlx::Database> sqlx::Type<DB> for $ty
        where
            str: sqlx::Type<DB>,
        {
            fn type_info() -> DB::TypeInfo {
                <str as sqlx::Type<DB>>::type_info()
            }

            fn compatible(ty: &DB::TypeInfo) -> bool {
                <str as sqlx::Type<DB>>::compatible(ty)
            }
        }

        impl<'q, DB: sqlx::Database> sqlx::Encode<'q, DB> for $ty
        where
            &'q str: sqlx::Encode<'q, DB>,
        {
            fn encode_by_ref(
                &self,
                buf: &mut <DB as sqlx::Database>::ArgumentBuffer<'q>,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                <&'q str as sqlx::Encode<'q, DB>>::encode($to_text(*self), buf)
            }
        }

        impl<'r, DB: sqlx::Database> sqlx::Decode<'r, DB> for $ty
        where
            &'r str: sqlx::Decode<'r, DB>,
        {
            fn decode(value: <DB as sqlx::Database>::ValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
                let text = <&'r str as sqlx::Decode<'r, DB>>::decode(value)?;
                $from_text(text).ok_or_else(|| format!("unknown {} {:?} in the database", $kind, text).into())
            }
        }
    };
}

/// Runs `$body` with `$conn` bound to the transaction's connection (`&mut Connection`).
#[macro_export]
macro_rules! on_tx {
    ($tx:expr, $conn:ident => $body:expr) => {
        match $tx {
            $crate::db::Tx::Sqlite(t) => {
                let $conn = &mut **t;
                $body
            }
            $crate::db::Tx::Postgres(t) => {
                let $conn = &mut **t;
                $body
            }
        }
    };
}

/// What a connection pool is for; on SQLite it decides the connections' settings.
#[derive(Debug, Clone, Copy)]
enum Role {
    /// The app's pool (8 SQLite or 16 PostgreSQL connections): every commit fsyncs
    /// (`synchronous=FULL`).
    Shared,
    /// The wallet writer's one connection (see `Db::connect_dedicated`).
    DedicatedWriter { commit_syncs: bool },
    /// One connection that copies the WAL into the database file (see `Db::connect_checkpointer`).
    Checkpointer,
}

impl Db {
    /// Connects to `url` (`sqlite://path` or `postgres://...`), creating a SQLite file if needed.
    pub async fn connect(url: &str) -> Result<Db, sqlx::Error> {
        Db::connect_with(url, Role::Shared).await
    }

    /// One connection of its own for a task that writes all the time (the wallet writer).
    /// On SQLite a connection drops its page cache whenever another connection has written;
    /// a writer that always runs on the same connection keeps its cache warm.
    ///
    /// `commit_syncs`: on SQLite, whether a commit fsyncs the WAL itself (`synchronous=FULL`).
    /// A caller that passes `false` must fsync the WAL (`{file}-wal`) before it tells
    /// anyone that what it committed is done.
    pub async fn connect_dedicated(url: &str, commit_syncs: bool) -> Result<Db, sqlx::Error> {
        Db::connect_with(url, Role::DedicatedWriter { commit_syncs }).await
    }

    /// One connection of its own for `checkpoint_wal`, so that a checkpoint never waits for a
    /// free connection of the app's pool nor holds one.
    pub async fn connect_checkpointer(url: &str) -> Result<Db, sqlx::Error> {
        Db::connect_with(url, Role::Checkpointer).await
    }

    /// A passive checkpoint of a SQLite database: copies what the WAL holds into the database
    /// file as far as no reader needs the WAL's older pages, without waiting for anyone or
    /// holding back writers (a writer keeps appending to the WAL meanwhile). Nothing to do on
    /// PostgreSQL.
    pub async fn checkpoint_wal(&self) -> Result<(), sqlx::Error> {
        match self {
            Db::Sqlite(pool) => sqlx::query("pragma wal_checkpoint(passive)").execute(pool).await.map(|_| ()),
            Db::Postgres(_) => Ok(()),
        }
    }

    /// Whether `url` names a SQLite database (else PostgreSQL).
    pub fn is_sqlite_url(url: &str) -> bool {
        url.starts_with("sqlite:")
    }

    /// The file of a file-backed SQLite database at `url` (None for PostgreSQL and in-memory
    /// databases).
    pub fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
        if !Db::is_sqlite_url(url) || url.contains(":memory:") || url.contains("mode=memory") {
            return None;
        }
        let options = SqliteConnectOptions::from_str(url).ok()?;
        let file = options.get_filename();
        file.file_name().map(|_| file.to_path_buf())
    }

    async fn connect_with(url: &str, role: Role) -> Result<Db, sqlx::Error> {
        let (sqlite_max, postgres_max) = match role {
            Role::Shared => (8, 16),
            Role::DedicatedWriter { .. } | Role::Checkpointer => (1, 1),
        };
        if Db::is_sqlite_url(url) {
            let sqlite_synchronous = match role {
                Role::DedicatedWriter { commit_syncs: false } => SqliteSynchronous::Normal,
                _ => SqliteSynchronous::Full,
            };
            let mut options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                // Only takes effect when the file is created. Wallet purchases write small rows
                // at many places of per-buyer and random-key indexes, one page per place, and every
                // dirtied page goes to the WAL and is fsynced: 2 KiB pages halve those bytes
                // (measured: about +15 % wallet purchases/s over 4 KiB; 1 KiB was slower).
                .page_size(2048)
                .journal_mode(SqliteJournalMode::Wal)
                // Every acknowledged purchase must survive a crash: fsync each commit (or, for
                // the wallet writer, the WAL before it answers).
                .synchronous(sqlite_synchronous)
                .foreign_keys(true)
                // A multi-row insert or update keeps a statement journal (a copy of every page it
                // changes, to undo just that statement). By default it spills to a temporary file
                // past 64 KiB, and a wallet batch's inserts always did: a write system call per
                // page, about an eighth of the wallet writer's SQLite time in a profile.
                .pragma("temp_store", "memory")
                .busy_timeout(Duration::from_secs(10));
            if let Role::DedicatedWriter { .. } = role {
                // The dedicated writer's multi-row inserts have one SQL text per table and row
                // count, up to 5 × 256 of them: sqlx's default of 100 cached statements made it
                // parse most of them again in every batch (about 6 % of its SQLite time).
                //
                // Its page cache is kept small (4 MiB) on purpose. When a b-tree split leaves
                // pages out of order, SQLite swaps them through the lock-byte page's number
                // (524,289 at 2 KiB pages), and at the end of that transaction it drops every
                // cached page above the database's end by walking the whole cache while the
                // database is under 1 GiB. With 64 MiB that walk was 12 % of the writer's
                // SQLite time in a profile at 64 clients; at 4 MiB it is under 2 %, and the
                // index pages a batch misses come from the OS page cache (A/B: about +8 %
                // purchases/s, -7 % server CPU per purchase; bench/README.md).
                options = options.pragma("cache_size", "-4096").statement_cache_capacity(1024);
            }
            if !matches!(sqlite_synchronous, SqliteSynchronous::Full) {
                // This connection's commits don't fsync, and its automatic checkpoint (run inside
                // a commit once the WAL holds this many pages: 8 MiB at 2 KiB pages) copies the
                // WAL into the database file and fsyncs both. Every 1,000 pages (the default), a
                // busy writer checkpointed every few commits and rewrote the same hot index
                // pages each time. Measured at 64 clients: 4,000 pages about +40 % purchases/s
                // over 1,000; 16,000 a few % more again, but each checkpoint then held the
                // purchases queued behind it for 40-90 ms (p99 ~70 ms against ~50 ms).
                //
                // Beside the batched wallet writer a checkpointer copies the WAL every few
                // milliseconds (`wallet::writer`), so this checkpoint only has the last few
                // commits left to copy; it is still needed, because only a writer that finds the
                // WAL fully copied when it begins starts the WAL file over instead of growing it.
                options = options.pragma("wal_autocheckpoint", "4000");
            }
            let pool =
                SqlitePoolOptions::new().max_connections(sqlite_max).acquire_timeout(Duration::from_secs(10)).connect_with(options).await?;
            Ok(Db::Sqlite(pool))
        } else {
            let options = PgConnectOptions::from_str(url)?;
            let pool =
                PgPoolOptions::new().max_connections(postgres_max).acquire_timeout(Duration::from_secs(10)).connect_with(options).await?;
            Ok(Db::Postgres(pool))
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    /// Applies the migrations of this backend (`migrations/sqlite` or `migrations/postgres`).
    ///
    /// On SQLite they run on a connection of their own with foreign keys off: a migration that
    /// changes a CHECK constraint rebuilds its table, and SQLite's manual has that done with
    /// foreign keys off, so that dropping the old table doesn't count its children as orphans
    /// (the rebuilt table takes its name back, and they point at it again). sqlx runs each
    /// migration in a transaction, where the pragma can't change.
    pub async fn migrate(&self) -> Result<(), MigrateError> {
        let migrator = self.migrator();
        match self {
            Db::Sqlite(pool) => {
                use sqlx::{ConnectOptions, Connection};
                let mut conn = (*pool.connect_options()).clone().foreign_keys(false).connect().await?;
                let migrated = migrator.run(&mut conn).await;
                conn.close().await?;
                migrated
            }
            Db::Postgres(pool) => migrator.run(pool).await,
        }
    }

    /// This backend's migrations, as built into the binary.
    fn migrator(&self) -> sqlx::migrate::Migrator {
        match self {
            Db::Sqlite(_) => sqlx::migrate!("../migrations/sqlite"),
            Db::Postgres(_) => sqlx::migrate!("../migrations/postgres"),
        }
    }

    /// The migrations this build has that the database hasn't applied yet, oldest first.
    pub async fn pending_migrations(&self) -> Result<Vec<i64>, sqlx::Error> {
        let applied: Vec<i64> = match on_db!(self, pool => sqlx::query_scalar("select version from _sqlx_migrations where success").fetch_all(pool).await)
        {
            Ok(versions) => versions,
            // No migrations table yet: a new database, nothing applied.
            Err(sqlx::Error::Database(_)) => Vec::new(),
            Err(err) => return Err(err),
        };
        Ok(self.migrator().iter().map(|m| m.version).filter(|v| !applied.contains(v)).collect())
    }

    /// Starts a write transaction. On SQLite this is `BEGIN IMMEDIATE`: a deferred transaction
    /// that reads and then writes fails with SQLITE_BUSY at once, whatever the busy timeout.
    pub async fn begin(&self) -> Result<Tx, sqlx::Error> {
        Ok(match self {
            Db::Sqlite(pool) => Tx::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?),
            Db::Postgres(pool) => Tx::Postgres(pool.begin().await?),
        })
    }

    /// A cheap round trip, for health checks.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        on_db!(self, pool => sqlx::query("select 1").execute(pool).await.map(|_| ()))
    }

    pub async fn close(&self) {
        on_db!(self, pool => pool.close().await)
    }
}

impl Tx {
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            Tx::Sqlite(t) => t.commit().await,
            Tx::Postgres(t) => t.commit().await,
        }
    }
}

/// True when `err` is a unique-constraint violation whose constraint or message names `what`
/// (a column or index name). Both backends report the offending index or columns.
pub fn is_unique_violation(err: &sqlx::Error, what: &str) -> bool {
    match err {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            db.constraint().is_some_and(|c| c.contains(what)) || db.message().contains(what)
        }
        _ => false,
    }
}

/// Appends `(value, value, ...)` to `q`, each value bound.
pub fn push_list<'a, DB: sqlx::Database>(q: &mut sqlx::QueryBuilder<'a, DB>, values: &[&'a str])
where
    &'a str: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    q.push("(");
    let mut list = q.separated(", ");
    for value in values {
        list.push_bind(*value);
    }
    q.push(")");
}

/// Whether `DB` is SQLite (for SQL written generically over the driver).
pub fn is_sqlite<DB: sqlx::Database>() -> bool {
    DB::NAME == <Sqlite as sqlx::Database>::NAME
}

/// Statements sent together: on SQLite as one string of statements, which the connection's
/// thread runs in order in one round trip (sqlx numbers `?` binds on across them); on
/// PostgreSQL, whose prepared statements hold one statement each, one after the other.
///
/// Why: every round trip to a SQLite connection is a message to its thread and one back, each
/// waking the other side. The wallet writer's batch was about twenty of them, and waking took
/// a larger share of the writer's time than building the statements did.
///
/// sqlx 0.8 (pinned) runs every statement of a SQLite query string and calls that deprecated
/// (launchbadge/sqlx#3108); should an upgrade stop it, `together` must become false here and
/// the statements run one by one, as on PostgreSQL.
pub struct Statements<'a, DB: sqlx::Database> {
    queries: Vec<sqlx::QueryBuilder<'a, DB>>,
    together: bool,
    statements: usize,
}

/// A connection `Statements` can run on.
pub trait StatementsConnection {
    type Db: sqlx::Database;
    fn execute<'a>(&mut self, query: &mut sqlx::QueryBuilder<'a, Self::Db>) -> impl Future<Output = Result<(), sqlx::Error>> + Send;
    /// The rows of each statement in `query`, in order.
    fn fetch_each<'a>(
        &mut self,
        query: &mut sqlx::QueryBuilder<'a, Self::Db>,
    ) -> impl Future<Output = Result<Vec<Vec<<Self::Db as sqlx::Database>::Row>>, sqlx::Error>> + Send;
}

impl StatementsConnection for sqlx::SqliteConnection {
    type Db = Sqlite;
    async fn execute<'a>(&mut self, query: &mut sqlx::QueryBuilder<'a, Sqlite>) -> Result<(), sqlx::Error> {
        query.build().execute(self).await.map(|_| ())
    }

    async fn fetch_each<'a>(
        &mut self,
        query: &mut sqlx::QueryBuilder<'a, Sqlite>,
    ) -> Result<Vec<Vec<sqlx::sqlite::SqliteRow>>, sqlx::Error> {
        use futures::TryStreamExt;
        use sqlx::Executor;
        // Each statement's rows come before the result that ends it.
        let mut each = Vec::new();
        let mut rows = Vec::new();
        let mut steps = self.fetch_many(query.build());
        while let Some(step) = steps.try_next().await? {
            match step {
                sqlx::Either::Left(_) => each.push(std::mem::take(&mut rows)),
                sqlx::Either::Right(row) => rows.push(row),
            }
        }
        Ok(each)
    }
}

impl StatementsConnection for sqlx::PgConnection {
    type Db = Postgres;
    async fn execute<'a>(&mut self, query: &mut sqlx::QueryBuilder<'a, Postgres>) -> Result<(), sqlx::Error> {
        query.build().execute(self).await.map(|_| ())
    }

    async fn fetch_each<'a>(
        &mut self,
        query: &mut sqlx::QueryBuilder<'a, Postgres>,
    ) -> Result<Vec<Vec<sqlx::postgres::PgRow>>, sqlx::Error> {
        Ok(vec![query.build().fetch_all(self).await?])
    }
}

impl<'a, DB: sqlx::Database> Default for Statements<'a, DB>
where
    DB::Arguments<'a>: Default,
{
    fn default() -> Self {
        Self::new()
    }
}

impl<'a, DB: sqlx::Database> Statements<'a, DB>
where
    DB::Arguments<'a>: Default,
{
    pub fn new() -> Self {
        Statements { queries: Vec::new(), together: is_sqlite::<DB>(), statements: 0 }
    }

    /// Starts the next statement with `sql`; its values go on the builder returned.
    pub fn next(&mut self, sql: &str) -> &mut sqlx::QueryBuilder<'a, DB> {
        self.statements += 1;
        match self.queries.last_mut() {
            Some(query) if self.together => {
                query.push("; ").push(sql);
            }
            _ => self.queries.push(sqlx::QueryBuilder::new(sql)),
        }
        self.queries.last_mut().expect("a statement was just started")
    }

    /// Runs the statements, in order.
    pub async fn run<C: StatementsConnection<Db = DB>>(self, conn: &mut C) -> Result<(), sqlx::Error> {
        for mut query in self.queries {
            conn.execute(&mut query).await?;
        }
        Ok(())
    }

    /// Runs the statements (queries), in order, and returns the rows of each.
    pub async fn fetch<C: StatementsConnection<Db = DB>>(self, conn: &mut C) -> Result<Vec<Vec<DB::Row>>, sqlx::Error> {
        let mut each = Vec::with_capacity(self.statements);
        for mut query in self.queries {
            each.extend(conn.fetch_each(&mut query).await?);
        }
        if each.len() != self.statements {
            return Err(sqlx::Error::Protocol(format!("{} statements answered {} results", self.statements, each.len())));
        }
        Ok(each)
    }
}

/// `Statements` on whichever backend a transaction runs: what the multi-row builders of each
/// area's store push into, so that a caller (the sale core) sends many areas' writes together
/// without spelling out their SQL or the backends' types.
pub enum Writes<'a> {
    Sqlite(Statements<'a, Sqlite>),
    Postgres(Statements<'a, Postgres>),
}

/// Runs `$body` with `$s` bound to the backend's `Statements` of a `Writes`.
#[macro_export]
macro_rules! on_writes {
    ($w:expr, $s:ident => $body:expr) => {
        match $w {
            $crate::db::Writes::Sqlite($s) => $body,
            $crate::db::Writes::Postgres($s) => $body,
        }
    };
}

impl<'a> Writes<'a> {
    /// Empty writes for the backend of `tx`.
    pub fn for_tx(tx: &Tx) -> Writes<'a> {
        match tx {
            Tx::Sqlite(_) => Writes::Sqlite(Statements::new()),
            Tx::Postgres(_) => Writes::Postgres(Statements::new()),
        }
    }

    /// Runs every statement, in order, in `tx`.
    pub async fn run(self, tx: &mut Tx) -> Result<(), sqlx::Error> {
        match (self, tx) {
            (Writes::Sqlite(s), Tx::Sqlite(t)) => s.run(&mut **t).await,
            (Writes::Postgres(s), Tx::Postgres(t)) => s.run(&mut **t).await,
            _ => Err(sqlx::Error::Protocol("writes built for one backend, run on the other".into())),
        }
    }
}

/// The rows of a SQLite query that answers one row of JSON (`json_group_array(json_array(...))`),
/// decoded into tuples.
pub fn from_json_row<T: serde::de::DeserializeOwned>(json: String) -> Result<Vec<T>, sqlx::Error> {
    serde_json::from_str(&json).map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

/// How often a transaction that lost a lock conflict is tried again before its caller gets an
/// error.
pub const LOCK_CONFLICT_RETRIES: u32 = 3;

/// PostgreSQL failed the transaction to break a deadlock with another one (or its
/// serialization check did): nothing of it was committed, and the same work in a new
/// transaction goes through once the other has. With several app servers, two of them may
/// write the same ledger accounts (a creator's earnings, the platform's fees) at once.
pub fn is_lock_conflict(err: &sqlx::Error) -> bool {
    if let Some(code) = err.as_database_error().and_then(|e| e.code()) {
        return code == "40P01" || code == "40001";
    }
    // Errors of a multi-statement round trip arrive as text.
    let text = err.to_string();
    text.contains("deadlock detected") || text.contains("could not serialize access")
}

/// Milliseconds since the Unix epoch: the one timestamp representation in the database.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// A fresh time-ordered identifier, stored as text on both backends.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_file_is_the_database_file_of_file_urls_only() {
        assert_eq!(Db::sqlite_file("sqlite:///var/lib/clink/clink.db"), Some("/var/lib/clink/clink.db".into()));
        assert_eq!(Db::sqlite_file("sqlite://data/clink.db?mode=rwc"), Some("data/clink.db".into()));
        assert_eq!(Db::sqlite_file("sqlite::memory:"), None);
        assert_eq!(Db::sqlite_file("sqlite://clink.db?mode=memory"), None);
        assert_eq!(Db::sqlite_file("postgres://postgres@127.0.0.1:5432/clink"), None);
    }

    /// The settings durability and the wallet writer's speed rest on, read back from SQLite.
    #[test]
    fn sqlite_connections_are_durable_and_the_writer_keeps_its_journals_in_memory() {
        let dir = std::env::temp_dir().join(format!("clink-db-settings-{}", new_id()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}", dir.join("clink.db").display());
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            // (journal_mode, synchronous, temp_store, page_size, cache_size)
            let pragmas = |db: Db| async move {
                let Db::Sqlite(pool) = &db else { unreachable!("a sqlite URL gives a SQLite pool") };
                let journal_mode: String = sqlx::query_scalar("pragma journal_mode").fetch_one(pool).await.unwrap();
                let mut numbers = Vec::new();
                for pragma in ["synchronous", "temp_store", "page_size", "cache_size"] {
                    numbers.push(sqlx::query_scalar::<_, i64>(&format!("pragma {pragma}")).fetch_one(pool).await.unwrap());
                }
                db.close().await;
                (journal_mode, numbers)
            };
            // synchronous 2 = FULL, 1 = NORMAL; temp_store 2 = MEMORY; a negative cache_size is KiB.
            let (journal, pool) = pragmas(Db::connect(&url).await.unwrap()).await;
            assert_eq!((journal.as_str(), &pool[..3]), ("wal", &[2, 2, 2048][..]));
            let (journal, writer) = pragmas(Db::connect_dedicated(&url, false).await.unwrap()).await;
            assert_eq!((journal.as_str(), &writer[..]), ("wal", &[1, 2, 2048, -4096][..]));
            let (_, baseline_writer) = pragmas(Db::connect_dedicated(&url, true).await.unwrap()).await;
            assert_eq!(baseline_writer[0], 2);
        });
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
