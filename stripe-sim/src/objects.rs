//! Building blocks for Stripe objects: ids, test cards, card details and the
//! error shape. Objects themselves are kept as `serde_json::Value`s (see
//! `api.rs`) so that what we store is exactly what we serve and snapshot
//! into events.

use rand::Rng;
use rand::distr::Alphanumeric;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The Stripe API version async-stripe 1.0.0-rc.10 is generated against
/// (`stripe_shared::version::VERSION`). Events carry it in `api_version`; a
/// mismatch only makes async-stripe log a warning.
pub const API_VERSION: &str = "2026-09-30.endive";

/// Unix seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock after 1970").as_secs() as i64
}

/// Stripe ids look like `pi_3MtwBwLkdIwHu7ix28a3tqPa`: a prefix and 24
/// alphanumerics.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", random_alnum(24))
}

pub fn random_alnum(len: usize) -> String {
    rand::rng().sample_iter(Alphanumeric).take(len).map(char::from).collect()
}

/// What a test card number does when charged, per Stripe's testing docs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behavior {
    Succeed,
    Decline(Decline),
    /// 4000002500003155: 3-D Secure on every on-session payment, but no
    /// authentication needed off-session once set up for future usage.
    AuthUnlessSetUp,
    /// 4000002760003184: authentication on every payment; off-session
    /// attempts fail with `authentication_required`.
    AuthAlways,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decline {
    pub code: &'static str,
    pub decline_code: &'static str,
    pub message: &'static str,
}

pub const GENERIC_DECLINE: Decline = Decline { code: "card_declined", decline_code: "generic_decline", message: "Your card was declined." };
pub const INSUFFICIENT_FUNDS: Decline =
    Decline { code: "card_declined", decline_code: "insufficient_funds", message: "Your card has insufficient funds." };
pub const AUTHENTICATION_REQUIRED: Decline = Decline {
    code: "authentication_required",
    decline_code: "authentication_required",
    message: "Your card was declined. This transaction requires authentication.",
};

pub fn behavior(number: &str) -> Behavior {
    match number {
        "4000000000000002" => Behavior::Decline(GENERIC_DECLINE),
        "4000000000009995" => Behavior::Decline(INSUFFICIENT_FUNDS),
        "4000000000000069" => {
            Behavior::Decline(Decline { code: "expired_card", decline_code: "expired_card", message: "Your card has expired." })
        }
        "4000000000000127" => Behavior::Decline(Decline {
            code: "incorrect_cvc",
            decline_code: "incorrect_cvc",
            message: "Your card's security code is incorrect.",
        }),
        "4000000000000119" => Behavior::Decline(Decline {
            code: "processing_error",
            decline_code: "processing_error",
            message: "An error occurred while processing your card. Try again in a little bit.",
        }),
        "4000002500003155" => Behavior::AuthUnlessSetUp,
        "4000002760003184" | "4000000000003220" => Behavior::AuthAlways,
        _ => Behavior::Succeed,
    }
}

/// Stripe's test PaymentMethod ids (`payment_method=pm_card_visa`); each use
/// creates a fresh PaymentMethod, as on Stripe.
pub fn test_pm_alias(id: &str) -> Option<&'static str> {
    Some(match id {
        "pm_card_visa" => "4242424242424242",
        "pm_card_mastercard" => "5555555555554444",
        "pm_card_amex" => "378282246310005",
        "pm_card_chargeDeclined" | "pm_card_visa_chargeDeclined" => "4000000000000002",
        "pm_card_chargeDeclinedInsufficientFunds" | "pm_card_visa_chargeDeclinedInsufficientFunds" => "4000000000009995",
        "pm_card_chargeDeclinedExpiredCard" => "4000000000000069",
        "pm_card_authenticationRequiredOnSetup" => "4000002500003155",
        "pm_card_authenticationRequired" => "4000002760003184",
        "pm_card_threeDSecure2Required" => "4000000000003220",
        _ => return None,
    })
}

/// Raw card data as submitted in `card[...]` / `payment_method_data[card][...]`.
#[derive(Clone, Debug)]
pub struct CardInput {
    pub number: String,
    pub exp_month: i64,
    pub exp_year: i64,
    pub cvc: Option<String>,
}

