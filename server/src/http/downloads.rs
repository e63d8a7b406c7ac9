//! File delivery: streamed through the app as attachments (RFC 6266 file names), with
//! `nosniff`, resumable `Range` requests and constant memory; plus the buyer library's
//! magic-link routes and the dev mail outbox.

use std::ops::Range;

use app::{
    accounts::session as account_session,
    checkout::store as orders,
    db,
    delivery::{
        api::LIBRARY_EMAIL_KEY,
        service::{self as delivery, DeliveryError},
        store,
    },
    edge::ClientIp,
    error::AppError,
    state::AppState,
};
use axum::{
    Extension, Router,
    body::Body,
    extract::{Path, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{Html, IntoResponse, Response},
    routing::{get, post},
};
use tower_sessions::Session;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/d/{token}/files/{file_id}", get(download))
        .route("/library/download/{order_id}", post(library_download))
        .route("/library/access/{token}", get(library_access))
        .route("/dev/outbox", get(dev_outbox))
        .route("/dev/outbox/{name}", get(dev_outbox_message))
}

/// A `Range` header that names no byte of the file.
#[derive(Debug, PartialEq, Eq)]
pub struct Unsatisfiable;

/// A single byte range from a `Range` header, resolved against the size. `Ok(None)` serves the
/// whole file (no header, or a form we don't serve partially, like several ranges);
/// `Err(Unsatisfiable)` is answered 416.
pub fn parse_range(header: Option<&str>, size: u64) -> Result<Option<Range<u64>>, Unsatisfiable> {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else { return Ok(None) };
    if spec.contains(',') {
        return Ok(None);
    }
    let (start, end) = spec.split_once('-').ok_or(Unsatisfiable)?;
    let (start, end) = (start.trim(), end.trim());
    let range = if start.is_empty() {
        let suffix: u64 = end.parse().map_err(|_| Unsatisfiable)?;
        if suffix == 0 {
            return Err(Unsatisfiable);
        }
        size.saturating_sub(suffix)..size
    } else {
        let start: u64 = start.parse().map_err(|_| Unsatisfiable)?;
        let end: u64 = if end.is_empty() {
            size.saturating_sub(1)
        } else {
            end.parse::<u64>().map_err(|_| Unsatisfiable)?.min(size.saturating_sub(1))
        };
        if start > end || start >= size {
            return Err(Unsatisfiable);
        }
        start..end + 1
    };
    Ok(Some(range))
}

/// `attachment; filename="ascii fallback"; filename*=UTF-8''percent-encoded` (RFC 6266 / 8187).
pub fn content_disposition(filename: &str) -> String {
    let fallback: String =
        filename.chars().map(|c| if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' { c } else { '_' }).collect();
    const ATTR: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'!')
        .remove(b'#')
        .remove(b'$')
        .remove(b'&')
        .remove(b'+')
        .remove(b'-')
        .remove(b'.')
        .remove(b'^')
        .remove(b'_')
        .remove(b'`')
        .remove(b'|')
        .remove(b'~');
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{}", percent_encoding::utf8_percent_encode(filename, ATTR))
}

fn gone(status: StatusCode, message: &str) -> Response {
    (
        status,
        Html(format!(
            "<!DOCTYPE html><meta charset=utf-8><title>Download unavailable</title><h1>Download unavailable</h1><p>{message}</p>"
        )),
    )
        .into_response()
}

