//! What a one-click purchase reads before it reaches the writer — the work behind the link and
//! the buyer's spending rules — kept in memory, so that a purchase costs no database reads
//! besides the writer's own.
//!
//! Nothing here is trusted for money: every purchase carries the rows it was priced and checked
//! against, and the writer compares them with the database inside the transaction that debits
//! the wallet (see `writer`). A copy that went stale (the creator changed the price on another
//! app server, the buyer paused the wallet) makes that purchase come back `Stale`; the service
//! drops the copies and decides again from fresh rows.

use std::{sync::Arc, time::Duration};

use super::store::{self, SettingsRow};
use crate::{
    catalog::{
        self,
        service::{CatalogError, LinkRef},
        store::WorkRow,
    },
    db::Db,
};

/// How long a copy lives at most. Staleness is caught by the writer either way; this bounds
/// memory and how long an unused copy lingers.
const KEPT_FOR: Duration = Duration::from_secs(60);

#[derive(Clone)]
pub struct PurchaseCache {
    works: moka::sync::Cache<String, Arc<WorkRow>>,
    settings: moka::sync::Cache<String, Arc<SettingsRow>>,
}

impl Default for PurchaseCache {
    fn default() -> Self {
        PurchaseCache { works: kept(), settings: kept() }
    }
}

fn kept<V: Clone + Send + Sync + 'static>() -> moka::sync::Cache<String, V> {
    moka::sync::Cache::builder().max_capacity(100_000).time_to_live(KEPT_FOR).build()
}

impl PurchaseCache {
    /// The published work behind a short link code.
    pub async fn work(&self, db: &Db, code: &str) -> Result<Arc<WorkRow>, CatalogError> {
        if let Some(row) = self.works.get(code) {
            return Ok(row);
        }
        let row = Arc::new(catalog::service::storefront(db, &LinkRef::Code(code.to_string())).await?.work);
        self.works.insert(code.to_string(), row.clone());
        Ok(row)
    }

    /// The buyer's wallet settings (the defaults when they never saved any).
    pub async fn settings(&self, db: &Db, account_id: &str) -> Result<Arc<SettingsRow>, sqlx::Error> {
        if let Some(row) = self.settings.get(account_id) {
            return Ok(row);
        }
        let row = Arc::new(store::settings(db, account_id).await?);
        self.settings.insert(account_id.to_string(), row.clone());
        Ok(row)
    }

    /// Drops the copies a purchase was decided on, after the writer found them stale.
    pub fn forget(&self, code: &str, account_id: &str) {
        self.works.invalidate(code);
        self.settings.invalidate(account_id);
    }

    /// Drops the buyer's settings after this server changed them.
    pub fn forget_settings(&self, account_id: &str) {
        self.settings.invalidate(account_id);
    }
}
