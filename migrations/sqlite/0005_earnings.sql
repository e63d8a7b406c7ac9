-- Earnings analytics: hourly rollups kept up to date in the transactions that change them,
-- payouts, and sale webhooks ("pings") with a durable delivery outbox.

alter table account add column timezone text not null default 'UTC';
alter table account add column webhook_url text;
alter table account add column webhook_secret text;

-- Views per work and hour (the link-page view counter adds to it every few seconds).
create table view_hour (
    creator_id  text not null,
    work_id     text not null,
    hour        bigint not null,
    views       bigint not null check (views >= 0),
    primary key (creator_id, work_id, hour)
);

-- Views and sales per traffic source and hour.
create table source_hour (
    creator_id  text not null,
    hour        bigint not null,
    source      text not null,
    views       bigint not null check (views >= 0),
    sales       bigint not null check (sales >= 0),
    primary key (creator_id, hour, source)
);

-- Sales and refunds per work, hour and currency (never summed across currencies). A refund
-- counts in the hour it happens.
create table sale_hour (
    creator_id            text not null,
    work_id               text not null,
    hour                  bigint not null,
    currency              text not null,
    sales                 bigint not null,
    gross_minor           bigint not null,
    net_minor             bigint not null,
    refunds               bigint not null,
    refunded_gross_minor  bigint not null,
    refunded_net_minor    bigint not null,
    primary key (creator_id, work_id, hour, currency)
);

insert into view_hour (creator_id, work_id, hour, views)
    select creator_id, work_id, hour, sum(views) from view_bucket group by creator_id, work_id, hour;
insert into source_hour (creator_id, hour, source, views, sales)
    select creator_id, hour, source, sum(views), 0 from view_bucket group by creator_id, hour, source;
insert into sale_hour (creator_id, work_id, hour, currency, sales, gross_minor, net_minor, refunds, refunded_gross_minor, refunded_net_minor)
    select creator_id, work_id, coalesce(paid_at, created_at) / 3600000, currency, count(*), sum(amount_minor),
           sum(amount_minor - fee_minor), 0, 0, 0
    from buyer_order where status in ('paid', 'fulfilled', 'refunded')
    group by creator_id, work_id, coalesce(paid_at, created_at) / 3600000, currency;
drop table view_bucket;

create table payout (
    payout_id     text primary key,
    creator_id    text not null references account (account_id),
    currency      text not null check (currency in ('EUR', 'USD', 'GBP')),
    amount_minor  bigint not null check (amount_minor > 0),
    status        text not null check (status in ('requested', 'paid')),
    created_at    bigint not null,
    paid_at       bigint
);
create index payout_creator_idx on payout (creator_id, created_at);
create index payout_status_idx on payout (status, created_at);

create table webhook_delivery (
    delivery_id      text primary key,
    creator_id       text not null references account (account_id),
    event_type       text not null,
    url              text not null,
    payload          text not null,
    attempts         bigint not null,
    next_attempt_at  bigint not null,
    delivered_at     bigint,
    gave_up_at       bigint,
    last_status      bigint,
    last_error       text,
    created_at       bigint not null
);
create index webhook_delivery_due_idx on webhook_delivery (delivered_at, gave_up_at, next_attempt_at);
create index webhook_delivery_creator_idx on webhook_delivery (creator_id, created_at);

create index buyer_order_creator_paid_idx on buyer_order (creator_id, paid_at);
