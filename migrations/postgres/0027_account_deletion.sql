-- Deleting an account (see `app/src/account_deletion.rs`): the row stays, pseudonymised, so
-- that orders and ledger lines keep a party to point at; `deleted_at` says it is gone.
alter table account add column deleted_at bigint;
-- A deleted creator's works keep their files until the last buyer's download link expires
-- (at most 30 days); the sweep then deletes them from storage and sets this.
alter table work add column files_purged_at bigint;
-- How the dashboard writes numbers for this account ("de" for 1.234,56); none: the browser's
-- language decides.
alter table account add column number_format text;
-- The address an email change moved away from, so that deleting the account can find every
-- row that still names it.
alter table email_change add column old_email text;
-- A deleted account's handles, as keyed hashes (HMAC under the app key, never the handle
-- itself): nobody else takes one for 90 days, so links still posted can't lead to an impostor.
create table retired_handle (
    handle_hash text primary key,
    retired_at  bigint not null
);
