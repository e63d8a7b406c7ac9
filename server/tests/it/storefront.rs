//! What a buyer sees and does on a link page and a creator's profile: unfurls that carry the
//! price, per-creator preview images, "you own this" instead of a second charge, the wallet
//! path for a new buyer of a work below the card minimum, pay-what-you-want amounts, and pages
//! for links that no longer open.

use crate::common::{
    self, BROWSER_UA, Multipart, TestApp, buy_with_test_card, buyer_with_balance, call_with, hidden_input, meta, png, unescape,
    wallet_balance, work_form,
};
use reqwest::{Client, StatusCode};

async fn page(client: &Client, app: &TestApp, path: &str) -> (StatusCode, String) {
    let res = client.get(app.url(path)).header("user-agent", BROWSER_UA).send().await.unwrap();
    (res.status(), res.text().await.unwrap())
}

fn location(res: &reqwest::Response) -> String {
    res.headers().get("location").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default()
}

/// Follows the test card step of a top-up or an order page (`pay` is the page with the card
/// form); returns where the return leads.
async fn pay_with_test_card(app: &TestApp, client: &Client, pay: &str) -> String {
    let page = client.get(app.url(pay)).send().await.unwrap().text().await.unwrap();
    let action =
        unescape(page.split("action=\"").find(|s| s.starts_with("/pay/test/")).expect("a test card form").split('"').next().unwrap());
    let (id, k) = (hidden_input(&page, "order_id").unwrap(), unescape(&hidden_input(&page, "k").unwrap()));
    let res = client
        .post(app.url(&action))
        .form(&[
            ("order_id", id.as_str()),
            ("k", k.as_str()),
            ("card_number", "4242424242424242"),
            ("card_expiry", "12/34"),
            ("card_cvc", "123"),
        ])
        .send()
        .await
        .unwrap();
    let back = location(&res);
    location(&client.get(app.url(&back)).send().await.unwrap())
}

