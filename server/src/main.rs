//! `clink`: the server binary and its admin commands.

use clap::Parser;
use server::{cli::Cli, config::Config};
use tracing_subscriber::EnvFilter;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // A `.env` is optional; real environment variables take precedence over it.
    let _ = dotenvy::dotenv();
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn")))
        .with_writer(std::io::stderr)
        .init();

    // Several dependencies bring rustls with different crypto back ends (ring for Stripe and
    // SMTP, aws-lc for S3); the process says which one it uses, for the server and the admin
    // commands alike (`clink reconcile` talks to Stripe).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("clink: configuration error: {err}");
            return std::process::ExitCode::from(2);
        }
    };
    match server::cli::run(cli, config).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("clink: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
