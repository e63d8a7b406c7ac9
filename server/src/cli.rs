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
    Serve,
    /// Manage accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage creator API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Check the ledger.
    #[command(subcommand)]
    Ledger(LedgerCommand),
    /// Write `.br` and `.gz` copies of the built assets, served instead of compressing per request.
    #[command(hide = true)]
    Precompress { dir: std::path::PathBuf },
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
}

pub async fn run(cli: Cli, config: Config) -> anyhow::Result<()> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => startup::serve(config).await,
        Command::User(cmd) => user(cmd, &config).await,
        Command::Ledger(LedgerCommand::Verify) => {
            let db = startup::connect_database(&config.database_url).await?;
            let report = app::ledger::verify::verify(&db).await?;
            db.close().await;
            println!(
                "ledger: {} transactions, {} entries, {} accounts",
                report.transactions, report.entries, report.accounts
            );
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
        Command::Token(TokenCommand::Create { email, name }) => {
            let db = startup::connect_database(&config.database_url).await?;
            let account = store::find_by_email(&db, &email.trim().to_lowercase())
                .await?
                .ok_or_else(|| anyhow::anyhow!("no account with email {email}"))?;
            let (_, token) = app::accounts::tokens::create(&db, &account.account_id, &name)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
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
            let new = NewAccount::parse(&email, password, &display_name, &handle)
                .map_err(|e| anyhow::anyhow!("{}: {}", e.field, e.message))?;
            match service::sign_up(&db, new).await {
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
    }
    db.close().await;
    Ok(())
}
