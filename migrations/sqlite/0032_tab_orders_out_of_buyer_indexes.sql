-- A tab purchase, like a wallet purchase, always has its buyer's account, and is found through
-- that account's ledger entries (see `checkout::store::PREPAID_ORDERS_OF_ACCOUNT` and
-- `wallet::store::TAB_ORDERS_OF_ACCOUNT`). The email and account indexes over orders now leave
-- tab purchases out too, so that each one writes two index entries fewer: on the group
-- commit's path, that is most of what a tab purchase cost beyond a wallet purchase. Open tab items keep their own index (`buyer_order_open_tab_idx`).
drop index if exists buyer_order_email_idx;
create index buyer_order_email_idx on buyer_order (buyer_email, created_at) where provider not in ('wallet', 'tab');
drop index if exists buyer_order_account_idx;
create index buyer_order_account_idx on buyer_order (buyer_account_id, created_at) where provider not in ('wallet', 'tab');
