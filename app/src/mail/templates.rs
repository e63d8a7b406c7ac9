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
    fn receipts_escape_and_carry_the_link() {
        let m = receipt("<b>Zine</b>", "Ann & Co", Money::new(499, Currency::Eur), "o1", "https://c.example/d/tok");
        assert!(m.text.contains("https://c.example/d/tok"));
        assert!(m.html.contains("&lt;b&gt;Zine&lt;/b&gt;"));
        assert!(m.html.contains("Ann &amp; Co"));
        assert!(m.text.contains("€4.99"));
        assert_eq!(m.subject, "Your download: <b>Zine</b>");
    }

    #[test]
    fn free_receipts_say_free() {
        let m = receipt("Zine", "Ann", Money::zero(Currency::Usd), "o1", "u");
        assert!(m.text.contains("Amount paid: Free"));
    }
}
