-- Where a creator's payouts go: an IBAN with the account holder's name, or a PayPal address.
-- Setting or changing it holds payouts until `hold_until` (72 hours later) and emails the
-- owner: an account takeover that redirects the money is stopped before any leaves. It is
-- bound to the account's session epoch when saved: after a password change or reset (the owner
-- taking the account back) no payout goes there until it is saved again.
create table payout_destination (
    account_id   text primary key references account (account_id) on delete cascade,
    kind         text not null check (kind in ('iban', 'paypal')),
    iban         text,
    holder_name  text,
    paypal_email text,
    session_epoch bigint not null,
    hold_until   bigint not null,
    changed_at   bigint not null
);

-- Where each payout was sent (as the destination read when it was asked for).
alter table payout add column destination text;
