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
        if result.is_err()
            && let Ok(mut pending) = self.pending.lock()
        {
            for (key, n) in batch {
                *pending.entry(key).or_insert(0) += n;
            }
        }
        result
    }
}

async fn write_batch(db: &Db, batch: &[(ViewKey, i64)]) -> Result<usize, sqlx::Error> {
    let mut tx = db.begin().await?;
    for (key, n) in batch {
        // The work behind the link; the `where` also keeps SQLite's parser from reading
        // `on conflict` as part of a join.
        let (work, params) = match &key.link {
            LinkRef::Code(code) => ("from work w where w.code = $3", vec![code.as_str()]),
            LinkRef::Slug { handle, slug } => (
                "from work w join account a on a.account_id = w.creator_id where a.handle = $3 and w.slug = $4 and w.deleted_at is null",
                vec![handle.as_str(), slug.as_str()],
            ),
        };
        let per_work = format!(
            "insert into view_hour (creator_id, work_id, hour, views) select w.creator_id, w.work_id, $1, $2 {work} \
             on conflict (creator_id, work_id, hour) do update set views = view_hour.views + excluded.views"
        );
        let source_at = params.len() + 3;
        let per_source = format!(
            "insert into source_hour (creator_id, hour, source, views, sales) select w.creator_id, $1, ${source_at}, $2, 0 {work} \
             on conflict (creator_id, hour, source) do update set views = source_hour.views + excluded.views"
        );
        let per_creator = format!(
            "insert into creator_view_hour (creator_id, hour, views) select w.creator_id, $1, $2 {work} \
             on conflict (creator_id, hour) do update set views = creator_view_hour.views + excluded.views"
        );
        for (sql, with_source) in [(&per_work, false), (&per_creator, false), (&per_source, true)] {
            crate::on_tx!(&mut tx, conn => {
                let mut q = sqlx::query(sql).bind(key.hour).bind(n);
                for p in &params {
                    q = q.bind(*p);
                }
                if with_source {
                    q = q.bind(&key.source);
                }
                q.execute(conn).await.map(|_| ())
            })?;
        }
    }
    tx.commit().await?;
    Ok(batch.len())
}

/// Adds a creator's past views in bulk, per work and hour and per source and hour, with the
/// creator's own hours summed from them: `clink dev seed`'s history, millions of views that the
/// counter above would write one key at a time.
pub async fn write_history(
    db: &Db,
    creator_id: &str,
    per_work: &[(String, i64, i64)],
    per_source: &[(i64, &str, i64)],
) -> Result<(), sqlx::Error> {
    use sqlx::QueryBuilder;
    let mut tx = db.begin().await?;
    crate::on_tx!(&mut tx, conn => async {
        for chunk in per_work.chunks(2_000) {
            let mut q = QueryBuilder::new("insert into view_hour (creator_id, work_id, hour, views) ");
            q.push_values(chunk, |mut row, (work, hour, views)| {
                row.push_bind(creator_id).push_bind(work).push_bind(*hour).push_bind(*views);
            });
            q.push(" on conflict (creator_id, work_id, hour) do update set views = view_hour.views + excluded.views");
            q.build().execute(&mut *conn).await?;
        }
        for chunk in per_source.chunks(2_000) {
            let mut q = QueryBuilder::new("insert into source_hour (creator_id, hour, source, views, sales) ");
            q.push_values(chunk, |mut row, (hour, source, views)| {
                row.push_bind(creator_id).push_bind(*hour).push_bind(*source).push_bind(*views).push_bind(0i64);
            });
            q.push(" on conflict (creator_id, hour, source) do update set views = source_hour.views + excluded.views");
            q.build().execute(&mut *conn).await?;
        }
        sqlx::query("insert into creator_view_hour (creator_id, hour, views) \
                     select creator_id, hour, cast(sum(views) as bigint) from view_hour where creator_id = $1 group by creator_id, hour \
                     on conflict (creator_id, hour) do update set views = excluded.views")
            .bind(creator_id).execute(&mut *conn).await?;
        Ok::<(), sqlx::Error>(())
    }.await)?;
    tx.commit().await
}

/// Total views of one work (all time).
pub async fn total_for_work(db: &Db, work_id: &str) -> Result<i64, sqlx::Error> {
    on_db!(db, pool => sqlx::query_scalar::<_, i64>("select cast(coalesce(sum(views), 0) as bigint) from view_hour where work_id = $1")
        .bind(work_id).fetch_one(pool).await)
}

/// A creator's views per source (all time).
pub async fn by_source_for_creator(db: &Db, creator_id: &str) -> Result<Vec<(String, i64)>, sqlx::Error> {
    on_db!(db, pool => sqlx::query_as::<_, (String, i64)>(
        "select source, cast(sum(views) as bigint) from source_hour where creator_id = $1 and views > 0 group by source order by source")
        .bind(creator_id).fetch_all(pool).await)
}
