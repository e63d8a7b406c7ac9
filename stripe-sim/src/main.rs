//! `stripe-sim` binary, for browser (Playwright) runs where the app runs as
//! its own process: serves the simulator until Ctrl-C / SIGTERM.
//!
//! ```text
//! stripe-sim --port 12111 --webhook-url http://127.0.0.1:3000/stripe/webhook --webhook-secret whsec_x
//! ```
//! Prints `stripe-sim listening on http://127.0.0.1:PORT` once ready;
//! `GET /_sim/health` answers `ok` (for Playwright's `webServer.url`).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use clap::Parser;

#[derive(Parser)]
#[command(version, about = "Stripe API simulator for Clink's tests")]
struct Args {
    /// Port to listen on (0 = pick a free one).
    #[arg(long, env = "STRIPE_SIM_PORT", default_value_t = 12111)]
    port: u16,
    /// Address to listen on; keep it on loopback.
    #[arg(long, env = "STRIPE_SIM_HOST", default_value = "127.0.0.1")]
    host: IpAddr,
    /// Where to POST webhook events (none: events are only recorded).
    #[arg(long, env = "STRIPE_SIM_WEBHOOK_URL")]
    webhook_url: Option<String>,
    /// Webhook signing secret.
    #[arg(long, env = "STRIPE_SIM_WEBHOOK_SECRET", default_value = "whsec_stripe_sim")]
    webhook_secret: String,
    /// Comma-separated retry delays in milliseconds.
    #[arg(long, env = "STRIPE_SIM_RETRY_DELAYS_MS", value_delimiter = ',', default_value = "200,400,800,1600,3200")]
    retry_delays_ms: Vec<u64>,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let config = stripe_sim::SimConfig {
        webhook_url: args.webhook_url,
        webhook_secret: args.webhook_secret,
        retry_delays: args.retry_delays_ms.into_iter().map(Duration::from_millis).collect(),
    };
    let sim = stripe_sim::spawn_on(config, SocketAddr::new(args.host, args.port)).await?;
    println!("stripe-sim listening on {}", sim.base_url);
    shutdown_signal().await;
    sim.shutdown();
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
