//! Webhook delivery, signed exactly like Stripe:
//! `Stripe-Signature: t={unix},v1={hex(HMAC-SHA256(secret, "{t}.{body}"))}`.
//!
//! Each event is pushed by its own task, so — as on Stripe — delivery order
//! is not guaranteed. Non-2xx answers and connection errors are retried after
//! each of `retry_delays` in turn; every attempt is recorded.

use std::sync::Arc;

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use crate::Inner;
use crate::objects::now;

/// The `v1` signature of `payload` at time `t`.
pub fn sign(secret: &str, t: i64, payload: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(format!("{t}.{payload}").as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The full header value, as Stripe sends it (test mode omits the legacy `v0`).
pub fn signature_header(secret: &str, t: i64, payload: &str) -> String {
    format!("t={t},v1={}", sign(secret, t, payload))
}

pub(crate) async fn deliver(inner: Arc<Inner>, url: String, event: Value) {
    // Stripe sends pretty-printed JSON; receivers must verify the raw bytes,
    // and a pretty body catches ones that re-serialize before verifying.
    let body = serde_json::to_string_pretty(&event).expect("event serializes");
    let id = event["id"].as_str().unwrap_or_default().to_owned();
    let mut delays = inner.retry_delays.iter();
    loop {
        // Stripe signs every attempt afresh, so retries carry a new `t`.
        let t = now();
        let status = match inner
            .http
            .post(&url)
            .header("Content-Type", "application/json; charset=utf-8")
            .header("User-Agent", "Stripe/1.0 (+https://stripe.com/docs/webhooks)")
            .header("Stripe-Signature", signature_header(&inner.webhook_secret, t, &body))
            .body(body.clone())
            .send()
            .await
        {
            Ok(response) => response.status().as_u16(),
            Err(_) => 0,
        };
        let delivered = (200..300).contains(&status);
        {
            let mut store = inner.store.lock().expect("store lock");
            store.attempts.push((id.clone(), status));
            if delivered {
                store.webhook_delivered(&id);
            }
        }
        if delivered {
            return;
        }
        match delays.next() {
            Some(delay) => tokio::time::sleep(*delay).await,
            None => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_an_independent_hmac() {
        // printf '1700000000.{}' | openssl dgst -sha256 -hmac whsec_test
        assert_eq!(
            signature_header("whsec_test", 1_700_000_000, "{}"),
            "t=1700000000,v1=35495024f4ef3f94e5a93e22221544c4b75e9a42300cd965ab81cb85cd994e91"
        );
    }
}
