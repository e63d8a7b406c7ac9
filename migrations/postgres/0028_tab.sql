-- The tab (see `app/src/wallet/tab.rs`): buy now, pay when it adds up.

-- buyer_tab: what a buyer owes on their tab (negative while they owe); creator_pending: a
-- creator's shares of tab purchases not paid yet; write_offs: tabs never paid.
alter table ledger_account drop constraint ledger_account_kind_check;
alter table ledger_account add constraint ledger_account_kind_check check (kind in ('buyer_wallet', 'creator_earnings',
    'platform_fees', 'provider_clearing', 'refunds', 'payouts_pending', 'payouts_paid', 'buyer_tab', 'creator_pending', 'write_offs'));

alter table buyer_order drop constraint buyer_order_provider_check;
alter table buyer_order add constraint buyer_order_provider_check check (provider in ('test', 'stripe', 'wallet', 'free', 'tab'));
-- A tab purchase: the settlement (a `wallet_topup` that settles the tab) paying for it, once
-- one has been started, and when that payment succeeded.
alter table buyer_order add column tab_settlement_id text;
alter table buyer_order add column tab_settled_at bigint;
-- A buyer's open tab items.
create index buyer_order_open_tab_idx on buyer_order (buyer_account_id, currency) where provider = 'tab' and tab_settled_at is null;

-- A top-up that settles the buyer's tab instead of filling their wallet.
alter table wallet_topup add column settles_tab boolean not null default false;
-- The buyer's own tab limit (lower than the one Clink gives them), in minor units.
alter table wallet_settings add column tab_limit_minor bigint check (tab_limit_minor is null or tab_limit_minor >= 0);
-- A creator who doesn't sell on the tab.
alter table account add column tab_sales_off boolean not null default false;