impl CardInput {
    /// Validate like Stripe does when tokenizing: 402 `card_error`s with a
    /// `param` pointing at the bad field. `prefix` is `card` or
    /// `payment_method_data[card]`.
    pub fn parse(card: &Value, prefix: &str) -> Result<CardInput, ApiError> {
        let field = |name: &str| card.get(name).and_then(Value::as_str).map(str::trim);
        let number: String = field("number")
            .ok_or_else(|| ApiError::missing_param(&format!("{prefix}[number]")))?
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect();
        if number.len() < 12 || !number.chars().all(|c| c.is_ascii_digit()) || !luhn(&number) {
            return Err(ApiError::card_input("incorrect_number", "Your card number is incorrect.", &format!("{prefix}[number]")));
        }
        let exp_month = field("exp_month")
            .ok_or_else(|| ApiError::missing_param(&format!("{prefix}[exp_month]")))?
            .parse::<i64>()
            .ok()
            .filter(|m| (1..=12).contains(m))
            .ok_or_else(|| {
                ApiError::card_input("invalid_expiry_month", "Your card's expiration month is invalid.", &format!("{prefix}[exp_month]"))
            })?;
        let bad_year =
            || ApiError::card_input("invalid_expiry_year", "Your card's expiration year is invalid.", &format!("{prefix}[exp_year]"));
        let mut exp_year = field("exp_year")
            .ok_or_else(|| ApiError::missing_param(&format!("{prefix}[exp_year]")))?
            .parse::<i64>()
            .map_err(|_| bad_year())?;
        if exp_year < 100 {
            exp_year += 2000;
        }
        if (exp_year, exp_month) < current_year_month() {
            return Err(ApiError::card_input(
                "invalid_expiry_year",
                "Your card's expiration year is in the past.",
                &format!("{prefix}[exp_year]"),
            ));
        }
        let cvc = field("cvc").filter(|c| !c.is_empty()).map(str::to_owned);
        if let Some(cvc) = &cvc
            && !(3..=4).contains(&cvc.len())
        {
            return Err(ApiError::card_input("invalid_cvc", "Your card's security code is invalid.", &format!("{prefix}[cvc]")));
        }
        Ok(CardInput { number, exp_month, exp_year, cvc })
    }

    pub fn brand(&self) -> &'static str {
        let n = &self.number;
        let p2: u32 = n[..2].parse().unwrap_or(0);
        let p4: u32 = n[..4].parse().unwrap_or(0);
        if n.starts_with('4') {
            "visa"
        } else if (51..=55).contains(&p2) || (2221..=2720).contains(&p4) {
            "mastercard"
        } else if p2 == 34 || p2 == 37 {
            "amex"
        } else if p4 == 6011 || p2 == 65 {
            "discover"
        } else {
            "unknown"
        }
    }

    pub fn last4(&self) -> &str {
        &self.number[self.number.len() - 4..]
    }

    /// Same number → same fingerprint, like Stripe (used to spot duplicates).
    pub fn fingerprint(&self) -> String {
        let digest = Sha256::digest(format!("stripe-sim:{}", self.number));
        let alnum: Vec<u8> = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789".to_vec();
        digest.iter().take(16).map(|b| alnum[*b as usize % alnum.len()] as char).collect()
    }

    /// The `card` hash of a PaymentMethod.
    pub fn pm_card_json(&self) -> Value {
        let brand = self.brand();
        json!({
            "brand": brand,
            "checks": {
                "address_line1_check": null,
                "address_postal_code_check": null,
                "cvc_check": if self.cvc.is_some() { "unchecked" } else { "unavailable" },
            },
            "country": "US",
            "display_brand": if brand == "amex" { "american_express" } else { brand },
            "exp_month": self.exp_month,
            "exp_year": self.exp_year,
            "fingerprint": self.fingerprint(),
            "funding": "credit",
            "generated_from": null,
            "last4": self.last4(),
            "networks": { "available": [brand], "preferred": null },
            "regulated_status": "unregulated",
            "three_d_secure_usage": { "supported": true },
            "wallet": null,
        })
    }
}

fn luhn(number: &str) -> bool {
    let sum: u32 = number
        .chars()
        .rev()
        .filter_map(|c| c.to_digit(10))
        .enumerate()
        .map(|(i, d)| if i % 2 == 1 { if d * 2 > 9 { d * 2 - 9 } else { d * 2 } } else { d })
        .sum();
    sum.is_multiple_of(10)
}

fn current_year_month() -> (i64, i64) {
    // Civil date from days since epoch (Howard Hinnant's algorithm), to avoid
    // a date crate for one comparison.
    let days = now().div_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + if month <= 2 { 1 } else { 0 };
    (year, month)
}

/// `billing_details` with every key present, as Stripe returns it.
pub fn billing_details(input: Option<&Value>) -> Value {
    let s = |v: Option<&Value>, k: &str| v.and_then(|v| v.get(k)).cloned().unwrap_or(Value::Null);
    let addr = input.and_then(|b| b.get("address"));
    json!({
        "address": {
            "city": s(addr, "city"), "country": s(addr, "country"), "line1": s(addr, "line1"),
            "line2": s(addr, "line2"), "postal_code": s(addr, "postal_code"), "state": s(addr, "state"),
        },
        "email": s(input, "email"),
        "name": s(input, "name"),
        "phone": s(input, "phone"),
        "tax_id": null,
    })
}

