//! What the Stripe.js stand-in does over HTTP: publishable-key calls
//! authorized by the client secret, the sim-only 3-D Secure endpoint, CORS,
//! and serving `/js/v3`. Responses are parsed with async-stripe's own
//! (miniserde) deserializers.

use stripe_core::payment_intent::CreatePaymentIntent;
use stripe_shared::{PaymentIntent, PaymentIntentStatus, PaymentMethod};
use stripe_types::Currency;

use crate::*;

const PK: &str = stripe_sim::TEST_PUBLISHABLE_KEY;

async fn form(sim: &SimHandle, method: reqwest::Method, path: &str, key: &str, body: &str) -> (u16, String) {
    let raw = reqwest::Client::new();
    let url = format!("{}{path}", sim.base_url);
    let req = if method == reqwest::Method::GET {
        raw.get(format!("{url}?{body}"))
    } else {
        raw.request(method, url).header("Content-Type", "application/x-www-form-urlencoded").body(body.to_owned())
    };
    let r = req.bearer_auth(key).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test]
async fn publishable_key_confirm_with_card_data_and_3ds() {
    let _warnings = watch_warnings();
    let sim = sim().await;
    let client = client(&sim);
    let intent = CreatePaymentIntent::new(4999, Currency::USD).send(&client).await.unwrap();
    let secret = intent.client_secret.clone().unwrap();
    let path = format!("/v1/payment_intents/{}", intent.id);

    // Retrieval with pk needs the matching client secret.
    let (status, _) = form(&sim, reqwest::Method::GET, &path, PK, "").await;
    assert_eq!(status, 400);
    let (status, _) = form(&sim, reqwest::Method::GET, &path, PK, "client_secret=pi_wrong_secret_x").await;
    assert_eq!(status, 400);
    let (status, body) = form(&sim, reqwest::Method::GET, &path, PK, &format!("client_secret={secret}")).await;
    assert_eq!(status, 200);
    let _: PaymentIntent = miniserde::json::from_str(&body).expect("PaymentIntent");

    // Confirm the way Stripe.js does: payment_method_data with raw card fields.
    let body = format!(
        "client_secret={secret}&payment_method_data[type]=card&payment_method_data[card][number]=4000002500003155\
         &payment_method_data[card][exp_month]=12&payment_method_data[card][exp_year]=34\
         &payment_method_data[card][cvc]=123&payment_method_data[billing_details][email]=ada%40example.com"
    );
    let (status, text) = form(&sim, reqwest::Method::POST, &format!("{path}/confirm"), PK, &body).await;
    assert_eq!(status, 200, "{text}");
    let pi: PaymentIntent = miniserde::json::from_str(&text).expect("PaymentIntent");
    assert_eq!(pi.status, PaymentIntentStatus::RequiresAction);

    // The modal's "Complete authentication" button.
    let (status, text) =
        form(&sim, reqwest::Method::POST, &format!("/_sim/3ds/{}", intent.id), "", &format!("client_secret={secret}&result=success")).await;
    assert_eq!(status, 200, "{text}");
    let pi: PaymentIntent = miniserde::json::from_str(&text).unwrap();
    assert_eq!(pi.status, PaymentIntentStatus::Succeeded);

    // Publishable keys can create payment methods but not list them.
    let (status, text) = form(
        &sim,
        reqwest::Method::POST,
        "/v1/payment_methods",
        PK,
        "type=card&card[number]=4242 4242 4242 4242&card[exp_month]=1&card[exp_year]=2040&card[cvc]=314",
    )
    .await;
    assert_eq!(status, 200, "{text}");
    let pm: PaymentMethod = miniserde::json::from_str(&text).unwrap();
    assert_eq!(pm.card.unwrap().last4, "4242");
    let (status, _) = form(&sim, reqwest::Method::GET, "/v1/payment_methods", PK, "").await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn invalid_card_data_is_a_card_error() {
    let _warnings = watch_warnings();
    let sim = sim().await;
    let (status, text) = form(
        &sim,
        reqwest::Method::POST,
        "/v1/payment_methods",
        PK,
        "type=card&card[number]=4242424242424241&card[exp_month]=1&card[exp_year]=2040",
    )
    .await;
    assert_eq!(status, 402);
    let err: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(err["error"]["code"], "incorrect_number");
    assert_eq!(err["error"]["param"], "card[number]");
}

#[tokio::test]
async fn serves_stripe_js_with_cors() {
    let _warnings = watch_warnings();
    let sim = sim().await;
    let raw = reqwest::Client::new();
    let js = raw.get(sim.js_url()).send().await.unwrap();
    assert_eq!(js.status(), 200);
    assert!(js.headers()["content-type"].to_str().unwrap().starts_with("application/javascript"));
    assert_eq!(js.headers()["access-control-allow-origin"], "*");
    let text = js.text().await.unwrap();
    for needle in ["window.Stripe", "confirmCardPayment", "sim-card-number", "sim-3ds-complete", "sim-3ds-fail"] {
        assert!(text.contains(needle), "{needle}");
    }

    for path in ["/v1/payment_intents/pi_x/confirm", "/_sim/3ds/pi_x"] {
        let pre = raw
            .request(reqwest::Method::OPTIONS, format!("{}{path}", sim.base_url))
            .header("Origin", "http://127.0.0.1:3000")
            .header("Access-Control-Request-Method", "POST")
            .header("Access-Control-Request-Headers", "authorization,content-type")
            .send()
            .await
            .unwrap();
        assert_eq!(pre.status(), 204, "{path}");
        assert_eq!(pre.headers()["access-control-allow-origin"], "*");
        assert!(pre.headers()["access-control-allow-headers"].to_str().unwrap().contains("Authorization"));
    }
    let page = raw.get(format!("{}/_sim/3ds/pi_x/challenge", sim.base_url)).send().await.unwrap();
    assert!(page.text().await.unwrap().contains("sim-3ds-complete"));
}
