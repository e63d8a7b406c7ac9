//! A real SMTP server for tests: aiosmtpd (PyPI), delivering into a Maildir we can read.

use std::{path::PathBuf, process::Stdio, time::Duration};

pub struct SmtpServer {
    pub url: String,
    pub maildir: tempfile::TempDir,
    _child: tokio::process::Child,
}

fn aiosmtpd() -> Option<PathBuf> {
    if let Ok(path) = std::env::var("CLINK_TEST_AIOSMTPD") {
        return Some(PathBuf::from(path));
    }
    let venv = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target/pyenv/bin/aiosmtpd"));
    venv.exists().then_some(venv)
}

/// Starts aiosmtpd on a free port; `None` (a loud skip, a failure under CI) without it.
pub async fn start() -> Option<SmtpServer> {
    let Some(binary) = aiosmtpd() else {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("aiosmtpd (pip install aiosmtpd) is required under CI=true");
        }
        eprintln!("SKIPPED: SMTP test (no aiosmtpd; run scripts/test)");
        return None;
    };
    let maildir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = tokio::process::Command::new(binary)
        .args(["-n", "-l", &format!("127.0.0.1:{port}"), "-c", "aiosmtpd.handlers.Mailbox"])
        .arg(maildir.path().join("mail"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start aiosmtpd");
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return Some(SmtpServer { url: format!("smtp://127.0.0.1:{port}"), maildir, _child: child });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("aiosmtpd did not start");
}

impl SmtpServer {
    /// Every message delivered so far, raw.
    pub fn messages(&self) -> Vec<String> {
        let new = self.maildir.path().join("mail").join("new");
        std::fs::read_dir(new).map(|r| r.flatten().filter_map(|e| std::fs::read_to_string(e.path()).ok()).collect()).unwrap_or_default()
    }
}
