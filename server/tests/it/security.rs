//! The web edge under hostile input: user-written strings through every page's head and body.

use crate::common::{self, BROWSER_UA, buy_with_test_card, buyer_with_balance, wallet_buy};
use reqwest::StatusCode;

/// Strings that would be live markup anywhere they were written out unescaped.
const HOSTILE_TITLE: &str = "</title><script>alert(1)</script>\"><img src=x onerror=alert(2)>";
const HOSTILE_NAME: &str = "<svg onload=alert(3)>'\"";
/// Leptos writes textarea contents unescaped: the edit form's description must not end early.
const HOSTILE_DESCRIPTION: &str = "</textarea><script>alert(4)</script><img src=x onerror=alert(5)>";

/// What no page may contain once hostile strings went through it.
fn assert_inert(what: &str, html: &str) {
    for live in ["<script>alert", "<img src=x", "<svg onload", "</textarea><script"] {
        assert!(!html.contains(live), "{what} carries live markup {live:?}:\n{html}");
    }
}

/// The `<title>` element's raw text.
fn title_of(html: &str) -> &str {
    let start = html.find("<title>").expect("a <title>") + "<title>".len();
    &html[start..start + html[start..].find("</title>").expect("</title>")]
}

both_backends! {
    async fn hostile_titles_and_names_stay_text_on_every_page(app) {
        let res = app.sign_up("eve@example.com", "eve", HOSTILE_NAME).await;
        assert_eq!(res.status(), StatusCode::OK);
        let (work_id, code) = app.publish_work(HOSTILE_TITLE, "3", b"%PDF hostile").await;
        let res = app.call("works/update", &[("work_id", &work_id), ("title", HOSTILE_TITLE), ("description", HOSTILE_DESCRIPTION),
            ("currency", "EUR"), ("price_kind", "fixed"), ("price", "3")]).await;
        assert_eq!(res.status(), StatusCode::OK, "{}", res.text().await.unwrap_or_default());
        let res = app.call("settings/profile/save", &[("display_name", HOSTILE_NAME), ("bio", HOSTILE_DESCRIPTION), ("links", ""), ("accent_color", "")]).await;
        assert_eq!(res.status(), StatusCode::OK, "{}", res.text().await.unwrap_or_default());

        // The link page, as a visitor (the cached path too: the second visit is a cache hit).
        let visitor = app.new_client();
        for _ in 0..2 {
            let html = visitor.get(app.url(&format!("/l/{code}"))).header("user-agent", BROWSER_UA).send().await.unwrap().text().await.unwrap();
            assert_inert("the link page", &html);
            let title = title_of(&html);
            assert!(title.contains("&lt;/title&gt;&lt;script&gt;"), "the title is escaped text: {title}");
            assert!(title.contains("&lt;svg onload=alert(3)&gt;"), "the creator's name is escaped text: {title}");
        }

        // A buyer pays by card and by wallet; the creator's pages list those sales.
        let buyer = app.new_client();
        buy_with_test_card(&app, &buyer, &code, "bob@example.com", "").await;
        let wallet_buyer = buyer_with_balance(&app, "wally", "10").await;
        let (status, bought) = wallet_buy(&app, &wallet_buyer, &code, "hostile-key-0000001", serde_json::json!({})).await;
        assert_eq!(status, StatusCode::CREATED, "{bought}");
        let download = bought["download_url"].as_str().unwrap().trim_start_matches(&app.base_url).to_string();

        for (who, client, path) in [
            ("creator", &app.client, "/dashboard".to_string()),
            ("creator", &app.client, "/dashboard/works".to_string()),
            ("creator", &app.client, format!("/dashboard/works/{work_id}")),
            ("creator", &app.client, "/dashboard/sales".to_string()),
            ("creator", &app.client, "/settings".to_string()),
            ("visitor", &visitor, "/@eve".to_string()),
            ("buyer", &wallet_buyer, "/wallet".to_string()),
            ("buyer", &wallet_buyer, download.clone()),
        ] {
            let res = client.get(app.url(&path)).header("user-agent", BROWSER_UA).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::OK, "{who} GET {path}");
            let html = res.text().await.unwrap();
            assert!(html.contains("alert(1)") || html.contains("alert(3)"), "{path} shows the hostile text at all");
            assert_inert(&path, &html);
        }

        // oEmbed's HTML snippet is markup by design: the title must not get into it raw.
        let oembed = app.get(&format!("/oembed?format=json&url={}", app.url(&format!("/l/{code}")))).await.text().await.unwrap();
        let oembed: serde_json::Value = serde_json::from_str(&oembed).unwrap();
        assert_inert("the oEmbed snippet", oembed["html"].as_str().unwrap());

        // The receipt e-mail's HTML part.
        let receipt = common::decoded_body(&app.email_to("bob@example.com", "/d/").await);
        let html_part = receipt.split("Content-Type: text/html").nth(1).expect("an HTML part");
        assert!(html_part.contains("alert(1)"), "the receipt names the work");
        assert_inert("the receipt's HTML", html_part);
    }
}

