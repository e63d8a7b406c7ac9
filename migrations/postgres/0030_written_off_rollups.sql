-- The dashboard's earnings come from the hourly rollups, which counted a tab purchase later
-- written off as earned. A write-off now adds the creator's lost share to the hour it happens,
-- as a refund does, and earnings are net of both.
alter table sale_hour add column written_off_net_minor bigint not null default 0;
alter table creator_sale_hour add column written_off_net_minor bigint not null default 0;

-- The write-offs before this change, in the hours they happened.
insert into sale_hour (creator_id, work_id, hour, currency, sales, viewed_sales, gross_minor, net_minor, refunds,
                       refunded_gross_minor, refunded_net_minor, written_off_net_minor)
    select creator_id, work_id, tab_written_off_at / 3600000, currency, 0, 0, 0, 0, 0, 0, 0, sum(amount_minor - fee_minor)
    from buyer_order where tab_written_off_at is not null
    group by creator_id, work_id, tab_written_off_at / 3600000, currency
    on conflict (creator_id, work_id, hour, currency)
    do update set written_off_net_minor = sale_hour.written_off_net_minor + excluded.written_off_net_minor;
insert into creator_sale_hour (creator_id, hour, currency, sales, viewed_sales, gross_minor, net_minor, refunds,
                               refunded_gross_minor, refunded_net_minor, written_off_net_minor)
    select creator_id, tab_written_off_at / 3600000, currency, 0, 0, 0, 0, 0, 0, 0, sum(amount_minor - fee_minor)
    from buyer_order where tab_written_off_at is not null
    group by creator_id, tab_written_off_at / 3600000, currency
    on conflict (creator_id, hour, currency)
    do update set written_off_net_minor = creator_sale_hour.written_off_net_minor + excluded.written_off_net_minor;

-- A refund of a written-off purchase costs the creator nothing more (the write-off already took
-- their share), so its refunded net is 0; the refunds before this change counted the share.
update sale_hour set refunded_net_minor = refunded_net_minor - (select coalesce(sum(o.amount_minor - o.fee_minor), 0)
    from buyer_order o where o.tab_written_off_at is not null and o.status = 'refunded' and o.creator_id = sale_hour.creator_id
      and o.work_id = sale_hour.work_id and o.currency = sale_hour.currency and o.refunded_at / 3600000 = sale_hour.hour);
update creator_sale_hour set refunded_net_minor = refunded_net_minor - (select coalesce(sum(o.amount_minor - o.fee_minor), 0)
    from buyer_order o where o.tab_written_off_at is not null and o.status = 'refunded' and o.creator_id = creator_sale_hour.creator_id
      and o.currency = creator_sale_hour.currency and o.refunded_at / 3600000 = creator_sale_hour.hour);
