//! Link-page view counting. A view costs a hash-map increment on the request path; a
//! background task adds the counts to `view_bucket` (per work, hour and source) every few
//! seconds, so the link page never waits on a database write.

use std::{collections::HashMap, sync::Mutex};

use crate::{catalog::service::LinkRef, db::Db, on_db};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ViewKey {
    link: LinkRef,
    hour: i64,
    source: String,
}

#[derive(Debug, Default)]
pub struct ViewCounter {
    pending: Mutex<HashMap<ViewKey, i64>>,
}

pub const MS_PER_HOUR: i64 = 3_600_000;

impl ViewCounter {
    pub fn record(&self, link: LinkRef, source: String, at_ms: i64) {
        let key = ViewKey { link, hour: at_ms.div_euclid(MS_PER_HOUR), source };
        if let Ok(mut pending) = self.pending.lock() {
            *pending.entry(key).or_insert(0) += 1;
        }
    }

    /// Adds the pending counts to the database. Counts for links that don't resolve to a live
    /// work are dropped. On a database error the batch is put back for the next flush.
    pub async fn flush(&self, db: &Db) -> Result<usize, sqlx::Error> {
        let batch: Vec<(ViewKey, i64)> = match self.pending.lock() {
            Ok(mut pending) => pending.drain().collect(),
            Err(_) => return Ok(0),
        };
        if batch.is_empty() {
            return Ok(0);
        }
        let result = write_batch(db, &batch).await;
        if result.is_err() {
            if let Ok(mut pending) = self.pending.lock() {
                for (key, n) in batch {
                    *pending.entry(key).or_insert(0) += n;
                }
            }
        }
        result
    }
}

async fn write_batch(db: &Db, batch: &[(ViewKey, i64)]) -> Result<usize, sqlx::Error> {
    // The `where` on each select also keeps SQLite's parser from reading `on conflict` as part
    // of a join.
    const BY_CODE: &str = "insert into view_bucket (work_id, creator_id, hour, source, views) \
         select w.work_id, w.creator_id, $1, $2, $3 from work w where w.code = $4 \
         on conflict (work_id, hour, source) do update set views = view_bucket.views + excluded.views";
    const BY_SLUG: &str = "insert into view_bucket (work_id, creator_id, hour, source, views) \
         select w.work_id, w.creator_id, $1, $2, $3 from work w join account a on a.account_id = w.creator_id \
         where a.handle = $4 and w.slug = $5 and w.deleted_at is null \
         on conflict (work_id, hour, source) do update set views = view_bucket.views + excluded.views";
    let mut tx = db.begin().await?;
    for (key, n) in batch {
        crate::on_tx!(&mut tx, conn => match &key.link {
            LinkRef::Code(code) => {
                sqlx::query(BY_CODE).bind(key.hour).bind(&key.source).bind(n).bind(code).execute(conn).await.map(|_| ())
            }
            LinkRef::Slug { handle, slug } => {
                sqlx::query(BY_SLUG).bind(key.hour).bind(&key.source).bind(n).bind(handle).bind(slug).execute(conn).await.map(|_| ())
            }
        })?;
    }
    tx.commit().await?;
    Ok(batch.len())
}

/// Total views of one work (all time), for tests and the work page.
pub async fn total_for_work(db: &Db, work_id: &str) -> Result<i64, sqlx::Error> {
    on_db!(db, pool => sqlx::query_scalar::<_, i64>("select cast(coalesce(sum(views), 0) as bigint) from view_bucket where work_id = $1")
        .bind(work_id).fetch_one(pool).await)
}

/// Views of one work per source (all time).
pub async fn by_source_for_work(db: &Db, work_id: &str) -> Result<Vec<(String, i64)>, sqlx::Error> {
    on_db!(db, pool => sqlx::query_as::<_, (String, i64)>(
        "select source, cast(sum(views) as bigint) from view_bucket where work_id = $1 group by source order by source")
        .bind(work_id).fetch_all(pool).await)
}
