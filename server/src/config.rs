//! Startup configuration, read from the environment (and an optional `.env`), validated once.
//! A bad value stops the app with one line naming the variable.

use std::{
    net::{IpAddr, SocketAddr},
    path::PathBuf,
};

#[derive(Debug, thiserror::Error)]
#[error("{var}: {message}")]
pub struct ConfigError {
    pub var: &'static str,
    pub message: String,
}

fn bad(var: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError { var, message: message.into() }
}

#[derive(Debug, Clone)]
pub struct Config {
    /// Where the SQLite database, uploaded files and the dev mail outbox live.
    pub data_dir: PathBuf,
    /// `sqlite://...` (default: `<data_dir>/clink.db`) or `postgres://...`.
    pub database_url: String,
    /// Public origin used in links, emails and the CSRF origin check.
    pub base_url: String,
    pub site_addr: SocketAddr,
    /// The built site (CSS, JS, wasm, public assets), as cargo-leptos lays it out.
    pub site_root: PathBuf,
    pub dev_mode: bool,
    /// Take the client address from `X-Forwarded-For` (only behind a trusted proxy).
    pub trust_forwarded_for: bool,
}

impl Config {
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))
    }

    /// Builds the config from any lookup, so tests can configure an app without touching the
    /// process environment.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let data_dir = PathBuf::from(get("CLINK_DATA_DIR").unwrap_or_else(|| "./data".into()));
        if data_dir.as_os_str().is_empty() {
            return Err(bad("CLINK_DATA_DIR", "must be a directory path"));
        }

        let site_addr: SocketAddr = match get("LEPTOS_SITE_ADDR") {
            Some(raw) => raw
                .trim()
                .parse()
                .map_err(|_| bad("LEPTOS_SITE_ADDR", format!("`{raw}` is not an address like 127.0.0.1:3000")))?,
            None => SocketAddr::from(([127, 0, 0, 1], 3000)),
        };

        let database_url = match get("CLINK_DATABASE_URL") {
            Some(url) => {
                let url = url.trim().to_string();
                if !(url.starts_with("sqlite:") || url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                    return Err(bad("CLINK_DATABASE_URL", "must start with sqlite:, postgres:// or postgresql://"));
                }
                url
            }
            None => format!("sqlite://{}", data_dir.join("clink.db").display()),
        };

        let base_url = match get("CLINK_BASE_URL") {
            Some(raw) => parse_base_url(&raw)?,
            None => {
                let host = match site_addr.ip() {
                    IpAddr::V4(ip) if ip.is_unspecified() => "127.0.0.1".to_string(),
                    IpAddr::V6(ip) if ip.is_unspecified() => "[::1]".to_string(),
                    IpAddr::V6(ip) => format!("[{ip}]"),
                    ip => ip.to_string(),
                };
                format!("http://{host}:{}", site_addr.port())
            }
        };

        let dev_mode = match get("CLINK_ENV").as_deref().map(str::trim) {
            Some("dev") | Some("development") => true,
            Some("prod") | Some("production") => false,
            Some(other) => return Err(bad("CLINK_ENV", format!("`{other}` is not `dev` or `production`"))),
            None => is_loopback_url(&base_url),
        };

        Ok(Config {
            data_dir,
            database_url,
            base_url,
            site_addr,
            site_root: PathBuf::from(get("LEPTOS_SITE_ROOT").unwrap_or_else(|| "target/site".into())),
            dev_mode,
            trust_forwarded_for: parse_bool(&get, "CLINK_TRUST_FORWARDED_FOR", false)?,
        })
    }
}

fn parse_bool(get: &impl Fn(&str) -> Option<String>, var: &'static str, default: bool) -> Result<bool, ConfigError> {
    match get(var).as_deref().map(|v| v.trim().to_ascii_lowercase()) {
        None => Ok(default),
        Some(v) if ["1", "true", "yes", "on"].contains(&v.as_str()) => Ok(true),
        Some(v) if ["0", "false", "no", "off"].contains(&v.as_str()) => Ok(false),
        Some(v) => Err(bad(var, format!("`{v}` is not true or false"))),
    }
}

/// Accepts `http(s)://host[:port]` with no path, query or fragment, and drops a trailing slash.
fn parse_base_url(raw: &str) -> Result<String, ConfigError> {
    let trimmed = raw.trim().trim_end_matches('/');
    let rest = trimmed
        .strip_prefix("https://")
        .or_else(|| trimmed.strip_prefix("http://"))
        .ok_or_else(|| bad("CLINK_BASE_URL", "must start with http:// or https://"))?;
    if rest.is_empty() || rest.contains(['/', '?', '#', ' ', '@']) {
        return Err(bad("CLINK_BASE_URL", "must be an origin like https://clink.example, without a path"));
    }
    Ok(trimmed.to_string())
}

fn is_loopback_url(url: &str) -> bool {
    let host = url.split("://").nth(1).unwrap_or_default();
    host.starts_with("127.") || host.starts_with("localhost") || host.starts_with("[::1]")
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_need_no_configuration() {
        let c = config(&[]).unwrap();
        assert_eq!(c.database_url, "sqlite://./data/clink.db");
        assert_eq!(c.base_url, "http://127.0.0.1:3000");
        assert_eq!(c.site_addr.to_string(), "127.0.0.1:3000");
        assert!(c.dev_mode);
    }

    #[test]
    fn bad_values_name_their_variable() {
        let err = config(&[("LEPTOS_SITE_ADDR", "nope")]).unwrap_err();
        assert_eq!(err.var, "LEPTOS_SITE_ADDR");
        let err = config(&[("CLINK_DATABASE_URL", "mysql://x")]).unwrap_err();
        assert_eq!(err.var, "CLINK_DATABASE_URL");
        let err = config(&[("CLINK_BASE_URL", "clink.example")]).unwrap_err();
        assert_eq!(err.var, "CLINK_BASE_URL");
        let err = config(&[("CLINK_BASE_URL", "https://clink.example/shop")]).unwrap_err();
        assert!(err.to_string().starts_with("CLINK_BASE_URL: "));
        let err = config(&[("CLINK_ENV", "staging")]).unwrap_err();
        assert_eq!(err.var, "CLINK_ENV");
    }

    #[test]
    fn base_url_is_normalised_and_sets_mode() {
        let c = config(&[("CLINK_BASE_URL", "https://clink.example/")]).unwrap();
        assert_eq!(c.base_url, "https://clink.example");
        assert!(!c.dev_mode);
    }
}
