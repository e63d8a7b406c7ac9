-- The tab (see `app/src/wallet/tab.rs`): buy now, pay when it adds up.
--
-- SQLite can't change a CHECK constraint in place, so the two tables whose checks name the
-- ledger's account kinds and the orders' providers are rebuilt, the way SQLite's manual
-- describes: in one transaction, with foreign keys off (`Db::migrate` runs SQLite's
-- migrations so). Rows and indexes come back as they were.

create table ledger_account_new (
    account_id     text primary key,
    -- buyer_tab: what a buyer owes on their tab (negative while they owe); creator_pending: a
    -- creator's shares of tab purchases not paid yet; write_offs: tabs never paid.
    kind           text not null check (kind in ('buyer_wallet', 'creator_earnings', 'platform_fees', 'provider_clearing', 'refunds',
                                                 'payouts_pending', 'payouts_paid', 'buyer_tab', 'creator_pending', 'write_offs')),
    owner_id       text,
    currency       text not null check (currency in ('EUR', 'USD', 'GBP')),
    balance_minor  bigint not null,
    created_at     bigint not null
);
insert into ledger_account_new (account_id, kind, owner_id, currency, balance_minor, created_at)
    select account_id, kind, owner_id, currency, balance_minor, created_at from ledger_account;
drop table ledger_account;
alter table ledger_account_new rename to ledger_account;
create index ledger_account_owner_idx on ledger_account (owner_id, kind);

create table buyer_order_new (
    order_id             text primary key,
    work_id              text not null references work (work_id),
    creator_id           text not null references account (account_id),
    buyer_email          text not null,
    buyer_account_id     text references account (account_id),
    currency             text not null check (currency in ('EUR', 'USD', 'GBP')),
    amount_minor         bigint not null check (amount_minor >= 0),
    fee_minor            bigint not null check (fee_minor >= 0 and fee_minor <= amount_minor),
    status               text not null check (status in ('pending', 'paid', 'fulfilled', 'failed', 'refunded')),
    provider             text not null check (provider in ('test', 'stripe', 'wallet', 'free', 'tab')),
    provider_payment_id  text,
    checkout_key         text not null,
    source               text not null,
    save_card            boolean not null,
    failure_reason       text,
    created_at           bigint not null,
    updated_at           bigint not null,
    paid_at              bigint,
    refunded_at          bigint,
    counted_view         boolean not null default false,
    -- A tab purchase: the settlement (a `wallet_topup` that settles the tab) paying for it,
    -- once one has been started, and when that payment succeeded.
    tab_settlement_id    text,
    tab_settled_at       bigint
);
insert into buyer_order_new (order_id, work_id, creator_id, buyer_email, buyer_account_id, currency, amount_minor, fee_minor, status,
        provider, provider_payment_id, checkout_key, source, save_card, failure_reason, created_at, updated_at, paid_at, refunded_at,
        counted_view)
    select order_id, work_id, creator_id, buyer_email, buyer_account_id, currency, amount_minor, fee_minor, status,
        provider, provider_payment_id, checkout_key, source, save_card, failure_reason, created_at, updated_at, paid_at, refunded_at,
        counted_view
    from buyer_order;
drop table buyer_order;
alter table buyer_order_new rename to buyer_order;
create unique index buyer_order_checkout_key on buyer_order (checkout_key);
create unique index buyer_order_payment_key on buyer_order (provider, provider_payment_id);
create index buyer_order_creator_idx on buyer_order (creator_id, created_at);
create index buyer_order_work_idx on buyer_order (work_id);
create index buyer_order_creator_paid_idx on buyer_order (creator_id, paid_at);
create index buyer_order_email_idx on buyer_order (buyer_email, created_at) where provider <> 'wallet';
create index buyer_order_account_idx on buyer_order (buyer_account_id, created_at) where provider <> 'wallet';
-- A buyer's open tab items.
create index buyer_order_open_tab_idx on buyer_order (buyer_account_id, currency) where provider = 'tab' and tab_settled_at is null;

-- A top-up that settles the buyer's tab instead of filling their wallet.
alter table wallet_topup add column settles_tab boolean not null default false;
-- The buyer's own tab limit (lower than the one Clink gives them), in minor units.
alter table wallet_settings add column tab_limit_minor bigint check (tab_limit_minor is null or tab_limit_minor >= 0);
-- A creator who doesn't sell on the tab.
alter table account add column tab_sales_off boolean not null default false;
