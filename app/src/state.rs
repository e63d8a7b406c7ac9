//! What every request handler can reach: the database, settings and shared limiters.

use std::{path::PathBuf, sync::Arc};

use axum::extract::FromRef;
use leptos::prelude::LeptosOptions;

use crate::{
    checkout::provider::Payments,
    db::Db,
    earnings::views::ViewCounter,
    limits::Limits,
    mail::sender::Mailer,
    page_cache::PageCache,
    secret::AppSecret,
    storage::Storage,
    wallet::{cache::PurchaseCache, writer::WalletWriter},
};

/// Settings the domain needs at run time, derived from the validated startup config.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The public origin, e.g. `https://clink.example`, without a trailing slash.
    pub base_url: String,
    pub data_dir: PathBuf,
    /// Dev mode exposes the mail outbox at `/dev/outbox` and relaxes nothing else.
    pub dev_mode: bool,
    /// The most one upload request may carry, in bytes.
    pub upload_limit_bytes: u64,
    /// Clink's fee on each sale, in basis points (500 = 5%).
    pub fee_bps: u32,
    /// The smallest payout a creator can ask for, in minor units (the same figure in each currency).
    pub min_payout_minor: i64,
    /// The most a buyer who has paid a tab before may owe on it (a first tab: `wallet::tab::FIRST_TAB_LIMIT`).
    pub tab_limit_minor: i64,
    /// Where sale webhooks may go.
    pub outbound: crate::outbound::OutboundPolicy,
}

impl Settings {
    pub fn absolute_url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    pub fn uses_https(&self) -> bool {
        self.base_url.starts_with("https://")
    }
}

/// The shared state behind one `Arc`: axum clones the state for every extractor and middleware
/// layer of every request, and a struct of a dozen handles cost a dozen reference-count updates
/// (and a `LeptosOptions` copy) each time.
#[derive(Clone)]
pub struct AppState(Arc<SharedState>);

impl AppState {
    pub fn new(shared: SharedState) -> AppState {
        AppState(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = SharedState;

    fn deref(&self) -> &SharedState {
        &self.0
    }
}

pub struct SharedState {
    pub db: Db,
    pub settings: Settings,
    pub limits: Limits,
    pub storage: Storage,
    pub views: ViewCounter,
    pub payments: Payments,
    pub mailer: Mailer,
    pub secret: AppSecret,
    pub wallet_writer: WalletWriter,
    pub purchase_cache: PurchaseCache,
    pub page_cache: PageCache,
    pub leptos_options: LeptosOptions,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}
