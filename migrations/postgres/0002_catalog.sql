-- Works (what creators sell), their files, API tokens and link-page view counts.
create table work (
    work_id           text primary key,
    creator_id        text not null references account (account_id),
    title             text not null,
    description_md    text not null,
    currency          text not null check (currency in ('EUR', 'USD', 'GBP')),
    price_kind        text not null check (price_kind in ('fixed', 'pwyw')),
    price_minor       bigint not null check (price_minor >= 0 and price_minor <= 1000000),
    suggested_minor   bigint check (suggested_minor is null or (suggested_minor >= price_minor and suggested_minor <= 1000000)),
    code              text not null,
    slug              text,
    published         boolean not null,
    max_downloads     bigint check (max_downloads is null or max_downloads > 0),
    link_expiry_days  bigint check (link_expiry_days is null or link_expiry_days > 0),
    cover_key         text,
    thumb_key         text,
    created_at        bigint not null,
    updated_at        bigint not null,
    deleted_at        bigint
);
create unique index work_code_key on work (code);
-- A slug is unique per creator among live works; a deleted work frees its slug.
create unique index work_slug_key on work (creator_id, slug) where slug is not null and deleted_at is null;
create index work_creator_idx on work (creator_id, created_at);

create table work_file (
    file_id       text primary key,
    work_id       text not null references work (work_id),
    storage_key   text not null,
    filename      text not null,
    content_type  text not null,
    size_bytes    bigint not null check (size_bytes >= 0),
    sha256        text not null,
    position      bigint not null,
    created_at    bigint not null
);
create index work_file_work_idx on work_file (work_id, position);

-- Creator API tokens: only a SHA-256 of the token is kept.
create table api_token (
    token_id      text primary key,
    account_id    text not null references account (account_id),
    name          text not null,
    token_hash    text not null,
    token_prefix  text not null,
    created_at    bigint not null,
    last_used_at  bigint,
    revoked_at    bigint
);
create unique index api_token_hash_key on api_token (token_hash);
create index api_token_account_idx on api_token (account_id);

-- Link-page views, counted in memory and added here every few seconds per hour and source.
create table view_bucket (
    work_id     text not null references work (work_id),
    creator_id  text not null,
    hour        bigint not null,
    source      text not null,
    views       bigint not null check (views >= 0),
    primary key (work_id, hour, source)
);
create index view_bucket_creator_hour_idx on view_bucket (creator_id, hour);
