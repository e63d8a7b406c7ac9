-- One row /healthz rewrites (at most every couple of seconds per server): a database that can
-- answer a read but not take a write (a full disk, a read-only file) is not healthy.
create table health_probe (
    probe_id  text primary key,
    at        bigint not null
);
