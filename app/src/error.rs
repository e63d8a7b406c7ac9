//! The one error type that crosses the server/client boundary.
//!
//! Domain modules have their own `thiserror` enums; each converts into `AppError` exactly once,
//! at the edge (server functions and plain routes), and that conversion is where internal causes
//! are logged. What reaches a user is only the user-meaningful part.

use leptos::server_fn::{
    codec::JsonEncoding,
    error::{FromServerFnError, ServerFnErrorErr},
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    #[error("Not found.")]
    NotFound,
    #[error("Please log in to continue.")]
    Unauthorized,
    #[error("You don't have access to that.")]
    Forbidden,
    /// A form field failed validation; `field` is the input's `name`.
    #[error("{message}")]
    Invalid { field: String, message: String },
    #[error("{0}")]
    Conflict(String),
    #[error("Too many attempts. Please wait a minute and try again.")]
    RateLimited,
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    PaymentRequired(String),
    #[error("{0}")]
    TooLarge(String),
    /// The server can't save anything right now (its disk is full or read-only): nothing was
    /// changed, and trying again later will work.
    #[error("{0}")]
    Unavailable(String),
    /// An upload that found the disk full.
    #[error("{0}")]
    InsufficientStorage(String),
    #[error("Something went wrong on our side. Please try again.")]
    Internal,
}

impl AppError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        AppError::Invalid { field: field.into(), message: message.into() }
    }

    /// The HTTP status this error is answered with.
    pub fn status(&self) -> u16 {
        match self {
            AppError::NotFound => 404,
            AppError::Unauthorized => 401,
            AppError::Forbidden => 403,
            AppError::Invalid { .. } | AppError::BadRequest(_) => 400,
            AppError::Conflict(_) => 409,
            AppError::RateLimited => 429,
            AppError::PaymentRequired(_) => 402,
            AppError::TooLarge(_) => 413,
            AppError::Unavailable(_) => 503,
            AppError::InsufficientStorage(_) => 507,
            AppError::Internal => 500,
        }
    }

    /// The field this error belongs to, for showing it next to the input.
    pub fn field(&self) -> Option<&str> {
        match self {
            AppError::Invalid { field, .. } => Some(field),
            _ => None,
        }
    }

    /// A stable machine-readable code for JSON APIs.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::NotFound => "not_found",
            AppError::Unauthorized => "unauthorized",
            AppError::Forbidden => "forbidden",
            AppError::Invalid { .. } => "invalid",
            AppError::Conflict(_) => "conflict",
            AppError::RateLimited => "rate_limited",
            AppError::BadRequest(_) => "bad_request",
            AppError::PaymentRequired(_) => "payment_required",
            AppError::TooLarge(_) => "too_large",
            AppError::Unavailable(_) => "unavailable",
            AppError::InsufficientStorage(_) => "insufficient_storage",
            AppError::Internal => "internal",
        }
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            // Malformed or missing arguments are the client's fault, not ours.
            ServerFnErrorErr::Args(msg) | ServerFnErrorErr::Deserialization(msg) | ServerFnErrorErr::MissingArg(msg) => {
                AppError::BadRequest(format!("The form was incomplete or malformed ({msg})."))
            }
            ServerFnErrorErr::Request(_) | ServerFnErrorErr::Response(_) => {
                AppError::BadRequest("Could not reach the server. Check your connection.".into())
            }
            _ => AppError::Internal,
        }
    }
}

/// Logs an internal failure once, where it is turned into a user-facing error. A failure to
/// write because the disk is full or read-only (the database's or the files') is not a bug
/// but a state of the server: the user hears that nothing was saved and to try later (503),
/// never a bare "something went wrong".
#[cfg(feature = "ssr")]
pub fn internal(context: &str, cause: &dyn std::fmt::Display) -> AppError {
    let text = cause.to_string();
    tracing::error!(error = %text, "{context}");
    match storage_trouble(&text) {
        Some(StorageTrouble::Full) => AppError::Unavailable(
            "We can't save anything right now: the server's disk is full. Nothing was changed; please try again later.".into(),
        ),
        Some(StorageTrouble::ReadOnly) => AppError::Unavailable(
            "We can't save anything right now: the server's storage is read-only. Nothing was changed; please try again later.".into(),
        ),
        None => AppError::Internal,
    }
}

/// Why writes fail, when it is the storage's state rather than a bug.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageTrouble {
    Full,
    ReadOnly,
}

/// Recognises a full or read-only disk in an error's text, as SQLite, PostgreSQL and the
/// operating system word it (the errors reach here through several layers and types).
pub fn storage_trouble(error_text: &str) -> Option<StorageTrouble> {
    let text = error_text.to_ascii_lowercase();
    if ["database or disk is full", "no space left on device", "could not extend file", "disk full", "storage full"]
        .iter()
        .any(|m| text.contains(m))
    {
        Some(StorageTrouble::Full)
    } else if ["readonly database", "read-only file system", "read only file system", "read-only transaction"]
        .iter()
        .any(|m| text.contains(m))
    {
        Some(StorageTrouble::ReadOnly)
    } else {
        None
    }
}

#[cfg(feature = "ssr")]
impl axum::response::IntoResponse for AppError {
    fn into_response(self) -> axum::response::Response {
        let status = axum::http::StatusCode::from_u16(self.status()).unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::json!({
            "error": { "code": self.code(), "message": self.to_string(), "field": self.field() }
        });
        (status, axum::Json(body)).into_response()
    }
}

/// A validation failure on one named input, produced by the parsers of domain types.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        FieldError { field, message: message.into() }
    }
}

impl From<FieldError> for AppError {
    fn from(err: FieldError) -> Self {
        AppError::Invalid { field: err.field.to_string(), message: err.message }
    }
}
