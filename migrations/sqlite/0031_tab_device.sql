-- The browsers a buyer used the tab from (`app/src/wallet/device.rs`: a SHA-256 of a random
-- id kept in a cookie), so that a write-off can block them from new tabs too.
create table tab_device (
    device_hash text not null,
    account_id  text not null,
    created_at  bigint not null,
    primary key (device_hash, account_id)
);
create index tab_device_account on tab_device (account_id);

-- Devices that used a tab later written off: no new tab from them. Like `tab_block` (emails),
-- it outlives the account.
create table tab_device_block (
    device_hash text primary key,
    created_at  bigint not null
);
