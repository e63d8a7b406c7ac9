-- Mail that gathers several events into one message (a wallet buyer's receipts, a creator's
-- sales, over ten minutes): one row per recipient and window, made by the first event of the
-- window and found by this key by the others.
alter table mail_outbox add column digest_key text;
create unique index mail_outbox_digest_key on mail_outbox (digest_key) where digest_key is not null;
