-- The public storefront: a creator's profile (bio, links, avatar, accent colour), buyers who
-- never sell (their accounts have no profile), and whether an account's email is proven.

alter table account add column bio text not null default '';
-- One URL per line, as the creator typed them (validated on save).
alter table account add column links text not null default '';
alter table account add column avatar_key text;
-- '#rrggbb'; null: derived from the handle.
alter table account add column accent_color text;
-- Accounts made by the buyer path (email only) sell nothing until their owner opts in.
alter table account add column sells boolean not null default true;
-- When the account's email was proven (a sign-in link used); null: not yet.
alter table account add column email_verified_at bigint;
-- Raised when every session of the account must end (its email proven by someone else, a
-- password reset): sessions remember the epoch they signed in under.
alter table account add column session_epoch bigint not null default 0;

-- A signed-in buyer's card purchases (their library, "you own this" on a link page). Wallet
-- orders stay out: the library finds those through the wallet's ledger entries, and every
-- wallet purchase would otherwise write an entry here.
create index buyer_order_account_idx on buyer_order (buyer_account_id, created_at) where provider <> 'wallet';

-- A top-up started from a link page to buy the work there: what to buy once it is paid
-- (JSON: the link code, the pay-what-you-want amount, the visit's source).
alter table wallet_topup add column then_buy text;
