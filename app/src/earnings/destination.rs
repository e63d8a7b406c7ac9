//! Where a creator's payouts go, and the hold that follows setting it: the common defence
//! against an account takeover that redirects the money. Setting or changing the destination
//! holds payouts for [`HOLD_MS`] and emails the account's address.

use crate::{
    accounts::domain::{Email, mask_email},
    db::{Db, Tx},
    error::FieldError,
    on_db, on_tx,
};

/// How long payouts wait after the destination is set or changed.
pub const HOLD_MS: i64 = 72 * 3_600_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// A bank account: the IBAN in its electronic form (no spaces), and whose it is.
    Iban {
        iban: String,
        holder: String,
    },
    PayPal {
        email: String,
    },
}

impl Destination {
    /// A bank account, checked as banks do: the country's format and the check digits
    /// (`iban_validate`), so a typo is caught here rather than by a bounced transfer.
    pub fn iban(iban: &str, holder: &str) -> Result<Destination, FieldError> {
        use iban::{ParseBaseIbanError, ParseIbanError};
        // Banks print IBANs in capitals, grouped by four; people paste them every which way.
        let parsed: iban::Iban = iban.trim().to_ascii_uppercase().parse().map_err(|e| {
            FieldError::new(
                "iban",
                match e {
                    ParseIbanError::InvalidBaseIban { source: ParseBaseIbanError::InvalidChecksum } | ParseIbanError::InvalidBban(_) => {
                        "That IBAN has a typo: its digits don't add up. Copy it from your bank's app or a statement."
                    }
                    ParseIbanError::UnknownCountry(_) => "That IBAN's country code (its first two letters) isn't one banks use.",
                    ParseIbanError::InvalidBaseIban { .. } => {
                        "That isn't an IBAN. It starts with two letters for the country, e.g. DE89 3704 0044 0532 0130 00."
                    }
                },
            )
        })?;
        let holder = holder.trim();
        let chars = holder.chars().count();
        if !(2..=70).contains(&chars) || holder.chars().any(char::is_control) {
            return Err(FieldError::new("holder_name", "Give the account holder's name as your bank has it (2 to 70 characters)."));
        }
        Ok(Destination::Iban { iban: iban::IbanLike::electronic_str(&parsed).to_string(), holder: holder.to_string() })
    }

    pub fn paypal(email: &str) -> Result<Destination, FieldError> {
        let email = Email::parse(email).map_err(|e| FieldError::new("paypal_email", e.message))?;
        Ok(Destination::PayPal { email: email.as_str().to_string() })
    }

    /// In full, for whoever sends the money (`clink payout list`) and the payout's record.
    pub fn full(&self) -> String {
        match self {
            Destination::Iban { iban, holder } => format!("IBAN {} ({holder})", grouped(iban)),
            Destination::PayPal { email } => format!("PayPal {email}"),
        }
    }

    /// As the creator's pages and emails show it: enough to recognise, not to copy.
    pub fn masked(&self) -> String {
        match self {
            Destination::Iban { iban, holder } => {
                // An electronic IBAN is ASCII and at least 15 characters long.
                format!("IBAN {} •••• {} · {holder}", &iban[..4], &iban[iban.len().saturating_sub(4)..])
            }
            Destination::PayPal { email } => format!("PayPal {}", mask_email(email)),
        }
    }
}

/// "DE89 3704 0044 0532 0130 00", as printed on statements.
fn grouped(iban: &str) -> String {
    iban.as_bytes().chunks(4).map(String::from_utf8_lossy).collect::<Vec<_>>().join(" ")
}

/// A creator's saved destination.
#[derive(Debug, Clone)]
pub struct Saved {
    pub destination: Destination,
    /// The account's session epoch when it was saved: a password change or reset since (the
    /// owner taking the account back) stops payouts to it until it is saved again.
    pub session_epoch: i64,
    /// No payout leaves before this.
    pub hold_until: i64,
}

#[derive(sqlx::FromRow)]
struct Row {
    kind: String,
    iban: Option<String>,
    holder_name: Option<String>,
    paypal_email: Option<String>,
    session_epoch: i64,
    hold_until: i64,
}

pub async fn load(db: &Db, account_id: &str) -> Result<Option<Saved>, sqlx::Error> {
    let sql = "select kind, iban, holder_name, paypal_email, session_epoch, hold_until from payout_destination where account_id = $1";
    let row = on_db!(db, pool => sqlx::query_as::<_, Row>(sql).bind(account_id).fetch_optional(pool).await)?;
    Ok(row.and_then(|r| {
        let destination = match (r.kind.as_str(), r.iban, r.holder_name, r.paypal_email) {
            ("iban", Some(iban), Some(holder), _) => Destination::Iban { iban, holder },
            ("paypal", _, _, Some(email)) => Destination::PayPal { email },
            _ => return None,
        };
        Some(Saved { destination, session_epoch: r.session_epoch, hold_until: r.hold_until })
    }))
}

pub async fn save(
    tx: &mut Tx,
    account_id: &str,
    destination: &Destination,
    session_epoch: i64,
    hold_until: i64,
    now: i64,
) -> Result<(), sqlx::Error> {
    let (kind, iban, holder, paypal) = match destination {
        Destination::Iban { iban, holder } => ("iban", Some(iban.as_str()), Some(holder.as_str()), None),
        Destination::PayPal { email } => ("paypal", None, None, Some(email.as_str())),
    };
    on_tx!(tx, conn => sqlx::query(
        "insert into payout_destination (account_id, kind, iban, holder_name, paypal_email, session_epoch, hold_until, changed_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8)
         on conflict (account_id) do update set kind = excluded.kind, iban = excluded.iban, holder_name = excluded.holder_name,
             paypal_email = excluded.paypal_email, session_epoch = excluded.session_epoch, hold_until = excluded.hold_until,
             changed_at = excluded.changed_at")
        .bind(account_id).bind(kind).bind(iban).bind(holder).bind(paypal).bind(session_epoch).bind(hold_until).bind(now)
        .execute(conn).await.map(|_| ()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ibans_are_checked_like_banks_do() {
        let ok = Destination::iban(" de89 3704 0044 0532 0130 00 ", "Ann Maker").unwrap();
        assert_eq!(ok, Destination::Iban { iban: "DE89370400440532013000".into(), holder: "Ann Maker".into() });
        assert_eq!(ok.full(), "IBAN DE89 3704 0044 0532 0130 00 (Ann Maker)");
        assert_eq!(ok.masked(), "IBAN DE89 •••• 3000 · Ann Maker");
        for (bad, says) in [
            ("DE88 3704 0044 0532 0130 00", "typo"),
            ("DE89 3704 0044 0532 0130", "typo"),
            ("XX89 3704 0044 0532 0130 00", "typo"),
            ("hello", "isn't an IBAN"),
            ("", "isn't an IBAN"),
        ] {
            let err = Destination::iban(bad, "Ann Maker").unwrap_err();
            assert_eq!(err.field, "iban", "{bad}");
            assert!(err.message.contains(says), "{bad}: {}", err.message);
        }
        for holder in ["", "A", "\u{7}Ann"] {
            assert_eq!(Destination::iban("DE89370400440532013000", holder).unwrap_err().field, "holder_name");
        }
        assert_eq!(Destination::paypal("x").unwrap_err().field, "paypal_email");
        assert_eq!(Destination::paypal("Ann@Example.com").unwrap().masked(), format!("PayPal {}", mask_email("ann@example.com")));
    }
}
