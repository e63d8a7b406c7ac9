//! The remembered-buyer cookie: the buyer's email and saved card, signed so it can't be forged
//! or edited, kept for a year in their browser only.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

use super::domain::SavedCard;
use crate::secret::AppSecret;

pub const NAME: &str = "clink_buyer";
pub const MAX_AGE_SECS: i64 = 365 * 24 * 3600;
const PURPOSE: &str = "buyer-cookie";

pub fn encode(secret: &AppSecret, card: &SavedCard) -> String {
    let json = serde_json::to_vec(card).unwrap_or_default();
    format!("{}.{}", URL_SAFE_NO_PAD.encode(&json), secret.sign(PURPOSE, &json))
}

pub fn decode(secret: &AppSecret, value: &str) -> Option<SavedCard> {
    let (data, signature) = value.split_once('.')?;
    let json = URL_SAFE_NO_PAD.decode(data).ok()?;
    secret.verify(PURPOSE, &json, signature).then(|| serde_json::from_slice(&json).ok()).flatten()
}

/// Finds the cookie in a `Cookie` header.
pub fn from_header(secret: &AppSecret, header: &str) -> Option<SavedCard> {
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == NAME)
        .and_then(|(_, value)| decode(secret, value))
}

/// The `Set-Cookie` value remembering `card`.
pub fn set_header(secret: &AppSecret, card: &SavedCard, secure: bool) -> String {
    format!(
        "{NAME}={}; Path=/; Max-Age={MAX_AGE_SECS}; HttpOnly; SameSite=Lax{}",
        encode(secret, card),
        if secure { "; Secure" } else { "" }
    )
}

/// The `Set-Cookie` value that forgets the card.
pub fn clear_header(secure: bool) -> String {
    format!("{NAME}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax{}", if secure { "; Secure" } else { "" })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card() -> SavedCard {
        SavedCard {
            provider: crate::orders::Provider::Test,
            email: "b@example.com".into(),
            customer_id: "c".into(),
            payment_method_id: "4242424242424242".into(),
            brand: "Visa".into(),
            last4: "4242".into(),
        }
    }

    #[test]
    fn round_trip_and_tamper_proof() {
        let secret = AppSecret::generate();
        let value = encode(&secret, &card());
        assert_eq!(decode(&secret, &value), Some(card()));
        let (data, sig) = value.split_once('.').unwrap();
        let mut forged = card();
        forged.email = "victim@example.com".into();
        let forged_data = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
        assert_eq!(decode(&secret, &format!("{forged_data}.{sig}")), None);
        assert_eq!(decode(&AppSecret::generate(), &value), None);
        assert_eq!(decode(&secret, data), None);
        assert_eq!(from_header(&secret, &format!("a=b; {NAME}={value}; c=d")), Some(card()));
    }
}
