//! Wallet vocabulary: spending rules, top-up presets, PINs and spending periods.

use serde::{Deserialize, Serialize};

use crate::{error::FieldError, money::parse_amount};

/// The top-up amounts offered as buttons (minor units): 2, 5, 10, 20.
pub const TOPUP_PRESETS: [i64; 4] = [200, 500, 1_000, 2_000];

/// The largest single top-up: 500.00.
pub const MAX_TOPUP_MINOR: i64 = 50_000;

/// The buyer's own limits. Amounts are in minor units and apply to each currency separately.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpendingRules {
    pub paused: bool,
    /// Purchases above this ask "are you sure?" first.
    pub confirm_above: Option<i64>,
    pub weekly_cap: Option<i64>,
    pub monthly_cap: Option<i64>,
    /// Purchases above this need the PIN (if a PIN is set).
    pub pin_above: Option<i64>,
    pub has_pin: bool,
    /// The buyer's own tab limit (only ever lowers Clink's; see `tab::limit_for`).
    pub tab_limit: Option<i64>,
}

impl SpendingRules {
    pub fn needs_confirmation(&self, amount_minor: i64) -> bool {
        self.confirm_above.is_some_and(|limit| amount_minor > limit)
    }

    pub fn needs_pin(&self, amount_minor: i64) -> bool {
        self.has_pin && self.pin_above.is_some_and(|limit| amount_minor > limit)
    }
}

/// Parses an optional amount field ("" = no rule).
pub fn optional_amount(raw: &str, field: &'static str) -> Result<Option<i64>, FieldError> {
    if raw.trim().is_empty() { Ok(None) } else { parse_amount(raw, field).map(Some) }
}

/// A PIN: 4 to 8 digits.
pub fn parse_pin(raw: &str) -> Result<String, FieldError> {
    let pin = raw.trim();
    if !(4..=8).contains(&pin.len()) || !pin.bytes().all(|b| b.is_ascii_digit()) {
        return Err(FieldError::new("pin", "A PIN is 4 to 8 digits."));
    }
    Ok(pin.to_string())
}

/// A top-up amount: at least the card minimum, at most 500.00.
pub fn parse_topup(raw: &str, card_minimum: i64) -> Result<i64, FieldError> {
    let amount = parse_amount(raw, "amount")?;
    if amount < card_minimum {
        return Err(FieldError::new("amount", format!("Top up at least {}.{:02}.", card_minimum / 100, card_minimum % 100)));
    }
    if amount > MAX_TOPUP_MINOR {
        return Err(FieldError::new("amount", "Top up at most 500.00 at a time."));
    }
    Ok(amount)
}

/// The spending periods a timestamp falls in (UTC): ISO week and calendar month keys.
#[cfg(feature = "ssr")]
pub fn periods(at_ms: i64) -> (String, String) {
    let date = jiff::Timestamp::from_millisecond(at_ms).unwrap_or(jiff::Timestamp::UNIX_EPOCH).to_zoned(jiff::tz::TimeZone::UTC).date();
    let week = date.iso_week_date();
    (format!("w{}-{:02}", week.year(), week.week()), format!("m{}-{:02}", date.year(), date.month()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        let rules = SpendingRules { confirm_above: Some(100), pin_above: Some(500), has_pin: true, ..Default::default() };
        assert!(!rules.needs_confirmation(100));
        assert!(rules.needs_confirmation(101));
        assert!(rules.needs_pin(501));
        assert!(!SpendingRules { has_pin: false, ..rules.clone() }.needs_pin(10_000));
    }

    #[test]
    fn pins_and_topups() {
        assert!(parse_pin("1234").is_ok());
        assert!(parse_pin("123").is_err());
        assert!(parse_pin("12a4").is_err());
        assert_eq!(parse_topup("5", 50).unwrap(), 500);
        assert!(parse_topup("0.49", 50).is_err());
        assert!(parse_topup("500.01", 50).is_err());
        assert_eq!(optional_amount("", "x").unwrap(), None);
        assert_eq!(optional_amount("2,5", "x").unwrap(), Some(250));
    }

    #[test]
    fn periods_are_iso_weeks_and_months() {
        // 2026-11-23 is a Monday in ISO week 48.
        let monday = jiff::civil::date(2026, 11, 23).to_zoned(jiff::tz::TimeZone::UTC).unwrap().timestamp().as_millisecond();
        assert_eq!(periods(monday), ("w2026-48".into(), "m2026-11".into()));
        let new_year = jiff::civil::date(2027, 1, 1).to_zoned(jiff::tz::TimeZone::UTC).unwrap().timestamp().as_millisecond();
        assert_eq!(periods(new_year), ("w2026-53".into(), "m2027-01".into()));
    }
}
