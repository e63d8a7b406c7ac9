-- A change of an account's email, waiting for the new address to be proven. The link's token
-- is made when its email is sent (only its hash is kept); it works once, before it expires,
-- and only while the account's session epoch is the one it was asked under (a password change
-- or reset, or "sign out of other devices", cancels it).
create table email_change (
    change_id  text primary key,
    account_id text not null references account (account_id) on delete cascade,
    new_email  text not null,
    session_epoch bigint not null,
    token_hash text unique,
    expires_at bigint not null,
    used_at    bigint,
    created_at bigint not null
);
create index email_change_account_idx on email_change (account_id);
