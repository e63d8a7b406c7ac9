-- Creator-level hourly rollups beside the per-work ones, so the dashboard's headline cards and
-- chart read one row per hour (a year is 8,760 rows) rather than one per work and hour, and
-- indexes for the range reads by hour and the newest sales.

create table creator_view_hour (
    creator_id  text not null,
    hour        bigint not null,
    views       bigint not null check (views >= 0),
    primary key (creator_id, hour)
) without rowid;

create table creator_sale_hour (
    creator_id            text not null,
    hour                  bigint not null,
    currency              text not null,
    sales                 bigint not null,
    gross_minor           bigint not null,
    net_minor             bigint not null,
    refunds               bigint not null,
    refunded_gross_minor  bigint not null,
    refunded_net_minor    bigint not null,
    primary key (creator_id, hour, currency)
) without rowid;

insert into creator_view_hour (creator_id, hour, views)
    select creator_id, hour, cast(sum(views) as bigint) from view_hour group by creator_id, hour;
insert into creator_sale_hour (creator_id, hour, currency, sales, gross_minor, net_minor, refunds, refunded_gross_minor, refunded_net_minor)
    select creator_id, hour, currency, cast(sum(sales) as bigint), cast(sum(gross_minor) as bigint), cast(sum(net_minor) as bigint),
           cast(sum(refunds) as bigint), cast(sum(refunded_gross_minor) as bigint), cast(sum(refunded_net_minor) as bigint)
    from sale_hour group by creator_id, hour, currency;

-- Per-work tables over a range of hours (the dashboard's works table).
create index view_hour_creator_hour on view_hour (creator_id, hour);
create index sale_hour_creator_hour on sale_hour (creator_id, hour);
-- Recent sales, the CSV and the sales API read a creator's orders by payment time.
create index buyer_order_creator_paid on buyer_order (creator_id, paid_at);
