//! Two-step sign-in over HTTP: turning it on from Settings, every way of signing in asking for
//! the code, recovery codes, the step-up before sensitive changes, and payouts needing it.

use reqwest::{Client, StatusCode};
use totp_rs::{Builder, Secret};

use crate::common::{self, PASSWORD, TestApp, error_of};

/// The code an authenticator app holding `secret` shows `offset` seconds from now.
pub fn code_at(secret: &str, offset: i64) -> String {
    let secret = Secret::try_from_base32(secret).expect("base32 secret");
    let totp = Builder::new().with_secret(secret).build().expect("totp");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    totp.generate((now + offset) as u64).to_string()
}

/// A code that is not the one the app shows now (nor in the steps either side).
fn wrong_code(secret: &str) -> String {
    let near = [code_at(secret, -30), code_at(secret, 0), code_at(secret, 30)];
    (0..10).map(|d| format!("{d}{d}{d}{d}{d}{d}")).find(|c| !near.contains(c)).unwrap()
}

fn settings_of(client: &Client, app: &TestApp) -> impl std::future::Future<Output = String> {
    let req = client.get(app.url("/settings"));
    async move { req.send().await.unwrap().text().await.unwrap() }
}

/// The text between `start` and the next `end` after it.
fn between<'a>(html: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = html.find(start)? + start.len();
    let to = html[from..].find(end)? + from;
    Some(&html[from..to])
}

/// A code from the app is accepted once per 30-second step; tests that need more codes than
/// the steps that went by forget the last one used (the rule itself is tested below).
pub async fn forget_used_codes(app: &TestApp) {
    app::on_db!(&app.state.db, pool => sqlx::query("update two_step set last_step = 0").execute(pool).await.map(|_| ())).unwrap();
}

async fn me(app: &TestApp, client: &Client) -> serde_json::Value {
    client.post(app.url("/api/me")).header("origin", &app.base_url).send().await.unwrap().json().await.unwrap()
}

/// Turns two-step sign-in on for the account signed in on `client`: returns the secret (as the
/// page shows it for typing into an app) and the ten recovery codes.
pub async fn turn_on(app: &TestApp, client: &Client) -> (String, Vec<String>) {
    assert_eq!(common::call_with(client, &app.base_url, "settings/two-step/start", &[]).await.status(), StatusCode::OK);
    let page = settings_of(client, app).await;
    assert!(page.contains("data:image/svg+xml;base64,"), "a QR code to scan");
    let secret: String = between(&page, "<code class=\"two-step-secret\">", "</code>").expect("the secret, to type").replace(' ', "");
    let res = common::call_with(
        client,
        &app.base_url,
        "settings/two-step/confirm",
        &[("code", &code_at(&secret, 0)), ("current_password", PASSWORD)],
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK, "{}", res.text().await.unwrap());
    let page = settings_of(client, app).await;
    let list = between(&page, "<ol class=\"recovery-codes\">", "</ol>").expect("the recovery codes, shown once");
    let codes: Vec<String> = list.split("<code>").skip(1).map(|c| c.split('<').next().unwrap().to_string()).collect();
    assert_eq!(codes.len(), 10, "{list}");
    forget_used_codes(app).await;
    (secret, codes)
}

/// Declares a test on SQLite and PostgreSQL with every quota three times as generous: a test
/// makes more tries on one account within a minute than a person does (the throttle itself is
/// tested at the end of the first test, against the scaled quota).
macro_rules! on_both {
    ($(async fn $name:ident($app:ident) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                async fn run($app: TestApp) $body

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    run(TestApp::spawn_with(common::Backend::Sqlite, &[("CLINK_RATE_LIMIT_SCALE", "3")]).await).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if common::pg::available().await {
                        run(TestApp::spawn_with(common::Backend::Postgres, &[("CLINK_RATE_LIMIT_SCALE", "3")]).await).await;
                    }
                }
            }
        )*
    };
}

