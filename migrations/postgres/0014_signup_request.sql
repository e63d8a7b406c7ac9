-- Sign-ups waiting for their email to be proven: the account is made only when the link in
-- the confirmation email is used, so nobody can hold an account (and a password) on an email
-- they don't control, and the sign-up form says the same whether the email has an account.
create table signup_request (
    request_id     text primary key,
    email          text not null,
    handle         text not null,
    display_name   text not null,
    password_hash  text not null,
    -- SHA-256 of the link's token, minted when the email is sent.
    token_hash     text,
    expires_at     bigint not null,
    used_at        bigint,
    created_at     bigint not null
);
create unique index signup_request_token_key on signup_request (token_hash);
