-- Download tokens issued from now on: a public, time-ordered selector (a UUIDv7) that finds the
-- row, and a secret verifier kept only as its SHA-256 hash. download_token (0003) keyed each
-- token by the hash of the whole token, so every new token went to a random position of its
-- primary key: one more page dirtied per wallet purchase in a group-commit batch, written to the
-- WAL and again at the checkpoint. New rows here append. Tokens already issued stay in
-- download_token and keep working.
--
-- No index on order_id: nothing looks tokens up by order, and grants are never deleted.
create table download_selector_token (
    selector       text primary key,
    verifier_hash  text not null,
    order_id       text not null references download_grant (order_id),
    created_at     bigint not null
);
