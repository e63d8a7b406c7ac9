//! Money: integer minor units with a currency. Never floats. Amounts are parsed once at the edge
//! (from "4.99" or "4,99") and formatted only in views.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::FieldError;

/// The currencies Clink sells in. All have two decimal places.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Currency {
    #[serde(rename = "EUR")]
    Eur,
    #[serde(rename = "USD")]
    Usd,
    #[serde(rename = "GBP")]
    Gbp,
}

impl Currency {
    pub const ALL: [Currency; 3] = [Currency::Eur, Currency::Usd, Currency::Gbp];

    pub fn code(self) -> &'static str {
        match self {
            Currency::Eur => "EUR",
            Currency::Usd => "USD",
            Currency::Gbp => "GBP",
        }
    }

    pub fn symbol(self) -> &'static str {
        match self {
            Currency::Eur => "€",
            Currency::Usd => "$",
            Currency::Gbp => "£",
        }
    }

    /// The smallest amount card payments accept (Stripe's minimum charge). Cheaper works can
    /// only be bought from a prepaid wallet.
    pub fn card_minimum(self) -> i64 {
        match self {
            Currency::Eur | Currency::Usd => 50,
            Currency::Gbp => 30,
        }
    }

    /// The currency whose ISO code is exactly `code` (as stored).
    pub fn from_code(code: &str) -> Option<Currency> {
        Currency::ALL.into_iter().find(|c| c.code() == code)
    }

    pub fn parse(raw: &str) -> Result<Currency, FieldError> {
        match raw.trim().to_ascii_uppercase().as_str() {
            "EUR" => Ok(Currency::Eur),
            "USD" => Ok(Currency::Usd),
            "GBP" => Ok(Currency::Gbp),
            _ => Err(FieldError::new("currency", "Choose EUR, USD or GBP.")),
        }
    }
}

#[cfg(feature = "ssr")]
crate::text_column!(Currency, "currency", Currency::code, Currency::from_code);

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// An amount of money: minor units (cents, pence) and a currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    pub minor: i64,
    pub currency: Currency,
}

impl Money {
    pub const fn new(minor: i64, currency: Currency) -> Money {
        Money { minor, currency }
    }

    pub fn zero(currency: Currency) -> Money {
        Money { minor: 0, currency }
    }

    pub fn is_zero(&self) -> bool {
        self.minor == 0
    }

    /// "4.99": the decimal amount without symbol, as Open Graph's `product:price:amount` and CSV
    /// exports want it.
    pub fn decimal(&self) -> String {
        let sign = if self.minor < 0 { "-" } else { "" };
        let abs = self.minor.unsigned_abs();
        format!("{sign}{}.{:02}", abs / 100, abs % 100)
    }

    /// Below the card minimum: payable from a wallet only.
    pub fn below_card_minimum(&self) -> bool {
        self.minor > 0 && self.minor < self.currency.card_minimum()
    }

    pub fn checked_add(self, other: Money) -> Option<Money> {
        (self.currency == other.currency).then(|| self.minor.checked_add(other.minor).map(|m| Money::new(m, self.currency))).flatten()
    }
}

impl fmt::Display for Money {
    /// "€4.99", "-$0.20".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.minor < 0 { "-" } else { "" };
        let abs = self.minor.unsigned_abs();
        write!(f, "{sign}{}{}.{:02}", self.currency.symbol(), abs / 100, abs % 100)
    }
}

/// The largest amount anything may cost: 10,000.00.
pub const MAX_AMOUNT_MINOR: i64 = 1_000_000;

