//! The browser a tab is used from, for the tab's abuse limits: a random id in a year-long
//! cookie, set the first time the browser asks for a tab. It is a weak signal (clearing cookies
//! makes a new device), so it only adds to the limits per client address and email domain: new
//! tabs per device, and no new tab from a device that used a tab later written off.
//!
//! The database keeps a SHA-256 of the id, never the id itself.

use rand::Rng;

pub const COOKIE: &str = "clink_device";
const MAX_AGE_SECS: i64 = 365 * 24 * 3600;
/// 16 random bytes, as lower-case hex.
const ID_LEN: usize = 32;

/// A fresh device id.
pub fn new_id() -> String {
    hex::encode(rand::rng().random::<[u8; ID_LEN / 2]>())
}

/// The device id in a `Cookie` header, if it has a well-formed one (anything else is treated
/// as no cookie: the browser gets a new id).
pub fn from_header(header: &str) -> Option<String> {
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim())
        .filter(|value| value.len() == ID_LEN && value.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        .map(str::to_string)
}

/// The `Set-Cookie` value that keeps `id` in the browser.
pub fn set_header(id: &str, secure: bool) -> String {
    format!("{COOKIE}={id}; Path=/; Max-Age={MAX_AGE_SECS}; HttpOnly; SameSite=Lax{}", if secure { "; Secure" } else { "" })
}

/// What the database keeps of a device id.
pub fn hash(id: &str) -> String {
    crate::accounts::tokens::hash(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_read_back_only_when_well_formed() {
        let id = new_id();
        assert_eq!(id.len(), ID_LEN);
        assert_ne!(id, new_id());
        assert_eq!(from_header(&format!("a=b; {COOKIE}={id}; c=d")), Some(id.clone()));
        assert_eq!(from_header(&format!("{COOKIE}={}", id.to_uppercase())), None);
        assert_eq!(from_header(&format!("{COOKIE}={id}x")), None);
        assert_eq!(from_header(&format!("{COOKIE}=<script>{}", &id[8..])), None);
        assert_eq!(from_header("clink_device_old=1"), None);
        assert!(set_header(&id, true).starts_with(&format!("{COOKIE}={id}; ")));
        assert!(set_header(&id, true).ends_with("; Secure") && !set_header(&id, false).contains("Secure"));
        assert_ne!(hash(&id), id);
    }
}
