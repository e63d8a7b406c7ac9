//! The `clink` command line: the server itself and admin commands for self-hosters.

use std::io::{BufRead, Write};

use anyhow::{Context, bail};
use app::accounts::{
    service::{self, AccountError, NewAccount},
    store,
};
use clap::{Parser, Subcommand};

use crate::{config::Config, startup};

#[derive(Debug, Parser)]
#[command(name = "clink", version, about = "Sell anything for a link, from 5 cents.")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the web app (the default).
    Serve {
        /// Don't apply pending database migrations at start; refuse to start if any are
        /// missing. For deployments that run `clink migrate` as a release step.
        #[arg(long)]
        no_migrate: bool,
    },
    /// Apply pending database migrations and exit. Safe to run while servers are up, and from
    /// several places at once: migrations take a database lock and run once.
    Migrate,
    /// Manage accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage creator API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Check the ledger.
    #[command(subcommand)]
    Ledger(LedgerCommand),
    /// Compare the payment provider's payments and refunds with the ledger, and report every
    /// difference (nothing is changed). Exits non-zero when there is one.
    Reconcile {
        /// Look at payments from this day on (YYYY-MM-DD, UTC); default: the last 30 days.
        #[arg(long)]
        since: Option<String>,
    },
    /// Creator payouts.
    #[command(subcommand)]
    Payout(PayoutCommand),
    /// Development helpers.
    #[command(subcommand)]
    Dev(DevCommand),
    /// Write `.br` and `.gz` copies of the built assets, served instead of compressing per request.
    #[command(hide = true)]
    Precompress { dir: std::path::PathBuf },
}

#[derive(Debug, Subcommand)]
pub enum PayoutCommand {
    /// Payouts waiting to be paid (or all with --all).
    List {
        #[arg(long)]
        all: bool,
    },
    /// Record that a payout was sent.
    MarkPaid { id: String },
}

#[derive(Debug, Subcommand)]
pub enum DevCommand {
    /// Create a creator with many sales and views (for the dashboard and its benchmark).
    Seed {
        #[arg(long, default_value_t = 1_000)]
        sales: usize,
        #[arg(long, default_value_t = 50_000)]
        views: u64,
        #[arg(long, default_value_t = 180)]
        days: i64,
        #[arg(long, default_value_t = 12)]
        works: usize,
        #[arg(long, default_value = "seed@example.com")]
        email: String,
        #[arg(long, default_value_t = 1)]
        rng_seed: u64,
    },
}

#[derive(Debug, Subcommand)]
pub enum LedgerCommand {
    /// Check every ledger invariant; exits non-zero on any violation.
    Verify,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create an API token for an account and print it (shown once).
    Create {
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "CLI")]
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account. The password is read from standard input, never from arguments.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        handle: String,
        /// The name buyers see (defaults to the handle).
        #[arg(long)]
        name: Option<String>,
        /// Read the password from the first line of standard input.
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// List accounts.
    List,
    /// Turn off an account's two-step sign-in and end its sessions: for an owner who lost both
    /// their phone and their recovery codes, once they proved who they are another way.
    ResetTwoStep {
        #[arg(long)]
        email: String,
    },
}

