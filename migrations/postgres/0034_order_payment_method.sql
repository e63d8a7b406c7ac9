-- How a card provider's order is paid: 'card', or 'klarna' (through Stripe), so that a
-- creator's sales list, CSV export and sales API can say which. Null for wallet, tab and free
-- orders, and for card orders made before this migration (Klarna came later than the last of
-- them that can't be told apart, and they read as card: `orders::PaidWith::of`).
alter table buyer_order add column payment_method text;
