//! Accounts over HTTP: sign-up, login, logout, sessions, throttling, CSRF and the admin CLI.

use crate::common;

use crate::common::{PASSWORD, TestApp, error_of};
use reqwest::StatusCode;

async fn dashboard_html(app: &TestApp) -> String {
    app.get("/dashboard").await.text().await.unwrap()
}

fn session_cookie(res: &reqwest::Response) -> Option<String> {
    res.headers().get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).find(|v| v.starts_with("clink_session=")).map(str::to_string)
}

both_backends! {
    async fn sign_up_confirms_the_email_then_signs_in(app) {
        let res = app.call("signup", &[("email", "ann@example.com"), ("password", PASSWORD), ("display_name", "Ann Lee"), ("handle", "ann")]).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert!(session_cookie(&res).is_none(), "no session before the email is proven");
        assert_eq!(app.count("select count(*) from account").await, 0, "no account before the email is proven");
        let mail = app.email_to("ann@example.com", "/signup/confirm/").await;
        assert!(mail.contains("Subject: Finish creating your Clink account"));
        let link = common::link_in(&common::decoded_body(&mail), &app.url("/signup/confirm/")).unwrap();
        let res = app.client.get(&link).send().await.unwrap();
        assert_eq!(res.headers()["location"], "/dashboard");
        let cookie = session_cookie(&res).expect("session cookie");
        assert!(cookie.contains("HttpOnly"), "{cookie}");
        assert!(cookie.contains("SameSite=Lax"), "{cookie}");
        assert!(!cookie.contains("Secure"), "plain-http base URL must not set Secure: {cookie}");
        let html = dashboard_html(&app).await;
        assert!(html.contains("Ann Lee"), "dashboard shows the name");

        let me: serde_json::Value = app.call("me", &[]).await.json().await.unwrap();
        assert_eq!(me["handle"], "ann");
        assert_eq!(me["email"], "ann@example.com");
        let verified = app.count("select count(*) from account where email_verified_at is not null").await;
        assert_eq!(verified, 1, "the email is proven");
        // The link works once.
        let again = app.new_client().get(&link).send().await.unwrap();
        assert_eq!(again.headers()["location"], "/signup?expired=1");
        assert_eq!(app.count("select count(*) from account").await, 1);
    }

    async fn sign_up_validates_every_field(app) {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("email", "nope"), ("password", PASSWORD), ("display_name", "A"), ("handle", "abc")], "email"),
            (&[("email", "a@example.com"), ("password", "short"), ("display_name", "A"), ("handle", "abc")], "password"),
            (&[("email", "a@example.com"), ("password", PASSWORD), ("display_name", "  "), ("handle", "abc")], "display_name"),
            (&[("email", "a@example.com"), ("password", PASSWORD), ("display_name", "A"), ("handle", "a b")], "handle"),
            (&[("email", "a@example.com"), ("password", PASSWORD), ("display_name", "A"), ("handle", "dashboard")], "handle"),
        ];
        for (form, field) in cases {
            let res = app.call("signup", form).await;
            assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{form:?}");
            let (_, got_field, message) = error_of(res).await;
            assert_eq!(got_field.as_deref(), Some(*field), "{form:?}");
            assert!(!message.is_empty());
        }
        let long = "x".repeat(257);
        let res = app.call("signup", &[("email", "a@example.com"), ("password", &long), ("display_name", "A"), ("handle", "abc")]).await;
        assert_eq!(error_of(res).await.1.as_deref(), Some("password"));
        // A malformed body is a 400 too, never a 500.
        let res = app.call("signup", &[("email", "a@example.com")]).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    }

    async fn sign_up_does_not_reveal_which_emails_have_accounts(app) {
        assert_eq!(app.sign_up("ann@example.com", "ann", "Ann").await.status(), StatusCode::OK);
        let other = app.new_client();
        // The same answer as any sign-up; the owner of the address hears of it instead.
        let fresh = other.post(app.url("/api/signup")).header("accept", "text/html")
            .form(&[("email", "fresh@example.com"), ("password", PASSWORD), ("display_name", "F"), ("handle", "fresh")]).send().await.unwrap();
        let taken = other.post(app.url("/api/signup")).header("accept", "text/html")
            .form(&[("email", "ANN@example.com"), ("password", PASSWORD), ("display_name", "A"), ("handle", "ann2")]).send().await.unwrap();
        assert_eq!(fresh.status(), taken.status());
        assert_eq!(fresh.headers()["location"], taken.headers()["location"]);
        assert_eq!(fresh.text().await.unwrap(), taken.text().await.unwrap());
        let notice = app.email_to("ann@example.com", "/login/link/").await;
        assert!(notice.contains("Subject: You already have a Clink account"));
        assert_eq!(app.count("select count(*) from account where email = 'ann@example.com'").await, 1);
        // Handles are public: a taken one is said at once.
        let res = other.post(app.url("/api/signup")).header("accept", "application/json")
            .form(&[("email", "bob@example.com"), ("password", PASSWORD), ("display_name", "B"), ("handle", "Ann")]).send().await.unwrap();
        assert_eq!(error_of(res).await.1.as_deref(), Some("handle"));
    }

    async fn sign_ups_are_rate_limited_and_hashing_is_bounded(app) {
        // Sixty sign-ups at once from one address: a few go through, the rest are told to wait,
        // and no more password hashes run at once than there are cores.
        let tasks: Vec<_> = (0..60).map(|i| {
            let client = app.new_client();
            let url = app.url("/api/signup");
            let origin = app.base_url.clone();
            tokio::spawn(async move {
                client.post(url).header("origin", origin).header("accept", "application/json")
                    .form(&[("email", format!("flood{i}@example.com")), ("password", PASSWORD.to_string()), ("display_name", "F".into()), ("handle", format!("flood{i}"))])
                    .send().await.unwrap().status()
            })
        }).collect();
        let mut statuses = Vec::new();
        for t in tasks {
            statuses.push(t.await.unwrap());
        }
        let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
        let limited = statuses.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count();
        assert_eq!(ok + limited, 60, "{statuses:?}");
        assert!(ok <= 5, "{ok} sign-ups went through");
        assert_eq!(app.count("select count(*) from signup_request").await, ok as i64);
    }

    async fn a_forgotten_password_is_reset_by_a_link_that_works_once(app) {
        app.creator("ann").await;
        // Another device signed in before the reset.
        let laptop = app.new_client();
        assert_eq!(common::call_with(&laptop, &app.base_url, "login", &[("email", "ann@example.com"), ("password", PASSWORD)]).await.status(), StatusCode::OK);
        let me = |client: reqwest::Client| {
            let url = app.url("/api/me");
            let origin = app.base_url.clone();
            async move { client.post(url).header("origin", origin).send().await.unwrap().json::<serde_json::Value>().await.unwrap() }
        };
        assert!(!me(laptop.clone()).await.is_null());

        // The same answer whether the email has an account or not, and no mail for nobody.
        let phone = app.new_client();
        let known = common::call_with(&phone, &app.base_url, "password/forgot", &[("email", "ann@example.com")]).await;
        let unknown = common::call_with(&phone, &app.base_url, "password/forgot", &[("email", "nobody@example.com")]).await;
        assert_eq!((known.status(), unknown.status()), (StatusCode::OK, StatusCode::OK));
        assert_eq!(known.text().await.unwrap(), unknown.text().await.unwrap());
        let mail = app.email_to("ann@example.com", "/password/reset/").await;
        assert!(mail.contains("Subject: Reset your Clink password"), "{mail}");
        tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
        assert!(!app.outbox().iter().any(|m| m.contains("To: nobody@example.com")), "no mail to an address without an account");
        assert_eq!(app.count("select count(*) from password_reset").await, 1, "one token, for the account");
        assert_eq!(
            app.count("select count(*) from password_reset where length(token_hash) = 64").await,
            1,
            "stored as a SHA-256, never the token itself"
        );

        let link = common::link_in(&common::decoded_body(&mail), &app.url("/password/reset/")).unwrap();
        let token = link.rsplit('/').next().unwrap().to_string();
        assert!(phone.get(&link).send().await.unwrap().text().await.unwrap().contains("Choose a new password"));
        // Too short: a clear error, the link still good.
        let res = common::call_with(&phone, &app.base_url, "password/reset", &[("token", &token), ("password", "short")]).await;
        let (_, field, message) = error_of(res).await;
        assert_eq!(field.as_deref(), Some("password"), "{message}");
        let res = common::call_with(&phone, &app.base_url, "password/reset", &[("token", &token), ("password", "a brand new passphrase")]).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert!(!me(phone.clone()).await.is_null(), "the browser that reset is signed in");
        assert!(me(laptop.clone()).await.is_null(), "every session from before the reset ended");
        // The link works once.
        let again = common::call_with(&app.new_client(), &app.base_url, "password/reset", &[("token", &token), ("password", "yet another passphrase")]).await;
        let (_, field, message) = error_of(again).await;
        assert_eq!(field.as_deref(), Some("token"));
        assert!(message.contains("expired or was already used"), "{message}");
        // The old password is gone, the new one works.
        let fresh = app.new_client();
        assert_ne!(common::call_with(&fresh, &app.base_url, "login", &[("email", "ann@example.com"), ("password", PASSWORD)]).await.status(), StatusCode::OK);
        assert_eq!(
            common::call_with(&fresh, &app.base_url, "login", &[("email", "ann@example.com"), ("password", "a brand new passphrase")]).await.status(),
            StatusCode::OK
        );

        // An expired link says so and changes nothing.
        common::call_with(&app.new_client(), &app.base_url, "password/forgot", &[("email", "ann@example.com")]).await;
        let mail = common::eventually("a second reset mail", || async {
            app.outbox().into_iter().filter(|m| m.contains("To: ann@example.com") && m.contains("/password/reset/")).nth(1)
        })
        .await;
        let link = common::link_in(&common::decoded_body(&mail), &app.url("/password/reset/")).unwrap();
        let token = link.rsplit('/').next().unwrap().to_string();
        app::on_db!(&app.state.db, pool => sqlx::query("update password_reset set expires_at = 0 where used_at is null").execute(pool).await.map(|_| ())).unwrap();
        let res = common::call_with(&app.new_client(), &app.base_url, "password/reset", &[("token", &token), ("password", "expired link passphrase")]).await;
        assert_eq!(error_of(res).await.1.as_deref(), Some("token"));
        assert_eq!(
            common::call_with(&app.new_client(), &app.base_url, "login", &[("email", "ann@example.com"), ("password", "a brand new passphrase")]).await.status(),
            StatusCode::OK
        );

        // Asking again and again for one address is rate limited, with the same answer for any address.
        let spammer = app.new_client();
        let statuses: Vec<StatusCode> = futures::future::join_all(
            (0..4).map(|_| common::call_with(&spammer, &app.base_url, "password/forgot", &[("email", "victim@example.com")])),
        )
        .await
        .into_iter()
        .map(|r| r.status())
        .collect();
        assert!(statuses.contains(&StatusCode::TOO_MANY_REQUESTS), "{statuses:?}");
    }

    async fn changing_the_password_asks_for_the_current_one_and_signs_out_other_devices(app) {
        app.creator("ann").await;
        let laptop = app.new_client();
        assert_eq!(common::call_with(&laptop, &app.base_url, "login", &[("email", "ann@example.com"), ("password", PASSWORD)]).await.status(), StatusCode::OK);
        let res = app.call("password/change", &[("current_password", "not it at all"), ("new_password", "a better passphrase")]).await;
        let (_, field, _) = error_of(res).await;
        assert_eq!(field.as_deref(), Some("current_password"));
        let res = app.call("password/change", &[("current_password", PASSWORD), ("new_password", "short")]).await;
        assert_eq!(error_of(res).await.1.as_deref(), Some("new_password"));
        let res = app.call("password/change", &[("current_password", PASSWORD), ("new_password", "a better passphrase")]).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert!(dashboard_html(&app).await.contains("Dashboard"), "this session stays signed in");
        let laptop_me: serde_json::Value =
            laptop.post(app.url("/api/me")).header("origin", &app.base_url).send().await.unwrap().json().await.unwrap();
        assert!(laptop_me.is_null(), "the other device is signed out: {laptop_me}");
        let fresh = app.new_client();
        assert_eq!(
            common::call_with(&fresh, &app.base_url, "login", &[("email", "ann@example.com"), ("password", "a better passphrase")]).await.status(),
            StatusCode::OK
        );
    }

    async fn settings_lists_signed_in_devices_and_signs_out_the_others(app) {
        const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1";
        const WINDOWS: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";
        // The shared client signed up by the emailed link and sends no user agent.
        app.creator("ann").await;
        let phone = common::browser_client_named(&app.base_url, IPHONE);
        let laptop = common::browser_client_named(&app.base_url, WINDOWS);
        for client in [&phone, &laptop] {
            let res = common::call_with(client, &app.base_url, "login", &[("email", "ann@example.com"), ("password", PASSWORD)]).await;
            assert_eq!(res.status(), StatusCode::OK);
        }
        let devices = |client: reqwest::Client| {
            let base_url = app.base_url.clone();
            async move {
                let list: Vec<serde_json::Value> = common::call_with(&client, &base_url, "devices/list", &[]).await.json().await.unwrap();
                list.iter().map(|d| (d["label"].as_str().unwrap().to_string(), d["this_device"].as_bool().unwrap())).collect::<Vec<_>>()
            }
        };
        let mut seen = devices(phone.clone()).await;
        assert_eq!(seen.first(), Some(&("Safari on iPhone".to_string(), true)), "this device first: {seen:?}");
        seen.sort();
        assert_eq!(
            seen,
            [("Chrome on Windows 10".to_string(), false), ("Safari on iPhone".to_string(), true), ("Unknown browser".to_string(), false)]
        );
        let settings = phone.get(app.url("/settings")).send().await.unwrap().text().await.unwrap();
        assert!(settings.contains("Safari on iPhone") && settings.contains("This device"), "{settings}");
        assert!(settings.contains("Sign out of 2 other devices"), "{settings}");

        // Another account sees only its own; a visitor sees nothing.
        let bob = app.new_client();
        common::sign_up_on(&bob, &app.base_url, &app.shared_dir, "bob@example.com", "bob", "Bob").await;
        assert_eq!(devices(bob.clone()).await, [("Unknown browser".to_string(), true)]);
        let visitor = common::call_with(&app.new_client(), &app.base_url, "devices/list", &[]).await;
        assert_eq!(visitor.status(), StatusCode::UNAUTHORIZED);

        // Logging out takes a device off the list.
        assert_eq!(common::call_with(&laptop, &app.base_url, "logout", &[]).await.status(), StatusCode::OK);
        assert_eq!(devices(phone.clone()).await.len(), 2);
        common::call_with(&laptop, &app.base_url, "login", &[("email", "ann@example.com"), ("password", PASSWORD)]).await;

        // "Sign out of the other devices": they are signed out at once, this one stays.
        assert_eq!(common::call_with(&phone, &app.base_url, "devices/sign-out-others", &[]).await.status(), StatusCode::OK);
        let me = |client: reqwest::Client| {
            let (url, origin) = (app.url("/api/me"), app.base_url.clone());
            async move { client.post(url).header("origin", origin).send().await.unwrap().json::<serde_json::Value>().await.unwrap() }
        };
        assert!(me(laptop.clone()).await.is_null(), "the laptop is signed out");
        assert!(me(app.client.clone()).await.is_null(), "the first browser is signed out");
        assert_eq!(me(phone.clone()).await["email"], "ann@example.com", "this device stays signed in");
        assert_eq!(devices(phone.clone()).await, [("Safari on iPhone".to_string(), true)]);
        assert!(!devices(bob.clone()).await.is_empty(), "other accounts' sessions are untouched");
        let settings = phone.get(app.url("/settings?saved=devices")).send().await.unwrap().text().await.unwrap();
        assert!(settings.contains("Signed out of your other devices.") && settings.contains("signed in on this device only"), "{settings}");
    }

    async fn a_changed_handle_keeps_old_links_working_and_the_old_handle_reserved(app) {
        app.creator("olda").await;
        let (id, code) = app.publish_work("Moving Day", "2", b"bytes").await;
        let res = app.call("works/update", &[("work_id", &id), ("title", "Moving Day"), ("description", ""), ("currency", "EUR"),
            ("price_kind", "fixed"), ("price", "2"), ("suggested", ""), ("slug", "moving-day"), ("max_downloads", ""), ("link_expiry_days", "")]).await;
        assert_eq!(res.status(), StatusCode::OK, "{}", res.text().await.unwrap());
        assert!(app.get(&format!("/l/{code}")).await.text().await.unwrap().contains("/@olda"));

        // Bad input gets a clear error and changes nothing.
        for bad in ["x", "no spaces", "dashboard"] {
            let res = app.call("settings/handle", &[("handle", bad)]).await;
            assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{bad}");
            assert_eq!(error_of(res).await.1.as_deref(), Some("handle"), "{bad}");
        }
        let res = app.call("settings/handle", &[("handle", "@NewA")]).await;
        assert!(res.status().is_success() || res.status().is_redirection(), "{}", res.status());
        assert_eq!(app.count("select count(*) from account where handle = 'newa'").await, 1);

        // Old links are moved, with their query; the new ones serve the pages.
        for (old, new) in [("/@olda?ref=x", "/@newa?ref=x"), ("/olda/moving-day", "/newa/moving-day"), ("/@olda", "/@newa")] {
            let res = app.get(old).await;
            assert_eq!(res.status(), StatusCode::MOVED_PERMANENTLY, "{old}");
            assert_eq!(res.headers()["location"], new, "{old}");
        }
        assert_eq!(app.get("/@newa").await.status(), StatusCode::OK);
        assert_eq!(app.get("/newa/moving-day").await.status(), StatusCode::OK);
        let link_page = app.get(&format!("/l/{code}")).await.text().await.unwrap();
        assert!(link_page.contains("/@newa") && !link_page.contains("/@olda"), "the cached link page shows the new handle");
        assert_eq!(app.get("/@nobody_here").await.status(), StatusCode::NOT_FOUND, "an unknown handle is still not found");

        // Nobody else can take the old handle while it redirects: not at sign-up, not by a change.
        let other = app.new_client();
        let res = common::sign_up_on(&other, &app.base_url, &app.shared_dir, "thief@example.com", "olda", "Thief").await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert!(error_of(res).await.2.contains("taken"));
        let res = common::sign_up_on(&other, &app.base_url, &app.shared_dir, "thief@example.com", "thief", "Thief").await;
        assert_eq!(res.status(), StatusCode::OK);
        let res = common::call_with(&other, &app.base_url, "settings/handle", &[("handle", "olda")]).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert_eq!(app.count("select count(*) from account where handle = 'olda'").await, 0);
        assert_eq!(app.get("/@olda").await.status(), StatusCode::MOVED_PERMANENTLY, "still ours");

        // Its owner can go back to it: then the newer handle redirects.
        let res = app.call("settings/handle", &[("handle", "olda")]).await;
        assert!(res.status().is_success() || res.status().is_redirection());
        assert_eq!(app.get("/@olda").await.status(), StatusCode::OK);
        let back = app.get("/@newa").await;
        assert_eq!(back.headers()["location"], "/@olda");
        assert_eq!(back.headers()["cache-control"], "max-age=3600", "browsers don't keep a redirect that may be reversed");

        // A few changes, not a way to hoard names: three handles held at once at most.
        for handle in ["thirda", "fourtha"] {
            let res = app.call("settings/handle", &[("handle", handle)]).await;
            assert!(res.status().is_success() || res.status().is_redirection(), "{handle}");
        }
        let res = app.call("settings/handle", &[("handle", "fiftha")]).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert!(error_of(res).await.2.contains("three times in 90 days"));
        assert_eq!(app.count("select count(*) from account where handle = 'fourtha'").await, 1);
    }

    async fn an_email_change_is_proven_at_the_new_address_and_the_old_one_is_told(app) {
        app.creator("emma").await;
        let other = app.new_client();
        assert_eq!(common::sign_up_on(&other, &app.base_url, &app.shared_dir, "finn@example.com", "finn", "Finn").await.status(), StatusCode::OK);
        // Bad input: a clear error on its field, and nothing changes.
        for (new_email, password, field) in [
            ("emma.new@example.com", "not-my-password", "current_password"),
            ("not-an-email", PASSWORD, "new_email"),
            ("emma@example.com", PASSWORD, "new_email"),
            ("finn@example.com", PASSWORD, "new_email"),
        ] {
            let res = app.call("settings/email", &[("new_email", new_email), ("current_password", password)]).await;
            assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{new_email}");
            assert_eq!(error_of(res).await.1.as_deref(), Some(field), "{new_email}");
        }
        let res = app.call("settings/email", &[("new_email", "Emma.New@example.com"), ("current_password", PASSWORD)]).await;
        assert!(res.status().is_success() || res.status().is_redirection(), "{}", res.status());
        assert_eq!(app.count("select count(*) from account where email = 'emma@example.com'").await, 1, "nothing changes before the link");

        // The link at the new address makes the change, once; the old address hears of it.
        let mail = app.email_to("emma.new@example.com", "/settings/email/confirm/").await;
        let link = common::link_in(&common::decoded_body(&mail), &app.url("/settings/email/confirm/")).expect("a confirmation link");
        let res = app.client.get(&link).send().await.unwrap();
        assert_eq!(res.headers()["location"], "/settings?email=confirmed#email");
        assert_eq!(app.count("select count(*) from account where email = 'emma.new@example.com' and email_verified_at is not null").await, 1);
        let notice = app.email_to("emma@example.com", "now uses").await;
        assert!(common::decoded_body(&notice).contains("em•••@example.com"), "the new address, masked");
        let res = app.client.get(&link).send().await.unwrap();
        assert_eq!(res.headers()["location"], "/settings?email=expired#email", "the link works once");
        let settings = app.get("/settings?email=confirmed").await.text().await.unwrap();
        assert!(settings.contains("Your email is changed") && settings.contains("emma.new@example.com"));

        // Signing in takes the new address, not the old.
        let fresh = app.new_client();
        let res = common::call_with(&fresh, &app.base_url, "login", &[("email", "emma.new@example.com"), ("password", PASSWORD)]).await;
        assert_eq!(res.status(), StatusCode::OK);
        let res = common::call_with(&fresh, &app.base_url, "login", &[("email", "emma@example.com"), ("password", PASSWORD)]).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);

        // Another change: the current address hears of it at once, and a password change
        // (what its owner does if it wasn't them) cancels it.
        let res = app.call("settings/email", &[("new_email", "intruder@example.com"), ("current_password", PASSWORD)]).await;
        assert!(res.status().is_success() || res.status().is_redirection());
        let warned = common::decoded_body(&app.email_to("emma.new@example.com", "asked to move it to").await);
        assert!(warned.contains("in•••@example.com") && warned.contains("/password/forgot"));
        let mail = app.email_to("intruder@example.com", "/settings/email/confirm/").await;
        let link = common::link_in(&common::decoded_body(&mail), &app.url("/settings/email/confirm/")).unwrap();
        let res = app.call("password/change", &[("current_password", PASSWORD), ("new_password", "a brand new password")]).await;
        assert!(res.status().is_success() || res.status().is_redirection(), "{}", res.status());
        let res = app.client.get(&link).send().await.unwrap();
        assert_eq!(res.headers()["location"], "/settings?email=expired#email", "cancelled by the password change");
        assert_eq!(app.count("select count(*) from account where email = 'intruder@example.com'").await, 0);
    }

    async fn the_data_export_holds_what_the_database_holds(app) {
        app.creator("xena").await;
        let (work_id, code) = app.publish_work("Exported Zine", "2", b"export me").await;
        for fan in ["fan1@example.com", "fan2@example.com"] {
            common::buy_with_test_card(&app, &app.new_client(), &code, fan, "").await;
        }
        let res = app.get("/settings/export.zip").await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()["content-type"], "application/zip");
        assert!(res.headers()["content-disposition"].to_str().unwrap().starts_with("attachment; filename=\"clink-data-"));
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(res.bytes().await.unwrap())).expect("a zip");
        let mut read = |name: &str| {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut zip.by_name(name).unwrap_or_else(|_| panic!("{name} in the zip")), &mut text).unwrap();
            text
        };
        let profile: serde_json::Value = serde_json::from_str(&read("profile.json")).unwrap();
        assert_eq!(profile["email"], "xena@example.com");
        assert_eq!(profile["handle"], "xena");
        let works: serde_json::Value = serde_json::from_str(&read("works.json")).unwrap();
        assert_eq!(works[0]["work_id"], work_id.as_str());
        let sha: String = app::on_db!(&app.state.db, pool => sqlx::query_scalar("select sha256 from work_file where work_id = $1")
            .bind(&work_id).fetch_one(pool).await).unwrap();
        assert_eq!(works[0]["files"][0]["sha256"], sha.as_str());
        let sales = read("sales.csv");
        assert_eq!(sales.lines().count() - 1, 2, "{sales}");
        assert!(sales.contains("fan1@example.com") && sales.contains("Exported Zine"));
        // The ledger lines add up to the creator's balances, as the ledger has them.
        let ledger = read("ledger.csv");
        let listed: i64 = ledger.lines().skip(1).map(|l| {
            let amount = l.split(',').rev().nth(1).unwrap();
            (amount.parse::<f64>().unwrap() * 100.0).round() as i64
        }).sum();
        let owner_id: String = app::on_db!(&app.state.db, pool => sqlx::query_scalar("select account_id from account where handle = 'xena'").fetch_one(pool).await).unwrap();
        let balances: i64 = app::on_db!(&app.state.db, pool => sqlx::query_scalar::<_, i64>(
            "select cast(coalesce(sum(balance_minor), 0) as bigint) from ledger_account where owner_id = $1").bind(&owner_id).fetch_one(pool).await).unwrap();
        assert!(balances > 0);
        assert_eq!(listed, balances, "{ledger}");
        assert!(read("README.txt").contains("ledger.csv"));
        // Xena bought nothing and has no wallet: the header alone.
        assert_eq!(read("purchases.csv").lines().count(), 1);
        assert_eq!(read("wallet.csv").lines().count(), 1);
        // Someone else's export holds none of it; a visitor is sent to sign in.
        let other = app.new_client();
        assert_eq!(common::sign_up_on(&other, &app.base_url, &app.shared_dir, "yuri@example.com", "yuri", "Yuri").await.status(), StatusCode::OK);
        let theirs = other.get(app.url("/settings/export.zip")).send().await.unwrap().bytes().await.unwrap();
        let mut theirs = zip::ZipArchive::new(std::io::Cursor::new(theirs)).unwrap();
        for i in 0..theirs.len() {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut theirs.by_index(i).unwrap(), &mut text).unwrap();
            assert!(!text.contains("Exported Zine") && !text.contains("xena"), "{text}");
        }
        let res = app.new_client().get(app.url("/settings/export.zip")).send().await.unwrap();
        assert!(res.status().is_redirection());
        assert!(res.headers()["location"].to_str().unwrap().starts_with("/login"));
    }

    async fn login_errors_do_not_reveal_which_emails_exist(app) {
        app.creator("ann").await;
        let fresh = app.new_client();
        let wrong_password = common::call_with(&fresh, &app.base_url, "login", &[("email", "ann@example.com"), ("password", "wrong password")]).await;
        let unknown_email = common::call_with(&fresh, &app.base_url, "login", &[("email", "nobody@example.com"), ("password", "wrong password")]).await;
        assert_eq!(wrong_password.status(), unknown_email.status());
        assert_eq!(wrong_password.text().await.unwrap(), unknown_email.text().await.unwrap());
    }

    async fn login_cycles_the_session_id_and_logout_deletes_it(app) {
        app.creator("ann").await;
        let browser = app.new_client();
        let first = common::call_with(&browser, &app.base_url, "login", &[("email", "ann@example.com"), ("password", PASSWORD)]).await;
        assert_eq!(first.status(), StatusCode::OK);
        let first_cookie = session_cookie(&first).unwrap();
        let first_id = first_cookie.split(';').next().unwrap().to_string();

        let second = common::call_with(&browser, &app.base_url, "login", &[("email", "ann@example.com"), ("password", PASSWORD)]).await;
        let second_id = session_cookie(&second).unwrap().split(';').next().unwrap().to_string();
        assert_ne!(first_id, second_id, "login must issue a new session id");

        // The pre-login id no longer authenticates anyone.
        let replay = reqwest::Client::new();
        let me: serde_json::Value = replay.post(app.url("/api/me")).header("origin", &app.base_url).header("cookie", &first_id)
            .send().await.unwrap().json().await.unwrap();
        assert!(me.is_null(), "old session id still valid: {me}");

        // Logout removes the server-side record: replaying the cookie afterwards is anonymous.
        let res = browser.post(app.url("/api/logout")).header("accept", "text/html").header("referer", app.url("/dashboard")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FOUND);
        assert_eq!(res.headers()["location"], "/");
        let me: serde_json::Value = replay.post(app.url("/api/me")).header("origin", &app.base_url).header("cookie", &second_id)
            .send().await.unwrap().json().await.unwrap();
        assert!(me.is_null(), "logged-out session still valid: {me}");
    }

    async fn login_is_throttled_per_account(app) {
        app.creator("ann").await;
        let browser = app.new_client();
        let mut statuses = vec![];
        for _ in 0..7 {
            let res = common::call_with(&browser, &app.base_url, "login", &[("email", "ann@example.com"), ("password", "not the password")]).await;
            statuses.push(res.status());
        }
        assert!(statuses[..5].iter().all(|s| *s == StatusCode::BAD_REQUEST), "{statuses:?}");
        assert_eq!(statuses[6], StatusCode::TOO_MANY_REQUESTS, "{statuses:?}");
        // Even the right password is refused while throttled.
        let res = common::call_with(&browser, &app.base_url, "login", &[("email", "ann@example.com"), ("password", PASSWORD)]).await;
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    }

    async fn cross_site_posts_are_refused(app) {
        let plain = reqwest::Client::new();
        let form = [("email", "eve@example.com"), ("password", PASSWORD), ("display_name", "Eve"), ("handle", "eve")];
        let forged = plain.post(app.url("/api/signup")).header("origin", "https://evil.example").form(&form).send().await.unwrap();
        assert_eq!(forged.status(), StatusCode::FORBIDDEN);
        let fetch_meta = plain.post(app.url("/api/signup")).header("sec-fetch-site", "cross-site").header("origin", &app.base_url).form(&form).send().await.unwrap();
        assert_eq!(fetch_meta.status(), StatusCode::FORBIDDEN);
        let no_origin = plain.post(app.url("/api/signup")).form(&form).send().await.unwrap();
        assert_eq!(no_origin.status(), StatusCode::FORBIDDEN);
        let same_site = plain.post(app.url("/api/signup")).header("sec-fetch-site", "same-origin").form(&form).send().await.unwrap();
        assert_eq!(same_site.status(), StatusCode::OK);
        // Nothing was created by the refused requests: the handle was free for the last one.
    }

    async fn forms_work_without_javascript(app) {
        // A plain HTML form post: success redirects to the dashboard...
        let browser = app.new_client();
        let res = browser.post(app.url("/api/signup")).header("accept", "text/html").header("referer", app.url("/signup"))
            .form(&[("email", "nojs@example.com"), ("password", PASSWORD), ("display_name", "No Script"), ("handle", "nojs")])
            .send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FOUND);
        assert_eq!(res.headers()["location"], "/signup/sent");
        let sent = browser.get(app.url("/signup/sent")).send().await.unwrap().text().await.unwrap();
        assert!(sent.contains("Check your inbox"));
        let mail = app.email_to("nojs@example.com", "/signup/confirm/").await;
        let link = common::link_in(&common::decoded_body(&mail), &app.url("/signup/confirm/")).unwrap();
        assert_eq!(browser.get(&link).send().await.unwrap().headers()["location"], "/dashboard");
        let html = browser.get(app.url("/dashboard")).send().await.unwrap().text().await.unwrap();
        assert!(html.contains("No Script"));

        // ...and an error comes back to the form, which shows it next to the field.
        let other = app.new_client();
        let res = other.post(app.url("/api/login")).header("accept", "text/html").header("referer", app.url("/login"))
            .form(&[("email", "nojs@example.com"), ("password", "wrong password")]).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FOUND);
        let location = res.headers()["location"].to_str().unwrap().to_string();
        assert!(location.starts_with(&app.url("/login?")), "{location}");
        let page = other.get(&location).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("don&#x27;t match an account") || page.contains("don't match an account"), "error shown on the page");
    }

    async fn login_redirects_only_to_local_paths(app) {
        app.creator("ann").await;
        let browser = app.new_client();
        let res = browser.post(app.url("/api/login")).header("accept", "text/html").header("referer", app.url("/login"))
            .form(&[("email", "ann@example.com"), ("password", PASSWORD), ("next", "https://evil.example/")]).send().await.unwrap();
        assert_eq!(res.headers()["location"], "/dashboard");
        let res = browser.post(app.url("/api/login")).header("accept", "text/html").header("referer", app.url("/login"))
            .form(&[("email", "ann@example.com"), ("password", PASSWORD), ("next", "/dashboard?tab=works")]).send().await.unwrap();
        assert_eq!(res.headers()["location"], "/dashboard?tab=works");
    }

    async fn health_and_metrics(app) {
        let res = app.get("/healthz").await;
        assert_eq!(res.status(), StatusCode::OK);
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body, serde_json::json!({"status": "ok", "database": "ok", "files": "ok"}));
        app.get("/").await;
        // Metrics are for the operator: off unless a token is set, then only with it.
        assert_eq!(app.get("/metrics").await.status(), StatusCode::NOT_FOUND);
        let app = TestApp::spawn_with(app.backend, &[("CLINK_METRICS_TOKEN", "operator-metrics-token-1")]).await;
        app.get("/").await;
        assert_eq!(app.get("/metrics").await.status(), StatusCode::UNAUTHORIZED);
        let wrong = app.client.get(app.url("/metrics")).bearer_auth("operator-metrics-token-2").send().await.unwrap();
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
        let metrics = app.client.get(app.url("/metrics")).bearer_auth("operator-metrics-token-1").send().await.unwrap().text().await.unwrap();
        assert!(metrics.contains("http_requests_total{"), "{metrics}");
        assert!(metrics.contains("route=\"/healthz\""), "{metrics}");
        assert!(metrics.contains("http_request_duration_seconds_bucket"), "{metrics}");

        // With the database gone, health says so.
        app.state.db.close().await;
        let res = app.get("/healthz").await;
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["database"], "error");
    }

    async fn admin_cli_creates_and_lists_accounts(app) {
        let out = app.run_cli(&["user", "create", "--email", "Admin@Example.com", "--handle", "boss", "--password-stdin"], Some("a long password\n")).await;
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let list = app.run_cli(&["user", "list"], None).await;
        let stdout = String::from_utf8_lossy(&list.stdout);
        assert!(stdout.contains("admin@example.com") && stdout.contains("boss"), "{stdout}");

        // The account works in the web app.
        let res = app.log_in("admin@example.com", "a long password").await;
        assert_eq!(res.status(), StatusCode::OK);

        let dup = app.run_cli(&["user", "create", "--email", "admin@example.com", "--handle", "boss2", "--password-stdin"], Some("a long password\n")).await;
        assert!(!dup.status.success());
        assert!(String::from_utf8_lossy(&dup.stderr).contains("already exists"));
        let weak = app.run_cli(&["user", "create", "--email", "x@example.com", "--handle", "xxx", "--password-stdin"], Some("short\n")).await;
        assert!(!weak.status.success());
        assert!(String::from_utf8_lossy(&weak.stderr).contains("password"));
    }
}