/// A Stripe API error: HTTP status plus the object that goes under `"error"`.
#[derive(Clone, Debug)]
pub struct ApiError {
    pub status: u16,
    pub error: Value,
}

impl ApiError {
    fn new(status: u16, type_: &str, message: &str) -> Self {
        ApiError { status, error: json!({ "type": type_, "message": message }) }
    }

    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        let value = value.into();
        if key == "code"
            && let Some(code) = value.as_str()
        {
            self.error["doc_url"] = json!(format!("https://stripe.com/docs/error-codes/{}", code.replace('_', "-")));
        }
        self.error[key] = value;
        self
    }

    pub fn invalid(message: &str) -> Self {
        Self::new(400, "invalid_request_error", message)
    }

    pub fn missing_param(param: &str) -> Self {
        Self::invalid(&format!("Missing required param: {param}.")).with("code", "parameter_missing").with("param", param)
    }

    /// A bad value. Stripe gives most of these no `code`, only `param`.
    pub fn invalid_param(param: &str, message: &str) -> Self {
        Self::invalid(message).with("param", param)
    }

    /// 404 `resource_missing`, e.g. "No such customer: 'cus_x'".
    pub fn no_such(kind: &str, id: &str, param: Option<&str>) -> Self {
        let e = Self::new(404, "invalid_request_error", &format!("No such {kind}: '{id}'")).with("code", "resource_missing");
        match param {
            Some(p) => e.with("param", p),
            None => e,
        }
    }

    pub fn unexpected_state(message: &str) -> Self {
        Self::invalid(message).with("code", "payment_intent_unexpected_state")
    }

    pub fn auth(status: u16, message: &str) -> Self {
        Self::new(status, "invalid_request_error", message)
    }

    /// Bad card data at tokenization time.
    pub fn card_input(code: &str, message: &str, param: &str) -> Self {
        Self::new(402, "card_error", message).with("code", code).with("param", param)
    }

    /// A decline on a charge attempt (`last_payment_error` and the 402 body).
    pub fn decline(d: Decline) -> Self {
        Self::new(402, "card_error", d.message)
            .with("code", d.code)
            .with("decline_code", d.decline_code)
            .with("advice_code", if d == AUTHENTICATION_REQUIRED { "try_again_later" } else { "do_not_try_again" })
    }

    pub fn idempotency(key: &str) -> Self {
        Self::new(
            400,
            "idempotency_error",
            &format!(
                "Keys for idempotent requests can only be used with the same parameters they were first used with. \
                 Try using a key other than '{key}' if you meant to execute a different request."
            ),
        )
    }

    pub fn body(&self) -> Value {
        json!({ "error": self.error })
    }
}

/// Klarna, as stripe-sim models Stripe's rules for it: the currencies Stripe presents it in,
/// the customer countries each currency is paid from (Klarna takes each country's own
/// currency only), and the amount range of one payment. Klarna's smallest payment is 1.00
/// (or its equivalent); the largest is the highest per-country cap Klarna publishes for the
/// currency.
pub fn klarna_countries(currency: &str) -> Option<&'static [&'static str]> {
    Some(match currency {
        "eur" => &["AT", "BE", "DE", "ES", "FI", "FR", "GR", "IE", "IT", "NL", "PT"],
        "gbp" => &["GB"],
        "usd" => &["US"],
        "aud" => &["AU"],
        "cad" => &["CA"],
        "chf" => &["CH"],
        "czk" => &["CZ"],
        "dkk" => &["DK"],
        "nok" => &["NO"],
        "nzd" => &["NZ"],
        "pln" => &["PL"],
        "ron" => &["RO"],
        "sek" => &["SE"],
        _ => return None,
    })
}

/// The smallest and largest Klarna payment in `currency`, in minor units.
pub fn klarna_amount_range(currency: &str) -> (i64, i64) {
    match currency {
        "eur" => (100, 1_400_000),
        "gbp" => (100, 400_000),
        "usd" => (100, 1_000_000),
        "chf" => (100, 500_000),
        "czk" | "dkk" | "nok" => (1_000, 10_000_000),
        "sek" => (1_000, 15_000_000),
        "pln" | "ron" => (500, 2_000_000),
        _ => (100, 1_000_000),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_accepts_test_cards() {
        for n in ["4242424242424242", "4000000000000002", "4000002500003155", "4000002760003184", "5555555555554444", "378282246310005"] {
            assert!(luhn(n), "{n}");
        }
        assert!(!luhn("4242424242424241"));
    }

    #[test]
    fn year_month_is_sane() {
        let (y, m) = current_year_month();
        assert!(y >= 2025 && (1..=12).contains(&m));
    }
}