async fn download(
    State(state): State<AppState>,
    Path((token, file_id)): Path<(String, String)>,
    Extension(ClientIp(client)): Extension<ClientIp>,
    headers: HeaderMap,
) -> Response {
    let refused = |e: DeliveryError| match e {
        // Guessing tokens gets a client nowhere fast: after a few misses, 429s.
        DeliveryError::NotFound if !state.limits.allow(app::limits::Limit::GuessPerClient, client) => AppError::RateLimited.into_response(),
        DeliveryError::NotFound => gone(StatusCode::NOT_FOUND, "Unknown download link."),
        DeliveryError::Revoked => gone(StatusCode::GONE, "This purchase was refunded."),
        DeliveryError::Expired => gone(StatusCode::GONE, "This download link has expired."),
        DeliveryError::Exhausted => gone(StatusCode::GONE, "All downloads of this purchase are used."),
        e => AppError::from(e).into_response(),
    };
    let (order_id, resumable, file) = match delivery::file_for(&state.db, &token, &file_id).await {
        Ok(found) => found,
        Err(e) => return refused(e),
    };
    let size = file.size_bytes.max(0) as u64;
    let etag = format!("\"{}\"", file.sha256);
    // A resume is only valid for the same bytes: with a stale If-Range the whole file comes.
    let if_range = headers.get(header::IF_RANGE).and_then(|v| v.to_str().ok());
    let range_header = headers.get(header::RANGE).and_then(|v| v.to_str().ok()).filter(|_| if_range.is_none_or(|v| v == etag));
    let range = match parse_range(range_header, size) {
        Ok(range) => range,
        Err(Unsatisfiable) => {
            return (StatusCode::RANGE_NOT_SATISFIABLE, [(header::CONTENT_RANGE, format!("bytes */{size}"))]).into_response();
        }
    };
    // From the first byte it is a new download and counts against the limit; further in, and
    // soon after a counted start, it continues that one. Later, it counts again.
    let resuming = resumable && range.as_ref().is_some_and(|r| r.start > 0);
    if !resuming && let Err(e) = delivery::start_download(&state.db, &order_id).await {
        return refused(e);
    }
    let stream = match state.storage.read_range(&file.storage_key, if size == 0 { None } else { range.clone() }).await {
        Ok((stream, _)) => stream,
        Err(e) => return app::error::internal("reading a file to download", &e).into_response(),
    };
    let mut res = Response::new(Body::from_stream(stream));
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&file.content_type).unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    if let Ok(v) = HeaderValue::from_str(&content_disposition(&file.filename)) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("default-src 'none'; sandbox"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    match range {
        Some(r) => {
            *res.status_mut() = StatusCode::PARTIAL_CONTENT;
            let h = res.headers_mut();
            h.insert(header::CONTENT_LENGTH, HeaderValue::from(r.end - r.start));
            if let Ok(v) = HeaderValue::from_str(&format!("bytes {}-{}/{size}", r.start, r.end - 1)) {
                h.insert(header::CONTENT_RANGE, v);
            }
        }
        None => {
            res.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(size));
        }
    }
    res
}

/// Opens a library purchase: only for the email the session proved (by a library link, or as
/// the signed-in account's verified email), or the account that bought or claimed it.
async fn library_download(State(state): State<AppState>, session: Session, Path(order_id): Path<String>) -> Response {
    let proven: Option<String> = session.get(LIBRARY_EMAIL_KEY).await.ok().flatten();
    let account = match account_session::signed_in_account_id(&session, &state.db).await {
        Some(id) => app::accounts::store::find_by_id(&state.db, &id).await.ok().flatten(),
        None => None,
    };
    let verified = account.as_ref().filter(|a| a.email_verified_at.is_some()).map(|a| a.email.as_str());
    let order = orders::order(&state.db, &order_id).await.ok().flatten();
    let allowed = order.as_ref().is_some_and(|o| {
        let email = o.buyer_email.as_str();
        o.status == app::orders::OrderStatus::Fulfilled
            && (proven.as_deref() == Some(email)
                || verified == Some(email)
                || account.as_ref().is_some_and(|a| o.buyer_account_id.as_deref() == Some(a.account_id.as_str())))
    });
    if !allowed {
        return AppError::NotFound.into_response();
    }
    match delivery::mint(&state.db, &order_id).await {
        Ok(token) => super::redirect_to(&format!("/d/{token}")).into_response(),
        Err(e) => app::error::internal("minting a download token", &e).into_response(),
    }
}

