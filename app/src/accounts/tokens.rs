//! Creator API tokens. The token is shown once; only its SHA-256 is stored, so a database leak
//! doesn't leak working tokens (a fast hash is enough: tokens are long and random).

use rand::{Rng, distr::Alphanumeric};
use sha2::{Digest, Sha256};

use super::{
    service::AccountError,
    store::{self, AccountRow, TokenRow},
};
use crate::{
    db::{self, Db},
    error::FieldError,
};

const PREFIX: &str = "clk_";

pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Creates a token named `name` and returns it with its one-time plain text.
pub async fn create(db: &Db, account_id: &str, name: &str) -> Result<(TokenRow, String), AccountError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 60 {
        return Err(FieldError::new("name", "Name the token (up to 60 characters), e.g. “Zapier”.").into());
    }
    let secret: String = rand::rng().sample_iter(&Alphanumeric).take(40).map(char::from).collect();
    let token = format!("{PREFIX}{secret}");
    let row = TokenRow {
        token_id: db::new_id(),
        account_id: account_id.to_string(),
        name: name.to_string(),
        token_prefix: token.chars().take(PREFIX.len() + 4).collect(),
        created_at: db::now_ms(),
        last_used_at: None,
        revoked_at: None,
    };
    store::insert_token(db, &row, &hash(&token)).await?;
    tracing::info!(account.id = %account_id, token.id = %row.token_id, "API token created");
    Ok((row, token))
}

pub async fn revoke(db: &Db, account_id: &str, token_id: &str) -> Result<bool, AccountError> {
    Ok(store::revoke_token(db, account_id, token_id, db::now_ms()).await?)
}

/// The account a bearer token belongs to. Malformed and revoked tokens are simply unknown.
pub async fn authenticate(db: &Db, token: &str) -> Result<Option<AccountRow>, AccountError> {
    if !token.starts_with(PREFIX) || token.len() > 100 {
        return Ok(None);
    }
    Ok(store::account_by_token_hash(db, &hash(token), db::now_ms()).await?)
}
