//! Parsed catalog inputs: prices, titles, slugs, link codes and uploaded file names.

use serde::{Deserialize, Serialize};

use crate::{
    error::FieldError,
    money::{Currency, MAX_AMOUNT_MINOR, Money, parse_amount},
};

/// The cheapest non-free price: 0.05. Anything under the card minimum is wallet-only.
pub const MIN_PRICE_MINOR: i64 = 5;

/// What a work costs: a fixed amount, or pay-what-you-want above a minimum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Price {
    Fixed(Money),
    PayWhatYouWant { minimum: Money, suggested: Option<Money> },
}

impl Price {
    /// Parses the price inputs of the work form. `kind` is `fixed` or `pwyw`; `amount` is the
    /// fixed price or the minimum, `suggested` optional.
    pub fn parse(currency: &str, kind: &str, amount: &str, suggested: &str) -> Result<Price, FieldError> {
        let currency = Currency::parse(if currency.trim().is_empty() { "EUR" } else { currency })?;
        let amount = parse_amount(amount, "price")?;
        check_floor(amount, "price")?;
        match kind.trim() {
            "" | "fixed" => Ok(Price::Fixed(Money::new(amount, currency))),
            "pwyw" => {
                let suggested = match suggested.trim() {
                    "" => None,
                    raw => {
                        let s = parse_amount(raw, "suggested")?;
                        if s < amount {
                            return Err(FieldError::new("suggested", "The suggested amount can't be below the minimum."));
                        }
                        check_floor(s, "suggested")?;
                        Some(Money::new(s, currency))
                    }
                };
                Ok(Price::PayWhatYouWant { minimum: Money::new(amount, currency), suggested })
            }
            _ => Err(FieldError::new("price_kind", "Choose a fixed price or pay what you want.")),
        }
    }

    /// Rebuilds a price from its stored columns.
    pub fn from_columns(currency: Currency, kind: &str, amount_minor: i64, suggested_minor: Option<i64>) -> Price {
        let amount = Money::new(amount_minor, currency);
        match kind {
            "pwyw" => Price::PayWhatYouWant { minimum: amount, suggested: suggested_minor.map(|s| Money::new(s, currency)) },
            _ => Price::Fixed(amount),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Price::Fixed(_) => "fixed",
            Price::PayWhatYouWant { .. } => "pwyw",
        }
    }

    pub fn currency(&self) -> Currency {
        self.floor().currency
    }

    /// The least a buyer may pay.
    pub fn floor(&self) -> Money {
        match self {
            Price::Fixed(m) => *m,
            Price::PayWhatYouWant { minimum, .. } => *minimum,
        }
    }

    pub fn suggested(&self) -> Option<Money> {
        match self {
            Price::Fixed(_) => None,
            Price::PayWhatYouWant { suggested, .. } => *suggested,
        }
    }

    pub fn is_free(&self) -> bool {
        matches!(self, Price::Fixed(m) if m.is_zero())
    }

    /// The amount a buyer pays for an offer (only pay-what-you-want takes one). The offer is
    /// checked against the minimum and the global maximum; a fixed price ignores it.
    pub fn charge_for(&self, offer_minor: Option<i64>) -> Result<Money, FieldError> {
        match self {
            Price::Fixed(m) => Ok(*m),
            Price::PayWhatYouWant { minimum, suggested } => {
                let amount = offer_minor.or(suggested.map(|s| s.minor)).unwrap_or(minimum.minor);
                if amount < minimum.minor {
                    return Err(FieldError::new("amount", format!("The minimum is {minimum}.")));
                }
                if amount > MAX_AMOUNT_MINOR {
                    return Err(FieldError::new("amount", "That amount is too large; the maximum is 10,000.00."));
                }
                if amount > 0 && amount < MIN_PRICE_MINOR {
                    return Err(FieldError::new("amount", "Pay at least 0.05, or nothing if the minimum is free."));
                }
                Ok(Money::new(amount, minimum.currency))
            }
        }
    }

    /// "€4.99", "€2.00+", "Free", "Name your price".
    pub fn label(&self) -> String {
        match self {
            Price::Fixed(m) if m.is_zero() => "Free".to_string(),
            Price::Fixed(m) => m.to_string(),
            Price::PayWhatYouWant { minimum, .. } if minimum.is_zero() => "Name your price".to_string(),
            Price::PayWhatYouWant { minimum, .. } => format!("{minimum}+"),
        }
    }

    /// Cheaper than any card payment allows: only a wallet can pay it.
    pub fn wallet_only(&self) -> bool {
        self.floor().below_card_minimum()
    }
}

