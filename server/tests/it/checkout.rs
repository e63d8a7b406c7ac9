//! Buying with the built-in test provider, over HTTP as a browser would: checkout, card page,
//! 3-D Secure, one-click repeat purchases, delivery with limits and ranges, refunds, the
//! receipt and the buyer library. Each on SQLite and PostgreSQL.

use crate::common;

use crate::common::{TestApp, hidden_input, link_in, unescape};
use reqwest::{Client, StatusCode};
use sha2::{Digest, Sha256};

fn location(res: &reqwest::Response) -> String {
    res.headers().get("location").map(|l| l.to_str().unwrap().to_string()).unwrap_or_default()
}

/// Opens the link page and clicks Buy with the page's own nonce; returns where it leads.
async fn click_buy(app: &TestApp, buyer: &Client, code: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    let html =
        buyer.get(app.url(&format!("/l/{code}"))).header("user-agent", common::BROWSER_UA).send().await.unwrap().text().await.unwrap();
    let key = hidden_input(&html, "checkout_key").expect("buy form nonce");
    let source = hidden_input(&html, "source").unwrap_or_default();
    let mut form: Vec<(&str, &str)> = vec![("checkout_key", &key), ("source", &source)];
    form.extend_from_slice(fields);
    buyer.post(app.url(&format!("/checkout/{code}"))).form(&form).send().await.unwrap()
}

/// From a pay page URL, submits the test card form.
async fn pay_with(app: &TestApp, buyer: &Client, pay_url: &str, card: &str) -> reqwest::Response {
    let html = buyer.get(app.url(pay_url)).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("TEST MODE"), "the test card page says so");
    let action = unescape(html[html.find("action=\"/pay/test/").unwrap() + 8..].split('"').next().unwrap());
    let order_id = hidden_input(&html, "order_id").unwrap();
    let k = unescape(&hidden_input(&html, "k").unwrap());
    buyer
        .post(app.url(&action))
        .form(&[("order_id", order_id.as_str()), ("k", k.as_str()), ("card_number", card), ("card_expiry", "12/34"), ("card_cvc", "123")])
        .send()
        .await
        .unwrap()
}

/// Follows the return redirect to the download page; returns the `/d/{token}` path.
async fn download_page(app: &TestApp, buyer: &Client, return_url: &str) -> String {
    let res = buyer.get(app.url(return_url)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "{}", res.text().await.unwrap_or_default());
    let to = location(&res);
    assert!(to.starts_with("/d/"), "{to}");
    to
}

fn order_of(url: &str) -> String {
    url.split("order=").nth(1).or_else(|| url.split("/checkout/return/").nth(1)).unwrap().split(['&', '?']).next().unwrap().to_string()
}

const DATA: &[u8] = b"%PDF-1.7 the actual bytes of the work, 0123456789";

async fn first_file_url(app: &TestApp, buyer: &Client, download: &str) -> String {
    let page = buyer.get(app.url(download)).send().await.unwrap().text().await.unwrap();
    let href = page.split("href=\"").find(|s| s.starts_with(&format!("{download}/files/"))).unwrap();
    href.split('"').next().unwrap().to_string()
}

