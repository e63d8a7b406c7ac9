-- Buyer wallets: spending rules, spend counters for atomic caps, and top-ups.

create table wallet_settings (
    account_id               text primary key references account (account_id),
    paused                   boolean not null,
    -- Purchases above this ask for a confirmation first (per currency, in minor units).
    confirm_above_minor      bigint check (confirm_above_minor is null or confirm_above_minor >= 0),
    weekly_cap_minor         bigint check (weekly_cap_minor is null or weekly_cap_minor >= 0),
    monthly_cap_minor        bigint check (monthly_cap_minor is null or monthly_cap_minor >= 0),
    pin_hash                 text,
    pin_above_minor          bigint check (pin_above_minor is null or pin_above_minor >= 0),
    autoreload_enabled       boolean not null,
    autoreload_currency      text check (autoreload_currency is null or autoreload_currency in ('EUR', 'USD', 'GBP')),
    autoreload_below_minor   bigint check (autoreload_below_minor is null or autoreload_below_minor >= 0),
    autoreload_amount_minor  bigint check (autoreload_amount_minor is null or autoreload_amount_minor > 0),
    autoreload_max_per_month bigint check (autoreload_max_per_month is null or autoreload_max_per_month > 0),
    -- The card kept for auto-reload (provider customer and payment method ids, never card data).
    saved_card               text,
    updated_at               bigint not null
);

-- What a wallet spent per period ('w2026-47', 'm2026-11'), raised with a conditional update so
-- that a cap holds under any concurrency.
create table wallet_spend (
    account_id   text not null references account (account_id),
    currency     text not null,
    period       text not null,
    spent_minor  bigint not null check (spent_minor >= 0),
    primary key (account_id, currency, period)
);

create table wallet_topup (
    topup_id             text primary key,
    account_id           text not null references account (account_id),
    currency             text not null check (currency in ('EUR', 'USD', 'GBP')),
    amount_minor         bigint not null check (amount_minor > 0),
    status               text not null check (status in ('pending', 'succeeded', 'failed')),
    provider             text not null,
    provider_payment_id  text,
    checkout_key         text not null,
    return_to            text,
    automatic            boolean not null,
    save_card            boolean not null,
    created_at           bigint not null,
    updated_at           bigint not null
);
create unique index wallet_topup_checkout_key on wallet_topup (checkout_key);
create index wallet_topup_account_idx on wallet_topup (account_id, created_at);

-- Magic-link sign-in for buyers.
create table login_token (
    token_hash  text primary key,
    email       text not null,
    next        text,
    expires_at  bigint not null,
    used_at     bigint,
    created_at  bigint not null
);

create index buyer_order_buyer_idx on buyer_order (buyer_account_id, created_at);
create index ledger_entry_account_time_idx on ledger_entry (account_id, created_at, entry_id);
