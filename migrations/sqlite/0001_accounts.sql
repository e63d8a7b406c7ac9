-- Accounts: creators and buyers share one table; a handle is what a creator's links show.
create table account (
    account_id     text primary key,
    email          text not null,
    handle         text not null,
    display_name   text not null,
    password_hash  text not null,
    created_at     integer not null
);
create unique index account_email_key on account (email);
create unique index account_handle_key on account (handle);
