//! The sale: the one place a sale is written, however it was paid.
//!
//! A card payment confirmed by its provider, a free order, a wallet purchase decided by the
//! wallet's writer: each ends here as a `Sale`, and a set of them is written in the caller's
//! transaction, with statements whose number doesn't grow with the set (the wallet's batches
//! write hundreds at once). What a sale writes:
//! - its order (inserted fulfilled, or moved from paid to fulfilled);
//! - one balanced ledger transaction: the payer's account (the buyer's wallet, the provider's
//!   clearing account) to the creator's earnings and Clink's fee, checked for balance here;
//! - the download grant (and the token its buyer gets at once, if any);
//! - the dashboard's hourly rollups;
//! - the creator's sale webhook, if they set one;
//! - the mails: the buyer's receipt and, if the creator wants it, the new-sale notice. A card
//!   sale's go out at once; a wallet purchase's are gathered per buyer (and per creator) into
//!   one message per `outbox::DIGEST_WINDOW_MS`, so a hundred 0.05 purchases are one email, not a hundred.
//!
//! Reversal (`service::reverse`) is the other half, the same for every kind of sale.

use std::collections::{BTreeMap, HashSet};

use crate::{
    accounts::store::SellerContact,
    catalog::store::WorkRow,
    db::{self, Tx, Writes},
    delivery::store::{self as grants, GrantInsert},
    earnings::{
        rollup,
        webhooks::{self, Ping, SaleEvent},
    },
    ledger::{
        self,
        domain::{AccountKind, AccountRef, Posting},
        store::{EntryRow, TxnRow},
    },
    mail::outbox::{self, Mail, Queued},
    money::Money,
    orders::{PaidWith, PaymentMethod, Provider},
};

use super::store::{self as orders, NewOrder};

/// Where the sale's order stands before this write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderState {
    /// Not written yet: the sale writes it, fulfilled (a wallet purchase).
    New,
    /// Written, and just moved to paid by the payment's confirmation (a card or free order).
    Paid,
}

/// When the sale's mails go out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mails {
    /// At once, one per sale (a card purchase: one payment, one receipt).
    Now,
    /// Gathered per recipient and `DIGEST_WINDOW_MS` (wallet purchases).
    Digest,
    /// None: seeded history (`clink dev seed`), whose buyers are made up.
    None,
}

/// One sale.
#[derive(Debug, Clone)]
pub struct Sale<'a> {
    pub order_id: String,
    pub order: OrderState,
    pub work: &'a WorkRow,
    pub creator: &'a SellerContact,
    pub amount: Money,
    pub fee_minor: i64,
    pub buyer_email: &'a str,
    pub buyer_account_id: Option<&'a str>,
    /// `wallet`, `tab`, `test`, `stripe`, `free`.
    pub provider: Provider,
    /// A card provider's sale: card or Klarna. Its order has it already; a sale written with
    /// a new order (wallet, tab, the seed's test cards) reads as its provider says.
    pub payment_method: Option<PaymentMethod>,
    pub payment_id: Option<&'a str>,
    /// The traffic source of the visit that bought.
    pub source: &'a str,
    /// Whether that visit was counted as a view (not through the API, not a bot's user agent):
    /// only such sales count in conversion.
    pub counted_view: bool,
    /// The account the money comes from.
    pub paid_from: AccountRef,
    /// The caller already moved `paid_from`'s cached balance (the wallet's conditional debit
    /// is the purchase's decision, made before the sale is written).
    pub paid_from_debited: bool,
    /// The ledger transaction's idempotency key.
    pub ledger_key: String,
    pub memo: String,
    /// `(selector, verifier hash)` of a download token handed to the buyer with the answer.
    pub token: Option<(&'a str, &'a str)>,
}

