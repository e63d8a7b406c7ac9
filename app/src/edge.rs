//! Helpers for the edge of the app: what server functions and pages use to reach the state,
//! the session and the signed-in account.

use std::net::{IpAddr, Ipv4Addr};

use axum::Extension;
use leptos::prelude::use_context;
use tower_sessions::Session;

use crate::{
    accounts::{
        session,
        store::{self, AccountRow},
    },
    error::{AppError, internal},
    state::AppState,
};

/// The Content-Security-Policy nonce of the response being rendered (set by the server's
/// security-headers middleware on every request).
#[derive(Debug, Clone)]
pub struct CspNonce(pub String);

/// Hands the request's CSP nonce to Leptos, which puts it on the inline scripts it writes.
pub fn provide_csp_nonce() {
    if let Some(parts) = use_context::<axum::http::request::Parts>()
        && let Some(CspNonce(nonce)) = parts.extensions.get::<CspNonce>()
    {
        leptos::prelude::provide_context(leptos::nonce::Nonce::from_value(nonce.clone()));
    }
}

/// The client's address as the app trusts it (the socket peer, or the proxy's
/// `X-Forwarded-For` when configured). Set by the server's middleware on every request.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

pub fn app_state() -> Result<AppState, AppError> {
    use_context::<AppState>().ok_or_else(|| internal("app state missing from context", &"no AppState"))
}

pub async fn current_session() -> Result<Session, AppError> {
    leptos_axum::extract::<Session>().await.map_err(|e| internal("session layer missing", &e))
}

pub async fn client_ip() -> IpAddr {
    leptos_axum::extract::<Extension<ClientIp>>().await.map(|Extension(ip)| ip.0).unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

/// The browser's `User-Agent` of the request being served, or "" (it names the device in the
/// signed-in devices list).
pub fn user_agent() -> String {
    use_context::<axum::http::request::Parts>().map(|parts| user_agent_of(&parts.headers).to_string()).unwrap_or_default()
}

/// The step-up check for a sensitive change, with the code its form carried (`two_step_code`).
pub fn step_up<'a>(state: &'a AppState, code: &'a str) -> crate::accounts::two_step::StepUp<'a> {
    crate::accounts::two_step::StepUp { limits: &state.limits, key: &state.secret, code }
}

/// The `Accept-Language` of the request being served, or "" (it picks how numbers are written).
pub fn accept_language() -> String {
    use_context::<axum::http::request::Parts>().map(|parts| accept_language_of(&parts.headers).to_string()).unwrap_or_default()
}

/// A request's `Accept-Language`, or "".
pub fn accept_language_of(headers: &axum::http::HeaderMap) -> &str {
    headers.get(axum::http::header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()).unwrap_or_default()
}

/// A request's `User-Agent`, or "".
pub fn user_agent_of(headers: &axum::http::HeaderMap) -> &str {
    headers.get(axum::http::header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or_default()
}

/// The signed-in account, or `None` for a visitor.
pub async fn signed_in_account() -> Result<Option<AccountRow>, AppError> {
    let session = current_session().await?;
    let state = app_state()?;
    let Some(account_id) = session::signed_in_account_id(&session, &state.db).await else {
        return Ok(None);
    };
    store::find_by_id(&state.db, &account_id).await.map_err(|e| internal("loading signed-in account", &e))
}

/// The signed-in account, or `Unauthorized`.
pub async fn require_account() -> Result<AccountRow, AppError> {
    signed_in_account().await?.ok_or(AppError::Unauthorized)
}

/// Where a redirect may go: `next` if it is a path on this site (see `local_path`), else
/// `default`. Every redirect to a place a request named goes through here.
pub fn safe_next(next: Option<&str>, default: &str) -> String {
    next.and_then(local_path).unwrap_or_else(|| default.to_string())
}

/// `raw` as a same-origin path, or `None`. Browsers read a URL after removing tabs and line
/// breaks anywhere, trimming leading and trailing control characters and spaces, and taking
/// `\` for `/`; so `/\t/evil.example` and `/\\evil.example` both mean `//evil.example`, another
/// host. The path is checked after the same normalisation, and the normalised form is what is
/// returned, so what was checked is what the browser follows. Anything that isn't visible
/// ASCII is percent-encoded, so the result is always a valid `Location` header.
pub fn local_path(raw: &str) -> Option<String> {
    let trimmed = raw.trim_matches(|c: char| c <= ' ');
    let normalised: String =
        trimmed.chars().filter(|c| !matches!(c, '\t' | '\n' | '\r')).map(|c| if c == '\\' { '/' } else { c }).collect();
    if !normalised.starts_with('/') || normalised.starts_with("//") || normalised.chars().any(char::is_control) {
        return None;
    }
    let mut out = String::with_capacity(normalised.len());
    for c in normalised.chars() {
        if c.is_ascii_graphic() {
            out.push(c);
        } else {
            let mut buf = [0u8; 4];
            for byte in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{byte:02X}"));
            }
        }
    }
    Some(out)
}

/// A server function's redirect to a path built from request data: never another origin, never
/// an invalid header (leptos_axum panics on one).
pub fn redirect(path: &str) {
    leptos_axum::redirect(&safe_next(Some(path), "/"));
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_paths_must_stay_on_site() {
        assert_eq!(safe_next(Some("/l/abc"), "/dashboard"), "/l/abc");
        assert_eq!(safe_next(Some("/l/abc?x=1#y"), "/dashboard"), "/l/abc?x=1#y");
        for hostile in [
            "//evil.example",
            "https://evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            " //evil.example",
            "\t//evil.example",
            "/\r\n/evil.example",
            "javascript:alert(1)",
            "",
            "l/abc",
            "/x\u{0}y",
            "/x\u{7f}y",
            "\u{1}//evil.example",
        ] {
            assert_eq!(safe_next(Some(hostile), "/dashboard"), "/dashboard", "{hostile:?}");
        }
        assert_eq!(safe_next(Some("/café?q=a b"), "/"), "/caf%C3%A9?q=a%20b");
        assert_eq!(safe_next(None, "/dashboard"), "/dashboard");
    }

    proptest::proptest! {
        /// Whatever a request says, the redirect is a valid header and, read by a real URL
        /// parser (the WHATWG rules browsers follow), stays on this site.
        #[test]
        fn no_input_leaves_the_site(raw in "\\PC*|[/\\\\\t\n\r ]{0,4}[a-z.:@%/\\\\\t]{0,20}") {
            if let Some(path) = super::local_path(&raw) {
                proptest::prop_assert!(axum::http::HeaderValue::from_str(&path).is_ok(), "{path:?}");
                let base = url::Url::parse("https://clink.example/a/b").unwrap();
                let joined = base.join(&path).unwrap();
                proptest::prop_assert_eq!(joined.host_str(), Some("clink.example"), "{:?} -> {}", raw, joined);
                proptest::prop_assert_eq!(joined.scheme(), "https");
            }
        }
    }
}