pub async fn run(cli: Cli, config: Config) -> anyhow::Result<()> {
    match cli.command.unwrap_or(Command::Serve { no_migrate: false }) {
        Command::Serve { no_migrate } => startup::serve(Config { migrate_on_start: !no_migrate, ..config }).await,
        Command::Migrate => {
            std::fs::create_dir_all(&config.data_dir).ok();
            let db = app::db::Db::connect(&config.database_url).await.context("connecting to the database (CLINK_DATABASE_URL)")?;
            let pending = db.pending_migrations().await.context("reading which migrations the database has")?;
            db.migrate().await.context("applying database migrations")?;
            db.close().await;
            if pending.is_empty() {
                println!("ok: the database is up to date");
            } else {
                println!("ok: applied {} migration(s): {}", pending.len(), startup::migration_list(&pending));
            }
            Ok(())
        }
        Command::User(cmd) => user(cmd, &config).await,
        Command::Payout(cmd) => {
            let db = startup::connect_database(&config.database_url).await?;
            match cmd {
                PayoutCommand::List { all } => {
                    let rows = app::earnings::payouts::list(&db, (!all).then_some("requested")).await?;
                    println!("{:<40}  {:<32}  {:>12}  {:<9}  {:<20}  DESTINATION", "ID", "CREATOR", "AMOUNT", "STATUS", "REQUESTED");
                    for p in &rows {
                        let amount = app::money::Money::new(
                            p.amount_minor,
                            app::money::Currency::parse(&p.currency).unwrap_or(app::money::Currency::Eur),
                        );
                        println!(
                            "{:<40}  {:<32}  {:>12}  {:<9}  {:<20}  {}",
                            p.payout_id,
                            p.creator_id,
                            amount.to_string(),
                            p.status,
                            app::earnings::stats::iso(p.created_at),
                            p.destination.as_deref().unwrap_or("-")
                        );
                    }
                    println!("{} payout(s)", rows.len());
                }
                PayoutCommand::MarkPaid { id } => {
                    let row = app::earnings::payouts::mark_paid(&db, &id).await.map_err(|e| anyhow::anyhow!("{e}"))?;
                    println!("paid {} ({} {})", row.payout_id, app::money::amount_input(row.amount_minor), row.currency);
                }
            }
            db.close().await;
            Ok(())
        }
        Command::Dev(DevCommand::Seed { sales, views, days, works, email, rng_seed }) => {
            std::fs::create_dir_all(&config.data_dir).ok();
            let db = startup::connect_database(&config.database_url).await?;
            let storage = app::storage::Storage::open(&config.storage)?;
            let started = std::time::Instant::now();
            let opts = app::seed::SeedOptions { email, sales, views, days, works, rng_seed };
            let key = startup::load_secret(&config)?;
            let report = app::seed::seed(&db, &storage, &key, config.fee_bps, &opts).await.map_err(|e| anyhow::anyhow!(e))?;
            println!(
                "seeded {} sales ({} refunded), {} views, {} works for {} (password {}) in {:.1}s",
                report.sales,
                report.refunds,
                report.views,
                report.works,
                report.email,
                report.password,
                started.elapsed().as_secs_f64()
            );
            db.close().await;
            Ok(())
        }
        Command::Ledger(LedgerCommand::Verify) => {
            let db = startup::connect_database(&config.database_url).await?;
            let report = app::verify::verify(&db).await?;
            db.close().await;
            println!("ledger: {} transactions, {} entries, {} accounts", report.transactions, report.entries, report.accounts);
            if report.is_clean() {
                println!("ok: every invariant holds");
                Ok(())
            } else {
                for v in &report.violations {
                    println!("VIOLATION: {v}");
                }
                bail!("{} ledger violation(s)", report.violations.len())
            }
        }
        Command::Reconcile { since } => {
            let since_ms = match since {
                Some(day) => day
                    .parse::<jiff::civil::Date>()
                    .ok()
                    .and_then(|d| d.to_zoned(jiff::tz::TimeZone::UTC).ok())
                    .map(|z| z.timestamp().as_millisecond())
                    .ok_or_else(|| anyhow::anyhow!("--since: `{day}` is not a date like 2026-11-30"))?,
                None => app::db::now_ms() - 30 * 86_400_000,
            };
            let db = startup::connect_database(&config.database_url).await?;
            let payments = startup::payments(&config)?;
            let findings = app::checkout::reconcile::reconcile(&db, &payments, since_ms).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            db.close().await;
            if findings.is_empty() {
                println!("ok: every {} payment since {} matches the ledger", payments.provider(), app::earnings::stats::iso(since_ms));
                Ok(())
            } else {
                for f in &findings {
                    println!("{:<32} {}", f.kind, f.detail);
                }
                bail!("{} difference(s) between {} and the ledger", findings.len(), payments.provider())
            }
        }
        Command::Token(TokenCommand::Create { email, name }) => {
            let db = startup::connect_database(&config.database_url).await?;
            let account = store::find_by_email(&db, &email.trim().to_lowercase())
                .await?
                .ok_or_else(|| anyhow::anyhow!("no account with email {email}"))?;
            let (_, token) = app::accounts::tokens::create(&db, &account.account_id, &name).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("{token}");
            db.close().await;
            Ok(())
        }
        Command::Precompress { dir } => crate::assets::precompress(&dir),
    }
}

async fn user(cmd: UserCommand, config: &Config) -> anyhow::Result<()> {
    std::fs::create_dir_all(&config.data_dir).ok();
    let db = startup::connect_database(&config.database_url).await?;
    match cmd {
        UserCommand::Create { email, handle, name, password_stdin: _ } => {
            let mut password = String::new();
            std::io::stdin().lock().read_line(&mut password).context("reading the password from stdin")?;
            let password = password.trim_end_matches(['\n', '\r']);
            let display_name = name.unwrap_or_else(|| handle.clone());
            let new =
                NewAccount::parse(&email, password, &display_name, &handle).map_err(|e| anyhow::anyhow!("{}: {}", e.field, e.message))?;
            let key = startup::load_secret(config)?;
            match service::sign_up(&db, &key, new).await {
                Ok(row) => println!("created {} @{} <{}>", row.account_id, row.handle, row.email),
                Err(AccountError::EmailTaken) => bail!("an account with that email already exists"),
                Err(AccountError::HandleTaken) => bail!("that handle is taken"),
                Err(e) => return Err(e.into()),
            }
        }
        UserCommand::List => {
            let rows = store::list(&db).await?;
            let mut out = std::io::stdout().lock();
            writeln!(out, "{:<32}  {:<20}  {:<32}  NAME", "ID", "HANDLE", "EMAIL")?;
            for row in &rows {
                writeln!(out, "{:<32}  {:<20}  {:<32}  {}", row.account_id, row.handle, row.email, row.display_name)?;
            }
            writeln!(out, "{} account(s)", rows.len())?;
        }
        UserCommand::ResetTwoStep { email } => {
            let Some(account) = store::find_by_email(&db, email.trim()).await? else { bail!("no account has that email") };
            app::accounts::two_step::operator_reset(&db, &account).await?;
            println!("two-step sign-in is off for {}; every session ended, and the account was emailed", account.email);
        }
    }
    db.close().await;
    Ok(())
}
