//! SQL for accounts.

use crate::{db::Db, on_db};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AccountRow {
    pub account_id: String,
    pub email: String,
    pub handle: String,
    pub display_name: String,
    pub password_hash: String,
    pub created_at: i64,
}

const COLUMNS: &str = "account_id, email, handle, display_name, password_hash, created_at";

pub async fn insert(db: &Db, row: &AccountRow) -> Result<(), sqlx::Error> {
    on_db!(db, pool => sqlx::query(
        "insert into account (account_id, email, handle, display_name, password_hash, created_at) \
         values ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&row.account_id)
    .bind(&row.email)
    .bind(&row.handle)
    .bind(&row.display_name)
    .bind(&row.password_hash)
    .bind(row.created_at)
    .execute(pool)
    .await
    .map(|_| ()))
}

pub async fn find_by_email(db: &Db, email: &str) -> Result<Option<AccountRow>, sqlx::Error> {
    let sql = format!("select {COLUMNS} from account where email = $1");
    on_db!(db, pool => sqlx::query_as::<_, AccountRow>(&sql).bind(email).fetch_optional(pool).await)
}

pub async fn find_by_id(db: &Db, account_id: &str) -> Result<Option<AccountRow>, sqlx::Error> {
    let sql = format!("select {COLUMNS} from account where account_id = $1");
    on_db!(db, pool => sqlx::query_as::<_, AccountRow>(&sql).bind(account_id).fetch_optional(pool).await)
}

pub async fn find_by_handle(db: &Db, handle: &str) -> Result<Option<AccountRow>, sqlx::Error> {
    let sql = format!("select {COLUMNS} from account where handle = $1");
    on_db!(db, pool => sqlx::query_as::<_, AccountRow>(&sql).bind(handle).fetch_optional(pool).await)
}

pub async fn list(db: &Db) -> Result<Vec<AccountRow>, sqlx::Error> {
    let sql = format!("select {COLUMNS} from account order by created_at, account_id");
    on_db!(db, pool => sqlx::query_as::<_, AccountRow>(&sql).fetch_all(pool).await)
}
