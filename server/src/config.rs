//! Startup configuration, read from the environment (and an optional `.env`), validated once.
//! A bad value stops the app with one line naming the variable.

use secrecy::SecretString;
use std::{
    net::{IpAddr, SocketAddr},
    path::PathBuf,
};

use app::{checkout::stripe_provider::StripeSettings, storage::StorageConfig};

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
    /// Whether `serve` applies pending migrations itself (the default), or refuses to start
    /// until `clink migrate` has (`clink serve --no-migrate`).
    pub migrate_on_start: bool,
    /// Public origin used in links, emails and the CSRF origin check.
    pub base_url: String,
    pub site_addr: SocketAddr,
    /// The built site (CSS, JS, wasm, public assets), as cargo-leptos lays it out.
    pub site_root: PathBuf,
    pub dev_mode: bool,
    /// `/metrics` answers only with `Authorization: Bearer <token>`; without a token, not at all.
    pub metrics_token: Option<SecretString>,
    /// Take the client address from `X-Forwarded-For` (only behind a trusted proxy).
    pub trust_forwarded_for: bool,
    /// Local directory (default `<data_dir>/files`) or S3-compatible bucket.
    pub storage: StorageConfig,
    pub upload_limit_bytes: u64,
    /// Signs cookies and return links; generated into the data directory when not set.
    pub secret_key: Option<SecretString>,
    /// Clink's fee per sale in basis points (500 = 5%).
    pub fee_bps: u32,
    /// The smallest payout a creator can ask for, in minor units of any currency.
    pub min_payout_minor: i64,
    /// The most a buyer who has paid a tab before may owe on their tab (`CLINK_TAB_LIMIT`).
    pub tab_limit_minor: i64,
    /// Stripe, when `CLINK_STRIPE_SECRET_KEY` is set; otherwise the built-in test provider.
    pub stripe: Option<StripeSettings>,
    /// Holds the SMTP password, if any.
    pub smtp_url: Option<SecretString>,
    pub mail_from: String,
    /// Most wallet purchases committed in one transaction (1 = one per transaction).
    pub wallet_max_batch: usize,
    /// First retry delay of a failed sale webhook (doubling after each failure).
    pub webhook_backoff_ms: i64,
    /// Let sale webhooks go to private addresses and plain http (a self-hosted network).
    pub webhook_allow_private: bool,
    /// Slow clients: how long a request header and each piece of a body may take.
    pub timeouts: crate::startup::Timeouts,
    /// Every rate limit this many times as generous (test deployments only; 1 in production).
    pub rate_limit_scale: u32,
    /// The operator's quotas for new tabs, so many a day (`CLINK_NEW_TABS_PER_*`); the others
    /// keep `app::limits`' defaults.
    pub new_tab_quotas: Vec<(app::limits::Limit, u32)>,
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
            Some(raw) => {
                raw.trim().parse().map_err(|_| bad("LEPTOS_SITE_ADDR", format!("`{raw}` is not an address like 127.0.0.1:3000")))?
            }
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
            // Dev mode shows every email (with live download links) at /dev/outbox: only ever
            // on when asked for. A server behind a proxy may well see a loopback base URL.
            None => false,
        };
        let metrics_token = get("CLINK_METRICS_TOKEN").map(|t| t.trim().to_string());
        if metrics_token.as_deref().is_some_and(|t| t.len() < 16) {
            return Err(bad("CLINK_METRICS_TOKEN", "must be at least 16 characters"));
        }
        let metrics_token = metrics_token.map(SecretString::from);

        let storage = match get("CLINK_STORAGE_URL") {
            None => StorageConfig::Local(data_dir.join("files")),
            Some(url) => parse_storage_url(&url, &get)?,
        };
        let upload_limit_bytes = match get("CLINK_UPLOAD_MAX_BYTES") {
            None => 2 * 1024 * 1024 * 1024,
            Some(raw) => parse_size(&raw)
                .ok_or_else(|| bad("CLINK_UPLOAD_MAX_BYTES", format!("`{raw}` is not a size like 2147483648, 500MB or 2GiB")))?,
        };

        let fee_bps = match get("CLINK_FEE_PERCENT") {
            None => 500,
            Some(raw) => parse_percent_bps(&raw)
                .ok_or_else(|| bad("CLINK_FEE_PERCENT", format!("`{raw}` is not a percentage from 0 to 100, like 5 or 2.5")))?,
        };
        let min_payout_minor = match get("CLINK_MIN_PAYOUT") {
            None => 1_000,
            Some(raw) => app::money::parse_amount(&raw, "min_payout")
                .map_err(|_| bad("CLINK_MIN_PAYOUT", format!("`{raw}` is not an amount like 10 or 10.00")))?,
        };
        let tab_limit_minor = match get("CLINK_TAB_LIMIT") {
            None => 500,
            Some(raw) => app::money::parse_amount(&raw, "tab_limit")
                .map_err(|_| bad("CLINK_TAB_LIMIT", format!("`{raw}` is not an amount like 5 or 5.00")))?,
        };
        let secret_key = get("CLINK_SECRET_KEY");
        if secret_key.as_deref().is_some_and(|k| app::secret::AppSecret::from_base64(k).is_none()) {
            return Err(bad(
                "CLINK_SECRET_KEY",
                "must be at least 32 bytes, base64url-encoded (e.g. `openssl rand -base64 32 | tr '+/' '-_' | tr -d =`)",
            ));
        }
        let secret_key = secret_key.map(SecretString::from);
        let stripe = match get("CLINK_STRIPE_SECRET_KEY") {
            None => None,
            Some(secret_key) => {
                if !(secret_key.starts_with("sk_") || secret_key.starts_with("rk_")) {
                    return Err(bad("CLINK_STRIPE_SECRET_KEY", "must be a Stripe secret key (sk_…)"));
                }
                let publishable_key = get("CLINK_STRIPE_PUBLISHABLE_KEY")
                    .filter(|k| k.starts_with("pk_"))
                    .ok_or_else(|| bad("CLINK_STRIPE_PUBLISHABLE_KEY", "is required with CLINK_STRIPE_SECRET_KEY (pk_…)"))?;
                let webhook_secret = get("CLINK_STRIPE_WEBHOOK_SECRET")
                    .filter(|k| k.starts_with("whsec_"))
                    .ok_or_else(|| bad("CLINK_STRIPE_WEBHOOK_SECRET", "is required with CLINK_STRIPE_SECRET_KEY (whsec_…)"))?;
                let api_base = get("CLINK_STRIPE_API_BASE");
                if api_base.as_deref().is_some_and(|u| !(u.starts_with("http://") || u.starts_with("https://"))) {
                    return Err(bad("CLINK_STRIPE_API_BASE", "must be an http(s) URL"));
                }
                Some(StripeSettings {
                    secret_key: secret_key.into(),
                    publishable_key,
                    webhook_secret: webhook_secret.into(),
                    api_base,
                    js_url: get("CLINK_STRIPE_JS_URL").unwrap_or_else(|| "https://js.stripe.com/v3/".into()),
                    klarna: match get("CLINK_STRIPE_KLARNA").as_deref() {
                        None | Some("0" | "off" | "false") => false,
                        Some("1" | "on" | "true") => true,
                        Some(_) => return Err(bad("CLINK_STRIPE_KLARNA", "must be on or off")),
                    },
                })
            }
        };
        let smtp_url = get("CLINK_SMTP_URL");
        if smtp_url.as_deref().is_some_and(|u| !(u.starts_with("smtp://") || u.starts_with("smtps://"))) {
            return Err(bad("CLINK_SMTP_URL", "must look like smtp://user:pass@host:587?tls=required or smtps://host"));
        }
        let smtp_url = smtp_url.map(SecretString::from);
        let host = base_url.split("://").nth(1).unwrap_or("localhost").split(':').next().unwrap_or("localhost").to_string();
        let mail_from = get("CLINK_MAIL_FROM")
            .unwrap_or_else(|| format!("Clink <no-reply@{}>", if host.contains('.') { host.as_str() } else { "clink.invalid" }));

        let wallet_max_batch = match get("CLINK_WALLET_MAX_BATCH") {
            None => 256,
            Some(raw) => raw
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=2048).contains(n))
                .ok_or_else(|| bad("CLINK_WALLET_MAX_BATCH", format!("`{raw}` is not a batch size from 1 to 2048")))?,
        };

        let webhook_backoff_ms = match get("CLINK_WEBHOOK_BACKOFF_MS") {
            None => 10_000,
            Some(raw) => raw
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|n| (1..=3_600_000).contains(n))
                .ok_or_else(|| bad("CLINK_WEBHOOK_BACKOFF_MS", format!("`{raw}` is not a number of milliseconds from 1 to 3600000")))?,
        };

        let seconds = |var: &'static str, default: u64| -> Result<std::time::Duration, ConfigError> {
            match get(var) {
                None => Ok(std::time::Duration::from_secs(default)),
                Some(raw) => raw
                    .trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|n| (1..=3600).contains(n))
                    .map(std::time::Duration::from_secs)
                    .ok_or_else(|| bad(var, format!("`{raw}` is not a number of seconds from 1 to 3600"))),
            }
        };
        let timeouts = crate::startup::Timeouts {
            header_read: seconds("CLINK_HEADER_TIMEOUT_SECS", 10)?,
            body_idle: seconds("CLINK_BODY_IDLE_TIMEOUT_SECS", 30)?,
        };

        let rate_limit_scale = match get("CLINK_RATE_LIMIT_SCALE") {
            None => 1,
            Some(raw) => raw
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=1000).contains(n))
                .ok_or_else(|| bad("CLINK_RATE_LIMIT_SCALE", format!("`{raw}` is not a factor from 1 to 1000")))?,
        };

        let mut new_tab_quotas = Vec::new();
        for (name, limit) in [
            ("CLINK_NEW_TABS_PER_ADDRESS", app::limits::Limit::NewTabPerClient),
            ("CLINK_NEW_TABS_PER_DEVICE", app::limits::Limit::NewTabPerDevice),
            ("CLINK_NEW_TABS_PER_EMAIL_DOMAIN", app::limits::Limit::NewTabPerEmailDomain),
        ] {
            if let Some(raw) = get(name) {
                let per_day = raw
                    .trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (1..=1_000_000).contains(n))
                    .ok_or_else(|| bad(name, format!("`{raw}` is not a number of new tabs a day from 1 to 1000000")))?;
                new_tab_quotas.push((limit, per_day));
            }
        }

        Ok(Config {
            migrate_on_start: true,
            rate_limit_scale,
            new_tab_quotas,
            timeouts,
            webhook_allow_private: parse_bool(&get, "CLINK_WEBHOOK_ALLOW_PRIVATE", false)?,
            webhook_backoff_ms,
            wallet_max_batch,
            secret_key,
            fee_bps,
            min_payout_minor,
            tab_limit_minor,
            stripe,
            smtp_url,
            mail_from,
            storage,
            upload_limit_bytes,
            data_dir,
            database_url,
            base_url,
            site_addr,
            site_root: PathBuf::from(get("LEPTOS_SITE_ROOT").unwrap_or_else(|| "target/site".into())),
            dev_mode,
            metrics_token,
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

/// `s3://bucket/optional/prefix`, with `CLINK_S3_ENDPOINT`, `CLINK_S3_REGION`,
/// `CLINK_S3_ACCESS_KEY_ID` and `CLINK_S3_SECRET_ACCESS_KEY` (or the standard `AWS_*` variables).
fn parse_storage_url(url: &str, get: &impl Fn(&str) -> Option<String>) -> Result<StorageConfig, ConfigError> {
    let rest = url.trim().strip_prefix("s3://").ok_or_else(|| bad("CLINK_STORAGE_URL", "must look like s3://bucket/prefix"))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let bucket_ok =
        (3..=63).contains(&bucket.len()) && bucket.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
    if !bucket_ok {
        return Err(bad("CLINK_STORAGE_URL", format!("`{bucket}` is not a valid bucket name")));
    }
    if let Some(endpoint) = get("CLINK_S3_ENDPOINT")
        && !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
    {
        return Err(bad("CLINK_S3_ENDPOINT", "must start with http:// or https://"));
    }
    Ok(StorageConfig::S3 {
        bucket: bucket.to_string(),
        prefix: prefix.trim_matches('/').to_string(),
        endpoint: get("CLINK_S3_ENDPOINT"),
        region: get("CLINK_S3_REGION"),
        access_key_id: get("CLINK_S3_ACCESS_KEY_ID"),
        secret_access_key: get("CLINK_S3_SECRET_ACCESS_KEY").map(SecretString::from),
    })
}

/// "5" or "2.5" (percent, at most two decimals) → basis points.
fn parse_percent_bps(raw: &str) -> Option<u32> {
    let minor = app::money::parse_amount(raw, "fee").ok()?;
    (minor <= 10_000).then_some(minor as u32)
}

/// "2147483648", "500MB", "2GiB", "1.5G" is not accepted (no fractions).
fn parse_size(raw: &str) -> Option<u64> {
    let s = raw.trim().to_ascii_lowercase();
    let digits = s.chars().take_while(|c| c.is_ascii_digit()).count();
    let (number, unit) = s.split_at(digits);
    let number: u64 = number.parse().ok()?;
    let factor: u64 = match unit.trim() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1024,
        "m" | "mb" | "mib" => 1024 * 1024,
        "g" | "gb" | "gib" => 1024 * 1024 * 1024,
        _ => return None,
    };
    number.checked_mul(factor).filter(|n| *n > 0)
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
        assert!(!c.dev_mode, "dev mode (the mail outbox on the web) is opt-in");
        assert!(config(&[("CLINK_ENV", "dev")]).unwrap().dev_mode);
        assert!(c.metrics_token.is_none());
        assert_eq!(config(&[("CLINK_METRICS_TOKEN", "short")]).unwrap_err().var, "CLINK_METRICS_TOKEN");
    }

    #[test]
    fn debug_output_never_prints_a_secret() {
        let secrets = [
            ("CLINK_STRIPE_SECRET_KEY", "sk_test_SECRETstripeKEY0001"),
            ("CLINK_STRIPE_WEBHOOK_SECRET", "whsec_SECRETwebhook0002"),
            ("CLINK_SMTP_URL", "smtp://mailer:SECRETsmtp0003@mail.example:587"),
            ("CLINK_METRICS_TOKEN", "SECRETmetricsTOKEN0004"),
            ("CLINK_SECRET_KEY", "U0VDUkVUc2lnbmluZ2tleTAwMDVTRUNSRVRzaWduaW5na2V5MDAwNQ"),
            ("CLINK_S3_SECRET_ACCESS_KEY", "SECRETs3key0006"),
        ];
        let mut vars = secrets.to_vec();
        vars.extend([("CLINK_STRIPE_PUBLISHABLE_KEY", "pk_test_x"), ("CLINK_STORAGE_URL", "s3://bucket")]);
        let c = config(&vars).unwrap();
        let shown = format!("{c:?}");
        for (var, value) in secrets {
            assert!(!shown.contains(value), "{var} appears in Debug output");
        }
        assert!(shown.contains("pk_test_x"), "non-secret settings still show: {shown}");
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
    fn new_tab_quotas_are_the_operators_to_set() {
        assert!(config(&[]).unwrap().new_tab_quotas.is_empty(), "the defaults of app::limits");
        let c = config(&[("CLINK_NEW_TABS_PER_DEVICE", "2"), ("CLINK_NEW_TABS_PER_ADDRESS", " 40 ")]).unwrap();
        assert_eq!(c.new_tab_quotas, vec![(app::limits::Limit::NewTabPerClient, 40), (app::limits::Limit::NewTabPerDevice, 2)]);
        assert_eq!(config(&[("CLINK_NEW_TABS_PER_EMAIL_DOMAIN", "0")]).unwrap_err().var, "CLINK_NEW_TABS_PER_EMAIL_DOMAIN");
        assert_eq!(config(&[("CLINK_NEW_TABS_PER_DEVICE", "lots")]).unwrap_err().var, "CLINK_NEW_TABS_PER_DEVICE");
    }

    #[test]
    fn payments_mail_and_fees() {
        let c = config(&[]).unwrap();
        assert_eq!(c.fee_bps, 500);
        assert!(c.stripe.is_none());
        assert_eq!(config(&[("CLINK_FEE_PERCENT", "2.5")]).unwrap().fee_bps, 250);
        assert_eq!(c.min_payout_minor, 1_000);
        assert_eq!(config(&[("CLINK_MIN_PAYOUT", "25.50")]).unwrap().min_payout_minor, 2_550);
        assert!(config(&[("CLINK_MIN_PAYOUT", "ten")]).is_err());
        assert_eq!(config(&[("CLINK_FEE_PERCENT", "101")]).unwrap_err().var, "CLINK_FEE_PERCENT");
        assert_eq!(config(&[("CLINK_STRIPE_SECRET_KEY", "sk_test_x")]).unwrap_err().var, "CLINK_STRIPE_PUBLISHABLE_KEY");
        assert_eq!(
            config(&[("CLINK_STRIPE_SECRET_KEY", "sk_test_x"), ("CLINK_STRIPE_PUBLISHABLE_KEY", "pk_test_x")]).unwrap_err().var,
            "CLINK_STRIPE_WEBHOOK_SECRET"
        );
        let c = config(&[
            ("CLINK_STRIPE_SECRET_KEY", "sk_test_x"),
            ("CLINK_STRIPE_PUBLISHABLE_KEY", "pk_test_x"),
            ("CLINK_STRIPE_WEBHOOK_SECRET", "whsec_x"),
        ])
        .unwrap();
        let stripe = c.stripe.unwrap();
        assert_eq!(stripe.js_url, "https://js.stripe.com/v3/");
        assert!(!stripe.klarna, "Klarna is off until the operator activated it at Stripe");
        let keys = [
            ("CLINK_STRIPE_SECRET_KEY", "sk_test_x"),
            ("CLINK_STRIPE_PUBLISHABLE_KEY", "pk_test_x"),
            ("CLINK_STRIPE_WEBHOOK_SECRET", "whsec_x"),
        ];
        let with = |klarna: &'static str| config(&[keys.as_slice(), &[("CLINK_STRIPE_KLARNA", klarna)]].concat());
        assert!(with("on").unwrap().stripe.unwrap().klarna);
        assert!(!with("off").unwrap().stripe.unwrap().klarna);
        assert_eq!(with("yes please").unwrap_err().var, "CLINK_STRIPE_KLARNA");
        assert_eq!(config(&[("CLINK_SMTP_URL", "mail.example:25")]).unwrap_err().var, "CLINK_SMTP_URL");
        assert_eq!(config(&[("CLINK_SECRET_KEY", "short")]).unwrap_err().var, "CLINK_SECRET_KEY");
    }

    #[test]
    fn storage_and_upload_limits() {
        let c = config(&[]).unwrap();
        assert!(matches!(c.storage, StorageConfig::Local(ref p) if p.ends_with("files")));
        assert_eq!(c.upload_limit_bytes, 2 * 1024 * 1024 * 1024);
        let c = config(&[("CLINK_STORAGE_URL", "s3://my-bucket/clink/files/"), ("CLINK_UPLOAD_MAX_BYTES", "500MB")]).unwrap();
        assert!(matches!(c.storage, StorageConfig::S3 { ref bucket, ref prefix, .. } if bucket == "my-bucket" && prefix == "clink/files"));
        assert_eq!(c.upload_limit_bytes, 500 * 1024 * 1024);
        assert_eq!(config(&[("CLINK_STORAGE_URL", "gs://x")]).unwrap_err().var, "CLINK_STORAGE_URL");
        assert_eq!(config(&[("CLINK_STORAGE_URL", "s3://A_B")]).unwrap_err().var, "CLINK_STORAGE_URL");
        assert_eq!(config(&[("CLINK_UPLOAD_MAX_BYTES", "lots")]).unwrap_err().var, "CLINK_UPLOAD_MAX_BYTES");
        assert_eq!(config(&[("CLINK_UPLOAD_MAX_BYTES", "0")]).unwrap_err().var, "CLINK_UPLOAD_MAX_BYTES");
    }

    #[test]
    fn base_url_is_normalised_and_sets_mode() {
        let c = config(&[("CLINK_BASE_URL", "https://clink.example/")]).unwrap();
        assert_eq!(c.base_url, "https://clink.example");
        assert!(!c.dev_mode);
    }
}