fn check_floor(minor: i64, field: &'static str) -> Result<(), FieldError> {
    if minor > 0 && minor < MIN_PRICE_MINOR {
        return Err(FieldError::new(field, "The lowest price is 0.05 (or 0 for free)."));
    }
    Ok(())
}

/// A work's title: 1 to 120 characters.
pub fn parse_title(raw: &str) -> Result<String, FieldError> {
    let title = raw.trim();
    if title.is_empty() {
        return Err(FieldError::new("title", "Give your work a title."));
    }
    if title.chars().count() > 120 {
        return Err(FieldError::new("title", "Keep the title under 120 characters."));
    }
    if title.chars().any(char::is_control) {
        return Err(FieldError::new("title", "The title contains characters we can't show."));
    }
    Ok(title.to_string())
}

/// A Markdown description, at most 20,000 characters.
pub fn parse_description(raw: &str) -> Result<String, FieldError> {
    let text = raw.trim();
    if text.chars().count() > 20_000 {
        return Err(FieldError::new("description", "Keep the description under 20,000 characters."));
    }
    Ok(text.replace("\r\n", "\n"))
}

/// A custom slug for `/{handle}/{slug}`: 1 to 60 of `a-z`, `0-9` and `-`. Empty means none.
pub fn parse_slug(raw: &str) -> Result<Option<String>, FieldError> {
    let slug = raw.trim().to_lowercase();
    if slug.is_empty() {
        return Ok(None);
    }
    let valid = slug.len() <= 60
        && slug.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !slug.starts_with('-')
        && !slug.ends_with('-');
    if !valid {
        return Err(FieldError::new("slug", "Use 1 to 60 lowercase letters, digits and dashes, like my-ebook."));
    }
    Ok(Some(slug))
}

/// Optional download limits: a positive whole number, or empty for none.
pub fn parse_limit(raw: &str, field: &'static str, max: i64) -> Result<Option<i64>, FieldError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    match raw.parse::<i64>() {
        Ok(n) if n >= 1 && n <= max => Ok(Some(n)),
        _ => Err(FieldError::new(field, format!("Enter a whole number from 1 to {max}, or leave it empty."))),
    }
}

const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// True for a syntactically valid link code (6 to 10 base62 characters), checked before any
/// database lookup.
pub fn is_link_code(code: &str) -> bool {
    (6..=10).contains(&code.len()) && code.bytes().all(|b| BASE62.contains(&b))
}

/// A fresh 8-character base62 link code (about 47 bits from the OS random generator).
#[cfg(feature = "ssr")]
pub fn new_link_code() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..8).map(|_| BASE62[rng.random_range(0..BASE62.len())] as char).collect()
}