#[tokio::test]
async fn secure_cookies_when_the_base_url_is_https() {
    let app = TestApp::spawn_with(common::Backend::Sqlite, &[("CLINK_BASE_URL", "https://clink.example")]).await;
    let res = reqwest::Client::new()
        .post(app.url("/api/signup"))
        .header("sec-fetch-site", "same-origin")
        .form(&[("email", "s@example.com"), ("password", PASSWORD), ("display_name", "S"), ("handle", "sss")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let mail = app.email_to("s@example.com", "/signup/confirm/").await;
    let path = common::link_in(&common::decoded_body(&mail), "https://clink.example/signup/confirm/")
        .unwrap()
        .replace("https://clink.example", "");
    let res =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap().get(app.url(&path)).send().await.unwrap();
    let cookie = session_cookie(&res).unwrap();
    assert!(cookie.contains("Secure"), "{cookie}");
    // Browsers are told to come back over https only (and only when the site is served so).
    let page = app.get("/login").await;
    let hsts = page.headers().get("strict-transport-security").map(|v| v.to_str().unwrap().to_string());
    assert_eq!(hsts.as_deref(), Some("max-age=31536000; includeSubDomains"));
}

#[tokio::test]
async fn no_hsts_when_the_base_url_is_plain_http() {
    let app = TestApp::spawn(common::Backend::Sqlite).await;
    let page = app.get("/login").await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.headers().get("content-security-policy").is_some());
    assert!(page.headers().get("strict-transport-security").is_none(), "HSTS on plain http would lock a local setup out");
}

#[tokio::test]
async fn bad_configuration_exits_with_a_one_line_error() {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_clink")).env("LEPTOS_SITE_ADDR", "not-an-address").output().await.unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("LEPTOS_SITE_ADDR"), "{stderr}");
}

/// Each app server keeps the sessions it has seen in memory; with several servers on one
/// PostgreSQL, signing out (or any change) on one must reach the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_out_on_one_app_server_ends_the_session_on_the_others() {
    if !common::pg::available().await {
        return;
    }
    let app = TestApp::spawn(common::Backend::Postgres).await;
    let other = app.spawn_beside().await;
    app.creator("ann").await;
    let browser = app.new_client();
    let login = common::call_with(&browser, &app.base_url, "login", &[("email", "ann@example.com"), ("password", PASSWORD)]).await;
    let cookie = session_cookie(&login).unwrap().split(';').next().unwrap().to_string();
    let replay = reqwest::Client::new();
    let me = |base: String| {
        let (replay, cookie) = (replay.clone(), cookie.clone());
        async move {
            let res = replay.post(format!("{base}/api/me")).header("origin", &base).header("cookie", &cookie).send().await.unwrap();
            res.json::<serde_json::Value>().await.unwrap()
        }
    };
    // Both servers have read (and keep) the session.
    for server in [&app, &other] {
        for _ in 0..2 {
            assert_eq!(me(server.base_url.clone()).await["handle"], "ann");
        }
    }
    let res = browser.post(other.url("/api/logout")).header("origin", &other.base_url).header("accept", "text/html").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    assert!(me(other.base_url.clone()).await.is_null());
    common::eventually("the first server to forget the signed-out session", || async {
        me(app.base_url.clone()).await.is_null().then_some(())
    })
    .await;
}
