//! The `tidings` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use store::{Actor, Store};

use crate::config::{Config, LogFormat, DEFAULT_CONFIG};
use crate::http::access::{Role, Scope};
use crate::http::auth::{check_new_password, generate_password, hash_password};
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
    #[command(alias = "apikey")]
    Key {
        #[command(subcommand)]
        command: KeyCmd,
    },
    /// Manage the people who log in to the workspace at /app.
    User {
        #[command(subcommand)]
        command: UserCmd,
    },
    /// Import order history.
    Import {
        #[command(subcommand)]
        command: ImportCmd,
    },
}

#[derive(Subcommand)]
enum KeyCmd {
    /// Create a key; it is printed once, as the last line, and stored only hashed.
    #[command(alias = "create")]
    Add {
        #[arg(long)]
        name: String,
        #[arg(long, value_enum)]
        scope: Scope,
    },
    /// Revoke a key by its id (as the workspace's API keys page lists it).
    Revoke {
        #[arg(long)]
        id: i64,
    },
}

#[derive(Subcommand)]
enum UserCmd {
    /// Add a user. A one-time password is generated and printed as the last line,
    /// unless `--password-stdin` reads one from standard input.
    Add {
        #[arg(long)]
        email: String,
        #[arg(long, value_enum)]
        role: Role,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
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
            Cmd::Key { command } => key(config, command).await,
            Cmd::User { command } => user(config, command).await,
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

async fn key(config: Config, command: KeyCmd) -> anyhow::Result<()> {
    let store = Store::open(&config.database_url).await?;
    match command {
        KeyCmd::Add { name, scope } => {
            let key = create_api_key(&store, &name, scope, &Actor::cli()).await?;
            println!(
                "API key {name:?} with scope {} created. It is shown only once:",
                scope.as_str()
            );
            println!("{key}");
        }
        KeyCmd::Revoke { id } => {
            if store.revoke_api_key(id, &Actor::cli()).await? {
                println!("API key {id} revoked.");
            } else {
                println!("API key {id} was already revoked.");
            }
        }
    }
    Ok(())
}

async fn user(config: Config, command: UserCmd) -> anyhow::Result<()> {
    let store = Store::open(&config.database_url).await?;
    let UserCmd::Add {
        email,
        role,
        password_stdin,
    } = command;
    let (password, generated) = if password_stdin {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .context("reading the password from standard input")?;
        (line.trim_end_matches(['\r', '\n']).to_string(), false)
    } else {
        (generate_password(), true)
    };
    let user = add_user(&store, &email, role, &password, &Actor::cli()).await?;
    println!("User {} added with role {}.", user.email, user.role);
    if generated {
        println!("One-time password (shown only once; change it at /app/password):");
        println!("{password}");
    }
    Ok(())
}

/// Creates a key: `tdk_` and 192 random bits in hex. Only its hash is stored, and the
/// audit log records `actor` as its creator.
pub async fn create_api_key(
    store: &Store,
    name: &str,
    scope: Scope,
    actor: &Actor,
) -> anyhow::Result<String> {
    let key = format!("tdk_{}", crate::http::auth::random_token(24));
    store
        .create_api_key(name, scope.as_str(), &key, actor)
        .await
        .context("storing the API key")?;
    Ok(key)
}

/// Adds a user with `password` (checked for length, stored as an argon2id hash).
pub async fn add_user(
    store: &Store,
    email: &str,
    role: Role,
    password: &str,
    actor: &Actor,
) -> anyhow::Result<store::User> {
    let email = domain::Email::parse(email.trim())
        .map_err(|_| anyhow::anyhow!("{email:?} is not an email address"))?;
    check_new_password(password).map_err(|e| anyhow::anyhow!(e))?;
    let hash = hash_password(password).await?;
    Ok(store
        .add_user(email.as_str(), role.as_str(), &hash, actor)
        .await?)
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
