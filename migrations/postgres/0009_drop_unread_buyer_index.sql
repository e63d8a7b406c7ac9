-- buyer_order_buyer_idx (0004) is read by no query: the buyer library finds orders by email
-- (buyer_order_email_idx), a wallet's history by its ledger entries, and `clink ledger verify`
-- scans every wallet order. Yet every wallet purchase wrote an entry into it at the buyer's
-- position: one more page dirtied per buyer in each group-commit batch, written to the WAL and
-- again at the checkpoint.
drop index if exists buyer_order_buyer_idx;
