//! `loadgen`: a small closed-loop HTTP/1.1 load generator for Clink's benchmarks.
//!
//! * `loadgen run URL` keeps `-c` keep-alive connections busy for `-d` (after `-w` of warm-up
//!   that is not recorded) and reports requests/s, latency percentiles, errors and non-2xx
//!   answers, as one human line or as JSON (`--json`).
//! * `loadgen serve-raw --bytes-from URL --port P` fetches a page once and serves exactly those
//!   bytes (same status, same `Content-Type`) from a minimal axum handler: the baseline that a
//!   real page is compared against in the same run.
//!
//! Requests are templated: `{n}` in the URL's path and query, in header values and in the body
//! is replaced by a process-wide request counter (0, 1, 2, ...), so each request can carry a
//! unique idempotency key, email or amount. `--connection-headers FILE` gives each connection
//! its own header (line `i % lines` for connection `i`), e.g. one signed-in buyer's session
//! cookie per connection.

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use anyhow::{Context, bail};
use bytes::Bytes;
use clap::{Args, Parser, Subcommand};
use hdrhistogram::Histogram;
use http::{HeaderName, HeaderValue, Method, Request, StatusCode, Uri, header};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use tokio::{net::TcpStream, time::Instant};

#[derive(Debug, Parser)]
#[command(name = "loadgen", version, about = "Closed-loop HTTP/1.1 load generator and raw baseline server")]
struct Cli {
    /// Tokio worker threads (default: one per CPU).
    #[arg(long, global = true)]
    threads: Option<usize>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Load a URL with N concurrent keep-alive connections for a fixed time.
    Run(RunArgs),
    /// Fetch a page once, then serve exactly its bytes from a minimal axum handler.
    ServeRaw(ServeRawArgs),
}

#[derive(Debug, Args)]
struct RunArgs {
    /// `http://host:port/path?query` (plain HTTP/1.1 only). `{n}` in the path is substituted.
    url: String,
    /// Concurrent connections, each with one request in flight at a time.
    #[arg(short = 'c', long, default_value_t = 16)]
    concurrency: usize,
    /// Measured time: `10s`, `500ms`, `1m`, or plain seconds.
    #[arg(short = 'd', long, default_value = "10s", value_parser = parse_duration)]
    duration: Duration,
    /// Unrecorded warm-up before the measured time (same load).
    #[arg(short = 'w', long, default_value = "2s", value_parser = parse_duration)]
    warmup: Duration,
    /// HTTP method.
    #[arg(short = 'm', long, default_value = "GET")]
    method: String,
    /// Extra header `Name: value` (repeatable). `{n}` in the value is substituted.
    #[arg(short = 'H', long = "header")]
    headers: Vec<String>,
    /// Request body template; `{n}` is substituted. Implies nothing about the method.
    #[arg(short = 'b', long, conflicts_with = "body_file")]
    body: Option<String>,
    /// Read the body template from a file.
    #[arg(long)]
    body_file: Option<std::path::PathBuf>,
    /// A file of `Name: value` lines: connection `i` sends line `i % lines` with every request.
    #[arg(long)]
    connection_headers: Option<std::path::PathBuf>,
    /// Per-request timeout; a timed-out request counts as an error and its connection is
    /// replaced.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    timeout: Duration,
    /// Print one JSON object instead of the human line.
    #[arg(long)]
    json: bool,
    /// A label copied into the output (e.g. `raw` or `link`).
    #[arg(long)]
    label: Option<String>,
    /// PID of the server under test (Linux): also report the CPU time it used per request during
    /// the measured window, which is much less sensitive to other load on the machine than
    /// requests/s. Repeat it for a cluster: the CPU of every listed process is added up.
    #[arg(long)]
    pid: Vec<u32>,
}

#[derive(Debug, Args)]
struct ServeRawArgs {
    /// Page whose bytes are served (fetched once at start-up, without `Accept-Encoding`).
    #[arg(long)]
    bytes_from: String,
    /// Port to listen on.
    #[arg(long)]
    port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: std::net::IpAddr,
    /// Header sent with the one fetch, `Name: value` (repeatable).
    #[arg(short = 'H', long = "header")]
    headers: Vec<String>,
    /// Also write the fetched body to this file (to compare with what the benchmark receives).
    #[arg(long)]
    save_body: Option<std::path::PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    rt.enable_all();
    if let Some(n) = cli.threads {
        rt.worker_threads(n.max(1));
    }
    let rt = rt.build()?;
    match cli.command {
        Command::Run(args) => rt.block_on(run(args)),
        Command::ServeRaw(args) => rt.block_on(serve_raw(args)),
    }
}

