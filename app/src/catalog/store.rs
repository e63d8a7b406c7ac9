//! SQL for works, their files and link lookups. Every creator-facing query names the creator,
//! so ownership is part of the statement rather than a check that could be forgotten.

use crate::{
    catalog::domain::Price,
    db::{Db, Tx},
    money::Currency,
    on_db, on_tx,
};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct WorkRow {
    pub work_id: String,
    pub creator_id: String,
    pub title: String,
    pub description_md: String,
    pub currency: String,
    pub price_kind: String,
    pub price_minor: i64,
    pub suggested_minor: Option<i64>,
    pub code: String,
    pub slug: Option<String>,
    pub published: bool,
    pub max_downloads: Option<i64>,
    pub link_expiry_days: Option<i64>,
    pub cover_key: Option<String>,
    pub thumb_key: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub deleted_at: Option<i64>,
}

impl WorkRow {
    pub fn currency(&self) -> Currency {
        Currency::parse(&self.currency).unwrap_or(Currency::Eur)
    }

    pub fn price(&self) -> Price {
        Price::from_columns(self.currency(), &self.price_kind, self.price_minor, self.suggested_minor)
    }
}

/// A published work with its creator, as a link page shows it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StorefrontRow {
    #[sqlx(flatten)]
    pub work: WorkRow,
    pub handle: String,
    pub display_name: String,
    pub avatar_key: Option<String>,
    pub accent_color: Option<String>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FileRow {
    pub file_id: String,
    pub work_id: String,
    pub storage_key: String,
    pub filename: String,
    pub content_type: String,
    pub size_bytes: i64,
    pub sha256: String,
    pub position: i64,
    pub created_at: i64,
}

const WORK_COLUMNS: &str = "w.work_id, w.creator_id, w.title, w.description_md, w.currency, w.price_kind, \
    w.price_minor, w.suggested_minor, w.code, w.slug, w.published, w.max_downloads, w.link_expiry_days, \
    w.cover_key, w.thumb_key, w.created_at, w.updated_at, w.deleted_at";

/// The creator's columns a storefront shows beside the work (`a` is the creator's account).
const CREATOR_COLUMNS: &str = "a.handle, a.display_name, a.avatar_key, a.accent_color";

const FILE_COLUMNS: &str = "file_id, work_id, storage_key, filename, content_type, size_bytes, sha256, position, created_at";

pub async fn insert_work(tx: &mut Tx, w: &WorkRow) -> Result<(), sqlx::Error> {
    on_tx!(tx, conn => sqlx::query(
        "insert into work (work_id, creator_id, title, description_md, currency, price_kind, price_minor, \
         suggested_minor, code, slug, published, max_downloads, link_expiry_days, cover_key, thumb_key, \
         created_at, updated_at, deleted_at) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)",
    )
    .bind(&w.work_id).bind(&w.creator_id).bind(&w.title).bind(&w.description_md).bind(&w.currency)
    .bind(&w.price_kind).bind(w.price_minor).bind(w.suggested_minor).bind(&w.code).bind(&w.slug)
    .bind(w.published).bind(w.max_downloads).bind(w.link_expiry_days).bind(&w.cover_key).bind(&w.thumb_key)
    .bind(w.created_at).bind(w.updated_at).bind(w.deleted_at)
    .execute(conn).await.map(|_| ()))
}

pub async fn insert_file(tx: &mut Tx, f: &FileRow) -> Result<(), sqlx::Error> {
    on_tx!(tx, conn => sqlx::query(
        "insert into work_file (file_id, work_id, storage_key, filename, content_type, size_bytes, sha256, position, created_at) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&f.file_id).bind(&f.work_id).bind(&f.storage_key).bind(&f.filename).bind(&f.content_type)
    .bind(f.size_bytes).bind(&f.sha256).bind(f.position).bind(f.created_at)
    .execute(conn).await.map(|_| ()))
}

/// The fields a creator can edit. Ownership and liveness are in the `where` clause.
pub struct WorkEdit<'a> {
    pub title: &'a str,
    pub description_md: &'a str,
    pub price: Price,
    pub slug: Option<&'a str>,
    pub max_downloads: Option<i64>,
    pub link_expiry_days: Option<i64>,
}

