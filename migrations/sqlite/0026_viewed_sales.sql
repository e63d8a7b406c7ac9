-- Conversion is sales over views, so it counts only the sales whose visit was counted as a
-- view: not a purchase through the API, nor one by a bot's user agent (neither is ever a view).
-- Such a sale is still a sale everywhere else. `counted_view` is decided when the order is made
-- (a card order is written then and sold later); the rollups keep the count beside `sales`.
alter table buyer_order add column counted_view boolean not null default false;
alter table sale_hour add column viewed_sales bigint not null default 0;
alter table creator_sale_hour add column viewed_sales bigint not null default 0;
alter table source_hour add column viewed_sales bigint not null default 0;

-- The sales before this change count as the dashboard counted them then: all of them (per
-- source, the API's are known and left out). The display caps conversion at 100 % anyway.
update buyer_order set counted_view = (source <> 'api');
update sale_hour set viewed_sales = sales;
update creator_sale_hour set viewed_sales = sales;
update source_hour set viewed_sales = case when source = 'api' then 0 else sales end;