// ---------------------------------------------------------------------------------------------
// Durations and templates
// ---------------------------------------------------------------------------------------------

fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let value: f64 = num.parse().map_err(|_| format!("not a duration: {s:?} (try 10s, 500ms, 1m)"))?;
    let secs = match unit.trim() {
        "ms" => value / 1000.0,
        "s" | "" => value,
        "m" | "min" => value * 60.0,
        _ => return Err(format!("unknown unit in {s:?} (use ms, s or m)")),
    };
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("not a duration: {s:?}"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// A string with `{n}` placeholders, split once so each request only concatenates.
#[derive(Debug, Clone)]
struct Template {
    parts: Vec<Bytes>,
}

impl Template {
    const PLACEHOLDER: &'static str = "{n}";

    fn new(text: impl AsRef<[u8]>) -> Self {
        let text = text.as_ref();
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(i) = find(rest, Self::PLACEHOLDER.as_bytes()) {
            parts.push(Bytes::copy_from_slice(&rest[..i]));
            rest = &rest[i + Self::PLACEHOLDER.len()..];
        }
        parts.push(Bytes::copy_from_slice(rest));
        Template { parts }
    }

    fn is_static(&self) -> bool {
        self.parts.len() == 1
    }

    /// The text with every placeholder replaced by `n` (no copy when there is none).
    fn render(&self, n: u64) -> Bytes {
        if self.is_static() {
            return self.parts[0].clone();
        }
        let n = n.to_string();
        let len = self.parts.iter().map(Bytes::len).sum::<usize>() + n.len() * (self.parts.len() - 1);
        let mut out = Vec::with_capacity(len);
        for (i, part) in self.parts.iter().enumerate() {
            if i > 0 {
                out.extend_from_slice(n.as_bytes());
            }
            out.extend_from_slice(part);
        }
        Bytes::from(out)
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn parse_header(h: &str) -> anyhow::Result<(HeaderName, String)> {
    let (name, value) = h.split_once(':').with_context(|| format!("header {h:?} is not `Name: value`"))?;
    let name = HeaderName::from_bytes(name.trim().as_bytes()).with_context(|| format!("bad header name in {h:?}"))?;
    Ok((name, value.trim().to_owned()))
}

// ---------------------------------------------------------------------------------------------
// The load generator
// ---------------------------------------------------------------------------------------------

/// Everything a worker needs to build and send requests, prepared once.
struct Plan {
    addr: String,
    host: HeaderValue,
    /// The parsed path when it has no placeholder (parsed once, cloned per request).
    static_uri: Option<Uri>,
    method: Method,
    path: Template,
    headers: Vec<(HeaderName, Template)>,
    body: Option<Template>,
    timeout: Duration,
    counter: AtomicU64,
}

impl Plan {
    fn request(&self, own: Option<&(HeaderName, HeaderValue)>) -> anyhow::Result<Request<Full<Bytes>>> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let uri = match &self.static_uri {
            Some(uri) => uri.clone(),
            None => Uri::from_maybe_shared(self.path.render(n)).context("the URL's path is not valid after substitution")?,
        };
        let mut req = Request::builder().method(self.method.clone()).uri(uri);
        let headers = req.headers_mut().expect("builder has no error yet");
        headers.insert(header::HOST, self.host.clone());
        for (name, value) in &self.headers {
            headers.insert(name.clone(), HeaderValue::from_maybe_shared(value.render(n))?);
        }
        if let Some((name, value)) = own {
            headers.insert(name.clone(), value.clone());
        }
        let body = match &self.body {
            Some(t) => t.render(n),
            None => Bytes::new(),
        };
        Ok(req.body(Full::new(body))?)
    }
}

/// What one worker saw during the measured window.
struct Tally {
    latency_us: Histogram<u64>,
    requests: u64,
    errors: u64,
    non_2xx: u64,
    body_bytes: u64,
    statuses: BTreeMap<u16, u64>,
    first_error: Option<String>,
}

impl Tally {
    fn new() -> Self {
        Tally {
            // 1 µs .. 10 min at 3 significant digits.
            latency_us: Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds"),
            requests: 0,
            errors: 0,
            non_2xx: 0,
            body_bytes: 0,
            statuses: BTreeMap::new(),
            first_error: None,
        }
    }

    fn error(&mut self, e: impl std::fmt::Display) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(e.to_string());
        }
    }

    fn merge(&mut self, other: Tally) {
        self.latency_us.add(&other.latency_us).expect("same histogram bounds");
        self.requests += other.requests;
        self.errors += other.errors;
        self.non_2xx += other.non_2xx;
        self.body_bytes += other.body_bytes;
        for (s, n) in other.statuses {
            *self.statuses.entry(s).or_insert(0) += n;
        }
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
}

#[derive(Serialize)]
struct Report {
    label: Option<String>,
    url: String,
    method: String,
    concurrency: usize,
    threads: usize,
    warmup_s: f64,
    duration_s: f64,
    requests: u64,
    rps: f64,
    latency_ms: Latency,
    errors: u64,
    non_2xx: u64,
    statuses: BTreeMap<u16, u64>,
    mean_body_bytes: f64,
    /// CPU time (user + system) the `--pid` process used per recorded request, in µs.
    server_cpu_us_per_request: Option<f64>,
    /// CPU time this load generator used per recorded request, in µs.
    client_cpu_us_per_request: Option<f64>,
    first_error: Option<String>,
}

#[derive(Serialize)]
struct Latency {
    mean: f64,
    p50: f64,
    p90: f64,
    p99: f64,
    p999: f64,
    max: f64,
}

async fn connect(addr: &str) -> anyhow::Result<SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(addr).await.with_context(|| format!("connecting to {addr}"))?;
    stream.set_nodelay(true)?;
    let (sender, conn) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

enum Outcome {
    Done { status: StatusCode, body_bytes: u64 },
    Failed(anyhow::Error),
}

async fn exchange(sender: &mut SendRequest<Full<Bytes>>, req: Request<Full<Bytes>>) -> Outcome {
    let res = match sender.send_request(req).await {
        Ok(res) => res,
        Err(e) => return Outcome::Failed(e.into()),
    };
    let status = res.status();
    let mut body = res.into_body();
    let mut body_bytes = 0u64;
    // Count the body without collecting it.
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => {
                if let Some(data) = frame.data_ref() {
                    body_bytes += data.len() as u64;
                }
            }
            Err(e) => return Outcome::Failed(e.into()),
        }
    }
    Outcome::Done { status, body_bytes }
}