/// Parses a decimal amount typed by a person: "4.99", "4,99", "5", "0.5". Rejects signs,
/// exponents, NaN, more than two decimals, thousands separators and anything above 10,000.00.
/// `field` names the input for the error message.
pub fn parse_amount(raw: &str, field: &'static str) -> Result<i64, FieldError> {
    let s = raw.trim();
    let err = |msg: &str| FieldError::new(field, msg.to_string());
    if s.is_empty() {
        return Err(err("Enter an amount, like 4.99."));
    }
    if s.starts_with('-') {
        return Err(err("The amount can't be negative."));
    }
    let (whole, frac) = match s.find(['.', ',']) {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => (s, ""),
    };
    let digits_only = |p: &str| p.chars().all(|c| c.is_ascii_digit());
    if !digits_only(whole) || !digits_only(frac) || (whole.is_empty() && frac.is_empty()) {
        return Err(err("Enter a plain amount with digits and at most one decimal point, like 4.99."));
    }
    if frac.len() > 2 {
        return Err(err("Use at most two decimals."));
    }
    // Bound the length before converting, so "99999999999999999999" can't overflow.
    let whole = whole.trim_start_matches('0');
    if whole.len() > 7 {
        return Err(err("That amount is too large; the maximum is 10,000.00."));
    }
    let whole: i64 = if whole.is_empty() { 0 } else { whole.parse().map_err(|_| err("Enter a valid amount."))? };
    let frac: i64 = match frac.len() {
        0 => 0,
        1 => frac.parse::<i64>().unwrap_or(0) * 10,
        _ => frac.parse().unwrap_or(0),
    };
    let minor = whole * 100 + frac;
    if minor > MAX_AMOUNT_MINOR {
        return Err(err("That amount is too large; the maximum is 10,000.00."));
    }
    Ok(minor)
}

/// Formats minor units for an input's value ("4.99"), the inverse of `parse_amount`.
pub fn amount_input(minor: i64) -> String {
    format!("{}.{:02}", minor / 100, minor % 100)
}

/// How numbers are written for a reader: the digit-group separator, the decimal mark, the
/// grouping (Indian: 12,34,567) and whether the currency symbol follows the amount. Chosen on
/// the server from the reader's language (`for_language`, with num-format's CLDR data) or
/// their setting; a plain value, so that views anywhere can apply it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NumberStyle {
    pub group: String,
    pub decimal: String,
    pub indian_grouping: bool,
    pub symbol_after: bool,
}

impl Default for NumberStyle {
    /// English: "€12,345.60".
    fn default() -> Self {
        NumberStyle { group: ",".into(), decimal: ".".into(), indian_grouping: false, symbol_after: false }
    }
}

impl NumberStyle {
    /// A count: "12,345" (en), "12.345" (de), "12 345" (fr).
    pub fn count(&self, n: i64) -> String {
        let sign = if n < 0 { "-" } else { "" };
        format!("{sign}{}", self.grouped(n.unsigned_abs()))
    }

    /// An amount: "€12,345.60" (en), "12.345,60 €" (de), "-€0.20".
    pub fn money(&self, m: Money) -> String {
        let sign = if m.minor < 0 { "-" } else { "" };
        let abs = m.minor.unsigned_abs();
        let digits = format!("{}{}{:02}", self.grouped(abs / 100), self.decimal, abs % 100);
        if self.symbol_after {
            format!("{sign}{digits}\u{a0}{}", m.currency.symbol())
        } else {
            format!("{sign}{}{digits}", m.currency.symbol())
        }
    }

    /// A share given in basis points, to one decimal: "12.3%", "12,3%".
    pub fn percent(&self, bps: i64) -> String {
        format!("{}{}{}%", bps / 100, self.decimal, (bps % 100) / 10)
    }

    fn grouped(&self, n: u64) -> String {
        let digits = n.to_string();
        let mut groups: Vec<&str> = Vec::new();
        let mut end = digits.len();
        let mut size = 3;
        while end > size {
            groups.push(&digits[end - size..end]);
            end -= size;
            if self.indian_grouping {
                size = 2;
            }
        }
        groups.push(&digits[..end]);
        groups.reverse();
        groups.join(&self.group)
    }
}

