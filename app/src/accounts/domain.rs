//! Parsed account inputs. Each type is parsed once at the edge and trusted afterwards.

use serde::{Deserialize, Serialize};

use crate::error::FieldError;

/// A lower-cased, trimmed email address with a plausible shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Email, FieldError> {
        let email = raw.trim().to_lowercase();
        let invalid = || FieldError::new("email", "Enter a valid email address, like name@example.com.");
        if email.is_empty() || email.len() > 254 || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid());
        }
        let (local, domain) = email.rsplit_once('@').ok_or_else(invalid)?;
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && domain.chars().all(|c| c.is_alphanumeric() || c == '.' || c == '-');
        if local.is_empty() || local.len() > 64 || local.contains('@') || !domain_ok {
            return Err(invalid());
        }
        Ok(Email(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Paths a handle must never shadow, since creator pages live at `/{handle}/{slug}`.
const RESERVED_HANDLES: &[&str] = &[
    "about",
    "admin",
    "api",
    "app",
    "assets",
    "auth",
    "buy",
    "checkout",
    "clink",
    "d",
    "dashboard",
    "dev",
    "download",
    "embed",
    "favicon.ico",
    "healthz",
    "help",
    "l",
    "library",
    "login",
    "logout",
    "metrics",
    "oembed",
    "pay",
    "pkg",
    "robots.txt",
    "root",
    "settings",
    "signup",
    "static",
    "support",
    "test",
    "wallet",
    "webhooks",
    "www",
];

/// A creator's public handle: 3 to 30 of `a-z`, `0-9` and `_`, lower-cased.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handle(String);

impl Handle {
    pub fn parse(raw: &str) -> Result<Handle, FieldError> {
        let handle = raw.trim().trim_start_matches('@').to_lowercase();
        if handle.len() < 3 || handle.len() > 30 {
            return Err(FieldError::new("handle", "A handle is 3 to 30 characters long."));
        }
        if !handle.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
            return Err(FieldError::new("handle", "Use only letters, digits and underscores in a handle."));
        }
        if RESERVED_HANDLES.contains(&handle.as_str()) {
            return Err(FieldError::new("handle", "That handle is reserved. Please pick another."));
        }
        Ok(Handle(handle))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The name shown on a creator's links: 1 to 80 printable characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DisplayName(String);

impl DisplayName {
    pub fn parse(raw: &str) -> Result<DisplayName, FieldError> {
        let name = raw.trim();
        if name.is_empty() {
            return Err(FieldError::new("display_name", "Tell buyers your name."));
        }
        if name.chars().count() > 80 {
            return Err(FieldError::new("display_name", "Keep your name under 80 characters."));
        }
        if name.chars().any(char::is_control) {
            return Err(FieldError::new("display_name", "Your name contains characters we can't show."));
        }
        Ok(DisplayName(name.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A new password: 8 to 256 characters. Never logged, never stored in clear.
#[derive(Clone, PartialEq, Eq)]
pub struct NewPassword(String);

impl NewPassword {
    pub const MIN_CHARS: usize = 8;
    pub const MAX_CHARS: usize = 256;

    pub fn parse(raw: &str) -> Result<NewPassword, FieldError> {
        let chars = raw.chars().count();
        if chars < Self::MIN_CHARS {
            return Err(FieldError::new("password", "Use at least 8 characters for your password."));
        }
        if chars > Self::MAX_CHARS {
            return Err(FieldError::new("password", "Use at most 256 characters for your password."));
        }
        Ok(NewPassword(raw.to_string()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewPassword(..)")
    }
}

/// A creator's accent colour as `#rrggbb`: the one they chose, else one derived from their
/// handle (so two creators' cards differ without anyone choosing). Either way it is darkened
/// until white text on it has WCAG AA contrast (4.5:1), since cards and avatars put white
/// text on it.
pub fn accent_color(handle: &str, chosen: Option<&str>) -> String {
    let rgb = chosen.and_then(parse_hex).unwrap_or_else(|| {
        // FNV-1a: stable across releases and platforms, unlike the std hasher.
        let hash = handle.bytes().fold(0x811c9dc5u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193));
        hsl_to_rgb((hash % 360) as f64, 0.62, 0.40)
    });
    let (mut r, mut g, mut b) = rgb;
    while contrast_with_white(r, g, b) < 4.5 {
        (r, g, b) = ((f64::from(r) * 0.9) as u8, (f64::from(g) * 0.9) as u8, (f64::from(b) * 0.9) as u8);
    }
    format!("#{r:02x}{g:02x}{b:02x}")
}

/// The accent colour field of the profile form: empty (derive it) or `#rrggbb`.
pub fn parse_accent(raw: &str) -> Result<Option<String>, FieldError> {
    let raw = raw.trim().to_ascii_lowercase();
    if raw.is_empty() {
        return Ok(None);
    }
    parse_hex(&raw)
        .map(|_| Some(raw.clone()))
        .ok_or_else(|| FieldError::new("accent_color", "Pick a colour like #7c3aed, or leave it empty."))
}

fn parse_hex(raw: &str) -> Option<(u8, u8, u8)> {
    let hex = raw.strip_prefix('#')?;
    if hex.len() != 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let channel = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
    Some((channel(0)?, channel(2)?, channel(4)?))
}

fn hsl_to_rgb(h: f64, s: f64, l: f64) -> (u8, u8, u8) {
    let c = (1.0 - (2.0 * l - 1.0).abs()) * s;
    let x = c * (1.0 - ((h / 60.0) % 2.0 - 1.0).abs());
    let m = l - c / 2.0;
    let (r, g, b) = match (h / 60.0) as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let to = |v: f64| ((v + m) * 255.0).round().clamp(0.0, 255.0) as u8;
    (to(r), to(g), to(b))
}

/// WCAG 2 contrast ratio of white on this colour.
fn contrast_with_white(r: u8, g: u8, b: u8) -> f64 {
    let lin = |c: u8| {
        let c = f64::from(c) / 255.0;
        if c <= 0.03928 { c / 12.92 } else { ((c + 0.055) / 1.055).powf(2.4) }
    };
    let luminance = 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
    1.05 / (luminance + 0.05)
}

/// A profile's links: up to five `http(s)` URLs, one per line.
pub fn parse_links(raw: &str) -> Result<Vec<String>, FieldError> {
    let links: Vec<String> = raw.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_string).collect();
    if links.len() > 5 {
        return Err(FieldError::new("links", "Add at most five links."));
    }
    for link in &links {
        let ok = (link.starts_with("https://") || link.starts_with("http://"))
            && link.len() <= 300
            && !link.chars().any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '<' || c == '>')
            && link.split("://").nth(1).is_some_and(|rest| rest.split('/').next().is_some_and(|host| host.contains('.')));
        if !ok {
            return Err(FieldError::new("links", format!("{link} isn't a web address like https://example.com.")));
        }
    }
    Ok(links)
}

/// A short bio: up to 300 characters, line breaks kept.
pub fn parse_bio(raw: &str) -> Result<String, FieldError> {
    let bio = raw.trim();
    if bio.chars().count() > 300 {
        return Err(FieldError::new("bio", "Keep your bio under 300 characters."));
    }
    if bio.chars().any(|c| c.is_control() && c != '\n' && c != '\r') {
        return Err(FieldError::new("bio", "Your bio contains characters we can't show."));
    }
    Ok(bio.replace("\r\n", "\n"))
}

/// Masks an email for display to people other than its owner: "an•••@example.com".
pub fn mask_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let keep: String = local.chars().take(2).collect();
            format!("{keep}•••@{domain}")
        }
        None => "•••".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_masked() {
        assert_eq!(mask_email("anna@example.com"), "an•••@example.com");
        assert_eq!(mask_email("a@example.com"), "a•••@example.com");
        assert_eq!(mask_email("nonsense"), "•••");
    }

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(Email::parse("  Ann@Example.COM ").unwrap().as_str(), "ann@example.com");
        for bad in ["", "ann", "ann@", "@example.com", "ann@example", "a b@example.com", "ann@.com", "ann@ex..com"] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn accents_are_per_creator_and_readable() {
        let a = accent_color("ann", None);
        let b = accent_color("bob", None);
        assert_ne!(a, b, "two handles, two colours");
        assert_eq!(a, accent_color("ann", None), "stable");
        for chosen in [None, Some("#ffff00"), Some("#ffffff"), Some("#7c3aed"), Some("nonsense")] {
            let c = accent_color("someone", chosen);
            let (r, g, b) = parse_hex(&c).unwrap();
            assert!(contrast_with_white(r, g, b) >= 4.5, "{chosen:?} -> {c}");
        }
        assert_eq!(accent_color("x", Some("#1e3a8a")), "#1e3a8a", "a dark choice is kept");
        assert_eq!(parse_accent(" #7C3AED ").unwrap().as_deref(), Some("#7c3aed"));
        assert_eq!(parse_accent("").unwrap(), None);
        assert!(parse_accent("red").is_err() && parse_accent("#12345").is_err());
    }

    #[test]
    fn profile_links_and_bios_are_checked() {
        assert_eq!(parse_links("https://bo.example\n\n http://x.example/a ").unwrap().len(), 2);
        for bad in ["javascript:alert(1)", "https://nohost", "ftp://x.example", "https://x.example/\"onmouseover"] {
            assert!(parse_links(bad).is_err(), "{bad}");
        }
        assert!(parse_links(&"https://a.example\n".repeat(6)).is_err());
        assert!(parse_bio(&"x".repeat(301)).is_err());
        assert_eq!(parse_bio(" Hi\r\nthere ").unwrap(), "Hi\nthere");
    }

    #[test]
    fn handles_follow_the_rules() {
        assert_eq!(Handle::parse("@Ann_42").unwrap().as_str(), "ann_42");
        assert!(Handle::parse("ab").is_err());
        assert!(Handle::parse(&"a".repeat(31)).is_err());
        assert!(Handle::parse("ann-b").is_err());
        assert!(Handle::parse("dashboard").is_err());
        assert!(Handle::parse("l").is_err());
    }

    #[test]
    fn passwords_are_8_to_256_characters() {
        assert!(NewPassword::parse("1234567").is_err());
        assert!(NewPassword::parse("12345678").is_ok());
        assert!(NewPassword::parse(&"é".repeat(256)).is_ok());
        assert!(NewPassword::parse(&"x".repeat(257)).is_err());
        assert_eq!(format!("{:?}", NewPassword::parse("secret123").unwrap()), "NewPassword(..)");
    }

    #[test]
    fn display_names_are_trimmed_and_bounded() {
        assert_eq!(DisplayName::parse("  Ann Lee ").unwrap().as_str(), "Ann Lee");
        assert!(DisplayName::parse("   ").is_err());
        assert!(DisplayName::parse(&"n".repeat(81)).is_err());
        assert!(DisplayName::parse("a\u{0007}b").is_err());
    }
}