impl Sale<'_> {
    /// The sale's postings: the payer gives the amount, the creator gets it less the fee,
    /// Clink the fee. A sale on the buyer's tab isn't paid yet: the creator's share waits in
    /// their pending earnings until the tab is settled.
    fn postings(&self) -> [Posting; 3] {
        let currency = self.amount.currency;
        let creator = &self.work.creator_id;
        let share = match self.paid_from.kind {
            AccountKind::BuyerTab => AccountRef::creator_pending(creator, currency),
            _ => AccountRef::creator_earnings(creator, currency),
        };
        [
            Posting::new(self.paid_from.clone(), -self.amount.minor),
            Posting::new(share, self.amount.minor - self.fee_minor),
            Posting::new(AccountRef::platform_fees(currency), self.fee_minor),
        ]
    }

    fn event(&self) -> SaleEvent<'_> {
        let currency = self.amount.currency;
        SaleEvent {
            order_id: &self.order_id,
            work_id: &self.work.work_id,
            work_title: &self.work.title,
            amount: self.amount.decimal(),
            fee: Money::new(self.fee_minor, currency).decimal(),
            net: Money::new(self.amount.minor - self.fee_minor, currency).decimal(),
            currency,
            buyer_email: self.buyer_email,
            source: self.source,
            provider: self.provider,
            paid_with: PaidWith::of(self.provider, self.payment_method),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SaleError {
    #[error("sale {0} does not balance")]
    Unbalanced(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// What a long-lived writer (the wallet's group commit) already wrote in earlier commits, so
/// that it doesn't write it again: ledger accounts known to exist, and the digest mails of the
/// current window already queued. An optimisation only (the statements are idempotent); the
/// caller clears it when a commit fails. Others pass `Default::default()`.
#[derive(Debug, Default)]
pub struct Written {
    accounts: HashSet<String>,
    digest_window: i64,
    digests: HashSet<String>,
}

impl Written {
    /// The ledger account `id` is known to exist.
    pub fn has_account(&self, id: &str) -> bool {
        self.accounts.contains(id)
    }

    /// The ledger account `id` exists once the current commit is made.
    pub fn add_account(&mut self, id: String) {
        self.accounts.insert(id);
    }

    pub fn clear(&mut self) {
        *self = Written::default();
    }
}

/// Writes `sales` in `tx`. `also` adds the caller's own
/// writes (the wallet's spending counters) to the same statements, so on SQLite they all
/// reach the database in one round trip.
pub async fn write(
    tx: &mut Tx,
    sales: &[Sale<'_>],
    mails: Mails,
    written: &mut Written,
    now: i64,
    also: impl for<'w> FnOnce(&mut Writes<'w>),
) -> Result<(), SaleError> {
    if sales.is_empty() {
        return Ok(());
    }
    // The ledger: every sale balanced (checked here, once for every way of paying); accounts
    // made if new; cached balances moved once per account for the whole set.
    let txn_ids: Vec<String> = sales.iter().map(|_| db::new_id()).collect();
    let mut deltas: BTreeMap<String, i64> = BTreeMap::new();
    let mut entries: Vec<EntryRow<'_>> = Vec::with_capacity(sales.len() * 3);
    for (sale, txn_id) in sales.iter().zip(&txn_ids) {
        if sale.amount.minor == 0 {
            continue; // a free order moves no money
        }
        let postings = sale.postings();
        if postings.iter().map(|p| p.amount.minor).sum::<i64>() != 0 {
            return Err(SaleError::Unbalanced(sale.order_id.clone()));
        }
        for posting in postings.iter().filter(|p| p.amount.minor != 0) {
            let account_id = posting.account.id();
            if !written.accounts.contains(&account_id) {
                ledger::store::ensure_account(
                    tx,
                    &account_id,
                    posting.account.kind.as_str(),
                    posting.account.owner.as_deref(),
                    posting.account.currency.code(),
                    now,
                )
                .await?;
                written.accounts.insert(account_id.clone());
            }
            if !(sale.paid_from_debited && posting.account == sale.paid_from) {
                *deltas.entry(account_id.clone()).or_default() += posting.amount.minor;
            }
            entries.push(EntryRow {
                entry_id: db::new_id(),
                txn_id,
                account_id,
                currency: sale.amount.currency.code(),
                amount_minor: posting.amount.minor,
            });
        }
    }
    let txns: Vec<TxnRow<'_>> = sales
        .iter()
        .zip(&txn_ids)
        .filter(|(sale, _)| sale.amount.minor != 0)
        .map(|(sale, txn_id)| TxnRow {
            txn_id,
            kind: "sale",
            order_id: Some(&sale.order_id),
            idempotency_key: &sale.ledger_key,
            memo: &sale.memo,
        })
        .collect();
    let deltas: Vec<(String, i64)> = deltas.into_iter().collect();

    // The orders.
    let new_orders: Vec<NewOrder<'_>> = sales
        .iter()
        .zip(&txn_ids)
        .filter(|(s, _)| s.order == OrderState::New)
        .map(|(s, txn_id)| NewOrder {
            order_id: &s.order_id,
            work_id: &s.work.work_id,
            creator_id: &s.work.creator_id,
            buyer_email: s.buyer_email,
            buyer_account_id: s.buyer_account_id,
            currency: s.amount.currency,
            amount_minor: s.amount.minor,
            fee_minor: s.fee_minor,
            provider: s.provider,
            // A wallet purchase's "payment" is its ledger transaction.
            payment_id: Some(s.payment_id.unwrap_or(txn_id)),
            // Time-ordered, so the unique index takes it at its end (see the wallet writer).
            checkout_key: format!("{}:{}", s.provider, s.order_id),
            source: s.source,
            counted_view: s.counted_view,
        })
        .collect();
    let paid: Vec<&str> = sales.iter().filter(|s| s.order == OrderState::Paid).map(|s| s.order_id.as_str()).collect();

    // Grants, with the tokens handed out at once.
    let day_ms = 86_400_000;
    let grant_rows: Vec<GrantInsert<'_>> = sales
        .iter()
        .map(|s| GrantInsert {
            order_id: &s.order_id,
            max_downloads: s.work.max_downloads,
            expires_at: s.work.link_expiry_days.map(|days| now + days * day_ms),
            token: s.token,
        })
        .collect();

    // Rollups, summed per key so a batch of hundreds writes a handful of rows.
    let hour = rollup::hour_of(now);
    let mut figures: BTreeMap<(&str, &str, &str), rollup::SaleFigures> = BTreeMap::new();
    let mut sources: BTreeMap<(&str, &str), (i64, i64)> = BTreeMap::new();
    for s in sales {
        let viewed = i64::from(s.counted_view);
        let f = figures.entry((s.work.creator_id.as_str(), s.work.work_id.as_str(), s.amount.currency.code())).or_default();
        f.sales += 1;
        f.viewed_sales += viewed;
        f.gross += s.amount.minor;
        f.net += s.amount.minor - s.fee_minor;
        let by_source = sources.entry((s.work.creator_id.as_str(), s.source)).or_default();
        by_source.0 += 1;
        by_source.1 += viewed;
    }

    // Webhooks and mails.
    let pings: Vec<Ping<'_>> = sales
        .iter()
        .filter_map(|s| s.creator.webhook_url.as_deref().map(|url| Ping::new(&s.work.creator_id, url, "sale", &s.event(), now)))
        .collect();
    let mails = outbox::rows_of(queued_mails(sales, mails, written, now));

    let mut writes = Writes::for_tx(tx);
    also(&mut writes);
    orders::push_fulfilled_orders(&mut writes, &new_orders, now);
    orders::push_fulfil_paid(&mut writes, &paid, now);
    ledger::store::push_postings(&mut writes, &txns, &entries, &deltas, now);
    grants::push_grants(&mut writes, &grant_rows, now);
    crate::on_writes!(&mut writes, s => {
        for ((creator, work, currency), f) in &figures {
            rollup::push_sale(s, creator, work, hour, currency, f);
        }
        for ((creator, source), (n, viewed)) in &sources {
            rollup::push_source(s, creator, hour, source, *n, *viewed);
        }
    });
    webhooks::push_pings(&mut writes, &pings, now);
    outbox::push_mails(&mut writes, &mails, now);
    writes.run(tx).await?;
    Ok(())
}

/// The mails of a set of sales: per sale at once, or one per recipient and window.
fn queued_mails(sales: &[Sale<'_>], mails: Mails, written: &mut Written, now: i64) -> Vec<Queued> {
    let mut out = Vec::new();
    match mails {
        Mails::Now => {
            for s in sales {
                out.push(Queued::now(s.buyer_email, Mail::Receipt { order_id: s.order_id.clone() }));
                if s.creator.notify_sales {
                    out.push(Queued::now(&s.creator.email, Mail::NewSale { order_id: s.order_id.clone() }));
                }
            }
        }
        Mails::None => {}
        Mails::Digest => {
            let (from_ms, to_ms) = outbox::digest_window(now);
            let due = outbox::digest_due(now);
            if written.digest_window != from_ms {
                written.digest_window = from_ms;
                written.digests.clear();
            }
            // One message per recipient and window: the first sale of the window queues it
            // (the unique key keeps it one across writers), later ones find it queued.
            for s in sales {
                if let Some(account_id) = s.buyer_account_id {
                    let key = format!("receipts:{account_id}:{from_ms}");
                    if !written.digests.contains(&key) {
                        written.digests.insert(key.clone());
                        out.push(Queued {
                            recipient: s.buyer_email.to_string(),
                            mail: Mail::WalletReceipts { account_id: account_id.to_string(), from_ms, to_ms },
                            digest: Some((key, due)),
                        });
                    }
                }
                if s.creator.notify_sales {
                    let key = format!("sales:{}:{from_ms}", s.work.creator_id);
                    if !written.digests.contains(&key) {
                        written.digests.insert(key.clone());
                        out.push(Queued {
                            recipient: s.creator.email.clone(),
                            mail: Mail::SalesDigest { creator_id: s.work.creator_id.clone(), from_ms, to_ms },
                            digest: Some((key, due)),
                        });
                    }
                }
            }
        }
    }
    out
}