#[cfg(feature = "ssr")]
impl NumberStyle {
    /// The style of a language tag ("de", "fr-CA", "en-IN"), if CLDR knows it: the tag, else
    /// its language alone.
    pub fn for_language(tag: &str) -> Option<NumberStyle> {
        // Tags are case-insensitive; CLDR's names are "en-IN".
        let mut parts = tag.trim().split(['-', '_']);
        let language = parts.next().unwrap_or_default().to_ascii_lowercase();
        let tag = match parts.next() {
            Some(region) => format!("{language}-{}", region.to_ascii_uppercase()),
            None => language.clone(),
        };
        let locale = num_format::Locale::from_name(&tag).or_else(|_| num_format::Locale::from_name(&language)).ok()?;
        let decimal = locale.decimal().to_string();
        Some(NumberStyle {
            group: locale.separator().to_string(),
            indian_grouping: matches!(locale.grouping(), num_format::Grouping::Indian),
            // Where the decimal mark is a comma the symbol mostly follows ("12,50 €"), except
            // in the languages CLDR writes it first for.
            symbol_after: decimal != "." && !SYMBOL_FIRST.contains(&tag.as_str()) && !SYMBOL_FIRST.contains(&language.as_str()),
            decimal,
        })
    }

    /// The style for the first language of an `Accept-Language` header that CLDR knows, in
    /// the header's order of preference; English when none. Entries with a malformed weight
    /// are dropped first (the parser's sort needs every weight to be a number), and only the
    /// first few count.
    pub fn from_accept_language(header: &str) -> NumberStyle {
        let sane: Vec<&str> = header
            .split(',')
            .take(16)
            .filter(|entry| {
                entry.split(';').skip(1).all(|param| match param.trim().strip_prefix("q=") {
                    Some(q) => q.trim().parse::<f32>().is_ok_and(|q| (0.0..=1.0).contains(&q)),
                    None => true,
                })
            })
            .collect();
        accept_language::parse(&sane.join(",")).iter().find_map(|tag| NumberStyle::for_language(tag)).unwrap_or_default()
    }
}

/// Languages with a decimal comma that write the currency symbol first ("€ 1.234,56").
#[cfg(feature = "ssr")]
const SYMBOL_FIRST: [&str; 5] = ["nl", "de-AT", "pt-BR", "tr", "id"];