/// One connection's loop: send, wait for the whole answer, record, repeat; reconnect when the
/// connection fails. Requests that start before `measure_from` (warm-up) or are still in flight
/// at `until` are not recorded.
async fn worker(plan: Arc<Plan>, own: Option<(HeaderName, HeaderValue)>, measure_from: Instant, until: Instant) -> Tally {
    let mut tally = Tally::new();
    let mut sender: Option<SendRequest<Full<Bytes>>> = None;
    loop {
        if Instant::now() >= until {
            return tally;
        }
        let s = match &mut sender {
            Some(s) => s,
            None => match tokio::time::timeout_at(until, connect(&plan.addr)).await {
                Err(_) => return tally,
                Ok(Ok(s)) => sender.insert(s),
                Ok(Err(e)) => {
                    if Instant::now() >= measure_from {
                        tally.error(format!("{e:#}"));
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        // A keep-alive connection the server closed between requests is not a failed request.
        if tokio::time::timeout_at(until, s.ready()).await.map(|r| r.is_err()).unwrap_or(false) {
            sender = None;
            continue;
        }
        let req = match plan.request(own.as_ref()) {
            Ok(r) => r,
            Err(e) => {
                tally.error(format!("{e:#}"));
                return tally;
            }
        };
        let start = Instant::now();
        let deadline = (start + plan.timeout).min(until);
        let outcome = tokio::time::timeout_at(deadline, exchange(s, req)).await;
        let end = Instant::now();
        let recorded = start >= measure_from;
        match outcome {
            Err(_) if deadline == until => return tally, // cut off by the end of the run
            Err(_) => {
                if recorded {
                    tally.error(format!("timed out after {:?}", plan.timeout));
                }
                sender = None;
            }
            Ok(Outcome::Failed(e)) => {
                if recorded {
                    tally.error(format!("{e:#}"));
                }
                sender = None;
            }
            Ok(Outcome::Done { status, body_bytes }) => {
                if recorded && end <= until {
                    let us = (end - start).as_micros().max(1) as u64;
                    tally.latency_us.saturating_record(us);
                    tally.requests += 1;
                    tally.body_bytes += body_bytes;
                    *tally.statuses.entry(status.as_u16()).or_insert(0) += 1;
                    if !status.is_success() {
                        tally.non_2xx += 1;
                    }
                }
            }
        }
    }
}

async fn run(args: RunArgs) -> anyhow::Result<()> {
    if args.concurrency == 0 {
        bail!("--concurrency must be at least 1");
    }
    let uri: Uri = args.url.replace(Template::PLACEHOLDER, "0").parse().with_context(|| format!("bad URL {:?}", args.url))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some(other) => bail!("only http:// is supported, not {other}://"),
        None => bail!("the URL needs a scheme: http://host:port/path"),
    }
    let authority = uri.authority().context("the URL has no host")?;
    let addr = format!("{}:{}", authority.host(), authority.port_u16().unwrap_or(80));
    // Keep the templated path as written (the parse above only validated it).
    let after_scheme = &args.url["http://".len()..];
    let path = match after_scheme.find('/') {
        Some(i) => &after_scheme[i..],
        None => "/",
    };
    let headers = args
        .headers
        .iter()
        .map(|h| parse_header(h).map(|(name, value)| (name, Template::new(value))))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let body = match (&args.body, &args.body_file) {
        (Some(b), _) => Some(Template::new(b)),
        (None, Some(f)) => Some(Template::new(std::fs::read(f).with_context(|| format!("reading {}", f.display()))?)),
        (None, None) => None,
    };
    let connection_headers = match &args.connection_headers {
        None => Vec::new(),
        Some(f) => {
            let text = std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
            let lines = text
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| parse_header(l).and_then(|(name, value)| Ok((name, HeaderValue::from_str(&value)?))))
                .collect::<anyhow::Result<Vec<_>>>()?;
            if lines.is_empty() {
                bail!("{} has no header lines", f.display());
            }
            lines
        }
    };
    let path = Template::new(path);
    let static_uri = if path.is_static() { Some(Uri::from_maybe_shared(path.render(0))?) } else { None };
    let plan = Arc::new(Plan {
        host: HeaderValue::from_str(&addr)?,
        static_uri,
        addr: addr.clone(),
        method: Method::from_bytes(args.method.to_ascii_uppercase().as_bytes()).context("bad --method")?,
        path,
        headers,
        body,
        timeout: args.timeout,
        counter: AtomicU64::new(0),
    });
    // Fail fast and clearly when nothing listens there.
    connect(&addr).await?;

    let measure_from = Instant::now() + args.warmup;
    let until = measure_from + args.duration;
    let workers: Vec<_> = (0..args.concurrency)
        .map(|i| {
            let own = (!connection_headers.is_empty()).then(|| connection_headers[i % connection_headers.len()].clone());
            tokio::spawn(worker(plan.clone(), own, measure_from, until))
        })
        .collect();
    let server_stats: Vec<String> = args.pid.iter().map(|pid| format!("/proc/{pid}/stat")).collect();
    tokio::time::sleep_until(measure_from).await;
    let cpu_before = (servers_cpu_seconds(&server_stats), cpu_seconds("/proc/self/stat"));
    tokio::time::sleep_until(until).await;
    let cpu_after = (servers_cpu_seconds(&server_stats), cpu_seconds("/proc/self/stat"));
    let mut total = Tally::new();
    for w in workers {
        total.merge(w.await?);
    }

    let h = &total.latency_us;
    let ms = |us: u64| us as f64 / 1000.0;
    let report = Report {
        label: args.label.clone(),
        url: args.url.clone(),
        method: plan.method.to_string(),
        concurrency: args.concurrency,
        threads: tokio::runtime::Handle::current().metrics().num_workers(),
        warmup_s: args.warmup.as_secs_f64(),
        duration_s: args.duration.as_secs_f64(),
        requests: total.requests,
        rps: total.requests as f64 / args.duration.as_secs_f64(),
        latency_ms: Latency {
            mean: h.mean() / 1000.0,
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
        },
        errors: total.errors,
        non_2xx: total.non_2xx,
        statuses: total.statuses.clone(),
        mean_body_bytes: if total.requests > 0 { total.body_bytes as f64 / total.requests as f64 } else { 0.0 },
        server_cpu_us_per_request: per_request(cpu_before.0, cpu_after.0, total.requests),
        client_cpu_us_per_request: per_request(cpu_before.1, cpu_after.1, total.requests),
        first_error: total.first_error.clone(),
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        let l = &report.latency_ms;
        println!(
            "{label}{method} {url}  c={c} {d:.0}s: {n} requests, {rps:.1} req/s, latency p50 {p50:.2} ms, p90 {p90:.2} ms, \
             p99 {p99:.2} ms, max {max:.2} ms, {errors} errors, {non2xx} non-2xx, {bytes:.0} B/response",
            label = report.label.as_deref().map(|l| format!("[{l}] ")).unwrap_or_default(),
            method = report.method,
            url = report.url,
            c = report.concurrency,
            d = report.duration_s,
            n = report.requests,
            rps = report.rps,
            p50 = l.p50,
            p90 = l.p90,
            p99 = l.p99,
            max = l.max,
            errors = report.errors,
            non2xx = report.non_2xx,
            bytes = report.mean_body_bytes,
        );
        if let (Some(server), Some(client)) = (report.server_cpu_us_per_request, report.client_cpu_us_per_request) {
            println!("  CPU per request: server {server:.1} µs, load generator {client:.1} µs");
        }
        if let Some(e) = &report.first_error {
            println!("  first error: {e}");
        }
    }
    Ok(())
}

/// User + system CPU seconds of a process, from `/proc/<pid>/stat` (Linux; `None` elsewhere).
fn cpu_seconds(stat_path: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(stat_path).ok()?;
    // Fields after the parenthesised command name (which may contain spaces); utime and stime
    // are fields 14 and 15 of the whole line, in USER_HZ ticks (100 per second on Linux).
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// The CPU seconds of all the server processes together (`None` without any, or if one is gone).
fn servers_cpu_seconds(stat_paths: &[String]) -> Option<f64> {
    if stat_paths.is_empty() {
        return None;
    }
    stat_paths.iter().map(|path| cpu_seconds(path)).sum()
}

fn per_request(before: Option<f64>, after: Option<f64>, requests: u64) -> Option<f64> {
    match (before, after) {
        (Some(b), Some(a)) if requests > 0 => Some((a - b) * 1e6 / requests as f64),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// The raw baseline
// ---------------------------------------------------------------------------------------------

/// Fetches `url` once (no `Accept-Encoding`, so the body is what an uncompressed client gets).
async fn fetch_once(url: &str, extra_headers: &[String]) -> anyhow::Result<(StatusCode, Option<HeaderValue>, Bytes)> {
    let uri: Uri = url.parse().with_context(|| format!("bad URL {url:?}"))?;
    if uri.scheme_str() != Some("http") {
        bail!("--bytes-from must be an http:// URL");
    }
    let authority = uri.authority().context("the URL has no host")?;
    let addr = format!("{}:{}", authority.host(), authority.port_u16().unwrap_or(80));
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/").to_owned();
    let mut req = Request::get(path).header(header::HOST, &addr);
    for h in extra_headers {
        let (name, value) = parse_header(h)?;
        req = req.header(name, value);
    }
    let mut sender = connect(&addr).await?;
    let res = sender.send_request(req.body(Full::new(Bytes::new()))?).await?;
    let status = res.status();
    let content_type = res.headers().get(header::CONTENT_TYPE).cloned();
    if res.headers().contains_key(header::CONTENT_ENCODING) {
        bail!("{url} answered with a Content-Encoding although none was asked for");
    }
    let body = res.into_body().collect().await?.to_bytes();
    Ok((status, content_type, body))
}

async fn serve_raw(args: ServeRawArgs) -> anyhow::Result<()> {
    use axum::response::IntoResponse;

    let (status, content_type, body) = fetch_once(&args.bytes_from, &args.headers).await?;
    if let Some(path) = &args.save_body {
        std::fs::write(path, &body).with_context(|| format!("writing {}", path.display()))?;
    }
    let content_type = content_type.unwrap_or(HeaderValue::from_static("application/octet-stream"));
    eprintln!(
        "serve-raw: {} bytes ({}, {}) from {} on http://{}:{}/ (any path)",
        body.len(),
        status,
        content_type.to_str().unwrap_or("?"),
        args.bytes_from,
        args.host,
        args.port
    );
    // The minimal handler: clone a refcounted buffer, set one header.
    let handler = move || {
        let (content_type, body) = (content_type.clone(), body.clone());
        async move { (status, [(header::CONTENT_TYPE, content_type)], body).into_response() }
    };
    let app = axum::Router::new().fallback(handler);
    let addr = SocketAddr::new(args.host, args.port);
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding {addr}"))?;
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_substitute_every_placeholder() {
        let t = Template::new("{\"key\":\"k{n}\",\"email\":\"u{n}@x\"}");
        assert_eq!(&t.render(42)[..], b"{\"key\":\"k42\",\"email\":\"u42@x\"}");
        let s = Template::new("plain");
        assert!(s.is_static());
        assert_eq!(&s.render(7)[..], b"plain");
        assert_eq!(&Template::new("{n}").render(3)[..], b"3");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("1m").unwrap(), Duration::from_secs(60));
        assert!(parse_duration("ten").is_err());
    }
}
