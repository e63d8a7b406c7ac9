//! The messages Clink sends, in plain text and HTML.

use crate::money::Money;

pub struct Message {
    pub subject: String,
    pub text: String,
    pub html: String,
}

use crate::ui::escape_html as escape;

fn html_page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{}</title></head>\
         <body style=\"font-family:system-ui,sans-serif;color:#111827;max-width:560px;margin:24px auto;padding:0 16px\">\
         <p style=\"font-weight:800;color:#4338ca;font-size:20px\">clink</p>{body}\
         <p style=\"color:#6b7280;font-size:13px\">Sent by Clink.</p></body></html>",
        escape(title)
    )
}

fn button(href: &str, label: &str) -> String {
    format!(
        "<p><a href=\"{}\" style=\"display:inline-block;background:#4338ca;color:#fff;padding:12px 18px;border-radius:10px;text-decoration:none;font-weight:600\">{}</a></p>",
        escape(href),
        escape(label)
    )
}

pub fn receipt(title: &str, creator: &str, amount: Money, order_id: &str, download_url: &str) -> Message {
    let paid = if amount.is_zero() { "Free".to_string() } else { amount.to_string() };
    Message {
        subject: format!("Your download: {title}"),
        text: format!(
            "Thanks for buying \"{title}\" by {creator}.\n\nDownload it here:\n{download_url}\n\n\
             Amount paid: {paid}\nOrder: {order_id}\n\nKeep this email: the link is your access."
        ),
        html: html_page(
            title,
            &format!(
                "<h1 style=\"font-size:22px\">Thanks for buying “{}”</h1><p>by {}</p>{}\
                 <p>Amount paid: <strong>{}</strong><br>Order: {}</p><p>Keep this email: the link is your access.</p>",
                escape(title),
                escape(creator),
                button(download_url, "Download"),
                escape(&paid),
                escape(order_id)
            ),
        ),
    }
}

pub fn new_sale(title: &str, amount: Money, net: Money, buyer: &str, dashboard_url: &str) -> Message {
    Message {
        subject: format!("New sale: {title} ({amount})"),
        text: format!(
            "You sold \"{title}\" for {amount} to {buyer}.\nYou earn {net} after fees.\n\nSee your sales: {dashboard_url}\n\n\
             (Turn these emails off in Settings.)"
        ),
        html: html_page(
            title,
            &format!(
                "<h1 style=\"font-size:22px\">New sale: {}</h1><p>{} from {}. You earn <strong>{}</strong> after fees.</p>{}\
                 <p style=\"color:#6b7280\">Turn these emails off in Settings.</p>",
                escape(title),
                escape(&amount.to_string()),
                escape(buyer),
                escape(&net.to_string()),
                button(dashboard_url, "See your sales")
            ),
        ),
    }
}

/// One purchase in a wallet buyer's digest receipt.
pub struct ReceiptItem<'a> {
    pub title: &'a str,
    pub creator: &'a str,
    pub amount: Money,
    pub download_url: String,
}

/// Sums, one per currency, as "€0.60 + $0.20".
fn sums_label(sums: &[Money]) -> String {
    sums.iter().map(Money::to_string).collect::<Vec<_>>().join(" + ")
}

/// How many purchases or sales a ten-minute digest covers in all, and what they come to per
/// currency. A digest lists only the first `DIGEST_LISTS` of them: a creator whose link went
/// viral, or a program buying through the API, can make thousands in ten minutes, and an email
/// of thousands of lines is one nobody reads (and a mail server may refuse).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DigestTotals {
    pub count: i64,
    /// What was paid, per currency.
    pub amounts: Vec<Money>,
    /// What the creator earns after fees, per currency.
    pub net: Vec<Money>,
}

/// The most purchases or sales a digest lists one by one.
pub const DIGEST_LISTS: usize = 25;

