//! Receipts and sale notices through a real SMTP server (aiosmtpd), on both databases.

use crate::common;

use crate::common::{Backend, TestApp, hidden_input, link_in, unescape};
use reqwest::StatusCode;

async fn receipt_over_smtp(backend: Backend) {
    if backend == Backend::Postgres && !common::pg::available().await {
        return;
    }
    let Some(smtp) = common::smtp::start().await else { return };
    let app = TestApp::spawn_with(backend, &[("CLINK_SMTP_URL", &smtp.url), ("CLINK_MAIL_FROM", "Clink <sales@clink.test>")]).await;
    app.creator_by_cli("ann").await;
    let (_, code) = app.publish_work("Mailed", "3", b"mail me").await;

    let buyer = app.new_client();
    let html = buyer.get(app.url(&format!("/l/{code}"))).send().await.unwrap().text().await.unwrap();
    let key = hidden_input(&html, "checkout_key").unwrap();
    let res = buyer
        .post(app.url(&format!("/checkout/{code}")))
        .form(&[("checkout_key", key.as_str()), ("email", "smtp.buyer@example.com")])
        .send()
        .await
        .unwrap();
    let pay = res.headers()["location"].to_str().unwrap().to_string();
    let page = buyer.get(app.url(&pay)).send().await.unwrap().text().await.unwrap();
    let action = unescape(page.split("action=\"").find(|s| s.starts_with("/pay/test/")).unwrap().split('"').next().unwrap());
    let (order_id, k) = (hidden_input(&page, "order_id").unwrap(), unescape(&hidden_input(&page, "k").unwrap()));
    let res = buyer
        .post(app.url(&action))
        .form(&[
            ("order_id", order_id.as_str()),
            ("k", k.as_str()),
            ("card_number", "4242424242424242"),
            ("card_expiry", "12/34"),
            ("card_cvc", "123"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);

    let receipt = common::eventually("the receipt over SMTP", || async {
        smtp.messages().into_iter().find(|m| m.contains("smtp.buyer@example.com") && m.contains("Your download"))
    })
    .await;
    assert!(receipt.contains("From: Clink <sales@clink.test>"));
    assert!(receipt.contains("multipart/alternative"), "plain text and HTML");
    assert!(receipt.contains("text/plain") && receipt.contains("text/html"));
    let link = link_in(&common::decoded_body(&receipt), &app.url("/d/")).expect("download link in the receipt");
    let page = buyer.get(&link).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("Mailed"));

    common::eventually("the sale notice", || async {
        smtp.messages().into_iter().find(|m| m.contains("To: ann@example.com") && m.contains("New sale"))
    })
    .await;
    assert!(app.outbox().is_empty(), "with SMTP configured nothing goes to the dev outbox");
    // The sender marks a message sent once the server has accepted it, a moment after the
    // server has it.
    common::eventually("an empty outbox", || async { (app::mail::outbox::pending_count(&app.state.db).await.unwrap() == 0).then_some(()) })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipt_over_smtp_sqlite() {
    receipt_over_smtp(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipt_over_smtp_postgres() {
    receipt_over_smtp(Backend::Postgres).await
}

/// A mail server that is down at first: the outbox keeps the message and sends it later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_survives_an_smtp_outage() {
    let dead_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let app = TestApp::spawn_with(Backend::Sqlite, &[("CLINK_SMTP_URL", &format!("smtp://127.0.0.1:{dead_port}"))]).await;
    app::mail::outbox::enqueue_now(
        &app.state.db,
        "x@example.com",
        &app::mail::outbox::Mail::LibraryLink { email: "x@example.com".into(), account_id: None },
    )
    .await
    .unwrap();
    common::eventually("a failed attempt", || async {
        (app.count("select count(*) from mail_outbox where attempts > 0 and sent_at is null and last_error is not null").await == 1)
            .then_some(())
    })
    .await;
    assert_eq!(app::mail::outbox::pending_count(&app.state.db).await.unwrap(), 1, "kept for a retry");
}