on_both! {
    async fn two_step_sign_in_is_asked_on_every_way_in(app) {
        app.creator("ann").await;
        let page = settings_of(&app.client, &app).await;
        assert!(page.contains("Two-step sign-in") && page.contains("Set up two-step sign-in"), "offered in Settings");

        // Setting up: a wrong code or password turns nothing on.
        assert_eq!(app.call("settings/two-step/start", &[]).await.status(), StatusCode::OK);
        let page = settings_of(&app.client, &app).await;
        let secret = between(&page, "<code class=\"two-step-secret\">", "</code>").unwrap().replace(' ', "");
        assert_eq!(secret.len(), 32, "160 bits in base32: {secret}");
        let res = app.call("settings/two-step/confirm", &[("code", &wrong_code(&secret)), ("current_password", PASSWORD)]).await;
        assert_eq!(error_of(res).await.1.as_deref(), Some("code"));
        let res = app.call("settings/two-step/confirm", &[("code", &code_at(&secret, 0)), ("current_password", "not my password")]).await;
        assert_eq!(error_of(res).await.1.as_deref(), Some("current_password"));
        assert_eq!(app.count("select count(*) from two_step where enabled_at is not null").await, 0);

        // On: the secret is sealed in the database, the codes stored as hashes, the owner told.
        let (secret, codes) = {
            let res = app.call("settings/two-step/confirm", &[("code", &code_at(&secret, 0)), ("current_password", PASSWORD)]).await;
            assert_eq!(res.status(), StatusCode::OK);
            let page = settings_of(&app.client, &app).await;
            let list = between(&page, "<ol class=\"recovery-codes\">", "</ol>").expect("codes shown once").to_string();
            let codes: Vec<String> = list.split("<code>").skip(1).map(|c| c.split('<').next().unwrap().to_string()).collect();
            (secret, codes)
        };
        assert_eq!(codes.len(), 10);
        let page = settings_of(&app.client, &app).await;
        assert!(!page.contains("recovery-codes\">"), "shown once only");
        assert!(page.contains("10 recovery codes left"), "the count stays");
        let sealed: String = app::on_db!(&app.state.db, pool => sqlx::query_scalar("select secret_sealed from two_step").fetch_one(pool).await).unwrap();
        assert!(!sealed.to_lowercase().contains(&secret.to_lowercase()), "the secret isn't stored in clear");
        for code in &codes {
            let plain = code.replace('-', "");
            assert_eq!(app.count(&format!("select count(*) from recovery_code where code_hash like '%{plain}%'")).await, 0);
        }
        assert_eq!(app.count("select count(*) from recovery_code where used_at is null").await, 10);
        app.email_to("ann@example.com", "Two-step sign-in is now on").await;
        forget_used_codes(&app).await;

        // 1. The password: the session waits for the code and is not signed in meanwhile.
        let phone = app.new_client();
        let res = common::call_with(&phone, &app.base_url, "login", &[("email", "ann@example.com"), ("password", PASSWORD), ("next", "/dashboard/sales")]).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()["location"], "/login/two-step?next=%2Fdashboard%2Fsales");
        assert!(me(&app, &phone).await.is_null(), "a password alone signs nobody in");
        assert!(phone.get(app.url("/login/two-step")).send().await.unwrap().text().await.unwrap().contains("authenticator app"));
        let res = common::call_with(&phone, &app.base_url, "login/two-step", &[("code", "12345"), ("next", "/dashboard/sales")]).await;
        assert_eq!(error_of(res).await.1.as_deref(), Some("code"));
        let res = common::call_with(&phone, &app.base_url, "login/two-step", &[("code", &code_at(&secret, 0)), ("next", "/dashboard/sales")]).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()["location"], "/dashboard/sales");
        assert_eq!(me(&app, &phone).await["handle"], "ann");
        // The same code again, on another browser: refused, it was used.
        let laptop = app.new_client();
        common::call_with(&laptop, &app.base_url, "login", &[("email", "ann@example.com"), ("password", PASSWORD)]).await;
        let res = common::call_with(&laptop, &app.base_url, "login/two-step", &[("code", &code_at(&secret, 0))]).await;
        let (_, field, message) = error_of(res).await;
        assert_eq!(field.as_deref(), Some("code"));
        assert!(message.contains("just used"), "{message}");
        // A recovery code works once, typed any which way, and the owner hears of it.
        let typed = codes[0].to_uppercase().replace('-', " ");
        let res = common::call_with(&laptop, &app.base_url, "login/two-step", &[("code", &typed)]).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(me(&app, &laptop).await["handle"], "ann");
        app.email_to("ann@example.com", "9 recovery codes left").await;
        let again = app.new_client();
        common::call_with(&again, &app.base_url, "login", &[("email", "ann@example.com"), ("password", PASSWORD)]).await;
        let res = common::call_with(&again, &app.base_url, "login/two-step", &[("code", &codes[0])]).await;
        assert_eq!(error_of(res).await.1.as_deref(), Some("code"));
        assert!(me(&app, &again).await.is_null());

        // 2. An emailed sign-in link.
        let linked = app.new_client();
        common::call_with(&linked, &app.base_url, "login-link", &[("email", "ann@example.com"), ("next", "/wallet")]).await;
        let mail = app.email_to("ann@example.com", "/login/link/").await;
        let link = common::link_in(&common::decoded_body(&mail), &app.url("/login/link/")).unwrap();
        let res = linked.get(&link).send().await.unwrap();
        assert_eq!(res.headers()["location"], "/login/two-step?next=%2Fwallet");
        assert!(me(&app, &linked).await.is_null(), "the link proves the email, not the phone");
        forget_used_codes(&app).await;
        let res = common::call_with(&linked, &app.base_url, "login/two-step", &[("code", &code_at(&secret, 0)), ("next", "/wallet")]).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(me(&app, &linked).await["handle"], "ann");

        // 3. A password reset link: a new password, and still the code.
        let reset = app.new_client();
        common::call_with(&reset, &app.base_url, "password/forgot", &[("email", "ann@example.com")]).await;
        let mail = app.email_to("ann@example.com", "/password/reset/").await;
        let token = common::link_in(&common::decoded_body(&mail), &app.url("/password/reset/")).unwrap().rsplit('/').next().unwrap().to_string();
        let res = common::call_with(&reset, &app.base_url, "password/reset", &[("token", &token), ("password", "a brand new passphrase")]).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert!(res.headers()["location"].to_str().unwrap().starts_with("/login/two-step"));
        assert!(me(&app, &reset).await.is_null());
        assert!(me(&app, &phone).await.is_null(), "the reset still ends the other sessions");
        let res = common::call_with(&reset, &app.base_url, "login/two-step", &[("code", &codes[1])]).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(me(&app, &reset).await["handle"], "ann");

        // Without a sign-in waiting for it, a code signs nobody in.
        let stranger = app.new_client();
        forget_used_codes(&app).await;
        let res = common::call_with(&stranger, &app.base_url, "login/two-step", &[("code", &code_at(&secret, 0))]).await;
        assert_eq!(res.headers()["location"], "/login?two_step=expired");
        assert!(me(&app, &stranger).await.is_null());

        // Guessing is throttled per account, whatever the browser.
        let guesser = app.new_client();
        common::call_with(&guesser, &app.base_url, "login", &[("email", "ann@example.com"), ("password", "a brand new passphrase")]).await;
        let mut statuses = Vec::new();
        let wrong = wrong_code(&secret);
        for _ in 0..20 {
            statuses.push(common::call_with(&guesser, &app.base_url, "login/two-step", &[("code", &wrong)]).await.status());
        }
        assert!(statuses.contains(&StatusCode::TOO_MANY_REQUESTS), "{statuses:?}");

        // A second step left waiting doesn't stand in the way of signing in to another account.
        let out = app.run_cli(&["user", "create", "--email", "bob@example.com", "--handle", "bob", "--password-stdin"], Some(PASSWORD)).await;
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let shared = app.new_client();
        common::call_with(&shared, &app.base_url, "login", &[("email", "ann@example.com"), ("password", "a brand new passphrase")]).await;
        assert!(me(&app, &shared).await.is_null());
        let res = common::call_with(&shared, &app.base_url, "login", &[("email", "bob@example.com"), ("password", PASSWORD)]).await;
        assert_eq!(res.headers()["location"], "/dashboard");
        assert_eq!(me(&app, &shared).await["handle"], "bob");

        // Lost phone and codes: the operator turns it off (after the owner proved who they
        // are); every session ends and the owner is told; the password alone signs in again.
        assert_eq!(me(&app, &reset).await["handle"], "ann");
        let out = app.run_cli(&["user", "reset-two-step", "--email", "ann@example.com"], None).await;
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        // (The server reads an account's session epoch again within two seconds.)
        common::eventually("the sessions to end", || async { me(&app, &reset).await.is_null().then_some(()) }).await;
        assert_eq!(app.count("select count(*) from two_step").await + app.count("select count(*) from recovery_code").await, 0);
        app.email_to("ann@example.com", "Two-step sign-in is now off").await;
        let back = app.new_client();
        let res = common::call_with(&back, &app.base_url, "login", &[("email", "ann@example.com"), ("password", "a brand new passphrase")]).await;
        assert_eq!(res.headers()["location"], "/dashboard");
        assert!(!app.run_cli(&["user", "reset-two-step", "--email", "nobody@example.com"], None).await.status.success());
    }

    async fn sensitive_changes_ask_for_the_code_again(app) {
        app.creator("ann").await;
        let (secret, codes) = turn_on(&app, &app.client).await;

        // The email.
        let res = app.call("settings/email", &[("new_email", "ann.new@example.com"), ("current_password", PASSWORD)]).await;
        assert_eq!(error_of(res).await.1.as_deref(), Some("two_step_code"));
        let res = app.call("settings/email", &[("new_email", "ann.new@example.com"), ("current_password", PASSWORD), ("two_step_code", &wrong_code(&secret))]).await;
        assert_eq!(error_of(res).await.1.as_deref(), Some("two_step_code"));
        assert_eq!(app.count("select count(*) from email_change").await, 0);
        let res = app
            .call("settings/email", &[("new_email", "ann.new@example.com"), ("current_password", PASSWORD), ("two_step_code", &code_at(&secret, 0))])
            .await;
        assert_eq!(res.status(), StatusCode::OK, "{}", res.text().await.unwrap());
        assert_eq!(app.count("select count(*) from email_change").await, 1);

        // The webhook URL: a new one needs the code; the time zone alone doesn't.
        let res = app.call("settings/integrations/save", &[("timezone", "Europe/Paris"), ("webhook_url", "")]).await;
        assert_eq!(res.status(), StatusCode::OK);
        let res = app.call("settings/integrations/save", &[("timezone", "Europe/Paris"), ("webhook_url", "https://hooks.example.com/clink")]).await;
        assert_eq!(error_of(res).await.1.as_deref(), Some("two_step_code"));
        assert_eq!(app.count("select count(*) from account where webhook_url is not null").await, 0);
        let res = app
            .call("settings/integrations/save", &[("timezone", "Europe/Paris"), ("webhook_url", "https://hooks.example.com/clink"), ("two_step_code", &codes[0])])
            .await;
        assert_eq!(res.status(), StatusCode::OK, "{}", res.text().await.unwrap());
        assert_eq!(app.count("select count(*) from account where webhook_url = 'https://hooks.example.com/clink'").await, 1);
        // Saving the same URL again with another time zone asks nothing.
        let res = app.call("settings/integrations/save", &[("timezone", "Europe/Berlin"), ("webhook_url", "https://hooks.example.com/clink")]).await;
        assert_eq!(res.status(), StatusCode::OK);

        // The payout destination.
        let form = [("kind", "paypal"), ("iban", ""), ("holder_name", ""), ("paypal_email", "ann@paypal.example"), ("current_password", PASSWORD)];
        let res = app.call("settings/payouts/save", &form).await;
        assert_eq!(error_of(res).await.1.as_deref(), Some("two_step_code"));
        assert_eq!(app.count("select count(*) from payout_destination").await, 0);
        forget_used_codes(&app).await;
        let mut with_code = form.to_vec();
        let code = code_at(&secret, 0);
        with_code.push(("two_step_code", &code));
        assert_eq!(app.call("settings/payouts/save", &with_code).await.status(), StatusCode::OK);
        assert_eq!(app.count("select count(*) from payout_destination").await, 1);

        // New recovery codes replace the old ones; turning off asks for password and code.
        let res = app.call("settings/two-step/codes", &[("code", &codes[1])]).await;
        assert_eq!(res.status(), StatusCode::OK);
        let page = settings_of(&app.client, &app).await;
        assert!(between(&page, "<ol class=\"recovery-codes\">", "</ol>").is_some());
        assert_eq!(app.count("select count(*) from recovery_code").await, 10);
        assert_eq!(app.count("select count(*) from recovery_code where used_at is null").await, 10);
        let res = app.call("settings/two-step/off", &[("code", &codes[2]), ("current_password", PASSWORD)]).await;
        assert_eq!(error_of(res).await.1.as_deref(), Some("code"), "old codes are gone");
        forget_used_codes(&app).await;
        let res = app.call("settings/two-step/off", &[("code", &code_at(&secret, 0)), ("current_password", "nope")]).await;
        assert_eq!(error_of(res).await.1.as_deref(), Some("current_password"));
        let res = app.call("settings/two-step/off", &[("code", &code_at(&secret, 0)), ("current_password", PASSWORD)]).await;
        assert_eq!(res.status(), StatusCode::OK, "{}", res.text().await.unwrap());
        assert_eq!(app.count("select count(*) from two_step").await + app.count("select count(*) from recovery_code").await, 0);
        app.email_to("ann@example.com", "Two-step sign-in is now off").await;
        // Off again: a password signs in at once.
        let fresh = app.new_client();
        let res = common::call_with(&fresh, &app.base_url, "login", &[("email", "ann@example.com"), ("password", PASSWORD)]).await;
        assert_eq!(res.headers()["location"], "/dashboard");
        assert_eq!(me(&app, &fresh).await["handle"], "ann");
    }
}
