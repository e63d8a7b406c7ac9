-- ledger_entry_txn_idx (0003) is read by no request: a wallet's history and the buyer library
-- go from entries to their transaction (its primary key), never the other way, and only
-- `clink ledger verify` groups entries by transaction, in one pass over the table. Yet every
-- ledger entry insert paid for it: three entries per wallet purchase.
drop index if exists ledger_entry_txn_idx;
