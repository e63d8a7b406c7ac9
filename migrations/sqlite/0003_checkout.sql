-- Orders, payments, the double-entry ledger, download grants, and the mail outbox.

alter table account add column notify_sales boolean not null default true;

create table buyer_order (
    order_id             text primary key,
    work_id              text not null references work (work_id),
    creator_id           text not null references account (account_id),
    buyer_email          text not null,
    buyer_account_id     text references account (account_id),
    currency             text not null check (currency in ('EUR', 'USD', 'GBP')),
    amount_minor         bigint not null check (amount_minor >= 0),
    fee_minor            bigint not null check (fee_minor >= 0 and fee_minor <= amount_minor),
    status               text not null check (status in ('pending', 'paid', 'fulfilled', 'failed', 'refunded')),
    provider             text not null check (provider in ('test', 'stripe', 'wallet', 'free')),
    provider_payment_id  text,
    -- One Buy click is one order: the form's nonce makes a double-click or retry land here.
    checkout_key         text not null,
    source               text not null,
    save_card            boolean not null,
    failure_reason       text,
    created_at           bigint not null,
    updated_at           bigint not null,
    paid_at              bigint,
    refunded_at          bigint
);
create unique index buyer_order_checkout_key on buyer_order (checkout_key);
create unique index buyer_order_payment_key on buyer_order (provider, provider_payment_id);
create index buyer_order_creator_idx on buyer_order (creator_id, created_at);
create index buyer_order_email_idx on buyer_order (buyer_email, created_at);
create index buyer_order_work_idx on buyer_order (work_id);

-- Provider confirmations (webhook events, redirects) already handled: the key is written in
-- the same transaction as the work it stands for.
create table processed_event (
    event_key   text primary key,
    created_at  bigint not null
);

-- Double-entry ledger. A transaction's entries sum to zero per currency; an account's balance
-- is the sum of its entries (cached in ledger_account.balance_minor, updated in the same
-- transaction and checked by `clink ledger verify`).
create table ledger_account (
    account_id     text primary key,
    kind           text not null check (kind in ('buyer_wallet', 'creator_earnings', 'platform_fees', 'provider_clearing', 'refunds', 'payouts_pending', 'payouts_paid')),
    owner_id       text,
    currency       text not null check (currency in ('EUR', 'USD', 'GBP')),
    balance_minor  bigint not null,
    created_at     bigint not null
);
create index ledger_account_owner_idx on ledger_account (owner_id, kind);

create table ledger_txn (
    txn_id           text primary key,
    kind             text not null,
    order_id         text,
    idempotency_key  text not null,
    memo             text not null,
    created_at       bigint not null
);
create unique index ledger_txn_idempotency_key on ledger_txn (idempotency_key);
create index ledger_txn_order_idx on ledger_txn (order_id);

create table ledger_entry (
    entry_id      text primary key,
    txn_id        text not null references ledger_txn (txn_id),
    account_id    text not null references ledger_account (account_id),
    currency      text not null,
    amount_minor  bigint not null,
    created_at    bigint not null
);
create index ledger_entry_txn_idx on ledger_entry (txn_id);
create index ledger_entry_account_idx on ledger_entry (account_id, created_at);

create trigger ledger_entry_no_update before update on ledger_entry
begin select raise(abort, 'ledger entries are append-only'); end;
create trigger ledger_entry_no_delete before delete on ledger_entry
begin select raise(abort, 'ledger entries are append-only'); end;
create trigger ledger_txn_no_update before update on ledger_txn
begin select raise(abort, 'ledger transactions are append-only'); end;
create trigger ledger_txn_no_delete before delete on ledger_txn
begin select raise(abort, 'ledger transactions are append-only'); end;

-- The right to download an order's files. Tokens (several per grant: the receipt, the return
-- redirect, the library) are stored as SHA-256 hashes only.
create table download_grant (
    order_id        text primary key references buyer_order (order_id),
    downloads_used  bigint not null check (downloads_used >= 0),
    max_downloads   bigint,
    expires_at      bigint,
    revoked_at      bigint,
    created_at      bigint not null
);

create table download_token (
    token_hash  text primary key,
    order_id    text not null references download_grant (order_id),
    created_at  bigint not null
);
create index download_token_order_idx on download_token (order_id);

-- The built-in test payment provider's payments and remembered cards.
create table test_payment (
    payment_id     text primary key,
    order_id       text not null,
    amount_minor   bigint not null,
    currency       text not null,
    email          text not null,
    status         text not null check (status in ('requires_payment_method', 'requires_action', 'succeeded', 'failed', 'refunded')),
    card_last4     text,
    card_number    text,
    save_card      boolean not null,
    created_at     bigint not null,
    updated_at     bigint not null
);
create unique index test_payment_order_key on test_payment (order_id);

-- Mail to send, written in the transaction that decided to send it and retried until sent.
create table mail_outbox (
    mail_id          text primary key,
    kind             text not null,
    recipient        text not null,
    order_id         text,
    payload          text not null,
    attempts         bigint not null,
    next_attempt_at  bigint not null,
    sent_at          bigint,
    last_error       text,
    created_at       bigint not null
);
create index mail_outbox_due_idx on mail_outbox (sent_at, next_attempt_at);

-- Magic links for the buyer library.
create table library_token (
    token_hash  text primary key,
    email       text not null,
    account_id  text,
    expires_at  bigint not null,
    used_at     bigint,
    created_at  bigint not null
);
