-- The browsers an account is signed in on, for "Signed-in devices" in Settings. A row is made
-- at sign-in and removed at sign-out. A row of an older session epoch than its account's is
-- signed out (a password change or "sign out of other devices" moved the epoch), and one not
-- seen for the session lifetime has expired; neither is listed.
create table signed_in_device (
    device_id     text primary key,
    account_id    text not null references account (account_id) on delete cascade,
    session_epoch bigint not null,
    user_agent    text not null,
    signed_in_at  bigint not null,
    last_seen_at  bigint not null
);
create index signed_in_device_account_idx on signed_in_device (account_id, last_seen_at);
