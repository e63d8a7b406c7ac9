-- The session store's table, in tower-sessions-sqlx-store's own shape. It is created here,
-- under the migrator's lock, instead of by the store at start: app servers starting together
-- on a fresh database raced to create it and one of them died. Existing databases already
-- have it.
create table if not exists session (
    id text primary key not null,
    data bytea not null,
    expiry_date timestamptz not null
);
