-- A buyer has a tab per currency, and each is now collected on its own (see
-- `app/src/wallet/collection.rs`): paying the euro tab no longer ends the reminders, or lifts
-- the lock, of an unpaid dollar tab. The state moves from `wallet_settings` to one row per
-- tab in collection; paying that tab deletes its row. `wallet_settings.tab_written_off_at`
-- stays: a buyer with any tab written off never gets a tab again.
create table tab_collection (
    account_id text not null references account (account_id) on delete cascade,
    currency text not null,
    -- Reminders sent (1 to 3) and when the last one went; the third locks the tab.
    reminders bigint not null check (reminders between 1 and 3),
    reminded_at bigint not null,
    locked_at bigint,
    -- Written off, a week after the lock: the row stays, so that it happens once.
    written_off_at bigint,
    primary key (account_id, currency)
);

-- A buyer in collection before this migration: each of their tabs that is due (a purchase
-- unpaid for 30 days, 2,592,000,000 ms) is where the buyer's collection was. A tab not due yet starts its own
-- collection when it is.
insert into tab_collection (account_id, currency, reminders, reminded_at, locked_at)
select s.account_id, o.currency, s.tab_reminders, coalesce(s.tab_reminded_at, s.updated_at), s.tab_locked_at
from wallet_settings s
join (select buyer_account_id, currency from buyer_order
      where provider = 'tab' and status = 'fulfilled' and tab_settled_at is null and tab_written_off_at is null
        and buyer_account_id is not null
      group by buyer_account_id, currency
      having min(created_at) <= cast(strftime('%s', 'now') as bigint) * 1000 - 2592000000) o on o.buyer_account_id = s.account_id
where s.tab_reminders > 0 and s.tab_written_off_at is null;

-- `wallet_settings.tab_reminders`, `tab_reminded_at` and `tab_locked_at` stay, unused by this
-- release: servers of the previous one still read them until they are restarted (a rolling
-- release runs `clink migrate` first, and migrations only add). A later release drops them.