both_backends! {
    async fn redirects_never_leave_the_site_or_break(app) {
        app.creator("ann").await;
        // Login's `next`, as browsers read it after dropping tabs and newlines and turning
        // backslashes into slashes.
        for next in ["/\t/evil.example", "/\\evil.example", "//evil.example", "https://evil.example", "/\r\n/evil.example"] {
            let res = app.client.post(app.url("/api/login")).header("accept", "text/html").form(&[("email", "ann@example.com"), ("password", common::PASSWORD), ("next", next)]).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::FOUND, "{next:?}: a redirect, not a panic");
            assert_eq!(res.headers()["location"], "/dashboard", "{next:?}");
        }
        // (Login is throttled at five tries a minute per account: the rest uses another one.)
        app.creator("cat").await;
        // A line break can't split the header: it is dropped, as a browser drops it from a URL.
        let res = app.client.post(app.url("/api/login")).header("accept", "text/html")
            .form(&[("email", "cat@example.com"), ("password", common::PASSWORD), ("next", "/x\r\nSet-Cookie: a=b")]).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FOUND);
        assert!(res.headers().get("set-cookie").is_none_or(|c| !c.to_str().unwrap().starts_with("a=b")), "no injected header");
        let location = res.headers()["location"].to_str().unwrap();
        assert!(location.starts_with('/') && !location.starts_with("//"), "{location}");
        let res = app.client.post(app.url("/api/login")).header("accept", "text/html").form(&[("email", "cat@example.com"), ("password", common::PASSWORD), ("next", "/wallet?x=é")]).send().await.unwrap();
        assert_eq!(res.headers()["location"], "/wallet?x=%C3%A9", "kept, and a valid header");

        // Forgetting the saved card: a POST, back only to this site.
        assert_eq!(app.get("/checkout/forget").await.status(), StatusCode::METHOD_NOT_ALLOWED);
        let res = app.client.post(app.url("/checkout/forget")).header("referer", "https://evil.example/x").send().await.unwrap();
        assert_eq!(res.headers()["location"], "/");
        let res = app.client.post(app.url("/checkout/forget")).header("referer", app.url("/l/abcdefgh")).send().await.unwrap();
        assert_eq!(res.headers()["location"], "/l/abcdefgh");
        assert!(res.headers()["set-cookie"].to_str().unwrap().starts_with("clink_buyer=;"));

        // A top-up's return address with a line break is stored safely and returns safely.
        let buyer = app.new_client();
        common::sign_up_on(&buyer, &app.base_url, &app.shared_dir, "b@example.com", "bbb", "B").await;
        let back = common::top_up(&app, &buyer, "2", Some("/l/abc\r\nX-Evil: 1")).await;
        assert!(axum::http::HeaderValue::from_str(&back).is_ok() && !back.contains('\n'), "{back:?}");
        assert_eq!(common::wallet_balance(&app, "bbb").await, 200, "credited, and the return did not fail");
    }
}

both_backends! {
    async fn dev_mode_is_opt_in(app) {
        app.creator("ann").await;
        // Mail exists (the sign-up sent none, a library link does).
        let res = common::call_with(&app.new_client(), &app.base_url, "login-link", &[("email", "ann@example.com")]).await;
        assert!(res.status().is_success());
        assert_eq!(app.get("/dev/outbox").await.status(), StatusCode::NOT_FOUND, "no outbox on the web by default");
        let dev = crate::common::TestApp::spawn_with(app.backend, &[("CLINK_ENV", "dev")]).await;
        assert_eq!(dev.get("/dev/outbox").await.status(), StatusCode::OK);
    }
}

both_backends! {
    async fn mail_and_secret_guessing_are_rate_limited(app) {
        app.creator("ann").await;
        let (_, code) = app.publish_work("Bought", "3", b"x").await;
        buy_with_test_card(&app, &app.new_client(), &code, "fan@example.com", "").await;
        // Thirty library-link and thirty sign-in-link requests for one address: three emails
        // of each kind reach it, the rest are told to wait.
        for endpoint in ["library/link", "login-link"] {
            let mut statuses = Vec::new();
            for _ in 0..30 {
                statuses.push(common::call_with(&app.new_client(), &app.base_url, endpoint, &[("email", "fan@example.com")]).await.status());
            }
            let limited = statuses.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count();
            assert!(limited >= 26, "{endpoint}: {statuses:?}");
        }
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        let mails = app.outbox().iter().filter(|m| m.contains("To: fan@example.com") && !m.contains("Your download")).count();
        assert!(mails <= 3, "{mails} link emails reached one address");

        // Guessing download tokens: a few misses are 404s, then 429s.
        let guesser = app.new_client();
        let mut statuses = Vec::new();
        for i in 0..60 {
            let token = format!("{i:032x}{}", "A".repeat(43));
            statuses.push(guesser.get(app.url(&format!("/d/{token}/files/x"))).send().await.unwrap().status());
        }
        assert_eq!(statuses[0], StatusCode::NOT_FOUND);
        assert_eq!(statuses[59], StatusCode::TOO_MANY_REQUESTS, "{statuses:?}");
        assert!(statuses.iter().filter(|s| **s == StatusCode::NOT_FOUND).count() <= 31);
    }
}

