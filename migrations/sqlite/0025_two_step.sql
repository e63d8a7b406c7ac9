-- Two-step sign-in (TOTP, RFC 6238). The secret is sealed with the app key (XChaCha20-Poly1305,
-- the account id as associated data), so a copy of the database alone can't make codes.
-- `enabled_at` is null while it is being set up (scanned, not yet confirmed with a code).
-- `last_step` is the 30-second step of the last code accepted: a code is accepted once.
create table two_step (
    account_id    text primary key references account (account_id) on delete cascade,
    secret_sealed text not null,
    enabled_at    bigint,
    last_step     bigint not null default 0,
    created_at    bigint not null
);

-- Ten single-use recovery codes per account, stored as SHA-256 hashes (they are random, 50 bits).
create table recovery_code (
    account_id text not null references account (account_id) on delete cascade,
    code_hash  text not null,
    used_at    bigint,
    primary key (account_id, code_hash)
);
