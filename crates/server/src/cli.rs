//! The `tidings` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use store::Store;

use crate::config::{Config, LogFormat, DEFAULT_CONFIG};
use crate::http::api::Scope;
use crate::startup::{shutdown_signal, Application};

#[derive(Parser)]
#[command(
    name = "tidings",
    version,
    about = "Order tracking and retention messaging over RCS"
)]
struct Cli {
    /// A TOML configuration file (see `tidings default-config`).
    #[arg(long, global = true, env = "TIDINGS_CONFIG")]
    config: Option<PathBuf>,
    /// Log format; overrides the configuration's `log_format`.
    #[arg(long, global = true, value_enum)]
    log_format: Option<LogFormat>,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Serve the API, webhooks and tracking pages, and process what arrives.
    Serve,
    /// Serve with a seeded sample store, the RBM emulator and simulated phones.
    Demo,
    /// Run the RBM emulator alone: Google's RBM API, simulated phones and their pages.
    Emulator {
        /// Address to serve on.
        #[arg(long, default_value = "127.0.0.1:8090")]
        listen: String,
        /// The emulator's setup (agent, webhook, service accounts, phones) as TOML or
        /// JSON; without one it trusts the demo's service account and has no phones.
        #[arg(long)]
        setup: Option<PathBuf>,
        /// Where phones post their events and replies (overrides the setup's).
        #[arg(long)]
        webhook: Option<String>,
        /// Add an RCS phone with this E.164 number; repeat for more.
        #[arg(long = "phone")]
        phones: Vec<String>,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Print a commented configuration file with every default.
    DefaultConfig,
    /// Manage API keys.
    Apikey {
        #[command(subcommand)]
        command: ApikeyCmd,
    },
    /// Import order history.
    Import {
        #[command(subcommand)]
        command: ImportCmd,
    },
}

#[derive(Subcommand)]
enum ApikeyCmd {
    /// Create a key; it is printed once, as the last line, and stored only hashed.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long, value_enum)]
        scope: Scope,
    },
}

#[derive(Subcommand)]
enum ImportCmd {
    /// Orders from a CSV file (columns in the README).
    Orders { file: PathBuf },
    /// A transaction log in the CDNOW format: customer id, YYYYMMDD date, quantity,
    /// amount, separated by spaces.
    Transactions {
        file: PathBuf,
        /// Currency of the amounts.
        #[arg(long, default_value = "USD")]
        currency: String,
    },
}

/// Runs the command line and maps failure to an exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Cmd::DefaultConfig = cli.command {
        print!("{DEFAULT_CONFIG}");
        return ExitCode::SUCCESS;
    }
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let mut config = Config::load(cli.config.as_deref()).context("reading the configuration")?;
    if let Some(format) = cli.log_format {
        config.log_format = format;
    }
    crate::telemetry::init(config.log_format);
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        match cli.command {
            Cmd::Serve => serve(config).await,
            Cmd::Demo => crate::demo::run(config).await,
            Cmd::Emulator {
                listen,
                setup,
                webhook,
                phones,
            } => crate::demo::run_emulator(&listen, setup.as_deref(), webhook, phones).await,
            Cmd::Migrate => {
                Store::open(&config.database_url).await?;
                println!(
                    "migrations applied to {}",
                    store::redact_url(&config.database_url)
                );
                Ok(())
            }
            Cmd::DefaultConfig => Ok(()),
            Cmd::Apikey {
                command: ApikeyCmd::Create { name, scope },
            } => {
                let store = Store::open(&config.database_url).await?;
                let key = create_api_key(&store, &name, scope).await?;
                println!(
                    "API key {name:?} with scope {} created. It is shown only once:",
                    scope.as_str()
                );
                println!("{key}");
                Ok(())
            }
            Cmd::Import { command } => import(config, command).await,
        }
    })
}

async fn serve(config: Config) -> anyhow::Result<()> {
    // Listening for signals first: a SIGTERM during start-up then stops it cleanly.
    let stop = shutdown_signal();
    let app = Application::build(config).await?;
    app.run_until_stopped(stop).await
}

/// Creates a key: `tid_` and 192 random bits in hex.
pub async fn create_api_key(store: &Store, name: &str, scope: Scope) -> anyhow::Result<String> {
    use rand::RngCore;
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    let key = format!("tid_{}", hex::encode(bytes));
    store.create_api_key(name, scope.as_str(), &key).await?;
    Ok(key)
}

async fn import(config: Config, command: ImportCmd) -> anyhow::Result<()> {
    let store = Store::open(&config.database_url).await?;
    let report = match command {
        ImportCmd::Orders { file } => {
            crate::import::import_orders_csv(&store, &file, &config).await?
        }
        ImportCmd::Transactions { file, currency } => {
            crate::import::import_transactions(&store, &file, &currency).await?
        }
    };
    println!("{report}");
    Ok(())
}