both_backends! {
    async fn strict_input_is_refused_whole(app) {
        // A form whose text isn't UTF-8 is a 400, never stored with replacement characters.
        let res = app.client.post(app.url("/api/signup")).header("content-type", "application/x-www-form-urlencoded")
            .body("email=a%FF%FE%40example.com&password=correct+horse+battery&display_name=A&handle=aaa").send().await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert_eq!(app.count("select count(*) from signup_request").await, 0);
        // A work form with its price twice: which one was meant? Refused, nothing stored.
        app.creator("ann").await;
        let body = common::work_form("Twice", "5").text("price", "0.05").file("files", "a.pdf", "application/pdf", b"pdf").build();
        let res = app.upload(body).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        let body: serde_json::Value = res.json().await.unwrap();
        assert!(body["error"]["message"].as_str().unwrap().contains("twice"), "{body}");
        assert_eq!(app.count("select count(*) from work").await, 0);
        assert!(app.stored_keys().await.is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_sent_request_header_is_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = crate::common::TestApp::spawn_with(crate::common::Backend::Sqlite, &[("CLINK_HEADER_TIMEOUT_SECS", "1")]).await;
    let mut socket = tokio::net::TcpStream::connect(app.base_url.trim_start_matches("http://")).await.unwrap();
    socket.write_all(b"GET /healthz HTTP/1.1\r\nHost: clink\r\nX-Slow: ").await.unwrap();
    let started = std::time::Instant::now();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(std::time::Duration::from_secs(10), socket.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the server still holds the connection after 10 s");
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "closed after {:?}", started.elapsed());
    // A whole request on a fresh connection is answered as usual.
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
}

/// A request body that stops arriving is cut off after the idle timeout (a slow upload that
/// keeps sending is not: the timeout is between bytes, not for the whole body).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_body_that_stops_arriving_is_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = crate::common::TestApp::spawn_with(crate::common::Backend::Sqlite, &[("CLINK_BODY_IDLE_TIMEOUT_SECS", "1")]).await;
    let mut socket = tokio::net::TcpStream::connect(app.base_url.trim_start_matches("http://")).await.unwrap();
    let head = format!(
        "POST /api/login HTTP/1.1\r\nHost: clink\r\nOrigin: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 200\r\n\r\n",
        app.base_url
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    socket.write_all(b"email=slow%40example.com&password=").await.unwrap();
    let started = std::time::Instant::now();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(std::time::Duration::from_secs(10), socket.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the server still waits for the body after 10 s");
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "cut off after {:?}", started.elapsed());
    let status_line = String::from_utf8_lossy(&answer).lines().next().unwrap_or_default().to_string();
    assert!(status_line.is_empty() || status_line.contains(" 408 ") || status_line.contains(" 400 "), "{status_line}");
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
}

both_backends! {
    async fn ranges_resume_a_download_but_never_pass_its_limit(app) {
        app.creator("ann").await;
        let data = b"0123456789abcdefghij".repeat(100);
        let body = common::work_form("Once", "3").text("max_downloads", "1").file("files", "once.bin", "application/octet-stream", &data).build();
        let res = app.upload(body).await;
        let code = res.json::<serde_json::Value>().await.unwrap()["code"].as_str().unwrap().to_string();
        let buyer = app.new_client();
        let order = buy_with_test_card(&app, &buyer, &code, "once@example.com", "").await;
        let receipt = common::decoded_body(&app.email_to("once@example.com", "/d/").await);
        let page_url = common::link_in(&receipt, &app.url("/d/")).unwrap();
        let page = buyer.get(&page_url).send().await.unwrap().text().await.unwrap();
        let file_url = app.url(page.split("href=\"").find(|s| s.starts_with("/d/") && s.contains("/files/")).unwrap().split('"').next().unwrap());

        // The one download, cut short, then resumed where it stopped.
        let first = buyer.get(&file_url).send().await.unwrap();
        assert_eq!(first.status(), StatusCode::OK);
        let resumed = buyer.get(&file_url).header("range", "bytes=1000-").send().await.unwrap();
        assert_eq!(resumed.status(), StatusCode::PARTIAL_CONTENT);
        assert_eq!(&resumed.bytes().await.unwrap()[..], &data[1000..]);
        // A second download from the start is past the limit.
        assert_eq!(buyer.get(&file_url).send().await.unwrap().status(), StatusCode::GONE);
        // Hours later a range is no resume: it would be the whole file again, past the limit.
        app::on_db!(&app.state.db, pool => sqlx::query("update download_grant set last_started_at = last_started_at - 10800000 where order_id = $1")
            .bind(&order).execute(pool).await.map(|_| ())).unwrap();
        for range in ["bytes=1-", "bytes=-1999", "bytes=500-999"] {
            let res = buyer.get(&file_url).header("range", range).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::GONE, "{range}");
        }
    }
}
