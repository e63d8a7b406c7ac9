//! Group commit: one writer that commits many callers' work in one transaction.
//!
//! With SQLite at `synchronous=FULL`, every commit waits for an fsync: one piece of work per
//! transaction tops out at the disk's fsync rate. A `GroupCommit` owns a dedicated connection on
//! a thread of its own; it takes every item waiting in its queue (up to `max_batch`), hands
//! them to its `BatchWork`, which applies them inside ONE transaction and commits, and only then
//! answers each caller. No caller hears "done" before the commit that holds its item is on disk,
//! but one fsync now carries many items, and on SQLite that fsync runs beside the next batch
//! instead of before it (`Answering`).
//!
//! The engine knows nothing of what it commits: queue, batching, the retry of a batch that lost
//! a lock conflict, reconnecting after a failure, WAL syncing and checkpointing are here; what a
//! batch writes and decides is the `BatchWork`'s (the wallet's purchases, `wallet::writer`).

use std::{
    future::Future,
    path::{Path, PathBuf},
    sync::Arc,
};

use tokio::sync::{mpsc, oneshot};

use crate::db::{Db, LOCK_CONFLICT_RETRIES};

/// What a group-commit writer does with a batch.
pub trait BatchWork: Send + 'static {
    type Item: Send + 'static;
    type Outcome: Send + 'static;
    type Error: std::error::Error + Send + Sync + 'static;

    /// Applies `batch` in one transaction on `db` and commits it: one outcome per item, in the
    /// batch's order. If it fails, nothing of the batch may stay committed.
    fn commit(&mut self, db: &Db, batch: &[&Self::Item]) -> impl Future<Output = Result<Vec<Self::Outcome>, Self::Error>>;

    /// Whether the same batch may go through in a new transaction: another writer held rows it
    /// needed, and the database failed this transaction to break a deadlock.
    fn worth_retrying(&self, err: &Self::Error) -> bool;

    /// A batch failed: forget anything remembered across batches that its transaction held.
    fn forget_uncommitted(&mut self);
}

