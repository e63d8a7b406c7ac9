-- The email index serves the buyer library and the claiming of guest orders at sign-in. A
-- wallet order always has its buyer's account (and its email is that account's, which never
-- changes), so the library finds wallet orders through the wallet's ledger entries instead, and
-- this index leaves them out: every wallet purchase wrote an entry into it at the buyer's
-- position, one more page dirtied per buyer in each group-commit batch.
drop index if exists buyer_order_email_idx;
create index buyer_order_email_idx on buyer_order (buyer_email, created_at) where provider <> 'wallet';