both_backends! {
    async fn a_buyer_pays_with_the_test_card_and_downloads_the_exact_bytes(app) {
        app.creator("ann").await;
        let (_, code) = app.publish_work("Field Notes", "4.99", DATA).await;
        let buyer = app.new_client();

        let res = click_buy(&app, &buyer, &code, &[("email", "Buyer@Example.com"), ("remember", "1")]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let pay = location(&res);
        assert!(pay.starts_with(&format!("/l/{code}?order=")), "{pay}");
        let order_id = order_of(&pay);
        assert_eq!(app.order_status(&order_id).await, "pending");

        let res = pay_with(&app, &buyer, &pay, "4242 4242 4242 4242").await;
        let back = location(&res);
        assert!(back.starts_with("/checkout/return/"), "{back}");
        let res = buyer.get(app.url(&back)).send().await.unwrap();
        let cookie = res.headers().get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).find(|c| c.starts_with("clink_buyer=")).map(str::to_string);
        let cookie = cookie.expect("the card is remembered on request");
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"));
        let download = location(&res);
        assert_eq!(app.order_status(&order_id).await, "fulfilled");

        let file_url = first_file_url(&app, &buyer, &download).await;
        let res = buyer.get(app.url(&file_url)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()["x-content-type-options"], "nosniff");
        assert_eq!(res.headers()["content-disposition"], "attachment; filename=\"work.pdf\"; filename*=UTF-8''work.pdf");
        assert_eq!(res.headers()["accept-ranges"], "bytes");
        assert!(res.headers().get("content-encoding").is_none(), "never compressed");
        let body = res.bytes().await.unwrap();
        assert_eq!(hex::encode(Sha256::digest(&body)), hex::encode(Sha256::digest(DATA)));

        // The ledger: the card payment arrives through clearing, 5% fee rounded half up.
        app.ledger_is_clean().await;
        let bal = |id: &'static str| app::ledger::store::balance(&app.state.db, id);
        assert_eq!(bal("provider_clearing:test:EUR").await.unwrap(), -499);
        assert_eq!(bal("platform_fees:-:EUR").await.unwrap(), 25);

        // The receipt carries a working download link; the creator hears of the sale.
        let receipt = app.email_to("buyer@example.com", "/d/").await;
        assert!(receipt.contains("Subject: Your download: Field Notes"));
        assert!(receipt.contains("text/html") && receipt.contains("text/plain"));
        let link = link_in(&common::decoded_body(&receipt), &app.url("/d/")).unwrap();
        assert_eq!(buyer.get(&link).send().await.unwrap().status(), StatusCode::OK);
        let notice = app.email_to("ann@example.com", "You earn").await;
        assert!(notice.contains("Subject: New sale: Field Notes"));

        // The sale appears in the creator's list at once.
        let sales: serde_json::Value = app.call("sales/list", &[]).await.json().await.unwrap();
        assert_eq!(sales[0]["amount"], "€4.99");
        assert_eq!(sales[0]["net"], "€4.74");
    }

    async fn a_returning_buyer_buys_in_one_click(app) {
        app.creator("ann").await;
        let (_, first) = app.publish_work("One", "2", DATA).await;
        let (_, second) = app.publish_work("Two", "3", DATA).await;
        let buyer = app.new_client();
        let pay = location(&click_buy(&app, &buyer, &first, &[("email", "repeat@example.com"), ("remember", "1")]).await);
        let back = location(&pay_with(&app, &buyer, &pay, "4242424242424242").await);
        download_page(&app, &buyer, &back).await;

        let html = buyer.get(app.url(&format!("/l/{second}"))).send().await.unwrap().text().await.unwrap();
        assert!(html.contains("with Visa •••• 4242"), "one-click button shown");
        let res = click_buy(&app, &buyer, &second, &[("one_click", "1")]).await;
        let back = location(&res);
        assert!(back.starts_with("/checkout/return/"), "no card form: {back}");
        let download = download_page(&app, &buyer, &back).await;
        assert_eq!(buyer.get(app.url(&download)).send().await.unwrap().status(), StatusCode::OK);
        assert_eq!(app.order_status(&order_of(&back)).await, "fulfilled");
        app.ledger_is_clean().await;

        // A forged cookie is not a card.
        let stranger = app.new_client();
        let res = stranger.post(app.url(&format!("/checkout/{second}"))).header("cookie", "clink_buyer=eyJ4Ijoi.forged")
            .form(&[("one_click", "1"), ("checkout_key", "0123456789abcdef0123")]).send().await.unwrap();
        assert!(location(&res).contains("error="), "{}", location(&res));
    }

    async fn declined_cards_and_3d_secure(app) {
        app.creator("ann").await;
        let (_, code) = app.publish_work("Secure", "5", DATA).await;
        let buyer = app.new_client();
        let pay = location(&click_buy(&app, &buyer, &code, &[("email", "b@example.com")]).await);
        let order_id = order_of(&pay);

        let declined = location(&pay_with(&app, &buyer, &pay, "4000 0000 0000 0002").await);
        assert!(declined.contains("card_error=Your%20card%20was%20declined"), "{declined}");
        let page = buyer.get(app.url(&declined)).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("Your card was declined."));
        let invalid = location(&pay_with(&app, &buyer, &pay, "4242 4242 4242 4241").await);
        assert!(invalid.contains("field=card_number"), "{invalid}");

        // The bank asks for authentication; a failure returns to the card form.
        let challenge = location(&pay_with(&app, &buyer, &pay, "4000 0027 6000 3184").await);
        let page = buyer.get(app.url(&challenge)).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("Complete authentication"));
        let auth_action = unescape(page.split("action=\"").find(|s| s.contains("/authenticate")).unwrap().split('"').next().unwrap());
        let k = unescape(&hidden_input(&page, "k").unwrap());
        let res = buyer.post(app.url(&auth_action)).form(&[("order_id", order_id.as_str()), ("k", k.as_str()), ("result", "fail")]).send().await.unwrap();
        assert!(location(&res).contains("Authentication%20failed"));
        let challenge = location(&pay_with(&app, &buyer, &pay, "4000 0027 6000 3184").await);
        let page = buyer.get(app.url(&challenge)).send().await.unwrap().text().await.unwrap();
        let k = unescape(&hidden_input(&page, "k").unwrap());
        let res = buyer.post(app.url(&auth_action)).form(&[("order_id", order_id.as_str()), ("k", k.as_str()), ("result", "complete")]).send().await.unwrap();
        let download = download_page(&app, &buyer, &location(&res)).await;
        assert!(download.starts_with("/d/"));
        assert_eq!(app.order_status(&order_id).await, "fulfilled");
        app.ledger_is_clean().await;
    }

    async fn ten_concurrent_buy_clicks_make_one_order_and_one_charge(app) {
        app.creator("ann").await;
        let (work_id, code) = app.publish_work("Popular", "7", DATA).await;
        let buyer = app.new_client();
        let html = buyer.get(app.url(&format!("/l/{code}"))).send().await.unwrap().text().await.unwrap();
        let key = hidden_input(&html, "checkout_key").unwrap();
        let clicks = (0..10).map(|_| {
            let buyer = buyer.clone();
            let url = app.url(&format!("/checkout/{code}"));
            let key = key.clone();
            tokio::spawn(async move { buyer.post(url).form(&[("email", "fast@example.com"), ("checkout_key", key.as_str())]).send().await.unwrap() })
        });
        let mut targets = std::collections::HashSet::new();
        for click in clicks {
            let res = click.await.unwrap();
            assert_eq!(res.status(), StatusCode::SEE_OTHER);
            targets.insert(order_of(&location(&res)));
        }
        assert_eq!(targets.len(), 1, "every click leads to the same order");
        assert_eq!(app.count(&format!("select count(*) from buyer_order where work_id = '{work_id}'")).await, 1);
        assert_eq!(app.count("select count(*) from test_payment").await, 1);
    }

    async fn visitors_share_a_cached_page_but_never_a_checkout_nonce(app) {
        app.creator("ann").await;
        let (work_id, code) = app.publish_work("Viral", "4", DATA).await;
        // Anonymous visitors from a post: the first render is cached, the rest are hits.
        let mut hits = 0;
        let mut keys = std::collections::HashSet::new();
        for encoding in ["identity", "gzip", "br", "gzip, deflate, br"] {
            let res = app.new_client().get(app.url(&format!("/l/{code}"))).header("accept-encoding", encoding).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::OK);
            hits += res.headers().get("x-cache").is_some_and(|v| v == "hit") as u32;
            let served = res.headers().get("content-encoding").map(|v| v.to_str().unwrap().to_string());
            let raw = res.bytes().await.unwrap().to_vec();
            let html = match served.as_deref() {
                Some("br") => { let mut out = Vec::new(); brotli::BrotliDecompress(&mut &raw[..], &mut out).unwrap(); out }
                Some("gzip") => { use std::io::Read; let mut out = Vec::new(); flate2::read::GzDecoder::new(&raw[..]).read_to_end(&mut out).unwrap(); out }
                None => raw,
                Some(other) => panic!("unexpected encoding {other}"),
            };
            let html = String::from_utf8(html).unwrap();
            assert!(html.contains("<h1>Viral</h1>"), "{encoding}: the whole page");
            assert!(html.ends_with("</script>"), "{encoding}: not cut short");
            keys.insert(hidden_input(&html, "checkout_key").unwrap());
        }
        assert_eq!(keys.len(), 4, "every visitor gets their own nonce");
        assert_eq!(hits, 3, "three of four visits served from the cache");

        // Two visitors typing the same email are two orders, not one.
        let (a, b) = (app.new_client(), app.new_client());
        let first = click_buy(&app, &a, &code, &[("email", "same@example.com")]).await;
        let second = click_buy(&app, &b, &code, &[("email", "same@example.com")]).await;
        assert_ne!(order_of(&location(&first)), order_of(&location(&second)));
        assert_eq!(app.count(&format!("select count(*) from buyer_order where work_id = '{work_id}'")).await, 2);

        // Any change to the work shows at once, not after the cache's lifetime.
        let res = app.call("works/update", &[("work_id", &work_id), ("title", "Viral, remastered"), ("description", ""), ("currency", "EUR"),
            ("price_kind", "fixed"), ("price", "4"), ("slug", ""), ("max_downloads", ""), ("link_expiry_days", "")]).await;
        assert_eq!(res.status(), StatusCode::OK, "{}", res.text().await.unwrap());
        let html = app.new_client().get(app.url(&format!("/l/{code}"))).send().await.unwrap().text().await.unwrap();
        assert!(html.contains("Viral, remastered"));
        assert_eq!(app.call("works/publish", &[("work_id", &work_id), ("published", "false")]).await.status(), StatusCode::OK);
        assert_eq!(app.new_client().get(app.url(&format!("/l/{code}"))).send().await.unwrap().status(), StatusCode::NOT_FOUND);
    }

    async fn prices_come_from_the_database_not_the_form(app) {
        app.creator("ann").await;
        let (_, fixed) = app.publish_work("Fixed", "9.99", DATA).await;
        let buyer = app.new_client();
        let res = click_buy(&app, &buyer, &fixed, &[("email", "t@example.com"), ("amount", "0.01"), ("price", "0.01"), ("price_minor", "1")]).await;
        let order_id = order_of(&location(&res));
        let amount = app.count(&format!("select amount_minor from buyer_order where order_id = '{order_id}'")).await;
        assert_eq!(amount, 999);

        // Pay what you want: the offer is checked against the minimum.
        let body = common::Multipart::new().text("title", "PWYW").text("price_kind", "pwyw").text("price", "3").text("suggested", "5")
            .file("files", "a.bin", "application/octet-stream", DATA).build();
        let code = app.upload(body).await.json::<serde_json::Value>().await.unwrap()["code"].as_str().unwrap().to_string();
        let low = click_buy(&app, &buyer, &code, &[("email", "t@example.com"), ("amount", "2.99")]).await;
        assert!(location(&low).contains("The%20minimum%20is%20%E2%82%AC3%2E00"), "{}", location(&low));
        for bad in ["-5", "NaN", "3.001", "99999999"] {
            let res = click_buy(&app, &buyer, &code, &[("email", "t@example.com"), ("amount", bad)]).await;
            assert!(location(&res).contains("error="), "{bad}: {}", location(&res));
        }
        let ok = click_buy(&app, &buyer, &code, &[("email", "t@example.com"), ("amount", "12,50")]).await;
        let order_id = order_of(&location(&ok));
        assert_eq!(app.count(&format!("select amount_minor from buyer_order where order_id = '{order_id}'")).await, 1250);
        assert_eq!(app.count(&format!("select fee_minor from buyer_order where order_id = '{order_id}'")).await, 63);

        // Below the card minimum: wallet only, and no order.
        let (_, cheap) = app.publish_work("Cheap", "0.20", DATA).await;
        let before = app.count("select count(*) from buyer_order").await;
        let page = buyer.get(app.url(&format!("/l/{cheap}"))).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("with a Clink wallet") && !page.contains(&format!("action=\"/checkout/{cheap}\"")), "wallet only: no card form");
        let res = buyer.post(app.url(&format!("/checkout/{cheap}"))).form(&[("email", "t@example.com"), ("checkout_key", "forged-by-hand-0123456")]).send().await.unwrap();
        assert!(location(&res).contains("wallet"), "{}", location(&res));
        assert_eq!(app.count("select count(*) from buyer_order").await, before);
        // A bad email is a clear error.
        let res = click_buy(&app, &buyer, &fixed, &[("email", "not-an-email")]).await;
        assert!(location(&res).contains("error=Enter%20a%20valid%20email"), "{}", location(&res));
    }

    async fn free_works_still_collect_the_email(app) {
        app.creator("ann").await;
        let (_, code) = app.publish_work("Gift", "0", DATA).await;
        let buyer = app.new_client();
        let res = click_buy(&app, &buyer, &code, &[("email", "free@example.com")]).await;
        let download = download_page(&app, &buyer, &location(&res)).await;
        assert_eq!(buyer.get(app.url(&download)).send().await.unwrap().status(), StatusCode::OK);
        app.email_to("free@example.com", "/d/").await;
        app.ledger_is_clean().await;
    }

    async fn guessed_expired_and_used_up_links_are_refused(app) {
        app.creator("ann").await;
        let (id, code) = app.publish_work("Limited", "4", DATA).await;
        app.call("works/update", &[("work_id", &id), ("title", "Limited"), ("description", ""), ("currency", "EUR"),
            ("price_kind", "fixed"), ("price", "4"), ("max_downloads", "1"), ("link_expiry_days", "30")]).await;
        let buyer = app.new_client();
        let pay = location(&click_buy(&app, &buyer, &code, &[("email", "lim@example.com")]).await);
        let download = download_page(&app, &buyer, &location(&pay_with(&app, &buyer, &pay, "4242424242424242").await)).await;
        let file = first_file_url(&app, &buyer, &download).await;
        assert!(buyer.get(app.url(&download)).send().await.unwrap().text().await.unwrap().contains("0 of 1 downloads used"));
        assert_eq!(buyer.get(app.url(&file)).send().await.unwrap().status(), StatusCode::OK);
        assert_eq!(buyer.get(app.url(&file)).send().await.unwrap().status(), StatusCode::GONE, "one download only");

        for guess in ["/d/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "/d/short", "/d/../../etc/passwd"] {
            let res = buyer.get(app.url(guess)).send().await.unwrap();
            assert!(matches!(res.status(), StatusCode::NOT_FOUND), "{guess}: {}", res.status());
        }
        let res = buyer.get(app.url("/d/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/files/x")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND);

        // A token is a selector (32 hex digits) and a verifier: the right selector with any other
        // verifier opens nothing.
        let token = download.trim_start_matches("/d/").to_string();
        assert_eq!(token.len(), 75, "{token}");
        assert!(token[..32].bytes().all(|b| b.is_ascii_hexdigit()), "{token}");
        let forged = format!("{}{}", &token[..74], if token.ends_with('A') { 'B' } else { 'A' });
        for path in [format!("/d/{forged}"), format!("/d/{forged}/files/x")] {
            assert_eq!(buyer.get(app.url(&path)).send().await.unwrap().status(), StatusCode::NOT_FOUND, "{path}");
        }
        // A token issued before selectors (stored as the hash of the whole token) still opens its grant.
        let order_id = order_of(&pay);
        let legacy = "Issued-before-selectors_0123456789abcdefghi";
        app::on_db!(&app.state.db, pool => sqlx::query("insert into download_token (token_hash, order_id, created_at) values ($1, $2, 0)")
            .bind(hex::encode(Sha256::digest(legacy.as_bytes()))).bind(&order_id).execute(pool).await.map(|_| ())).unwrap();
        let res = buyer.get(app.url(&format!("/d/{legacy}"))).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert!(res.text().await.unwrap().contains("1 of 1 downloads used"));

        // Expiry: move the grant's deadline into the past.
        app::on_db!(&app.state.db, pool => sqlx::query("update download_grant set expires_at = 1, max_downloads = null where order_id = $1")
            .bind(&order_id).execute(pool).await.map(|_| ())).unwrap();
        let res = buyer.get(app.url(&download)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::GONE);
        assert!(res.text().await.unwrap().contains("expired"));
        assert_eq!(buyer.get(app.url(&file)).send().await.unwrap().status(), StatusCode::GONE);
    }

    async fn range_requests_resume_downloads(app) {
        app.creator("ann").await;
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 256) as u8).collect();
        let (id, code) = app.publish_work("Big file", "4", &data).await;
        app.call("works/update", &[("work_id", &id), ("title", "Big file"), ("description", ""), ("currency", "EUR"),
            ("price_kind", "fixed"), ("price", "4"), ("max_downloads", "1")]).await;
        let buyer = app.new_client();
        let pay = location(&click_buy(&app, &buyer, &code, &[("email", "r@example.com")]).await);
        let download = download_page(&app, &buyer, &location(&pay_with(&app, &buyer, &pay, "4242424242424242").await)).await;
        let file = app.url(&first_file_url(&app, &buyer, &download).await);

        let head = buyer.get(&file).header("range", "bytes=0-9999").send().await.unwrap();
        assert_eq!(head.status(), StatusCode::PARTIAL_CONTENT);
        assert_eq!(head.headers()["content-range"], "bytes 0-9999/100000");
        let etag = head.headers()["etag"].to_str().unwrap().to_string();
        let first = head.bytes().await.unwrap();
        assert_eq!(&first[..], &data[..10_000]);
        // Resuming doesn't count as another download (the limit is one).
        let rest = buyer.get(&file).header("range", "bytes=10000-").header("if-range", &etag).send().await.unwrap();
        assert_eq!(rest.status(), StatusCode::PARTIAL_CONTENT);
        assert_eq!(rest.headers()["content-length"], "90000");
        let rest = rest.bytes().await.unwrap();
        assert_eq!([&first[..], &rest[..]].concat(), data);
        let tail = buyer.get(&file).header("range", "bytes=-10").send().await.unwrap();
        assert_eq!(&tail.bytes().await.unwrap()[..], &data[data.len() - 10..]);
        let bad = buyer.get(&file).header("range", "bytes=200000-").send().await.unwrap();
        assert_eq!(bad.status(), StatusCode::RANGE_NOT_SATISFIABLE);
        assert_eq!(bad.headers()["content-range"], "bytes */100000");
        // A stale If-Range gets the whole file, which is a new download: refused (used up).
        let stale = buyer.get(&file).header("range", "bytes=10000-").header("if-range", "\"other\"").send().await.unwrap();
        assert_eq!(stale.status(), StatusCode::GONE);
    }

    async fn refunds_reverse_the_ledger_and_end_access(app) {
        app.creator("ann").await;
        let (_, code) = app.publish_work("Refundable", "6", DATA).await;
        let buyer = app.new_client();
        let pay = location(&click_buy(&app, &buyer, &code, &[("email", "r@example.com")]).await);
        let order_id = order_of(&pay);
        let download = download_page(&app, &buyer, &location(&pay_with(&app, &buyer, &pay, "4242424242424242").await)).await;
        let file = first_file_url(&app, &buyer, &download).await;

        // Another creator can't refund it.
        let bob = app.new_client();
        common::sign_up_on(&bob, &app.base_url, &app.shared_dir, "bob@example.com", "bob", "Bob").await;
        let res = common::call_with(&bob, &app.base_url, "sales/refund", &[("order_id", &order_id)]).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        assert_eq!(app.order_status(&order_id).await, "fulfilled");

        let res = app.call("sales/refund", &[("order_id", &order_id)]).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(app.order_status(&order_id).await, "refunded");
        // Twice is still once.
        assert_eq!(app.call("sales/refund", &[("order_id", &order_id)]).await.status(), StatusCode::OK);
        assert_eq!(app.count("select count(*) from ledger_txn where kind = 'refund'").await, 1);
        app.ledger_is_clean().await;
        assert_eq!(app::ledger::store::balance(&app.state.db, "refunds:-:EUR").await.unwrap(), 600);
        let res = buyer.get(app.url(&download)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::GONE);
        assert!(res.text().await.unwrap().contains("refunded"));
        assert_eq!(buyer.get(app.url(&file)).send().await.unwrap().status(), StatusCode::GONE);
    }

    async fn the_library_opens_with_a_magic_link(app) {
        app.creator("ann").await;
        let (_, code) = app.publish_work("Library book", "3", DATA).await;
        let buyer = app.new_client();
        let pay = location(&click_buy(&app, &buyer, &code, &[("email", "lib@example.com")]).await);
        download_page(&app, &buyer, &location(&pay_with(&app, &buyer, &pay, "4242424242424242").await)).await;

        let later = app.new_client(); // another device
        let res = common::call_with(&later, &app.base_url, "library/link", &[("email", "lib@example.com")]).await;
        assert_eq!(res.status(), StatusCode::OK);
        let nobody = common::call_with(&later, &app.base_url, "library/link", &[("email", "nobody@example.com")]).await;
        assert_eq!(nobody.status(), StatusCode::OK, "same answer for unknown emails");
        let mail = app.email_to("lib@example.com", "/library/access/").await;
        let link = link_in(&common::decoded_body(&mail), &app.url("/library/access/")).unwrap();
        let res = later.get(&link).send().await.unwrap();
        assert_eq!(location(&res), "/library");
        let page = later.get(app.url("/library")).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("Library book"));
        let action = page.split("action=\"").find(|s| s.starts_with("/library/download/")).unwrap().split('"').next().unwrap().to_string();
        let res = later.post(app.url(&action)).send().await.unwrap();
        assert!(location(&res).starts_with("/d/"));
        // The link works once.
        let again = app.new_client().get(&link).send().await.unwrap();
        assert_eq!(location(&again), "/library?expired=1");
        // Without the magic link, the library shows nothing and opens nothing.
        let stranger = app.new_client();
        assert_eq!(stranger.post(app.url(&action)).send().await.unwrap().status(), StatusCode::NOT_FOUND);
    }

    async fn creators_can_turn_off_sale_emails(app) {
        app.creator("ann").await;
        let res = app.call("settings/notify-sales", &[("enabled", "false")]).await;
        assert_eq!(res.status(), StatusCode::OK);
        let (_, code) = app.publish_work("Quiet", "2", DATA).await;
        let buyer = app.new_client();
        let pay = location(&click_buy(&app, &buyer, &code, &[("email", "q@example.com")]).await);
        download_page(&app, &buyer, &location(&pay_with(&app, &buyer, &pay, "4242424242424242").await)).await;
        app.email_to("q@example.com", "/d/").await;
        assert!(!app.outbox().iter().any(|m| m.contains("To: ann@example.com") && m.contains("New sale")), "no sale email");
    }

    async fn a_wrong_return_key_reveals_nothing(app) {
        app.creator("ann").await;
        let (_, code) = app.publish_work("Secret", "2", DATA).await;
        let buyer = app.new_client();
        let pay = location(&click_buy(&app, &buyer, &code, &[("email", "k@example.com")]).await);
        let order_id = order_of(&pay);
        let res = app.new_client().get(app.url(&format!("/checkout/return/{order_id}?k=forged"))).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        let page = app.new_client().get(app.url(&format!("/l/{code}?order={order_id}&k=forged"))).send().await.unwrap().text().await.unwrap();
        assert!(!page.contains("TEST MODE"), "no pay step for a forged key");
    }
}