/// Makes an uploaded file's name safe to keep as metadata: no path, no control or bidi
/// characters (which can disguise `evil<U+202E>fdp.exe` as `evilexe.pdf`), no leading dots, at most
/// 200 characters with the extension kept.
pub fn sanitize_filename(raw: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = base
        .chars()
        .filter(|c| !c.is_control() && !is_bidi_control(*c))
        .map(|c| if matches!(c, '<' | '>' | ':' | '"' | '|' | '?' | '*') { '_' } else { c })
        .collect();
    let cleaned = cleaned.trim().trim_start_matches('.').trim();
    let cleaned = if cleaned.is_empty() { "file" } else { cleaned };
    if cleaned.chars().count() <= 200 {
        return cleaned.to_string();
    }
    let (stem, ext) = match cleaned.rsplit_once('.') {
        Some((s, e)) if !e.is_empty() && e.chars().count() <= 16 => (s, Some(e)),
        _ => (cleaned, None),
    };
    let keep = 200 - ext.map_or(0, |e| e.chars().count() + 1);
    let stem: String = stem.chars().take(keep).collect();
    match ext {
        Some(e) => format!("{stem}.{e}"),
        None => stem,
    }
}

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// "1.5 MB": a size for people (binary units, one decimal).
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} bytes") } else { format!("{value:.1} {}", UNITS[unit]) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eur(minor: i64) -> Money {
        Money::new(minor, Currency::Eur)
    }

    #[test]
    fn fixed_prices() {
        assert_eq!(Price::parse("EUR", "fixed", "4.99", "").unwrap(), Price::Fixed(eur(499)));
        assert_eq!(Price::parse("", "", "4,99", "").unwrap(), Price::Fixed(eur(499)), "EUR is the default");
        assert!(Price::parse("EUR", "fixed", "0", "").unwrap().is_free());
        assert!(Price::parse("EUR", "fixed", "0.05", "").unwrap().wallet_only());
        assert!(!Price::parse("EUR", "fixed", "0.50", "").unwrap().wallet_only());
        assert!(Price::parse("GBP", "fixed", "0.29", "").unwrap().wallet_only());
        assert!(!Price::parse("GBP", "fixed", "0.30", "").unwrap().wallet_only());
        assert_eq!(Price::parse("EUR", "fixed", "0.04", "").unwrap_err().field, "price");
        assert_eq!(Price::parse("EUR", "fixed", "10000.01", "").unwrap_err().field, "price");
        assert_eq!(Price::parse("EUR", "fixed", "-1", "").unwrap_err().field, "price");
        assert_eq!(Price::parse("EUR", "fixed", "NaN", "").unwrap_err().field, "price");
        assert_eq!(Price::parse("EUR", "fixed", "1.999", "").unwrap_err().field, "price");
        assert_eq!(Price::parse("XBT", "fixed", "1", "").unwrap_err().field, "currency");
        assert_eq!(Price::parse("EUR", "auction", "1", "").unwrap_err().field, "price_kind");
    }

    #[test]
    fn pay_what_you_want() {
        let p = Price::parse("USD", "pwyw", "2", "5").unwrap();
        assert_eq!(p.floor(), Money::new(200, Currency::Usd));
        assert_eq!(p.suggested(), Some(Money::new(500, Currency::Usd)));
        assert_eq!(p.label(), "$2.00+");
        assert_eq!(Price::parse("USD", "pwyw", "2", "1").unwrap_err().field, "suggested");
        assert_eq!(Price::parse("USD", "pwyw", "2", "x").unwrap_err().field, "suggested");
        assert_eq!(Price::parse("USD", "pwyw", "0", "").unwrap().label(), "Name your price");

        assert_eq!(p.charge_for(Some(300)).unwrap(), Money::new(300, Currency::Usd));
        assert_eq!(p.charge_for(None).unwrap(), Money::new(500, Currency::Usd), "defaults to the suggestion");
        assert_eq!(p.charge_for(Some(199)).unwrap_err().field, "amount");
        assert_eq!(p.charge_for(Some(MAX_AMOUNT_MINOR + 1)).unwrap_err().field, "amount");
        let free_min = Price::parse("USD", "pwyw", "0", "").unwrap();
        assert!(free_min.charge_for(Some(3)).is_err(), "0.03 is below the smallest payable amount");
        assert_eq!(free_min.charge_for(Some(0)).unwrap().minor, 0);
    }

    #[test]
    fn fixed_prices_ignore_offers() {
        let p = Price::Fixed(eur(499));
        assert_eq!(p.charge_for(Some(1)).unwrap(), eur(499));
    }

    #[test]
    fn link_codes() {
        let code = new_link_code();
        assert_eq!(code.len(), 8);
        assert!(is_link_code(&code));
        assert!(!is_link_code("abc"));
        assert!(!is_link_code("abcdefghijk"));
        assert!(!is_link_code("abc-def"));
        assert_ne!(new_link_code(), new_link_code());
    }

    #[test]
    fn hostile_filenames() {
        assert_eq!(sanitize_filename("../x"), "x");
        assert_eq!(sanitize_filename("..\\..\\windows\\system32\\cmd.exe"), "cmd.exe");
        assert_eq!(sanitize_filename("a\0b.pdf"), "ab.pdf");
        assert_eq!(sanitize_filename("evil\u{202E}fdp.exe"), "evilfdp.exe");
        assert_eq!(sanitize_filename("..."), "file");
        assert_eq!(sanitize_filename(".htaccess"), "htaccess");
        assert_eq!(sanitize_filename("a\"b<c>.txt"), "a_b_c_.txt");
        let long = format!("{}.pdf", "é".repeat(300));
        let safe = sanitize_filename(&long);
        assert_eq!(safe.chars().count(), 200);
        assert!(safe.ends_with(".pdf"));
        assert_eq!(sanitize_filename("Mon livre — version 2.epub"), "Mon livre — version 2.epub");
    }

    #[test]
    fn slugs_titles_limits() {
        assert_eq!(parse_slug(" My-Ebook ").unwrap().as_deref(), Some("my-ebook"));
        assert_eq!(parse_slug("").unwrap(), None);
        assert!(parse_slug("-x").is_err());
        assert!(parse_slug("a b").is_err());
        assert!(parse_title("  ").is_err());
        assert!(parse_title(&"t".repeat(121)).is_err());
        assert_eq!(parse_limit("", "max_downloads", 1000).unwrap(), None);
        assert_eq!(parse_limit("3", "max_downloads", 1000).unwrap(), Some(3));
        assert!(parse_limit("0", "max_downloads", 1000).is_err());
        assert!(parse_limit("2.5", "max_downloads", 1000).is_err());
    }
}
