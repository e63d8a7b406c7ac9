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
    "about", "admin", "api", "app", "assets", "auth", "buy", "checkout", "clink", "d", "dashboard",
    "dev", "download", "embed", "favicon.ico", "healthz", "help", "l", "library", "login", "logout",
    "metrics", "oembed", "pay", "pkg", "robots.txt", "root", "settings", "signup", "static",
    "support", "test", "wallet", "webhooks", "www",
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(Email::parse("  Ann@Example.COM ").unwrap().as_str(), "ann@example.com");
        for bad in ["", "ann", "ann@", "@example.com", "ann@example", "a b@example.com", "ann@.com", "ann@ex..com"] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be rejected");
        }
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
