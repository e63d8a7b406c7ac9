-- 0006 created buyer_order_creator_paid on the same columns as 0005's
-- buyer_order_creator_paid_idx. Every order insert paid for both; one is enough.
drop index if exists buyer_order_creator_paid;
