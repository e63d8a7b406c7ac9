-- Password reset links: single use, short-lived, stored only as a hash of the token.
create table password_reset (
    token_hash  text primary key,
    account_id  text not null references account (account_id) on delete cascade,
    expires_at  bigint not null,
    used_at     bigint,
    created_at  bigint not null
);
create index password_reset_account_idx on password_reset (account_id);