/// Why a caller got no outcome. The batch's error is shared by every caller in the batch.
#[derive(Debug, thiserror::Error)]
pub enum CommitError<E: std::error::Error + 'static> {
    #[error("the {0} writer has stopped")]
    Stopped(&'static str),
    #[error("the batch failed; nothing in it was committed: {0}")]
    Failed(#[source] Arc<E>),
    /// Committed, but the WAL could not be synced: it may be lost in a crash. A retry with the
    /// same idempotency key finds the item if it is there.
    #[error("the batch was committed but could not be made durable: {0}")]
    NotDurable(#[source] Arc<std::io::Error>),
}

impl<E: std::error::Error + 'static> Clone for CommitError<E> {
    fn clone(&self) -> Self {
        match self {
            CommitError::Stopped(name) => CommitError::Stopped(name),
            CommitError::Failed(err) => CommitError::Failed(err.clone()),
            CommitError::NotDurable(err) => CommitError::NotDurable(err.clone()),
        }
    }
}

type Answer<W> = Result<<W as BatchWork>::Outcome, CommitError<<W as BatchWork>::Error>>;
type Reply<W> = (oneshot::Sender<Answer<W>>, Answer<W>);

struct Job<W: BatchWork> {
    item: W::Item,
    reply: oneshot::Sender<Answer<W>>,
}

/// The handle callers submit work through; cheap to clone.
pub struct GroupCommit<W: BatchWork> {
    name: &'static str,
    queue: mpsc::Sender<Job<W>>,
}

impl<W: BatchWork> Clone for GroupCommit<W> {
    fn clone(&self) -> Self {
        GroupCommit { name: self.name, queue: self.queue.clone() }
    }
}

impl<W: BatchWork> GroupCommit<W> {
    /// Starts the writer for `name` (its threads are `{name}-writer` and `{name}-wal-sync`) on a
    /// thread of its own, with its own
    /// database connection, and returns once that connection is open. `max_batch` = 1 gives one
    /// item per transaction (the baseline benchmarks compare against).
    ///
    /// Why a thread: a batch is a dozen statements in a row, each a round trip to the
    /// connection. As a task among the HTTP tasks, the writer waited behind them for every one
    /// of those round trips, and every caller waits for the writer.
    pub async fn start(name: &'static str, database_url: &str, max_batch: usize, work: W) -> Result<GroupCommit<W>, sqlx::Error> {
        let (queue, jobs) = mpsc::channel::<Job<W>>(16 * 1024);
        let (ready, opened) = oneshot::channel::<Result<(), sqlx::Error>>();
        let url = database_url.to_string();
        let max_batch = max_batch.max(1);
        // On SQLite with batches, a batch's fsync overlaps the next batch's work (see
        // `Answering`). One item per transaction stays the plain fsync-per-commit baseline.
        let sqlite_file = if max_batch > 1 { Db::sqlite_file(&url) } else { None };
        let answering = match sqlite_file {
            Some(database_file) => Answering::after_wal_sync(name, database_file).map_err(sqlx::Error::Io)?,
            None => Answering::AtCommit,
        };
        let commit_syncs = matches!(answering, Answering::AtCommit);
        let checkpoint_beside = !commit_syncs;
        // On SQLite the writer touches no socket, so its runtime has no I/O driver and parks on
        // a condition variable; PostgreSQL talks TCP. (Measured: waking the writer costs its
        // connection's thread about a tenth of its time either way, eventfd or futex; what
        // saves that is fewer messages per batch.)
        let mut runtime = tokio::runtime::Builder::new_current_thread();
        if Db::is_sqlite_url(&url) {
            runtime.enable_time();
        } else {
            runtime.enable_all();
        }
        let runtime = runtime.build().map_err(sqlx::Error::Io)?;
        std::thread::Builder::new()
            .name(format!("{name}-writer"))
            .spawn(move || {
                runtime.block_on(async move {
                    let opened = async {
                        let db = Db::connect_dedicated(&url, commit_syncs).await?;
                        let checkpointer = if checkpoint_beside { Some(Db::connect_checkpointer(&url).await?) } else { None };
                        Ok::<_, sqlx::Error>((db, checkpointer))
                    };
                    let (db, checkpointer) = match opened.await {
                        Ok(opened) => {
                            let _ = ready.send(Ok(()));
                            opened
                        }
                        Err(err) => {
                            let _ = ready.send(Err(err));
                            return;
                        }
                    };
                    let (stop_checkpoints, stopped) = oneshot::channel::<()>();
                    let checkpoints = checkpointer.map(|c| tokio::spawn(checkpoint_beside_the_writer(name, c, stopped)));
                    let reconnect = move || {
                        let url = url.clone();
                        async move { Db::connect_dedicated(&url, commit_syncs).await }
                    };
                    run(name, work, db, reconnect, jobs, max_batch, answering).await;
                    drop(stop_checkpoints);
                    if let Some(checkpoints) = checkpoints {
                        let _ = checkpoints.await;
                    }
                })
            })
            .map_err(sqlx::Error::Io)?;
        match opened.await {
            Ok(connected) => connected?,
            // The thread ended without a word: it panicked while connecting.
            Err(_) => return Err(sqlx::Error::PoolClosed),
        }
        Ok(GroupCommit { name, queue })
    }

    /// Queues `item` and waits until the transaction holding it has committed (and is durable).
    pub async fn submit(&self, item: W::Item) -> Answer<W> {
        let (reply, answer) = oneshot::channel();
        self.queue.send(Job { item, reply }).await.map_err(|_| CommitError::Stopped(self.name))?;
        answer.await.unwrap_or(Err(CommitError::Stopped(self.name)))
    }
}

/// When the callers of a committed batch hear their outcome.
///
/// A SQLite commit at `synchronous=FULL` writes the batch to the WAL and fsyncs it, and the
/// writer sits idle for the fsync: the next batch waits behind it although the disk could take
/// its writes. So on SQLite the writer's own connection commits at `synchronous=NORMAL` (the
/// commit writes the WAL, no fsync) and hands the batch's answers to a syncer thread, which
/// fsyncs the WAL file and only then answers, while the writer already applies the next batch.
/// The guarantee is the one `FULL` gives: nobody hears "done" before the WAL frames holding
/// their item are on disk. After a crash SQLite replays the WAL up to the last intact commit,
/// so an unsynced later batch can be lost only together with everything after it, and nothing
/// in it was ever acknowledged. The other connections keep `FULL` (their fsyncs cover the
/// writer's frames too), and SQLite syncs the WAL before every checkpoint at `NORMAL`. For the
/// millisecond between commit and fsync other connections can already read the batch (a
/// creator's dashboard could show a sale that a power cut then takes back); no buyer holds a
/// download token for it, since the token comes with the answer.
enum Answering<W: BatchWork> {
    /// The commit was durable when it returned (SQLite at `FULL`, PostgreSQL).
    AtCommit,
    /// The commit only wrote the WAL: the syncer answers after fsyncing it.
    AfterWalSync(std::sync::mpsc::Sender<Vec<Reply<W>>>),
}

impl<W: BatchWork> Answering<W> {
    fn after_wal_sync(name: &'static str, database_file: PathBuf) -> std::io::Result<Answering<W>> {
        let (batches, committed) = std::sync::mpsc::channel::<Vec<Reply<W>>>();
        std::thread::Builder::new().name(format!("{name}-wal-sync")).spawn(move || wal_syncer::<W>(name, &database_file, committed))?;
        Ok(Answering::AfterWalSync(batches))
    }

    /// Answers a committed batch once it is durable.
    fn committed(&self, name: &'static str, replies: Vec<Reply<W>>) {
        match self {
            Answering::AtCommit => answer::<W>(replies),
            Answering::AfterWalSync(syncer) => {
                if let Err(std::sync::mpsc::SendError(replies)) = syncer.send(replies) {
                    answer::<W>(replies.into_iter().map(|(reply, _)| (reply, Err(CommitError::Stopped(name)))).collect());
                }
            }
        }
    }
}

fn answer<W: BatchWork>(replies: Vec<Reply<W>>) {
    for (reply, outcome) in replies {
        let _ = reply.send(outcome);
    }
}

/// Takes every committed batch waiting, fsyncs the WAL once for all of them, answers them.
fn wal_syncer<W: BatchWork>(name: &'static str, database_file: &Path, committed: std::sync::mpsc::Receiver<Vec<Reply<W>>>) {
    while let Ok(first) = committed.recv() {
        let mut waiting = vec![first];
        waiting.extend(committed.try_iter());
        let synced = sync_wal(database_file).map_err(Arc::new);
        if let Err(err) = &synced {
            // The batches are committed but maybe not on disk: their callers get an error and
            // retry with the same idempotency key, which finds the item if it is there.
            tracing::error!(error = %err, writer = name, file = %database_file.display(), "could not fsync the writer's WAL");
        }
        for (reply, outcome) in waiting.into_iter().flatten() {
            let _ = reply.send(match &synced {
                Ok(()) => outcome,
                Err(err) => Err(CommitError::NotDurable(err.clone())),
            });
        }
    }
}

/// fsyncs the WAL of `database_file`, opened afresh each time: SQLite deletes the WAL when its
/// last connection closes and creates a new one later, so a descriptor kept open could point at
/// a file no longer in use. With no WAL, SQLite has checkpointed everything into the database
/// file: sync that instead.
fn sync_wal(database_file: &Path) -> std::io::Result<()> {
    let mut wal_file = database_file.as_os_str().to_owned();
    wal_file.push("-wal");
    match std::fs::File::open(&wal_file) {
        Ok(wal) => wal.sync_data(),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => std::fs::File::open(database_file)?.sync_data(),
        Err(err) => Err(err),
    }
}

/// How often the checkpointer copies the WAL into the database file.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(25);

/// Copies the WAL into the database file every `CHECKPOINT_EVERY`, on a connection of its own,
/// until `stop` is dropped.
///
/// Why: SQLite checkpoints inside the commit that makes the WAL reach `wal_autocheckpoint`
/// frames, so the writer copied thousands of pages and fsynced the database file while every
/// caller queued behind it (16 % of its SQLite thread in a profile at 64 clients). A passive
/// checkpoint from another connection runs beside the writer, which keeps appending meanwhile;
/// the writer's own checkpoint then finds little left to copy. Copying more often copies a
/// page changed by every batch (a balance, an index's last page) more often, so this is a
/// trade of total work for less work on the writer's path, on a machine where that path is
/// the bottleneck and other cores have time.
async fn checkpoint_beside_the_writer(name: &'static str, checkpointer: Db, mut stop: oneshot::Receiver<()>) {
    let mut every = tokio::time::interval(CHECKPOINT_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = every.tick() => {}
        }
        if let Err(err) = checkpointer.checkpoint_wal().await {
            // The writer's own automatic checkpoint still bounds the WAL.
            tracing::warn!(error = %err, writer = name, "checkpoint beside the writer failed");
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
    }
    checkpointer.close().await;
}

/// The writer's loop: take what is waiting, commit it as one transaction, answer, repeat. Ends
/// when every sender is gone (the app shut down).
///
/// A failed batch (a full disk, a lost database connection) leaves its connection in a state
/// no one can vouch for: sqlx's rollback may itself have failed, and every later `BEGIN` then
/// fails with "non-zero transaction depth". So after a failure the writer drops its connection
/// and opens a fresh one (retrying while the database refuses) before the next batch: it goes
/// on by itself once the cause is gone, with nothing half-written (the failed batch's callers
/// were told, and retry with their idempotency keys).
async fn run<W, R, F>(
    name: &'static str,
    mut work: W,
    mut db: Db,
    reconnect: R,
    mut jobs: mpsc::Receiver<Job<W>>,
    max_batch: usize,
    answering: Answering<W>,
) where
    W: BatchWork,
    R: Fn() -> F,
    F: Future<Output = Result<Db, sqlx::Error>>,
{
    while let Some(first) = jobs.recv().await {
        let mut batch = vec![first];
        while batch.len() < max_batch {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let items: Vec<&W::Item> = batch.iter().map(|j| &j.item).collect();
        let mut retries = 0;
        let committed = loop {
            match work.commit(&db, &items).await {
                Err(err) if retries < LOCK_CONFLICT_RETRIES && work.worth_retrying(&err) => {
                    retries += 1;
                    work.forget_uncommitted();
                    tracing::warn!(error = %err, writer = name, size = batch.len(), retries, "batch met another writer's locks; trying it again");
                    // A moment apart, at random: two writers that deadlocked and retried at
                    // once would meet again in the same order.
                    tokio::time::sleep(std::time::Duration::from_millis(rand::random_range(1..=5 * u64::from(retries)))).await;
                }
                other => break other,
            }
        };
        match committed {
            Ok(outcomes) => {
                answering.committed(name, batch.into_iter().zip(outcomes).map(|(job, outcome)| (job.reply, Ok(outcome))).collect())
            }
            Err(err) => {
                tracing::error!(error = %err, writer = name, size = batch.len(), "batch failed; nothing in it was committed");
                work.forget_uncommitted();
                let err = Arc::new(err);
                answer::<W>(batch.into_iter().map(|job| (job.reply, Err(CommitError::Failed(err.clone())))).collect());
                db.close().await;
                db = loop {
                    match reconnect().await {
                        Ok(fresh) => break fresh,
                        Err(e) => {
                            tracing::error!(error = %e, writer = name, "the writer could not reconnect; retrying");
                            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                        }
                    }
                };
            }
        }
    }
    db.close().await;
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// Records each batch's size, and fails the first `conflicts` commits with a retryable error.
    struct Counting {
        batches: Arc<std::sync::Mutex<Vec<usize>>>,
        conflicts: Arc<AtomicUsize>,
        forgotten: Arc<AtomicUsize>,
    }

    #[derive(Debug, thiserror::Error)]
    #[error("conflict")]
    struct Conflict;

    impl BatchWork for Counting {
        type Item = u32;
        type Outcome = u32;
        type Error = Conflict;

        async fn commit(&mut self, db: &Db, batch: &[&u32]) -> Result<Vec<u32>, Conflict> {
            // The batch runs on the writer's own connection.
            let one: i64 =
                crate::on_db!(db, pool => sqlx::query_scalar("select 1").fetch_one(pool).await).expect("the writer's connection");
            assert_eq!(one, 1);
            if self.conflicts.load(Ordering::SeqCst) > 0 {
                self.conflicts.fetch_sub(1, Ordering::SeqCst);
                return Err(Conflict);
            }
            self.batches.lock().unwrap().push(batch.len());
            Ok(batch.iter().map(|n| **n * 2).collect())
        }

        fn worth_retrying(&self, _: &Conflict) -> bool {
            true
        }

        fn forget_uncommitted(&mut self) {
            self.forgotten.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counting(conflicts: usize) -> (Counting, Arc<std::sync::Mutex<Vec<usize>>>, Arc<AtomicUsize>) {
        let batches = Arc::new(std::sync::Mutex::new(Vec::new()));
        let forgotten = Arc::new(AtomicUsize::new(0));
        let work = Counting { batches: batches.clone(), conflicts: Arc::new(AtomicUsize::new(conflicts)), forgotten: forgotten.clone() };
        (work, batches, forgotten)
    }

    /// A SQLite database file of its own for one test.
    fn scratch_database(test: &str) -> String {
        let file = std::env::temp_dir().join(format!("clink-group-commit-{test}-{}.db", std::process::id()));
        for suffix in ["", "-wal", "-shm"] {
            let mut path = file.clone().into_os_string();
            path.push(suffix);
            let _ = std::fs::remove_file(path);
        }
        format!("sqlite://{}?mode=rwc", file.display())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn items_waiting_together_share_a_commit_and_each_gets_its_own_outcome() {
        let url = scratch_database("share");
        let (work, batches, _) = counting(0);
        let writer = GroupCommit::start("test", &url, 64, work).await.unwrap();
        let answers = futures::future::join_all((0..200u32).map(|n| {
            let writer = writer.clone();
            async move { writer.submit(n).await }
        }))
        .await;
        for (n, answer) in answers.into_iter().enumerate() {
            assert_eq!(answer.unwrap(), n as u32 * 2);
        }
        let batches = batches.lock().unwrap().clone();
        assert_eq!(batches.iter().sum::<usize>(), 200);
        assert!(batches.iter().all(|&size| size <= 64), "{batches:?}");
        assert!(batches.len() < 200, "200 callers at once made {} commits", batches.len());
    }

    #[tokio::test]
    async fn a_batch_that_lost_a_lock_conflict_is_tried_again_then_given_up() {
        let url = scratch_database("retry");
        let (work, _, forgotten) = counting(2);
        let writer = GroupCommit::start("test", &url, 8, work).await.unwrap();
        assert_eq!(writer.submit(21).await.unwrap(), 42);
        assert_eq!(forgotten.load(Ordering::SeqCst), 2);

        let (work, _, _) = counting(LOCK_CONFLICT_RETRIES as usize + 1);
        let writer = GroupCommit::start("test", &url, 8, work).await.unwrap();
        let err = writer.submit(1).await.unwrap_err();
        assert!(matches!(err, CommitError::Failed(_)), "{err:?}");
        // The writer reconnected and goes on.
        assert_eq!(writer.submit(2).await.unwrap(), 4);
    }
}