pub async fn update_work(db: &Db, creator_id: &str, work_id: &str, e: &WorkEdit<'_>, now: i64) -> Result<bool, sqlx::Error> {
    let price = e.price;
    on_db!(db, pool => sqlx::query(
        "update work set title = $1, description_md = $2, currency = $3, price_kind = $4, price_minor = $5, \
         suggested_minor = $6, slug = $7, max_downloads = $8, link_expiry_days = $9, updated_at = $10 \
         where work_id = $11 and creator_id = $12 and deleted_at is null",
    )
    .bind(e.title).bind(e.description_md).bind(price.currency().code()).bind(price.kind())
    .bind(price.floor().minor).bind(price.suggested().map(|s| s.minor)).bind(e.slug)
    .bind(e.max_downloads).bind(e.link_expiry_days).bind(now).bind(work_id).bind(creator_id)
    .execute(pool).await.map(|r| r.rows_affected() == 1))
}

pub async fn set_cover(db: &Db, creator_id: &str, work_id: &str, cover: &str, thumb: &str, now: i64) -> Result<bool, sqlx::Error> {
    on_db!(db, pool => sqlx::query(
        "update work set cover_key = $1, thumb_key = $2, updated_at = $3 \
         where work_id = $4 and creator_id = $5 and deleted_at is null",
    )
    .bind(cover).bind(thumb).bind(now).bind(work_id).bind(creator_id)
    .execute(pool).await.map(|r| r.rows_affected() == 1))
}

pub async fn set_published(db: &Db, creator_id: &str, work_id: &str, published: bool, now: i64) -> Result<bool, sqlx::Error> {
    on_db!(db, pool => sqlx::query(
        "update work set published = $1, updated_at = $2 where work_id = $3 and creator_id = $4 and deleted_at is null",
    )
    .bind(published).bind(now).bind(work_id).bind(creator_id)
    .execute(pool).await.map(|r| r.rows_affected() == 1))
}

/// Soft delete: the work disappears from the creator's list and its link, but rows and files
/// stay so that past buyers keep their downloads.
pub async fn soft_delete(db: &Db, creator_id: &str, work_id: &str, now: i64) -> Result<bool, sqlx::Error> {
    on_db!(db, pool => sqlx::query(
        "update work set deleted_at = $1, updated_at = $1 where work_id = $2 and creator_id = $3 and deleted_at is null",
    )
    .bind(now).bind(work_id).bind(creator_id)
    .execute(pool).await.map(|r| r.rows_affected() == 1))
}

/// Undoes a soft delete. Fails with a unique violation if the slug was taken meanwhile.
pub async fn restore(db: &Db, creator_id: &str, work_id: &str, now: i64) -> Result<bool, sqlx::Error> {
    on_db!(db, pool => sqlx::query(
        "update work set deleted_at = null, updated_at = $1 where work_id = $2 and creator_id = $3 and deleted_at is not null",
    )
    .bind(now).bind(work_id).bind(creator_id)
    .execute(pool).await.map(|r| r.rows_affected() == 1))
}

/// Drops a work's custom slug (used when restoring a work whose slug was reused).
pub async fn clear_slug(db: &Db, creator_id: &str, work_id: &str) -> Result<(), sqlx::Error> {
    on_db!(db, pool => sqlx::query("update work set slug = null where work_id = $1 and creator_id = $2")
        .bind(work_id).bind(creator_id).execute(pool).await.map(|_| ()))
}

pub async fn find_owned(db: &Db, creator_id: &str, work_id: &str) -> Result<Option<WorkRow>, sqlx::Error> {
    let sql = format!("select {WORK_COLUMNS} from work w where w.work_id = $1 and w.creator_id = $2 and w.deleted_at is null");
    on_db!(db, pool => sqlx::query_as::<_, WorkRow>(&sql).bind(work_id).bind(creator_id).fetch_optional(pool).await)
}

/// Any work by id, deleted or not: what delivery needs for past purchases.
pub async fn find_any(db: &Db, work_id: &str) -> Result<Option<WorkRow>, sqlx::Error> {
    let sql = format!("select {WORK_COLUMNS} from work w where w.work_id = $1");
    on_db!(db, pool => sqlx::query_as::<_, WorkRow>(&sql).bind(work_id).fetch_optional(pool).await)
}

