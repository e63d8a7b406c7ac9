-- Conversion is sales over views, so it counts only the sales whose visit was counted as a
-- view: not a purchase through the API, nor one by a bot's user agent (neither is ever a view).
-- Such a sale is still a sale everywhere else. `counted_view` is decided when the order is made
-- (a card order is written then and sold later); the rollups keep the count beside `sales`.
alter table buyer_order add column counted_view boolean not null default false;
alter table sale_hour add column viewed_sales bigint not null default 0;
alter table creator_sale_hour add column viewed_sales bigint not null default 0;
alter table source_hour add column viewed_sales bigint not null default 0;

-- The sales before this change: every one but the API's (known from the orders: an API
-- purchase is a wallet purchase, rolled up in the hour it was paid).
update buyer_order set counted_view = (source <> 'api');
update sale_hour set viewed_sales = max(0, sales - (select count(*) from buyer_order o
    where o.source = 'api' and o.work_id = sale_hour.work_id and o.currency = sale_hour.currency
      and o.paid_at / 3600000 = sale_hour.hour));
update creator_sale_hour set viewed_sales = max(0, sales - (select count(*) from buyer_order o
    where o.source = 'api' and o.creator_id = creator_sale_hour.creator_id and o.currency = creator_sale_hour.currency
      and o.paid_at / 3600000 = creator_sale_hour.hour));
update source_hour set viewed_sales = case when source = 'api' then 0 else sales end;
