-- Provider events that disagree with what Clink asked for (another amount or currency): the
-- order or top-up stays unpaid, and the operator sees it here and in `clink reconcile`.
create table payment_discrepancy (
    discrepancy_id     text primary key,
    provider           text not null,
    payment_id         text not null,
    -- The order or top-up the payment was for.
    reference          text not null,
    event_id           text not null,
    expected_minor     bigint not null,
    expected_currency  text not null,
    reported_minor     bigint not null,
    reported_currency  text not null,
    created_at         bigint not null
);
create index payment_discrepancy_reference_idx on payment_discrepancy (reference);
