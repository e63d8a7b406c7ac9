-- How a card provider's order is paid: 'card', or 'klarna' (through Stripe), so that a
-- creator's sales list, CSV export and sales API can say which. Null for wallet, tab and free
-- orders, and for card orders made before this migration or by a previous release's servers
-- during a rolling release: those read as card (`orders::PaidWith::of`), Klarna ones included,
-- since nothing stored before tells them apart.
alter table buyer_order add column payment_method text;