both_backends! {
    async fn unfurls_carry_the_price_and_each_creator_has_a_look(app) {
        app.creator("bob").await;
        let cover = work_form("Night Album", "4.99").file("cover", "c.png", "image/png", &png(1600, 900)).file("files", "a.zip", "application/zip", b"zip").build();
        let res = app.upload(cover).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let code = res.json::<serde_json::Value>().await.unwrap()["code"].as_str().unwrap().to_string();
        let (status, html) = page(&app.new_client(), &app, &format!("/l/{code}")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(meta(&html, "og:title").as_deref(), Some("€4.99 · Night Album by Creator bob"));
        assert_eq!(meta(&html, "twitter:title").as_deref(), Some("€4.99 · Night Album by Creator bob"));
        assert!(meta(&html, "og:description").unwrap().starts_with("€4.99"));
        // Crawlers get the cover with its title and price composited, as a JPEG.
        let og_image = meta(&html, "og:image").unwrap();
        assert!(og_image.starts_with(&app.url(&format!("/l/{code}/preview.jpg?v="))), "{og_image}");
        let preview = app.client.get(&og_image).send().await.unwrap();
        assert_eq!(preview.headers()["content-type"], "image/jpeg");
        let preview = image::load_from_memory(&preview.bytes().await.unwrap()).unwrap();
        assert_eq!((preview.width(), preview.height()), (1200, 630));
        // The page itself shows the cover as WebP with the JPEG beside it, at its own ratio.
        assert!(html.contains(&format!("/l/{code}/cover.webp?v=")), "a WebP source");
        assert!(html.contains(r#"width="1200" height="630""#));
        let webp = app.get(&format!("/l/{code}/cover.webp")).await;
        assert_eq!(webp.headers()["content-type"], "image/webp");
        let webp = webp.bytes().await.unwrap();
        assert_eq!(&webp[8..12], b"WEBP");
        assert_eq!(image::load_from_memory_with_format(&webp, image::ImageFormat::WebP).unwrap().width(), 1200);
        // The creator's profile is one tap away.
        assert!(html.contains(r#"href="/@bob""#), "the creator chip links the profile");

        // Cards of works without a cover take each creator's colour.
        let (_, plain) = app.publish_work("Plain Zine", "2", b"zine").await;
        let other = TestApp::spawn_beside(&app).await;
        other.creator("zed").await;
        let (_, theirs) = other.publish_work("Their Zine", "2", b"zine").await;
        let pixel = |bytes: &[u8]| image::load_from_memory(bytes).unwrap().to_rgb8().get_pixel(40, 600).0;
        let a = app.get(&format!("/l/{plain}/card.png")).await.bytes().await.unwrap();
        let b = app.get(&format!("/l/{theirs}/card.png")).await.bytes().await.unwrap();
        assert_ne!(pixel(&a), pixel(&b), "two creators, two card colours");
        // A creator's chosen colour is what their card shows.
        let res = app.call("settings/profile/save", &[("display_name", "Bob"), ("bio", "I make albums."), ("links", "https://bob.example"), ("accent_color", "#0f766e")]).await;
        assert_eq!(res.status(), StatusCode::OK, "{}", res.text().await.unwrap_or_default());
        let (_, html) = page(&app.new_client(), &app, &format!("/l/{plain}")).await;
        let card_url = meta(&html, "og:image").unwrap();
        let card = app.client.get(&card_url).send().await.unwrap().bytes().await.unwrap();
        let [r, g, b] = pixel(&card);
        assert!(r < 40 && g > 90 && b > 80, "the card is teal: {:?}", (r, g, b));
    }

    async fn a_creator_profile_lists_their_works(app) {
        app.creator("ann").await;
        app.publish_work("First Zine", "3", b"one").await;
        let (work_id, _) = app.publish_work("Second Zine", "0.20", b"two").await;
        app.call("settings/profile/save", &[("display_name", "Ann <Maker>"), ("bio", "Zines about birds."), ("links", "https://ann.example\nhttps://mastodon.example/@ann"), ("accent_color", "")]).await;
        let visitor = app.new_client();
        let (status, html) = page(&visitor, &app, "/@ann").await;
        assert_eq!(status, StatusCode::OK);
        assert!(html.contains("First Zine") && html.contains("Second Zine"), "the grid lists both works");
        assert!(html.contains("€3.00") && html.contains("€0.20"));
        assert!(html.contains("Zines about birds."));
        assert!(html.contains(r#"href="https://mastodon.example/@ann""#));
        assert!(html.contains("Ann &lt;Maker&gt;"), "the name is text");
        assert_eq!(meta(&html, "og:title").map(|t| unescape(&t)).as_deref(), Some("Ann <Maker> on Clink"));
        assert_eq!(meta(&html, "og:url"), Some(app.url("/@ann")));
        assert_eq!(meta(&html, "og:type").as_deref(), Some("profile"));
        // An unpublished work leaves the profile.
        let res = app.call("works/publish", &[("work_id", &work_id), ("published", "false")]).await;
        assert_eq!(res.status(), StatusCode::OK);
        let (_, html) = page(&visitor, &app, "/@ann").await;
        assert!(!html.contains("Second Zine"));

        // Unknown handles, and buyers (who have no profile), get a page that leads on.
        for path in ["/@nobody_here", "/@"] {
            let (status, html) = page(&visitor, &app, path).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
            assert!(html.contains("No creator by that name") || html.contains("Nothing here"), "{path}: {html}");
            assert!(html.contains("href=\"/\""), "a way on");
        }
    }

    async fn a_dead_link_leads_to_the_creators_other_works(app) {
        app.creator("cat").await;
        let (work_id, code) = app.publish_work("Old Zine", "3", b"old").await;
        app.publish_work("New Zine", "3", b"new").await;
        let res = app.call("works/delete", &[("work_id", &work_id)]).await;
        assert!(res.status().is_success() || res.status().is_redirection());
        let (status, html) = page(&app.new_client(), &app, &format!("/l/{code}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(html.contains("This link isn't available"));
        assert!(html.contains(r#"href="/@cat""#), "leads to the creator's profile");
        assert!(html.contains("href=\"/library\""), "and to the buyer's purchases");
        let (status, html) = page(&app.new_client(), &app, "/l/ZZZZZZZZ").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(html.contains("This link isn't available") && !html.contains("/@cat"));
    }

    async fn a_card_buyer_who_owns_a_work_is_not_charged_again_by_one_click(app) {
        app.creator("dee").await;
        let (_, code) = app.publish_work("Owned Zine", "2", b"owned").await;
        let buyer = app.new_client();
        // A first purchase, remembering the card.
        let html = buyer.get(app.url(&format!("/l/{code}"))).header("user-agent", BROWSER_UA).send().await.unwrap().text().await.unwrap();
        assert!(!html.contains(r#"name="remember" value="1" checked"#), "saving a card is the buyer's explicit choice");
        let key = hidden_input(&html, "checkout_key").unwrap();
        let res = buyer.post(app.url(&format!("/checkout/{code}"))).form(&[("checkout_key", key.as_str()), ("email", "fan@example.com"), ("remember", "1")]).send().await.unwrap();
        let done = pay_with_test_card(&app, &buyer, &location(&res)).await;
        assert!(done.starts_with("/d/"), "{done}");
        assert_eq!(app.count("select count(*) from buyer_order where status = 'fulfilled'").await, 1);

        // Back on the page: "You own this", no one-click Buy.
        let (_, html) = page(&buyer, &app, &format!("/l/{code}")).await;
        assert!(html.contains("You own this"), "{html}");
        assert!(!html.contains("name=\"one_click\""), "no one-click Buy for an owner");
        assert!(html.contains(&format!("/l/{code}?again=1")), "buying again is explicit");
        // A one-click post without "again" (a stale tab) charges nothing.
        let res = buyer.post(app.url(&format!("/checkout/{code}"))).form(&[("checkout_key", format!("{}-1", "a".repeat(32)).as_str()), ("one_click", "1")]).send().await.unwrap();
        assert_eq!(location(&res), format!("/l/{code}?owned=1"));
        assert_eq!(app.count("select count(*) from buyer_order").await, 1);
        // "Buy again" is a real second purchase, in one click.
        let (_, html) = page(&buyer, &app, &format!("/l/{code}?again=1")).await;
        assert!(html.contains("You already own this"));
        let one_click_key = html.split("name=\"checkout_key\" value=\"").find_map(|s| s.split('"').next().filter(|k| k.ends_with("-1"))).unwrap().to_string();
        let res = buyer.post(app.url(&format!("/checkout/{code}"))).form(&[("checkout_key", one_click_key.as_str()), ("one_click", "1"), ("again", "1")]).send().await.unwrap();
        assert!(location(&res).starts_with("/checkout/return/"), "{}", location(&res));
        assert_eq!(app.count("select count(*) from buyer_order where status = 'fulfilled'").await, 2);
        app.ledger_is_clean().await;
    }

    async fn a_wallet_buyer_who_owns_a_work_downloads_instead_of_paying_again(app) {
        app.creator("eve").await;
        let (_, code) = app.publish_work("Micro Zine", "0.20", b"micro").await;
        let buyer = buyer_with_balance(&app, "wendy", "5").await;
        let (_, html) = page(&buyer, &app, &format!("/l/{code}")).await;
        let key = hidden_input(&html, "key").expect("the wallet button");
        let res = buyer.post(app.url(&format!("/wallet/buy/{code}"))).form(&[("key", key.as_str())]).send().await.unwrap();
        assert_eq!(location(&res), format!("/l/{code}?bought=1"));
        assert_eq!(wallet_balance(&app, "wendy").await, 480);

        let (_, html) = page(&buyer, &app, &format!("/l/{code}")).await;
        assert!(html.contains("You own this"));
        assert!(!html.contains("with your wallet"), "no wallet Buy for an owner");
        // The owner's Download opens the purchase.
        let order_id = html.split("/library/download/").nth(1).unwrap().split('"').next().unwrap().to_string();
        let res = buyer.post(app.url(&format!("/library/download/{order_id}"))).send().await.unwrap();
        assert!(location(&res).starts_with("/d/"));
        // A stale wallet form charges nothing.
        let res = buyer.post(app.url(&format!("/wallet/buy/{code}"))).form(&[("key", "stale-form-key-000000001")]).send().await.unwrap();
        assert_eq!(location(&res), format!("/l/{code}?owned=1"));
        assert_eq!(wallet_balance(&app, "wendy").await, 480);
        // The library lists it without asking for an email link.
        let (_, library) = page(&buyer, &app, "/library").await;
        assert!(library.contains("Micro Zine"), "{library}");
    }

    async fn a_new_buyer_of_a_micro_work_tops_up_and_gets_the_file_in_one_flow(app) {
        app.creator("fay").await;
        let (_, code) = app.publish_work("Tiny Poem", "0.20", b"a tiny poem").await;
        let buyer = app.new_client();
        let (_, html) = page(&buyer, &app, &format!("/l/{code}")).await;
        assert!(html.contains("Top up €5.00 and buy"), "a wallet offer, no creator sign-up");
        assert!(!html.contains("/signup"), "buyers are never sent to the creator sign-up");
        // Email only, then the top-up's card step.
        let res = buyer.post(app.url(&format!("/wallet/start/{code}"))).form(&[("email", "newbie@example.com"), ("topup", "5.00"), ("source", "direct")]).send().await.unwrap();
        let pay = location(&res);
        assert!(pay.starts_with("/wallet?topup="), "{pay}");
        let card_step = buyer.get(app.url(&pay)).send().await.unwrap().text().await.unwrap();
        assert!(card_step.contains("Top up €5.00"));
        assert!(!card_step.contains("Spending rules"), "the card step stands alone");
        let done = pay_with_test_card(&app, &buyer, &pay).await;
        assert_eq!(done, format!("/l/{code}?bought=1"), "back on the link page");
        let (_, back) = page(&buyer, &app, &done).await;
        assert!(back.contains("Tiny Poem") && back.contains("Paid €0.20 · your download is starting"), "{back}");
        assert!(back.contains("Your wallet now holds"), "{back}");
        let file_url = back.split("http-equiv=\"refresh\" content=\"0;url=").nth(1).expect("the download starts at once");
        let file = buyer.get(app.url(file_url.split('"').next().unwrap())).send().await.unwrap();
        assert_eq!(file.bytes().await.unwrap().as_ref(), b"a tiny poem");
        assert_eq!(app.count("select count(*) from buyer_order where provider = 'wallet' and status = 'fulfilled'").await, 1);
        let handle: String = app::on_db!(&app.state.db, pool => sqlx::query_scalar("select handle from account where email = 'newbie@example.com'").fetch_one(pool).await).unwrap();
        assert_eq!(wallet_balance(&app, &handle).await, 480);
        let sells: bool = app::on_db!(&app.state.db, pool => sqlx::query_scalar("select sells from account where email = 'newbie@example.com'").fetch_one(pool).await).unwrap();
        assert!(!sells, "a buyer has no storefront");
        assert_eq!(page(&buyer, &app, &format!("/@{handle}")).await.0, StatusCode::NOT_FOUND);
        // Coming back: the return link again changes nothing.
        app.ledger_is_clean().await;

        // An email that has a wallet signs in instead of getting a second account.
        let stranger = app.new_client();
        let res = stranger.post(app.url(&format!("/wallet/start/{code}"))).form(&[("email", "newbie@example.com"), ("topup", "5.00")]).send().await.unwrap();
        assert!(location(&res).starts_with("/login?next="), "{}", location(&res));
        assert!(location(&res).contains("has_wallet=1"));
        assert_eq!(app.count("select count(*) from account where email = 'newbie@example.com'").await, 1);
    }

    async fn a_buyer_opts_in_to_selling_with_a_handle_of_their_choosing(app) {
        app.creator("jude").await;
        let (_, code) = app.publish_work("Tiny Sketch", "0.20", b"sketch").await;
        // A wallet buyer: an email only, signed in, no storefront.
        let buyer = app.new_client();
        let res = buyer.post(app.url(&format!("/wallet/start/{code}"))).form(&[("email", "kim@example.com"), ("topup", "5.00")]).send().await.unwrap();
        assert!(location(&res).starts_with("/wallet?topup="));
        let sells = || async {
            app::on_db!(&app.state.db, pool => sqlx::query_scalar::<_, bool>("select sells from account where email = 'kim@example.com'").fetch_one(pool).await).unwrap()
        };
        // Saving profile fields doesn't turn a buyer into a seller behind their back.
        let res = call_with(&buyer, &app.base_url, "settings/profile/save", &[("display_name", "Kim"), ("bio", ""), ("links", ""), ("accent_color", "")]).await;
        assert!(res.status().is_success() || res.status().is_redirection(), "{}", res.status());
        assert!(!sells().await);
        // "New work" asks for a handle first, and an upload is refused before it.
        let (_, html) = page(&buyer, &app, "/dashboard/works/new").await;
        assert!(html.contains("Start selling") && html.contains(r#"name="handle""#), "the opt-in, not the upload form");
        assert!(!html.contains(r#"name="files""#));
        let (_, settings) = page(&buyer, &app, "/settings").await;
        assert!(settings.contains("Sell on Clink"), "settings offers it too");
        let body = work_form("Too Soon", "1").file("files", "t.txt", "text/plain", b"t").build();
        let res = buyer.post(app.url("/dashboard/works")).header("accept", "application/json")
            .header("content-type", Multipart::content_type()).body(body).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::CONFLICT);
        assert!(res.text().await.unwrap().contains("Start selling"));
        assert_eq!(app.count("select count(*) from work where title = 'Too Soon'").await, 0);
        // A taken handle and a bad one get clear errors and change nothing.
        for (handle, message) in [("jude", "That handle is taken"), ("k", "3 to 30 characters"), ("admin", "reserved")] {
            let res = call_with(&buyer, &app.base_url, "settings/start-selling", &[("handle", handle), ("display_name", "Kim Draws")]).await;
            assert!(res.status().is_client_error(), "{handle}: {}", res.status());
            let text = res.text().await.unwrap();
            assert!(text.contains(message), "{handle}: {text}");
            assert!(!sells().await);
        }
        // The chosen handle: a storefront at /@kimdraws, and the upload form.
        let res = call_with(&buyer, &app.base_url, "settings/start-selling", &[("handle", "@KimDraws"), ("display_name", "Kim Draws")]).await;
        assert!(res.status().is_success() || res.status().is_redirection(), "{}", res.status());
        assert!(sells().await);
        let (_, html) = page(&buyer, &app, "/dashboard/works/new?selling=1").await;
        assert!(html.contains("selling as clink/@kimdraws") && html.contains(r#"name="files""#), "{html}");
        let body = work_form("First Sketch", "1").file("files", "s.txt", "text/plain", b"s").build();
        let res = buyer.post(app.url("/dashboard/works")).header("accept", "application/json")
            .header("content-type", Multipart::content_type()).body(body).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
        let (status, profile) = page(&app.new_client(), &app, "/@kimdraws").await;
        assert_eq!(status, StatusCode::OK);
        assert!(profile.contains("Kim Draws") && profile.contains("First Sketch"));
        // Money leaves only for a proven address: a payout waits for the email's confirmation,
        // which the account's own address gets without a password (it has none it knows).
        let res = call_with(&buyer, &app.base_url, "payouts/request", &[("currency", "EUR")]).await;
        assert_eq!(res.status(), StatusCode::CONFLICT);
        assert!(res.text().await.unwrap().contains("Confirm your email"));
        let res = call_with(&buyer, &app.base_url, "settings/email", &[("new_email", "kim@example.com"), ("current_password", "")]).await;
        assert!(res.status().is_success() || res.status().is_redirection(), "{}", res.status());
        let mail = app.email_to("kim@example.com", "/settings/email/confirm/").await;
        let link = common::link_in(&common::decoded_body(&mail), &app.url("/settings/email/confirm/")).unwrap();
        assert_eq!(location(&buyer.get(&link).send().await.unwrap()), "/settings?email=verified#email");
        let (_, settings) = page(&buyer, &app, "/settings?email=verified").await;
        assert!(settings.contains("Your email is confirmed.") && !settings.contains("We told your old address"));
        assert_eq!(app.count("select count(*) from account where email = 'kim@example.com' and email_verified_at is not null").await, 1);
        // Once selling, the handle stays: a second opt-in changes nothing.
        let res = call_with(&buyer, &app.base_url, "settings/start-selling", &[("handle", "kim_other"), ("display_name", "Kim")]).await;
        assert!(res.status().is_success() || res.status().is_redirection());
        assert_eq!(app.count("select count(*) from account where handle = 'kimdraws'").await, 1);
    }

    async fn whoever_proves_an_email_ends_sessions_opened_without_proof(app) {
        app.creator("gil").await;
        let (_, code) = app.publish_work("Tiny Print", "0.20", b"print").await;
        // Someone types another person's email at the wallet start: a session without proof.
        let typist = app.new_client();
        let res = typist.post(app.url(&format!("/wallet/start/{code}"))).form(&[("email", "owner@example.com"), ("topup", "5.00")]).send().await.unwrap();
        assert!(location(&res).starts_with("/wallet?topup="));
        let (_, wallet) = page(&typist, &app, "/wallet").await;
        assert!(wallet.contains("Balance"), "signed in for now");
        // The owner of the address signs in with a link: the typist's session ends.
        let owner = app.new_client();
        let res = call_with(&owner, &app.base_url, "login-link", &[("email", "owner@example.com"), ("next", "/wallet")]).await;
        assert!(res.status().is_success() || res.status().is_redirection());
        let mail = app.email_to("owner@example.com", "/login/link/").await;
        let link = common::link_in(&common::decoded_body(&mail), &app.url("/login/link/")).unwrap();
        let res = owner.get(&link).send().await.unwrap();
        assert_eq!(location(&res), "/wallet");
        let (_, wallet) = page(&typist, &app, "/wallet").await;
        assert!(wallet.contains("Sign in to open yours"), "the unproven session is over");
        let (_, wallet) = page(&owner, &app, "/wallet").await;
        assert!(wallet.contains("Balance"));
    }

    async fn a_pay_what_you_want_amount_is_the_amount_charged(app) {
        app.creator("hal").await;
        let body = Multipart::new().text("title", "Name It").text("description", "").text("currency", "EUR").text("price_kind", "pwyw")
            .text("price", "1").text("suggested", "3").file("files", "n.pdf", "application/pdf", b"pdf").build();
        let res = app.upload(body).await;
        let code = res.json::<serde_json::Value>().await.unwrap()["code"].as_str().unwrap().to_string();
        let buyer = buyer_with_balance(&app, "payer", "20").await;
        let (_, html) = page(&buyer, &app, &format!("/l/{code}")).await;
        assert!(html.contains("Name your price (minimum €1.00)"));
        assert!(html.contains("Buy for €3.00</span> with your wallet"), "the button shows the amount");
        assert!(html.replace("<!>", "").contains("Balance €20.00. One click, no card."), "the balance that covers the price is shown");
        assert!(html.contains("/pwyw.js"), "a small script updates it as the buyer types");
        let key = hidden_input(&html, "key").unwrap();
        // Typed 7.50 but the button (no script) still said 3.00: confirm first, charge nothing.
        let res = buyer.post(app.url(&format!("/wallet/buy/{code}"))).form(&[("key", key.as_str()), ("amount", "7.50"), ("shown_amount", "3.00")]).send().await.unwrap();
        let confirm = location(&res);
        assert!(confirm.contains("confirm_wallet=1") && confirm.contains("amount=7%2E50"), "{confirm}");
        assert_eq!(wallet_balance(&app, "payer").await, 2000);
        let (_, html) = page(&buyer, &app, &confirm).await;
        assert!(html.contains("Confirm — pay €7.50"), "{html}");
        let key = hidden_input(&html, "key").unwrap();
        let res = buyer.post(app.url(&format!("/wallet/buy/{code}"))).form(&[("key", key.as_str()), ("amount", "7.50"), ("shown_amount", "7.50"), ("confirm", "1")]).send().await.unwrap();
        assert_eq!(location(&res), format!("/l/{code}?bought=1"));
        assert_eq!(wallet_balance(&app, "payer").await, 1250, "7.50 charged, as shown");
        let amount: i64 = app::on_db!(&app.state.db, pool => sqlx::query_scalar("select amount_minor from buyer_order where provider = 'wallet'").fetch_one(pool).await).unwrap();
        assert_eq!(amount, 750);
    }

    async fn a_creators_avatar_is_uploaded_shown_replaced_and_removed(app) {
        app.creator("ava").await;
        let (_, code) = app.publish_work("Avatar Zine", "2", b"z").await;
        let post_avatar = |client: Client, body: Vec<u8>| {
            let url = app.url("/settings/avatar");
            async move { client.post(url).header("content-type", Multipart::content_type()).body(body).send().await.unwrap() }
        };
        let avatar_files = || {
            common::files_under(app.data_dir.path()).into_iter().filter(|p| p.to_string_lossy().contains("/avatars/")).collect::<Vec<_>>()
        };
        // Before: the initial, and no picture to fetch.
        let (_, html) = page(&app.new_client(), &app, "/@ava").await;
        assert!(html.contains("avatar initial") && !html.contains("avatar.jpg"), "{html}");
        assert_eq!(page(&app.new_client(), &app, "/@ava/avatar.jpg").await.0, StatusCode::NOT_FOUND);

        // Hostile or empty uploads: a clear message on the settings page, nothing stored.
        let cases: [(&[u8], &str); 2] = [(b"<svg onload=alert(1)>", "must be a PNG, JPEG, WebP or GIF"), (b"", "Choose a picture first")];
        for (bytes, message) in cases {
            let body = Multipart::new().file("avatar", "a.png", "image/png", bytes).build();
            let res = post_avatar(app.client.clone(), body).await;
            let to = location(&res);
            assert!(to.starts_with("/settings?avatar_error="), "{to}");
            let (_, settings) = page(&app.client, &app, &to).await;
            assert!(settings.contains(message), "{message}: {settings}");
            assert!(avatar_files().is_empty());
        }

        // A wide picture becomes a 256×256 JPEG, shown on the profile and the link page.
        let res = post_avatar(app.client.clone(), Multipart::new().file("avatar", "me.png", "image/png", &png(600, 400)).build()).await;
        assert_eq!(location(&res), "/settings?saved=1#profile");
        let (_, profile) = page(&app.new_client(), &app, "/@ava").await;
        let src = unescape(profile.split("/@ava/avatar.jpg").nth(1).map(|rest| format!("/@ava/avatar.jpg{}", rest.split('"').next().unwrap())).expect("an avatar image").as_str());
        assert!(src.starts_with("/@ava/avatar.jpg?v="), "{src}");
        let (_, link) = page(&app.new_client(), &app, &format!("/l/{code}")).await;
        assert!(link.contains("/@ava/avatar.jpg?v="), "the link page shows it beside the name");
        let res = app.new_client().get(app.url(&src)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()["content-type"], "image/jpeg");
        let first = res.bytes().await.unwrap();
        let decoded = image::load_from_memory(&first).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (256, 256));
        assert_eq!(avatar_files().len(), 1);

        // Another account's session changes its own picture, never this one.
        let other = app.new_client();
        common::sign_up_on(&other, &app.base_url, &app.shared_dir, "other@example.com", "other_one", "Other").await;
        let res = post_avatar(other, Multipart::new().file("avatar", "o.png", "image/png", &png(300, 300)).build()).await;
        assert_eq!(location(&res), "/settings?saved=1#profile", "the other account's own picture is saved");
        let other_id = other_id(&app).await;
        let res = app.new_client().get(app.url("/@ava/avatar.jpg")).send().await.unwrap();
        assert_eq!(res.bytes().await.unwrap(), first);

        // Replaced: the new picture is served and the old file is gone from storage.
        post_avatar(app.client.clone(), Multipart::new().file("avatar", "me2.png", "image/png", &png(256, 512)).build()).await;
        let res = app.new_client().get(app.url("/@ava/avatar.jpg")).send().await.unwrap();
        assert_ne!(res.bytes().await.unwrap(), first);
        let own: Vec<_> = avatar_files().into_iter().filter(|p| !p.to_string_lossy().contains(&other_id)).collect();
        assert_eq!(own.len(), 1, "{own:?}");

        // Removed: back to the initial, and the file is deleted.
        let res = post_avatar(app.client.clone(), Multipart::new().text("remove", "1").build()).await;
        assert_eq!(location(&res), "/settings?saved=1#profile");
        let (_, profile) = page(&app.new_client(), &app, "/@ava").await;
        assert!(profile.contains("avatar initial") && !profile.contains("/@ava/avatar.jpg"));
        assert_eq!(page(&app.new_client(), &app, "/@ava/avatar.jpg").await.0, StatusCode::NOT_FOUND);
        let own: Vec<_> = avatar_files().into_iter().filter(|p| !p.to_string_lossy().contains(&other_id)).collect();
        assert!(own.is_empty(), "{own:?}");
        // A visitor can't post one at all.
        let res = post_avatar(app.new_client(), Multipart::new().file("avatar", "v.png", "image/png", &png(50, 50)).build()).await;
        assert!(location(&res).starts_with("/login"), "{}", location(&res));
    }

    async fn signed_in_buyers_are_recognised(app) {
        app.creator("ivy").await;
        let (_, code) = app.publish_work("Card Zine", "2", b"card").await;
        let buyer = app.new_client();
        let res = common::sign_up_on(&buyer, &app.base_url, &app.shared_dir, "reader@example.com", "reader", "Reader").await;
        assert_eq!(res.status(), StatusCode::OK);
        let (_, html) = page(&buyer, &app, &format!("/l/{code}")).await;
        assert!(html.contains(r#"value="reader@example.com""#), "the email is pre-filled");
        buy_with_test_card(&app, &buyer, &code, "reader@example.com", "").await;
        let (_, library) = page(&buyer, &app, "/library").await;
        assert!(library.contains("Card Zine"), "the library lists it at once");
        let (_, html) = page(&buyer, &app, &format!("/l/{code}")).await;
        assert!(html.contains("You own this"));
    }
}

async fn other_id(app: &TestApp) -> String {
    app::on_db!(&app.state.db, pool => sqlx::query_scalar::<_, String>("select account_id from account where handle = 'other_one'").fetch_one(pool).await)
        .unwrap()
}
