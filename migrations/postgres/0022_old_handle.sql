-- Handles a creator has changed away from. Their profile and slug links keep working: a visit to
-- an old handle's URL is redirected (301) to the current one for as long as nobody else holds
-- it, and nobody else may take it for 90 days after it was given up (see accounts::service).
create table old_handle (
    handle     text primary key,
    account_id text not null references account (account_id) on delete cascade,
    retired_at bigint not null
);
create index old_handle_account_idx on old_handle (account_id);