/// The number formats a person can choose in Settings, as `(language tag, example)`; none
/// chosen means the browser's language.
pub const NUMBER_FORMATS: [(&str, &str); 5] =
    [("en", "1,234.56"), ("de", "1.234,56"), ("fr", "1\u{202f}234,56"), ("de-CH", "1\u{2019}234.56"), ("en-IN", "12,34,567.89")];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_amounts_are_written_as_the_reader_writes_numbers() {
        let en = NumberStyle::default();
        assert_eq!(
            (en.count(0), en.count(999), en.count(1_234_567), en.count(-1_000)),
            ("0".into(), "999".into(), "1,234,567".into(), "-1,000".into())
        );
        assert_eq!(en.money(Money::new(123_456_789, Currency::Eur)), "€1,234,567.89");
        assert_eq!(en.money(Money::new(-20, Currency::Usd)), "-$0.20");
        let de = NumberStyle::for_language("de").unwrap();
        assert_eq!((de.count(1_234_567), de.money(Money::new(123_450, Currency::Eur))), ("1.234.567".into(), "1.234,50\u{a0}€".into()));
        let fr = NumberStyle::for_language("fr-FR").unwrap();
        assert_eq!(fr.decimal, ",");
        assert!(fr.count(12_345).starts_with("12") && fr.count(12_345).ends_with("345") && fr.count(12_345).chars().count() == 6);
        let india = NumberStyle::for_language("en-IN").unwrap();
        assert_eq!(india.count(1_234_567), "12,34,567");
        assert_eq!(NumberStyle::for_language("de-CH").unwrap().count(1_234), "1\u{2019}234");
        // The header's order of preference, past languages nobody knows.
        assert_eq!(NumberStyle::from_accept_language("zz, de-DE;q=0.9, en;q=0.8"), de);
        assert_eq!(NumberStyle::from_accept_language("en;q=0.5, de;q=0.9"), de);
        assert_eq!(NumberStyle::from_accept_language(""), en);
        assert_eq!(NumberStyle::from_accept_language("zz-ZZ, \u{0}garbage;;q=x"), en);
        assert_eq!(NumberStyle::from_accept_language(&"de;q=NaN, fr;q=2, ".repeat(40)), en);
        assert_eq!(NumberStyle::for_language("EN-in").unwrap().count(1_234_567), "12,34,567");
        assert_eq!(NumberStyle::for_language("nl").unwrap().money(Money::new(123_450, Currency::Eur)), "€1.234,50");
        // A percentage uses the decimal mark too.
        assert_eq!((en.percent(1234), de.percent(1234)), ("12.3%".to_string(), "12,3%".to_string()));
        // Every format offered in Settings is one CLDR knows.
        for (tag, example) in NUMBER_FORMATS {
            let style = NumberStyle::for_language(tag).unwrap_or_else(|| panic!("{tag}"));
            assert_eq!(
                format!(
                    "{}{}{}",
                    style.count(if tag == "en-IN" { 1_234_567 } else { 1_234 }),
                    style.decimal,
                    if tag == "en-IN" { "89" } else { "56" }
                ),
                example
            );
        }
    }

    #[test]
    fn parses_the_ways_people_type_amounts() {
        for (raw, minor) in [
            ("4.99", 499),
            ("4,99", 499),
            ("5", 500),
            ("0.5", 50),
            ("0,05", 5),
            (" 12.3 ", 1230),
            ("0", 0),
            ("10000", 1_000_000),
            ("10000.00", 1_000_000),
            ("007.10", 710),
            (".5", 50),
        ] {
            assert_eq!(parse_amount(raw, "price").unwrap(), minor, "{raw}");
        }
    }

    #[test]
    fn rejects_what_is_not_an_amount() {
        for raw in [
            "",
            "-1",
            "-0.01",
            "NaN",
            "nan",
            "inf",
            "1e3",
            "4.999",
            "1,000.00",
            "1.000,00",
            "4.9.9",
            "€4",
            "4 99",
            "10000.01",
            "99999999999999999999",
            "0x10",
            "+5",
            ".",
            ",",
        ] {
            assert!(parse_amount(raw, "price").is_err(), "{raw:?} should be rejected");
        }
    }

    #[test]
    fn errors_name_the_field() {
        let err = parse_amount("abc", "suggested").unwrap_err();
        assert_eq!(err.field, "suggested");
    }

    #[test]
    fn formats_for_people_and_machines() {
        assert_eq!(Money::new(499, Currency::Eur).to_string(), "€4.99");
        assert_eq!(Money::new(5, Currency::Gbp).to_string(), "£0.05");
        assert_eq!(Money::new(-20, Currency::Usd).to_string(), "-$0.20");
        assert_eq!(Money::new(100_000, Currency::Usd).decimal(), "1000.00");
        assert_eq!(amount_input(1230), "12.30");
    }

    #[test]
    fn card_minimums_per_currency() {
        assert!(Money::new(49, Currency::Eur).below_card_minimum());
        assert!(!Money::new(50, Currency::Usd).below_card_minimum());
        assert!(!Money::new(30, Currency::Gbp).below_card_minimum());
        assert!(Money::new(29, Currency::Gbp).below_card_minimum());
        assert!(!Money::zero(Currency::Eur).below_card_minimum());
    }

    #[test]
    fn currencies_parse_strictly() {
        assert_eq!(Currency::parse("eur").unwrap(), Currency::Eur);
        assert!(Currency::parse("EURO").is_err());
        assert!(Currency::parse("").is_err());
    }

    #[test]
    fn adding_requires_one_currency() {
        let a = Money::new(100, Currency::Eur);
        assert_eq!(a.checked_add(Money::new(5, Currency::Eur)), Some(Money::new(105, Currency::Eur)));
        assert_eq!(a.checked_add(Money::new(5, Currency::Usd)), None);
        assert_eq!(Money::new(i64::MAX, Currency::Eur).checked_add(Money::new(1, Currency::Eur)), None);
    }
}
