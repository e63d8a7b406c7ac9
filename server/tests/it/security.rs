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