/// `find_any` inside a transaction (a sale reads the work it sells with its other writes).
pub async fn find_any_in(tx: &mut crate::db::Tx, work_id: &str) -> Result<Option<WorkRow>, sqlx::Error> {
    let sql = format!("select {WORK_COLUMNS} from work w where w.work_id = $1");
    crate::on_tx!(tx, conn => sqlx::query_as::<_, WorkRow>(&sql).bind(work_id).fetch_optional(conn).await)
}

pub async fn list_owned(db: &Db, creator_id: &str) -> Result<Vec<WorkRow>, sqlx::Error> {
    let sql = format!(
        "select {WORK_COLUMNS} from work w where w.creator_id = $1 and w.deleted_at is null order by w.created_at desc, w.work_id desc"
    );
    on_db!(db, pool => sqlx::query_as::<_, WorkRow>(&sql).bind(creator_id).fetch_all(pool).await)
}

pub async fn files_of(db: &Db, work_id: &str) -> Result<Vec<FileRow>, sqlx::Error> {
    let sql = format!("select {FILE_COLUMNS} from work_file where work_id = $1 order by position");
    on_db!(db, pool => sqlx::query_as::<_, FileRow>(&sql).bind(work_id).fetch_all(pool).await)
}

/// The files of every live work of a creator, in one query (their data export).
pub async fn files_of_creator(db: &Db, creator_id: &str) -> Result<Vec<FileRow>, sqlx::Error> {
    let columns = FILE_COLUMNS.split(", ").map(|c| format!("f.{}", c.trim())).collect::<Vec<_>>().join(", ");
    let sql = format!(
        "select {columns} from work_file f join work w on w.work_id = f.work_id \
         where w.creator_id = $1 and w.deleted_at is null order by f.work_id, f.position"
    );
    on_db!(db, pool => sqlx::query_as::<_, FileRow>(&sql).bind(creator_id).fetch_all(pool).await)
}

/// File counts and total sizes for a creator's works, in one query for the list page.
pub async fn file_totals(db: &Db, creator_id: &str) -> Result<Vec<(String, i64, i64)>, sqlx::Error> {
    on_db!(db, pool => sqlx::query_as::<_, (String, i64, i64)>(
        "select f.work_id, count(*), cast(coalesce(sum(f.size_bytes), 0) as bigint) from work_file f \
         join work w on w.work_id = f.work_id where w.creator_id = $1 and w.deleted_at is null group by f.work_id",
    )
    .bind(creator_id).fetch_all(pool).await)
}

/// A live (not deleted) work by link code, published or not: covers stay viewable for the
/// creator's dashboard.
pub async fn find_live_by_code(db: &Db, code: &str) -> Result<Option<WorkRow>, sqlx::Error> {
    let sql = format!("select {WORK_COLUMNS} from work w where w.code = $1 and w.deleted_at is null");
    on_db!(db, pool => sqlx::query_as::<_, WorkRow>(&sql).bind(code).fetch_optional(pool).await)
}

/// A live, published work by its link code.
pub async fn storefront_by_code(db: &Db, code: &str) -> Result<Option<StorefrontRow>, sqlx::Error> {
    let sql = format!(
        "select {WORK_COLUMNS}, {CREATOR_COLUMNS} from work w join account a on a.account_id = w.creator_id \
         where w.code = $1 and w.published = $2 and w.deleted_at is null"
    );
    on_db!(db, pool => sqlx::query_as::<_, StorefrontRow>(&sql).bind(code).bind(true).fetch_optional(pool).await)
}

/// The live, published works among `work_ids` (not empty), as a query of `reads` (the wallet
/// writer checks, inside its transaction, what each purchase was priced against).
pub fn push_live_works_in<'a, DB>(reads: &mut crate::db::Statements<'a, DB>, work_ids: &[&'a str])
where
    DB: sqlx::Database,
    DB::Arguments<'a>: Default,
    &'a str: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    bool: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    let q = reads.next(&format!("select {WORK_COLUMNS} from work w where w.published = "));
    q.push_bind(true).push(" and w.deleted_at is null and w.work_id in ");
    crate::db::push_list(q, work_ids);
}

