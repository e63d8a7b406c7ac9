-- Collecting unpaid tabs (see `app/src/wallet/collection.rs`): a tab with a purchase unpaid
-- for 30 days is paid with the buyer's saved card if they agreed, else asked for by email three
-- times, a week apart; the third reminder locks it, and a week later what it still owes is
-- written off.

-- How far the buyer's tab is in that: reminders sent (0 to 3) and when the last one went, when
-- the tab was locked for it, and when it was written off (no tab for this buyer ever again).
-- Paying the tab clears the first three.
alter table wallet_settings add column tab_reminders bigint not null default 0 check (tab_reminders between 0 and 3);
alter table wallet_settings add column tab_reminded_at bigint;
alter table wallet_settings add column tab_locked_at bigint;
alter table wallet_settings add column tab_written_off_at bigint;

-- The buyer agreed that their saved card pays their tab when it is due or reaches its limit.
alter table wallet_settings add column tab_autopay boolean not null default false;

-- A tab purchase its buyer never paid: written off with the rest of their tab.
alter table buyer_order add column tab_written_off_at bigint;

-- Emails whose tab was written off: no new tab for them, even from a new account. Keyed by a
-- hash of the normalized address, so that deleting the account doesn't lift the block and the
-- address itself isn't kept.
create table tab_block (
    email_hash text primary key,
    created_at bigint not null
);
