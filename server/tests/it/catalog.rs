//! Works and links over HTTP: uploads, prices, covers, link pages and their previews, the
//! share kit endpoints, the creator API and cross-creator isolation.

use crate::common;

use crate::common::{BROWSER_UA, Multipart, TestApp, error_of, meta, png, work_form};
use reqwest::StatusCode;
use serde_json::Value;

async fn form_error(res: reqwest::Response) -> (StatusCode, Option<String>) {
    let status = res.status();
    let body: Value = res.json().await.unwrap_or_default();
    (status, body["error"]["field"].as_str().map(str::to_string))
}

async fn token_for(app: &TestApp, email: &str) -> String {
    let out = app.run_cli(&["token", "create", "--email", email, "--name", "tests"], None).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

both_backends! {
    async fn a_work_becomes_a_link_that_unfurls(app) {
        app.creator("ann").await;
        let (_, code) = app.publish_work("Field Recordings", "4,99", b"%PDF-1.4 fake pdf").await;
        let res = app.client.get(app.url(&format!("/l/{code}"))).header("user-agent", BROWSER_UA).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let html = res.text().await.unwrap();
        assert_eq!(meta(&html, "og:title").as_deref(), Some("€4.99 · Field Recordings by Creator ann"));
        assert_eq!(meta(&html, "og:type").as_deref(), Some("product"));
        assert_eq!(meta(&html, "og:url"), Some(app.url(&format!("/l/{code}"))));
        assert!(meta(&html, "og:image").unwrap().starts_with(&app.url(&format!("/l/{code}/card.png"))));
        assert!(meta(&html, "og:description").unwrap().contains("A fine work."));
        assert_eq!(meta(&html, "twitter:card").as_deref(), Some("summary_large_image"));
        assert_eq!(meta(&html, "product:price:amount").as_deref(), Some("4.99"));
        assert_eq!(meta(&html, "product:price:currency").as_deref(), Some("EUR"));
        assert!(html.contains("application/json+oembed"));
        // Markdown renders; raw HTML is shown as text, never run.
        assert!(html.contains("<strong>fine</strong>"));
        assert!(!html.contains("<script>alert(1)</script>"));
        // The storefront ships no wasm or script of ours.
        assert!(!html.contains(".wasm") && !html.contains("type=\"module\"") && !html.contains("<script src"), "link page must not load scripts");

        // The generated card is a real 1200x630 PNG.
        let card = app.get(&format!("/l/{code}/card.png")).await;
        assert_eq!(card.headers()["content-type"], "image/png");
        let img = image::load_from_memory(&card.bytes().await.unwrap()).unwrap();
        assert_eq!((img.width(), img.height()), (1200, 630));

        let qr = app.get(&format!("/l/{code}/qr.svg")).await;
        assert_eq!(qr.headers()["content-type"], "image/svg+xml");
        assert!(qr.text().await.unwrap().contains("<svg"));

        let oembed: Value = app.get(&format!("/oembed?format=json&url={}", urlencoding(&app.url(&format!("/l/{code}"))))).await.json().await.unwrap();
        assert_eq!(oembed["type"], "rich");
        assert_eq!(oembed["title"], "Field Recordings");
        assert!(oembed["html"].as_str().unwrap().contains("Buy on Clink"));
        assert_eq!(app.get("/oembed?url=https://elsewhere.example/l/abcdefgh").await.status(), StatusCode::NOT_FOUND);
        assert_eq!(app.get("/l/nope!!/card.png").await.status(), StatusCode::NOT_FOUND);
        assert_eq!(app.get("/l/ZZZZZZZZ").await.status(), StatusCode::NOT_FOUND);
    }

    async fn every_price_rule_is_enforced(app) {
        app.creator("ann").await;
        let cases: &[(&str, &str, &str, &str, &str)] = &[
            // (currency, kind, price, suggested, field)
            ("EUR", "fixed", "-1", "", "price"),
            ("EUR", "fixed", "NaN", "", "price"),
            ("EUR", "fixed", "4.999", "", "price"),
            ("EUR", "fixed", "10000.01", "", "price"),
            ("EUR", "fixed", "0.04", "", "price"),
            ("EUR", "fixed", "", "", "price"),
            ("BTC", "fixed", "1", "", "currency"),
            ("EUR", "auction", "1", "", "price_kind"),
            ("USD", "pwyw", "2", "1", "suggested"),
            ("USD", "pwyw", "2", "lots", "suggested"),
        ];
        for (currency, kind, price, suggested, field) in cases {
            let body = Multipart::new().text("title", "T").text("currency", currency).text("price_kind", kind)
                .text("price", price).text("suggested", suggested)
                .file("files", "a.txt", "text/plain", b"hello").build();
            let (status, got) = form_error(app.upload(body).await).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{currency} {kind} {price} {suggested}");
            assert_eq!(got.as_deref(), Some(*field), "{currency} {kind} {price} {suggested}");
        }
        assert_eq!(app.count("select count(*) from work").await, 0);
        assert!(app.stored_keys().await.is_empty(), "rejected forms store nothing");

        // Valid edge cases: free, 0.05 (wallet only), the maximum, pay-what-you-want.
        for (kind, price, suggested, label) in [("fixed", "0", "", "Free"), ("fixed", "0.05", "", "€0.05"), ("fixed", "10000", "", "€10000.00"), ("pwyw", "2,50", "5", "€2.50+")] {
            let body = Multipart::new().text("title", "T").text("currency", "EUR").text("price_kind", kind)
                .text("price", price).text("suggested", suggested).file("files", "a.txt", "text/plain", b"hello").build();
            let res = app.upload(body).await;
            assert_eq!(res.status(), StatusCode::CREATED, "{price}");
            let code = res.json::<Value>().await.unwrap()["code"].as_str().unwrap().to_string();
            // What a visitor from a social link sees: no session, no cookies.
            let html = app.new_client().get(app.url(&format!("/l/{code}"))).send().await.unwrap().text().await.unwrap();
            assert!(html.contains(label), "{label} shown");
            if price == "0.05" {
                assert!(html.contains("with a Clink wallet"), "wallet-only works say so");
                assert!(!html.contains("Card number"), "no card form below the card minimum");
            }
        }
    }

    async fn oversize_uploads_get_413_and_leave_nothing(app) {
        let _ = app; // this test needs a small limit: see below
        let app = TestApp::spawn_with(app.backend, &[("CLINK_UPLOAD_MAX_BYTES", "1MB")]).await;
        app.creator("ann").await;
        let big = vec![7u8; 2 * 1024 * 1024];
        let res = app.upload(work_form("Big", "1").file("files", "big.bin", "application/octet-stream", &big).build()).await;
        assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let (code, _, message) = error_of(res).await;
        assert_eq!(code, "too_large");
        assert!(message.contains("1.0 MB"), "{message}");

        // Without a Content-Length the cap is enforced while streaming.
        let body = work_form("Big", "1").file("files", "big.bin", "application/octet-stream", &big).build();
        let stream = futures::stream::iter(body.chunks(64 * 1024).map(|c| Ok::<_, std::io::Error>(c.to_vec())).collect::<Vec<_>>());
        let res = app.client.post(app.url("/dashboard/works")).header("accept", "application/json")
            .header("content-type", Multipart::content_type()).body(reqwest::Body::wrap_stream(stream)).send().await;
        // The server answers 413 as soon as the cap is passed and may close the connection
        // while the client is still sending: either way, nothing is kept.
        if let Ok(res) = res {
            assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
        }

        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert_eq!(app.count("select count(*) from work").await, 0);
        assert!(app.stored_keys().await.is_empty(), "{:?}", app.stored_keys().await);
        assert_no_files_on_disk(&app);
    }

    async fn an_aborted_upload_leaves_no_work_and_no_file(app) {
        use tokio::io::AsyncWriteExt;
        app.creator("ann").await;
        let cookie = session_cookie_header(&app).await;
        let mut body = work_form("Half", "3").build();
        body.truncate(body.len() - format!("--{}--\r\n", common::BOUNDARY).len());
        body.extend_from_slice(format!("--{}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"half.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n", common::BOUNDARY).as_bytes());
        body.extend_from_slice(&vec![1u8; 3 * 1024 * 1024]);
        let addr = app.base_url.trim_start_matches("http://").to_string();
        let mut sock = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let head = format!(
            "POST /dashboard/works HTTP/1.1\r\nHost: {addr}\r\nOrigin: {}\r\nCookie: {cookie}\r\nAccept: application/json\r\nContent-Type: {}\r\nContent-Length: {}\r\n\r\n",
            app.base_url, Multipart::content_type(), body.len() + 10 * 1024 * 1024
        );
        sock.write_all(head.as_bytes()).await.unwrap();
        sock.write_all(&body).await.unwrap();
        sock.flush().await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        drop(sock); // the browser tab closes mid-upload
        tokio::time::sleep(std::time::Duration::from_millis(800)).await;
        assert_eq!(app.count("select count(*) from work").await, 0);
        assert_eq!(app.count("select count(*) from work_file").await, 0);
        assert!(app.stored_keys().await.is_empty(), "{:?}", app.stored_keys().await);
        assert_no_files_on_disk(&app);
    }

    async fn hostile_file_names_are_neutralised(app) {
        app.creator("ann").await;
        let long = format!("{}.pdf", "n".repeat(300));
        let body = work_form("Names", "1")
            .file("files", "../x", "text/plain", b"one")
            .file("files", "..\\..\\boot.ini", "text/plain", b"two")
            .file("files", "invoice\u{202E}fdp.exe", "application/pdf", b"three")
            .file("files", &long, "application/pdf", b"four")
            .build();
        let res = app.upload(body).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let id = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
        let work: Value = app.call("works/get", &[("work_id", &id)]).await.json().await.unwrap();
        let names: Vec<String> = work["files"].as_array().unwrap().iter().map(|f| f["filename"].as_str().unwrap().to_string()).collect();
        assert_eq!(names[0], "x");
        assert_eq!(names[1], "boot.ini");
        assert_eq!(names[2], "invoicefdp.exe");
        assert_eq!(names[3].chars().count(), 200);
        assert!(names[3].ends_with(".pdf"));
        // Storage keys are generated, never derived from the names.
        for key in app.stored_keys().await {
            assert!(key.starts_with(&format!("works/{id}/")), "{key}");
            assert!(!key.contains(".."), "{key}");
        }
        // A NUL byte can't even reach us inside a multipart header: that is a clean 400.
        let res = app.upload(work_form("Nul", "1").file("files", "a\0b.pdf", "application/pdf", b"x").build()).await;
        assert!(res.status() == StatusCode::BAD_REQUEST || res.status() == StatusCode::CREATED, "{}", res.status());
        if res.status() == StatusCode::CREATED {
            let id = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
            let work: Value = app.call("works/get", &[("work_id", &id)]).await.json().await.unwrap();
            assert!(!work["files"][0]["filename"].as_str().unwrap().contains('\0'));
        }
    }

    async fn covers_are_real_images_resized_and_stripped(app) {
        app.creator("ann").await;
        // A text file dressed up as a PNG is refused, and nothing is kept.
        let body = work_form("Spoof", "2").file("cover", "cover.png", "image/png", b"<?php system($_GET['x']); ?>")
            .file("files", "a.txt", "text/plain", b"data").build();
        let (status, field) = form_error(app.upload(body).await).await;
        assert_eq!((status, field.as_deref()), (StatusCode::BAD_REQUEST, Some("cover")));
        assert_eq!(app.count("select count(*) from work").await, 0);
        assert!(app.stored_keys().await.is_empty());

        // A JPEG carrying EXIF comes out at 1200x630 without it.
        let mut jpeg = Vec::new();
        image::DynamicImage::ImageRgb8(image::RgbImage::from_pixel(900, 900, image::Rgb([200, 10, 10])))
            .write_to(&mut std::io::Cursor::new(&mut jpeg), image::ImageFormat::Jpeg).unwrap();
        let exif: &[u8] = b"\xFF\xE1\x00\x1AExif\x00\x00GPS 48.8566N 2.3522E";
        let with_exif = [&jpeg[..2], exif, &jpeg[2..]].concat();
        let body = work_form("Covered", "2").file("cover", "photo.jpg", "image/jpeg", &with_exif)
            .file("files", "a.txt", "text/plain", b"data").build();
        let res = app.upload(body).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let code = res.json::<Value>().await.unwrap()["code"].as_str().unwrap().to_string();
        let cover = app.get(&format!("/l/{code}/cover.jpg")).await.bytes().await.unwrap();
        let img = image::load_from_memory(&cover).unwrap();
        assert_eq!((img.width(), img.height()), (1200, 630));
        assert!(!cover.windows(4).any(|w| w == b"Exif"), "metadata stripped");
        assert!(!cover.windows(3).any(|w| w == b"GPS"));
        let thumb = image::load_from_memory(&app.get(&format!("/l/{code}/thumb.jpg")).await.bytes().await.unwrap()).unwrap();
        assert_eq!((thumb.width(), thumb.height()), (400, 210));
        let html = app.get(&format!("/l/{code}")).await.text().await.unwrap();
        assert!(meta(&html, "og:image").unwrap().contains("/preview.jpg"), "the unfurl shows the cover with its text");
        assert!(html.contains(&format!("/l/{code}/cover.jpg")), "the page shows the cover itself");

        // Replacing the cover removes the old images.
        let work_id: String = app::on_db!(&app.state.db, pool => sqlx::query_scalar::<_, String>("select work_id from work where code = $1").bind(&code).fetch_one(pool).await).unwrap();
        let before = app.stored_keys().await;
        let body = Multipart::new().file("cover", "new.png", "image/png", &png(300, 300)).build();
        let res = app.client.post(app.url(&format!("/dashboard/works/{work_id}/cover"))).header("content-type", Multipart::content_type()).body(body).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let after = app.stored_keys().await;
        assert_eq!(after.len(), before.len());
        assert!(after.iter().all(|k| !before.contains(k) || k.starts_with("works/")));
    }

    async fn creators_edit_unpublish_delete_and_undo(app) {
        app.creator("ann").await;
        let (id, code) = app.publish_work("Draft", "3", b"bytes").await;
        let res = app.call("works/update", &[("work_id", &id), ("title", "Final"), ("description", "New text"), ("currency", "GBP"),
            ("price_kind", "pwyw"), ("price", "1"), ("suggested", "3"), ("slug", "final-cut"), ("max_downloads", "5"), ("link_expiry_days", "")]).await;
        assert_eq!(res.status(), StatusCode::OK, "{}", res.text().await.unwrap());
        let html = app.get(&format!("/l/{code}")).await.text().await.unwrap();
        assert!(html.contains("Final") && html.contains("£1.00+"));
        // The custom slug serves the same storefront, with the short link as canonical URL.
        let by_slug = app.get("/ann/final-cut").await;
        assert_eq!(by_slug.status(), StatusCode::OK);
        assert_eq!(meta(&by_slug.text().await.unwrap(), "og:url"), Some(app.url(&format!("/l/{code}"))));

        let bad = app.call("works/update", &[("work_id", &id), ("title", ""), ("description", ""), ("currency", "EUR"), ("price_kind", "fixed"), ("price", "1")]).await;
        assert_eq!(error_of(bad).await.1.as_deref(), Some("title"));

        assert_eq!(app.call("works/publish", &[("work_id", &id), ("published", "false")]).await.status(), StatusCode::OK);
        assert_eq!(app.get(&format!("/l/{code}")).await.status(), StatusCode::NOT_FOUND);
        assert_eq!(app.call("works/publish", &[("work_id", &id), ("published", "true")]).await.status(), StatusCode::OK);
        assert_eq!(app.get(&format!("/l/{code}")).await.status(), StatusCode::OK);

        let res = app.client.post(app.url("/api/works/delete")).header("accept", "text/html").header("referer", app.url("/dashboard/works"))
            .form(&[("work_id", &id)]).send().await.unwrap();
        assert_eq!(res.headers()["location"], format!("/dashboard/works?deleted={id}"));
        assert_eq!(app.get(&format!("/l/{code}")).await.status(), StatusCode::NOT_FOUND);
        let list: Value = app.call("works/list", &[]).await.json().await.unwrap();
        assert_eq!(list.as_array().unwrap().len(), 0);
        let page = app.get(&format!("/dashboard/works?deleted={id}")).await.text().await.unwrap();
        assert!(page.contains("Undo"));
        assert!(!app.stored_keys().await.is_empty(), "files stay for past buyers");

        assert_eq!(app.call("works/restore", &[("work_id", &id)]).await.status(), StatusCode::OK);
        assert_eq!(app.get(&format!("/l/{code}")).await.status(), StatusCode::OK);
    }

    async fn one_creator_never_touches_anothers_works(app) {
        app.creator("ann").await;
        let (id, code) = app.publish_work("Ann's", "3", b"ann").await;
        let ann_token = token_for(&app, "ann@example.com").await;

        let bob = app.new_client();
        let res = common::sign_up_on(&bob, &app.base_url, &app.shared_dir, "bob@example.com", "bob", "Bob").await;
        assert_eq!(res.status(), StatusCode::OK);
        for (endpoint, form) in [
            ("works/get", vec![("work_id", id.as_str())]),
            ("works/publish", vec![("work_id", id.as_str()), ("published", "false")]),
            ("works/delete", vec![("work_id", id.as_str())]),
            ("works/update", vec![("work_id", id.as_str()), ("title", "Mine now"), ("description", ""), ("currency", "EUR"), ("price_kind", "fixed"), ("price", "0")]),
        ] {
            let res = common::call_with(&bob, &app.base_url, endpoint, &form).await;
            assert_eq!(res.status(), StatusCode::NOT_FOUND, "{endpoint}");
        }
        let list: Value = common::call_with(&bob, &app.base_url, "works/list", &[]).await.json().await.unwrap();
        assert_eq!(list.as_array().unwrap().len(), 0);
        let body = Multipart::new().file("cover", "c.png", "image/png", &png(64, 64)).build();
        let res = bob.post(app.url(&format!("/dashboard/works/{id}/cover"))).header("content-type", Multipart::content_type()).body(body).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        // The API: Bob's token sees nothing of Ann's.
        let bob_token = token_for(&app, "bob@example.com").await;
        let api = reqwest::Client::new();
        let res = api.get(app.url(&format!("/api/v1/works/{id}"))).bearer_auth(&bob_token).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        let res = api.patch(app.url(&format!("/api/v1/works/{id}"))).bearer_auth(&bob_token).json(&serde_json::json!({"title": "x"})).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        let res = api.delete(app.url(&format!("/api/v1/works/{id}"))).bearer_auth(&bob_token).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        let list: Value = api.get(app.url("/api/v1/works")).bearer_auth(&bob_token).send().await.unwrap().json().await.unwrap();
        assert_eq!(list["works"].as_array().unwrap().len(), 0);
        // Ann's work is untouched.
        let mine: Value = api.get(app.url(&format!("/api/v1/works/{id}"))).bearer_auth(&ann_token).send().await.unwrap().json().await.unwrap();
        assert_eq!(mine["work"]["title"], "Ann's");
        assert_eq!(app.get(&format!("/l/{code}")).await.status(), StatusCode::OK);
    }

    async fn the_creator_api_manages_works(app) {
        app.creator("ann").await;
        let token = token_for(&app, "ann@example.com").await;
        let api = reqwest::Client::new();
        assert_eq!(api.get(app.url("/api/v1/works")).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
        assert_eq!(api.get(app.url("/api/v1/works")).bearer_auth("clk_forged").send().await.unwrap().status(), StatusCode::UNAUTHORIZED);

        let body = work_form("Via API", "9.99").file("files", "book.epub", "application/epub+zip", b"PK\x03\x04epub").build();
        let res = api.post(app.url("/api/v1/works")).bearer_auth(&token).header("content-type", Multipart::content_type()).body(body).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
        let created: Value = res.json().await.unwrap();
        let id = created["work"]["id"].as_str().unwrap().to_string();
        assert_eq!(created["work"]["price"]["amount"], "9.99");
        assert_eq!(created["work"]["price"]["amount_minor"], 999);
        assert_eq!(created["work"]["files"][0]["filename"], "book.epub");
        assert_eq!(created["work"]["files"][0]["size_bytes"], 8);

        let res = api.patch(app.url(&format!("/api/v1/works/{id}"))).bearer_auth(&token)
            .json(&serde_json::json!({"price": {"amount": "0.20"}, "slug": "tiny", "published": false})).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let work: Value = res.json().await.unwrap();
        assert_eq!(work["work"]["price"]["wallet_only"], true);
        assert_eq!(work["work"]["published"], false);
        assert_eq!(work["work"]["slug_url"], app.url("/ann/tiny"));

        // Money is never a JSON number; unknown fields and bad values are clear 400s.
        for bad in [serde_json::json!({"price": {"amount": 4.99}}), serde_json::json!({"colour": "red"}), serde_json::json!({"price": {"amount": "-3"}})] {
            let res = api.patch(app.url(&format!("/api/v1/works/{id}"))).bearer_auth(&token).json(&bad).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{bad}");
            let body: Value = res.json().await.unwrap();
            assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
        }
        let res = api.patch(app.url(&format!("/api/v1/works/{id}"))).bearer_auth(&token).header("content-type", "application/json").body("{not json").send().await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);

        let list: Value = api.get(app.url("/api/v1/works")).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
        assert_eq!(list["works"].as_array().unwrap().len(), 1);
        assert_eq!(api.delete(app.url(&format!("/api/v1/works/{id}"))).bearer_auth(&token).send().await.unwrap().status(), StatusCode::NO_CONTENT);
        assert_eq!(api.get(app.url(&format!("/api/v1/works/{id}"))).bearer_auth(&token).send().await.unwrap().status(), StatusCode::NOT_FOUND);

        // Tokens made in settings work until revoked.
        let res = app.call("tokens/create", &[("name", "Zapier")]).await;
        assert_eq!(res.status(), StatusCode::OK);
        let list: Value = app.call("tokens/list", &[]).await.json().await.unwrap();
        let fresh = list["fresh"].as_str().expect("new token shown once").to_string();
        let again: Value = app.call("tokens/list", &[]).await.json().await.unwrap();
        assert!(again["fresh"].is_null(), "shown only once");
        assert_eq!(api.get(app.url("/api/v1/works")).bearer_auth(&fresh).send().await.unwrap().status(), StatusCode::OK);
        let zapier = again["tokens"].as_array().unwrap().iter().find(|t| t["name"] == "Zapier").unwrap()["id"].as_str().unwrap().to_string();
        assert_eq!(app.call("tokens/revoke", &[("token_id", &zapier)]).await.status(), StatusCode::OK);
        assert_eq!(api.get(app.url("/api/v1/works")).bearer_auth(&fresh).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
        // Only hashes are stored.
        let stored = app.count(&format!("select count(*) from api_token where token_hash = '{fresh}'")).await;
        assert_eq!(stored, 0);
    }

    async fn link_views_are_counted_by_source_without_bots(app) {
        app.creator("ann").await;
        let (id, code) = app.publish_work("Viewed", "1", b"x").await;
        let visitor = reqwest::Client::new();
        let visit = |referer: Option<&'static str>, query: &'static str, ua: &'static str| {
            let mut req = visitor.get(app.url(&format!("/l/{code}{query}"))).header("user-agent", ua);
            if let Some(r) = referer { req = req.header("referer", r); }
            req.send()
        };
        assert_eq!(visit(Some("https://t.co/xyz"), "", BROWSER_UA).await.unwrap().status(), StatusCode::OK);
        visit(Some("https://t.co/xyz"), "", BROWSER_UA).await.unwrap();
        visit(Some("https://mastodon.social/@ann"), "", BROWSER_UA).await.unwrap();
        visit(None, "?ref=Newsletter", BROWSER_UA).await.unwrap();
        visit(None, "", BROWSER_UA).await.unwrap();
        visit(None, "", "Twitterbot/1.0").await.unwrap();
        visit(None, "", "facebookexternalhit/1.1").await.unwrap();
        // Back on the page mid-checkout is the same visitor, not a new view.
        visit(None, "?order=0123456789abcdef0123456789abcdef&k=x", BROWSER_UA).await.unwrap();
        app.state.views.flush(&app.state.db).await.unwrap();
        let creator: String = app::on_db!(&app.state.db, pool => sqlx::query_scalar::<_, String>("select creator_id from work where work_id = $1").bind(&id).fetch_one(pool).await).unwrap();
        let by_source = app::earnings::views::by_source_for_creator(&app.state.db, &creator).await.unwrap();
        assert_eq!(by_source, vec![("direct".into(), 1), ("mastodon".into(), 1), ("newsletter".into(), 1), ("x".into(), 2)]);
        // The preview image fetches by bots and the 404s don't count either.
        visit(None, "", BROWSER_UA).await.unwrap();
        visitor.get(app.url("/l/ZZZZZZZZ")).header("user-agent", BROWSER_UA).send().await.unwrap();
        app.state.views.flush(&app.state.db).await.unwrap();
        assert_eq!(app::earnings::views::total_for_work(&app.state.db, &id).await.unwrap(), 6);
    }

    async fn the_share_kit_is_on_the_work_page(app) {
        app.creator("ann").await;
        let (id, code) = app.publish_work("Shared", "2", b"x").await;
        let html = app.get(&format!("/dashboard/works/{id}?tag=Spring%20News")).await.text().await.unwrap();
        let link = app.url(&format!("/l/{code}"));
        assert!(html.contains(&link));
        for intent in ["https://x.com/intent/post", "facebook.com/sharer", "linkedin.com/sharing", "bsky.app/intent/compose", "reddit.com/submit", "wa.me/"] {
            assert!(html.contains(intent), "{intent}");
        }
        assert!(html.contains(&format!("{link}?ref=spring-news")), "tagged campaign link");
        assert!(html.contains("Buy on Clink"), "embed snippet");
        assert!(html.contains(&format!("/l/{code}/qr.svg")));
        assert!(html.contains(r#"<form method="post" action="/share/mastodon""#), "the Mastodon form posts");
        // The share form posts from this site, and goes to the sharer's own instance.
        let share = |instance: &str| app.client.post(app.url("/share/mastodon")).form(&[("instance", instance), ("text", "hello there")]).send();
        let res = share("https://fosstodon.org/").await.unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(res.headers()["location"], "https://fosstodon.org/share?text=hello%20there");
        let res = share("evil.example/phish?x=").await.unwrap();
        assert_eq!(res.headers()["location"], "https://evil.example/share?text=hello%20there", "path stripped, host kept");
        assert_eq!(share("javascript:alert(1)").await.unwrap().status(), StatusCode::BAD_REQUEST);
        // It is no open redirect: a link (GET) to it goes nowhere, and another site's form is
        // refused by the CSRF check.
        let link = app.get("/share/mastodon?instance=evil.example&text=hi").await;
        assert_eq!(link.status(), StatusCode::METHOD_NOT_ALLOWED);
        let forged = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
            .post(app.url("/share/mastodon")).header("origin", "https://evil.example").header("sec-fetch-site", "cross-site")
            .form(&[("instance", "evil.example"), ("text", "hi")]).send().await.unwrap();
        assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    }
}

fn urlencoding(s: &str) -> String {
    s.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

async fn session_cookie_header(app: &TestApp) -> String {
    // Log in on a raw client to learn the cookie value.
    let res = app.log_in("ann@example.com", common::PASSWORD).await;
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("clink_session="))
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string()
}

fn assert_no_files_on_disk(app: &TestApp) {
    let dir = app.data_dir.path().join("files");
    if !dir.exists() {
        return;
    }
    let files: Vec<_> = common::files_under(&dir);
    assert!(files.is_empty(), "orphan files on disk: {files:?}");
}