/// A live, published work by its creator's handle and custom slug.
pub async fn storefront_by_slug(db: &Db, handle: &str, slug: &str) -> Result<Option<StorefrontRow>, sqlx::Error> {
    let sql = format!(
        "select {WORK_COLUMNS}, {CREATOR_COLUMNS} from work w join account a on a.account_id = w.creator_id \
         where a.handle = $1 and w.slug = $2 and w.published = $3 and w.deleted_at is null"
    );
    on_db!(db, pool => sqlx::query_as::<_, StorefrontRow>(&sql).bind(handle).bind(slug).bind(true).fetch_optional(pool).await)
}

/// A creator's live, published works, newest first, for their profile.
pub async fn published_by_creator(db: &Db, creator_id: &str) -> Result<Vec<WorkRow>, sqlx::Error> {
    let sql = format!(
        "select {WORK_COLUMNS} from work w where w.creator_id = $1 and w.published = $2 and w.deleted_at is null \
         order by w.created_at desc, w.work_id desc limit 200"
    );
    on_db!(db, pool => sqlx::query_as::<_, WorkRow>(&sql).bind(creator_id).bind(true).fetch_all(pool).await)
}

/// The creator of a work by its link code, whatever became of the work (unpublished, deleted):
/// a dead link's page still leads to the creator's other works. `(handle, display name)`.
pub async fn creator_of_code(db: &Db, code: &str) -> Result<Option<(String, String, bool)>, sqlx::Error> {
    on_db!(db, pool => sqlx::query_as::<_, (String, String, bool)>(
        "select a.handle, a.display_name, a.sells from work w join account a on a.account_id = w.creator_id where w.code = $1")
        .bind(code).fetch_optional(pool).await)
}

/// The titles of `work_ids` (deleted works included: a buyer's library still names them).
pub async fn titles_of(db: &Db, work_ids: &[&str]) -> Result<std::collections::HashMap<String, String>, sqlx::Error> {
    if work_ids.is_empty() {
        return Ok(Default::default());
    }
    let rows: Vec<(String, String)> = on_db!(db, pool => {
        let mut q = sqlx::QueryBuilder::new("select work_id, title from work where work_id in ");
        crate::db::push_list(&mut q, work_ids);
        q.build_query_as().fetch_all(pool).await
    })?;
    Ok(rows.into_iter().collect())
}

/// A deleted creator's works leave every page: unpublished and deleted (not to be restored),
/// descriptions emptied, slugs freed. Returns the cover and thumbnail keys they had, for the
/// caller to delete from storage once this commits. Files stay for the buyers' links (see
/// `works_to_purge` in delivery).
pub async fn close_works_of(tx: &mut Tx, creator_id: &str, now: i64) -> Result<Vec<String>, sqlx::Error> {
    let images = on_tx!(&mut *tx, conn => sqlx::query_as::<_, (Option<String>, Option<String>)>(
        "select cover_key, thumb_key from work where creator_id = $1")
        .bind(creator_id).fetch_all(conn).await)?;
    on_tx!(&mut *tx, conn => sqlx::query(
        "update work set published = $1, deleted_at = coalesce(deleted_at, $2), updated_at = $2, description_md = '', slug = null, \
         cover_key = null, thumb_key = null where creator_id = $3")
        .bind(false).bind(now).bind(creator_id).execute(conn).await.map(|_| ()))?;
    // The link page also serves a WebP made from each cover, kept beside it.
    let webp = |cover: &String| format!("{}.webp", cover.trim_end_matches(".jpg"));
    Ok(images.into_iter().flat_map(|(cover, thumb)| [cover.as_ref().map(webp), cover, thumb]).flatten().collect())
}

/// The storage keys of a work's files.
pub async fn file_keys(db: &Db, work_id: &str) -> Result<Vec<String>, sqlx::Error> {
    on_db!(db, pool => sqlx::query_scalar::<_, String>("select storage_key from work_file where work_id = $1")
        .bind(work_id).fetch_all(pool).await)
}

/// A purged work's files are gone from storage: their rows go too, and the work says so.
pub async fn mark_files_purged(tx: &mut Tx, work_id: &str, now: i64) -> Result<(), sqlx::Error> {
    on_tx!(&mut *tx, conn => sqlx::query("delete from work_file where work_id = $1").bind(work_id).execute(conn).await.map(|_| ()))?;
    on_tx!(&mut *tx, conn => sqlx::query("update work set files_purged_at = $1 where work_id = $2")
        .bind(now).bind(work_id).execute(conn).await.map(|_| ()))
}