/// A magic link from the library email: proves the email, once, within 30 minutes. If it was
/// asked for while signed in, the purchases are also claimed by that account.
async fn library_access(State(state): State<AppState>, session: Session, Path(token): Path<String>) -> Response {
    let used = store::use_library_token(&state.db, &delivery::hash(&token), db::now_ms()).await;
    let Ok(Some((email, account_id))) = used else {
        return super::redirect_to("/library?expired=1").into_response();
    };
    let signed_in = account_session::signed_in_account_id(&session, &state.db).await;
    if let (Some(asked_by), Some(current)) = (&account_id, &signed_in)
        && asked_by == current
    {
        let _ = orders::claim_orders(&state.db, &email, current).await;
    }
    let _ = session.cycle_id().await;
    if session.insert(LIBRARY_EMAIL_KEY, &email).await.is_err() {
        return AppError::Internal.into_response();
    }
    super::redirect_to("/library").into_response()
}

fn outbox_dir(state: &AppState) -> Option<std::path::PathBuf> {
    state.settings.dev_mode.then(|| state.settings.data_dir.join("outbox"))
}

/// Dev mode only: the emails the app would have sent, newest first.
async fn dev_outbox(State(state): State<AppState>) -> Response {
    let Some(dir) = outbox_dir(&state) else { return StatusCode::NOT_FOUND.into_response() };
    let mut entries: Vec<(std::time::SystemTime, String, String)> = Vec::new();
    if let Ok(read) = std::fs::read_dir(&dir) {
        for entry in read.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            if !name.ends_with(".eml") {
                continue;
            }
            let modified = entry.metadata().and_then(|m| m.modified()).unwrap_or(std::time::UNIX_EPOCH);
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            let header = |key: &str| text.lines().find_map(|l| l.strip_prefix(key)).unwrap_or_default().trim().to_string();
            entries.push((modified, name, format!("{} — {}", header("To:"), header("Subject:"))));
        }
    }
    entries.sort_by_key(|e| std::cmp::Reverse(e.0));
    let items: String = entries
        .iter()
        .map(|(_, name, summary)| format!("<li><a href=\"/dev/outbox/{name}\">{}</a></li>", app::ui::escape_html(summary)))
        .collect();
    Html(format!(
        "<!DOCTYPE html><meta charset=utf-8><title>Dev outbox</title><h1>Dev outbox</h1>\
         <p>Emails written to {} (no SMTP configured).</p><ul>{items}</ul>",
        app::ui::escape_html(&dir.display().to_string())
    ))
    .into_response()
}

async fn dev_outbox_message(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    let Some(dir) = outbox_dir(&state) else { return StatusCode::NOT_FOUND.into_response() };
    if !name.ends_with(".eml") || name.contains(['/', '\\']) || name.starts_with('.') {
        return StatusCode::NOT_FOUND.into_response();
    }
    match std::fs::read_to_string(dir.join(&name)) {
        Ok(text) => ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response(),
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range(None, 100), Ok(None));
        assert_eq!(parse_range(Some("bytes=0-9"), 100), Ok(Some(0..10)));
        assert_eq!(parse_range(Some("bytes=90-"), 100), Ok(Some(90..100)));
        assert_eq!(parse_range(Some("bytes=-10"), 100), Ok(Some(90..100)));
        assert_eq!(parse_range(Some("bytes=50-500"), 100), Ok(Some(50..100)));
        assert_eq!(parse_range(Some("bytes=100-"), 100), Err(Unsatisfiable));
        assert_eq!(parse_range(Some("bytes=9-1"), 100), Err(Unsatisfiable));
        assert_eq!(parse_range(Some("bytes=-0"), 100), Err(Unsatisfiable));
        assert_eq!(parse_range(Some("bytes=a-b"), 100), Err(Unsatisfiable));
        assert_eq!(parse_range(Some("bytes=0-1,5-6"), 100), Ok(None));
        assert_eq!(parse_range(Some("items=0-1"), 100), Ok(None));
    }

    #[test]
    fn dispositions_follow_rfc_6266() {
        assert_eq!(content_disposition("book.pdf"), "attachment; filename=\"book.pdf\"; filename*=UTF-8''book.pdf");
        let d = content_disposition("Mon livre \"été\".epub");
        assert!(d.starts_with("attachment; filename=\"Mon livre __t__.epub\""), "{d}");
        assert!(d.contains("filename*=UTF-8''Mon%20livre%20%22%C3%A9t%C3%A9%22.epub"), "{d}");
    }
}
