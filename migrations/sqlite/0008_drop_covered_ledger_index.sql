-- ledger_entry_account_time_idx (0004: account_id, created_at, entry_id) serves every query
-- 0003's ledger_entry_account_idx (account_id, created_at) served. Every ledger entry insert
-- paid for both: three entries per wallet purchase, each one more index page dirtied.
drop index if exists ledger_entry_account_idx;