/// A wallet buyer's purchases of one ten-minute window, each listed (at most `DIGEST_LISTS`)
/// with its download link.
pub fn wallet_receipts(items: &[ReceiptItem<'_>], all: &DigestTotals, library_url: &str) -> Message {
    let total = sums_label(&all.amounts);
    let subject = match items {
        [one] if all.count == 1 => format!("Your download: {}", one.title),
        _ => format!("Your {} downloads ({total})", all.count),
    };
    let mut text = format!("Thanks for your purchases with your Clink wallet ({total} in all).\n\n");
    let mut html = format!(
        "<h1 style=\"font-size:22px\">Thanks for your purchase{}</h1><p>Paid from your Clink wallet: <strong>{}</strong>.</p>",
        if all.count == 1 { "" } else { "s" },
        escape(&total)
    );
    for item in items {
        text.push_str(&format!("\"{}\" by {} ({}):\n{}\n\n", item.title, item.creator, item.amount, item.download_url));
        html.push_str(&format!(
            "<p style=\"margin:18px 0 4px\"><strong>{}</strong> by {} · {}</p>{}",
            escape(item.title),
            escape(item.creator),
            escape(&item.amount.to_string()),
            button(&item.download_url, "Download")
        ));
    }
    let more = all.count - items.len() as i64;
    if more > 0 {
        text.push_str(&format!("…and {more} more, each in your library.\n\n"));
        html.push_str(&format!("<p>…and {more} more, each in <a href=\"{}\">your library</a>.</p>", escape(library_url)));
    }
    text.push_str(&format!(
        "Keep this email: the links are your access. Everything you bought is also in your library:\n{library_url}\n\n\
         (Wallet purchases made within ten minutes of each other come in one email.)"
    ));
    html.push_str(&format!(
        "<p>Keep this email: the links are your access. Everything you bought is also in <a href=\"{}\">your library</a>.</p>\
         <p style=\"color:#6b7280\">Wallet purchases made within ten minutes of each other come in one email.</p>",
        escape(library_url)
    ));
    Message { subject, text, html: html_page("Your Clink purchases", &html) }
}

/// One sale in a creator's digest of wallet sales.
pub struct SaleItem<'a> {
    pub title: &'a str,
    pub amount: Money,
    pub net: Money,
    pub buyer: String,
}

/// A creator's wallet and tab sales of one ten-minute window: the totals, and the first
/// `DIGEST_LISTS` sales one by one.
pub fn sales_digest(items: &[SaleItem<'_>], all: &DigestTotals, dashboard_url: &str) -> Message {
    let gross = sums_label(&all.amounts);
    let net = sums_label(&all.net);
    let subject = match items {
        [one] if all.count == 1 => format!("New sale: {} ({})", one.title, one.amount),
        _ => format!("{} new sales ({gross})", all.count),
    };
    let mut text =
        format!("You made {} sale{} for {gross}; you earn {net} after fees.\n\n", all.count, if all.count == 1 { "" } else { "s" });
    let mut rows = String::new();
    for item in items {
        text.push_str(&format!("- \"{}\" for {} to {}\n", item.title, item.amount, item.buyer));
        rows.push_str(&format!("<li>{} · {} · {}</li>", escape(item.title), escape(&item.amount.to_string()), escape(&item.buyer)));
    }
    let more = all.count - items.len() as i64;
    if more > 0 {
        text.push_str(&format!("…and {more} more.\n"));
        rows.push_str(&format!("<li>…and {more} more</li>"));
    }
    text.push_str(&format!(
        "\nSee your sales: {dashboard_url}\n\n(Wallet sales within ten minutes come in one email. Turn these emails off in Settings.)"
    ));
    let html = format!(
        "<h1 style=\"font-size:22px\">{}</h1><p>You earn <strong>{}</strong> after fees.</p><ul>{rows}</ul>{}\
         <p style=\"color:#6b7280\">Wallet sales within ten minutes come in one email. Turn these emails off in Settings.</p>",
        escape(&subject),
        escape(&net),
        button(dashboard_url, "See your sales")
    );
    Message { subject, text, html: html_page("New sales", &html) }
}

/// Reminder `n` (1 to 3) of an unpaid tab: what it owes, and where to pay it. The third says
/// the tab is locked, and when it will be written off.
pub fn tab_reminder(n: i64, owed: &[Money], pay_url: &str) -> Message {
    let amounts = owed.iter().map(Money::to_string).collect::<Vec<_>>().join(" + ");
    let (subject, lead) = match n {
        1 => (format!("Your Clink tab: {amounts} to pay"), "Your tab has had purchases waiting for payment for 30 days.".to_string()),
        2 => (format!("Reminder: your Clink tab of {amounts}"), "Your tab is still waiting for payment.".to_string()),
        _ => (
            format!("Final reminder: your Clink tab of {amounts} is locked"),
            "Your tab is now locked: nothing more can be bought on it until it is paid. If it is still unpaid in 7 days, \
             it will be closed for good."
                .to_string(),
        ),
    };
    Message {
        text: format!(
            "{lead}\n\nYou owe {amounts}. Pay it by card in one step:\n{pay_url}\n\nThank you for supporting the creators you bought from."
        ),
        html: html_page(
            &subject,
            &format!(
                "<h1 style=\"font-size:22px\">Your tab: {}</h1><p>{}</p>{}<p>Thank you for supporting the creators you bought from.</p>",
                escape(&amounts),
                escape(&lead),
                button(pay_url, "Pay my tab")
            ),
        ),
        subject,
    }
}

/// The receipt of a tab payment: what it paid for, and what went to the wallet beyond the tab
/// (a card minimum above what the tab owed).
pub fn tab_receipt(paid: Money, items: &[(String, Money)], to_wallet: Money, reference: &str, tab_url: &str) -> Message {
    let subject = format!("Receipt: your Clink tab, {paid}");
    let lines: Vec<String> = items.iter().map(|(title, amount)| format!("- {title}: {amount}")).collect();
    let extra = if to_wallet.is_zero() { String::new() } else { format!("\n{to_wallet} beyond the tab went to your wallet.") };
    let rows: String = items
        .iter()
        .map(|(title, amount)| {
            format!("<tr><td>{}</td><td style=\"text-align:right\">{}</td></tr>", escape(title), escape(&amount.to_string()))
        })
        .collect();
    Message {
        text: format!(
            "Thank you: your tab payment of {paid} went through.\n\nIt paid for {} purchase(s):\n{}\n{extra}\nReference: {reference}\nYour tab: {tab_url}",
            items.len(),
            lines.join("\n")
        ),
        html: html_page(
            &subject,
            &format!(
                "<h1 style=\"font-size:22px\">Tab paid: {}</h1><p>It paid for {} purchase(s):</p><table style=\"width:100%\">{rows}</table>{}\
                 <p>Reference: {}</p>{}",
                escape(&paid.to_string()),
                items.len(),
                if to_wallet.is_zero() {
                    String::new()
                } else {
                    format!("<p>{} beyond the tab went to your wallet.</p>", escape(&to_wallet.to_string()))
                },
                escape(reference),
                button(tab_url, "See your tab")
            ),
        ),
        subject,
    }
}

/// The buyer's tab was written off after the reminders went unanswered.
pub fn tab_written_off(owed: &[Money]) -> Message {
    let amounts = owed.iter().map(Money::to_string).collect::<Vec<_>>().join(" + ");
    let body = format!(
        "Your tab of {amounts} stayed unpaid after three reminders, so it has been closed. Buying on a tab is no longer \
         available to you; you can still buy with a wallet or a card."
    );
    Message {
        subject: "Your Clink tab is closed".into(),
        text: body.clone(),
        html: html_page(
            "Your Clink tab is closed",
            &format!("<h1 style=\"font-size:22px\">Your tab is closed</h1><p>{}</p>", escape(&body)),
        ),
    }
}

pub fn library_link(url: &str) -> Message {
    Message {
        subject: "Your Clink library link".into(),
        text: format!(
            "Open your purchases with this link (valid for 30 minutes, once):\n{url}\n\nIf you didn't ask for it, ignore this email."
        ),
        html: html_page(
            "Your Clink library",
            &format!(
                "<h1 style=\"font-size:22px\">Your purchases</h1><p>This link opens your library. It works once, within 30 minutes.</p>{}\
                 <p style=\"color:#6b7280\">If you didn't ask for it, ignore this email.</p>",
                button(url, "Open my library")
            ),
        ),
    }
}

pub fn confirm_signup(url: &str) -> Message {
    Message {
        subject: "Finish creating your Clink account".into(),
        text: format!(
            "Confirm your email to finish creating your Clink account (the link works once, within 24 hours):\n{url}\n\n\
             If you didn't sign up, ignore this email: no account is made without it."
        ),
        html: html_page(
            "Finish creating your Clink account",
            &format!(
                "<h1 style=\"font-size:22px\">Confirm your email</h1><p>One click and your Clink account is ready. The link works once, within 24 hours.</p>{}\
                 <p style=\"color:#6b7280\">If you didn't sign up, ignore this email: no account is made without it.</p>",
                button(url, "Confirm and start selling")
            ),
        ),
    }
}

pub fn account_exists(url: &str) -> Message {
    Message {
        subject: "You already have a Clink account".into(),
        text: format!(
            "Someone (hopefully you) tried to sign up to Clink with this email, which already has an account.\n\
             Sign in with this link (valid for 30 minutes, once):\n{url}\n\nIf it wasn't you, ignore this email: nothing changed."
        ),
        html: html_page(
            "You already have a Clink account",
            &format!(
                "<h1 style=\"font-size:22px\">You already have an account</h1><p>Someone (hopefully you) tried to sign up with this email. \
                 Sign in instead: the link works once, within 30 minutes.</p>{}\
                 <p style=\"color:#6b7280\">If it wasn't you, ignore this email: nothing changed.</p>",
                button(url, "Sign in")
            ),
        ),
    }
}

pub fn password_reset(url: &str) -> Message {
    Message {
        subject: "Reset your Clink password".into(),
        text: format!(
            "Choose a new password for your Clink account with this link (it works once, within 30 minutes):\n{url}\n\n\
             Setting it signs you out everywhere else.\nIf you didn't ask for it, ignore this email: your password stays as it is."
        ),
        html: html_page(
            "Reset your Clink password",
            &format!(
                "<h1 style=\"font-size:22px\">Choose a new password</h1><p>This link works once, within 30 minutes. \
                 Setting a new password signs you out everywhere else.</p>{}\
                 <p style=\"color:#6b7280\">If you didn't ask for it, ignore this email: your password stays as it is.</p>",
                button(url, "Choose a new password")
            ),
        ),
    }
}

/// To the new address of an email change (or the account's own, unproven one): the link that
/// proves it.
pub fn confirm_email_change(url: &str) -> Message {
    Message {
        subject: "Confirm your email for Clink".into(),
        text: format!(
            "Confirm that your Clink account should use this address (the link works once, within 24 hours):\n{url}\n\n\
             If you didn't ask for it, ignore this email: nothing changes without it."
        ),
        html: html_page(
            "Confirm your email for Clink",
            &format!(
                "<h1 style=\"font-size:22px\">Confirm your email</h1><p>Your Clink account will use this address: \
                 receipts, sale notices and sign-in links come here. The link works once, within 24 hours.</p>{}\
                 <p style=\"color:#6b7280\">If you didn't ask for it, ignore this email: nothing changes without it.</p>",
                button(url, "Use this address")
            ),
        ),
    }
}

/// To the current address when a change away from it is asked for: the owner can still stop
/// it, since the change waits for the new address's link and a password reset cancels it.
pub fn email_change_requested(new_email_masked: &str, reset_url: &str) -> Message {
    Message {
        subject: "Your Clink email is about to change".into(),
        text: format!(
            "Someone signed in to your Clink account asked to move it to {new_email_masked}. It changes once that address confirms.\n\n\
             If it wasn't you, reset your password now: that cancels the change and signs everyone else out.\n{reset_url}"
        ),
        html: html_page(
            "Your Clink email is about to change",
            &format!(
                "<h1 style=\"font-size:22px\">Your email is about to change</h1><p>Someone signed in to your Clink account asked to move it to \
                 <strong>{}</strong>. It changes once that address confirms.</p>\
                 <p>If it wasn't you, reset your password now: that cancels the change and signs everyone else out.</p>{}",
                escape(new_email_masked),
                button(reset_url, "Reset my password")
            ),
        ),
    }
}

/// To the account's address when its payout destination is set or changed: the usual sign of
/// an account takeover, told while the 72-hour hold still keeps the money in.
pub fn payout_destination_changed(masked: &str, until: &str, reset_url: &str) -> Message {
    let title = "Your Clink payouts will go somewhere new";
    Message {
        subject: title.into(),
        text: format!(
            "Your payouts now go to {masked}. To keep your money safe, nothing is sent there before {until}.\n\n\
             If it wasn't you, reset your password now: no payout goes to this destination after that until you save one again.\n{reset_url}"
        ),
        html: html_page(
            title,
            &format!(
                "<h1 style=\"font-size:22px\">Your payouts will go somewhere new</h1><p>Your payouts now go to <strong>{}</strong>. \
                 To keep your money safe, nothing is sent there before {}.</p>\
                 <p>If it wasn't you, reset your password now: no payout goes to this destination after that until you save one again.</p>{}",
                escape(masked),
                escape(until),
                button(reset_url, "Reset my password")
            ),
        ),
    }
}

/// Two-step sign-in turned on or off: the owner hears of either (turning it off is what someone
/// who took the account over would do).
pub fn two_step_changed(on: bool, reset_url: &str) -> Message {
    let (title, body) = if on {
        (
            "Two-step sign-in is now on",
            "From now on, signing in to Clink asks for a code from your authenticator app after your password or an emailed link. \
             Keep your recovery codes somewhere safe: each gets you in once if you lose your phone. \
             If it wasn't you, someone has your password: reply to this email at once, and we will turn it off and sign everyone out.",
        )
    } else {
        (
            "Two-step sign-in is now off",
            "Signing in to Clink no longer asks for a code from your authenticator app. \
             If it wasn't you, reset your password now, then turn two-step sign-in on again in Settings.",
        )
    };
    Message {
        subject: title.into(),
        text: format!("{body}\n\nReset your password: {reset_url}"),
        html: html_page(
            title,
            &format!(
                "<h1 style=\"font-size:22px\">{}</h1><p>{}</p>{}",
                escape(title),
                escape(body),
                button(reset_url, "Reset my password")
            ),
        ),
    }
}

/// A recovery code was used (to sign in, or to confirm a change): the owner hears of it, and how many are left.
pub fn recovery_code_used(left: i64, settings_url: &str) -> Message {
    let title = "A recovery code was used on your Clink account";
    let body = format!(
        "One of your recovery codes was used on your Clink account, to sign in or to confirm a change. \
         You have {left} recovery codes left. If it wasn't you, reset your password now and make new recovery codes in Settings."
    );
    Message {
        subject: title.into(),
        text: format!("{body}\n\n{settings_url}"),
        html: html_page(
            title,
            &format!(
                "<h1 style=\"font-size:22px\">{}</h1><p>{}</p>{}",
                escape(title),
                escape(&body),
                button(settings_url, "Open Settings")
            ),
        ),
    }
}

/// To the old address once an email change is done: the common sign of an account takeover,
/// so its owner hears of it where they still read mail.
/// (A password reset would now go to the new address, so this one asks for a reply instead.)
pub fn email_changed(new_email_masked: &str) -> Message {
    Message {
        subject: "Your Clink email was changed".into(),
        text: format!(
            "Your Clink account now uses {new_email_masked} instead of this address.\n\n\
             If you didn't do this, reply to this email at once: we can give the account back to this address."
        ),
        html: html_page(
            "Your Clink email was changed",
            &format!(
                "<h1 style=\"font-size:22px\">Your email was changed</h1><p>Your Clink account now uses <strong>{}</strong> instead of this address.</p>\
                 <p>If you didn't do this, reply to this email at once: we can give the account back to this address.</p>",
                escape(new_email_masked),
            ),
        ),
    }
}

pub fn login_link(url: &str) -> Message {
    Message {
        subject: "Your Clink sign-in link".into(),
        text: format!(
            "Sign in to Clink with this link (valid for 30 minutes, once):\n{url}\n\nNo account yet? This link creates one.\n\
             If you didn't ask for it, ignore this email."
        ),
        html: html_page(
            "Sign in to Clink",
            &format!(
                "<h1 style=\"font-size:22px\">Sign in to Clink</h1><p>This link signs you in (and creates your account if you have none). It works once, within 30 minutes.</p>{}\
                 <p style=\"color:#6b7280\">If you didn't ask for it, ignore this email.</p>",
                button(url, "Sign in")
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Currency;

    #[test]
    fn tab_receipts_list_what_was_paid_and_escape_titles() {
        let eur = |minor| Money::new(minor, Currency::Eur);
        let m = tab_receipt(eur(50), &[("<b>Zine</b>".into(), eur(30))], eur(20), "topup_1", "https://c.example/wallet");
        assert!(m.text.contains("- <b>Zine</b>: €0.30"), "{}", m.text);
        assert!(m.text.contains("€0.20 beyond the tab went to your wallet"), "{}", m.text);
        assert!(m.html.contains("&lt;b&gt;Zine&lt;/b&gt;") && !m.html.contains("<b>Zine"), "{}", m.html);
        assert_eq!(m.subject, "Receipt: your Clink tab, €0.50");
        let reminder = tab_reminder(3, &[eur(60)], "https://c.example/wallet#tab-h");
        assert!(reminder.subject.starts_with("Final reminder") && reminder.text.contains("locked"), "{}", reminder.text);
    }

    #[test]
    fn receipts_escape_and_carry_the_link() {
        let m = receipt("<b>Zine</b>", "Ann & Co", Money::new(499, Currency::Eur), "o1", "https://c.example/d/tok");
        assert!(m.text.contains("https://c.example/d/tok"));
        assert!(m.html.contains("&lt;b&gt;Zine&lt;/b&gt;"));
        assert!(m.html.contains("Ann &amp; Co"));
        assert!(m.text.contains("€4.99"));
        assert_eq!(m.subject, "Your download: <b>Zine</b>");
    }

    #[test]
    fn digests_list_every_purchase_and_total_per_currency() {
        let items = [
            ReceiptItem {
                title: "<i>A</i>",
                creator: "Ann",
                amount: Money::new(20, Currency::Eur),
                download_url: "https://c.example/d/a".into(),
            },
            ReceiptItem { title: "B", creator: "Bo", amount: Money::new(30, Currency::Eur), download_url: "https://c.example/d/b".into() },
            ReceiptItem { title: "C", creator: "Cy", amount: Money::new(5, Currency::Usd), download_url: "https://c.example/d/c".into() },
        ];
        let all = DigestTotals {
            count: 3,
            amounts: vec![Money::new(50, Currency::Eur), Money::new(5, Currency::Usd)],
            net: vec![Money::new(45, Currency::Eur), Money::new(4, Currency::Usd)],
        };
        let m = wallet_receipts(&items, &all, "https://c.example/library");
        assert_eq!(m.subject, "Your 3 downloads (€0.50 + $0.05)");
        assert!(!m.text.contains("more"), "every purchase is listed");
        for url in ["https://c.example/d/a", "https://c.example/d/b", "https://c.example/d/c"] {
            assert!(m.text.contains(url) && m.html.contains(url), "{url} missing");
        }
        assert!(m.html.contains("&lt;i&gt;A&lt;/i&gt;"));
        let one_total = DigestTotals { count: 1, amounts: vec![Money::new(30, Currency::Eur)], net: vec![Money::new(27, Currency::Eur)] };
        let one = wallet_receipts(&items[1..2], &one_total, "https://c.example/library");
        assert_eq!(one.subject, "Your download: B");
        // A window of 4,000 purchases lists the first ones, and says how many more there are.
        let many = DigestTotals { count: 4_000, amounts: vec![Money::new(20_000, Currency::Eur)], net: vec![] };
        let m = wallet_receipts(&items[..2], &many, "https://c.example/library");
        assert_eq!(m.subject, "Your 4000 downloads (€200.00)");
        assert!(m.text.contains("…and 3998 more, each in your library."), "{}", m.text);

        let sales = [
            SaleItem { title: "A", amount: Money::new(20, Currency::Eur), net: Money::new(18, Currency::Eur), buyer: "a***@x.org".into() },
            SaleItem { title: "A", amount: Money::new(20, Currency::Eur), net: Money::new(18, Currency::Eur), buyer: "b***@x.org".into() },
        ];
        let all = DigestTotals { count: 2, amounts: vec![Money::new(40, Currency::Eur)], net: vec![Money::new(36, Currency::Eur)] };
        let d = sales_digest(&sales, &all, "https://c.example/dashboard/sales");
        assert_eq!(d.subject, "2 new sales (€0.40)");
        assert!(d.text.contains("you earn €0.36 after fees"));
        assert!(!d.text.contains("more."));
        let viral = DigestTotals {
            count: 12_000,
            amounts: vec![Money::new(240_000, Currency::Eur)],
            net: vec![Money::new(216_000, Currency::Eur)],
        };
        let d = sales_digest(&sales, &viral, "https://c.example/dashboard/sales");
        assert_eq!(d.subject, "12000 new sales (€2400.00)");
        assert!(d.text.contains("You made 12000 sales for €2400.00; you earn €2160.00 after fees."), "{}", d.text);
        assert!(d.text.contains("…and 11998 more.") && d.html.contains("<li>…and 11998 more</li>"), "{}", d.text);
    }

    #[test]
    fn free_receipts_say_free() {
        let m = receipt("Zine", "Ann", Money::zero(Currency::Usd), "o1", "u");
        assert!(m.text.contains("Amount paid: Free"));
    }
}
