//! The `frontline` command: parses the command line, loads the config, sets up logging and calls
//! into the library.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};

use frontline::app::App;
use frontline::clock::{rfc3339, Clock, SystemClock};
use frontline::config::{redact_url, Config, LogFormat};
use frontline::core::agent::{new_token, token_hash};
use frontline::core::desk::{Desk, Filter, Queue};
use frontline::core::export;
use frontline::core::matcher::{MatcherHandle, NoIntents};
use frontline::core::privacy;
use frontline::core::report;
use frontline::core::services::Services;
use frontline::core::ticket::normalize_tag;
use frontline::intents::{self, CommandContext, IntentsCommand};
use frontline::store::StoreError;

/// A support bot for chat platforms: answers common questions from intent files and hands the
/// rest to human agents with the whole conversation.
#[derive(Parser)]
#[command(name = "frontline", version, about)]
struct Cli {
    /// Configuration file; defaults to config/default.toml if it exists. Environment variables
    /// FRONTLINE__SECTION__KEY and DATABASE_URL override it.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the bot: HTTP chat and agent API, outbox delivery, timers (the default command).
    Run,
    /// Create the database if needed and apply pending migrations, then exit.
    Migrate,
    /// Manage the human agents who answer tickets.
    #[command(subcommand)]
    Agents(AgentsCommand),
    /// Customers' data: list who is stored, export everything about one, or erase it.
    #[command(subcommand)]
    Customers(CustomersCommand),
    /// Check, import and evaluate intent files.
    #[command(subcommand)]
    Intents(IntentsCommand),
    /// List, read, export and close tickets.
    #[command(subcommand)]
    Tickets(TicketsCommand),
    /// How the bot and the team did: answers, hand-overs, time to claim and to first reply,
    /// ratings, and the questions the bot did not understand (material for new intents).
    Report {
        /// The window: the last N days up to now.
        #[arg(long, default_value_t = 7,
              value_parser = clap::value_parser!(u32).range(1..=i64::from(report::MAX_DAYS)))]
        days: u32,
        /// How many not-understood questions to list.
        #[arg(long, default_value_t = 20)]
        top: usize,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum AgentsCommand {
    /// Create an agent and print its API token (shown once; only a hash is stored).
    Add {
        /// The name customers and other agents see.
        name: String,
        /// May export and erase customers' data through the API.
        #[arg(long)]
        admin: bool,
    },
    /// List agents.
    List,
    /// Remove an agent; its token stops working at once.
    Remove { name: String },
}

#[derive(Subcommand)]
enum TicketsCommand {
    /// List tickets, most urgent first, then oldest.
    List {
        /// open, assigned, closed, or active (open and assigned; the default).
        #[arg(long, default_value = "active")]
        status: String,
        /// Only tickets with this tag.
        #[arg(long)]
        tag: Option<String>,
        /// Print JSON instead of one line per ticket.
        #[arg(long)]
        json: bool,
    },
    /// Print a ticket: its context and transcript, internal notes marked.
    Show { id: i64 },
    /// Print a ticket for archiving or handing on.
    Export {
        id: i64,
        #[arg(long, value_parser = ["md", "json"], default_value = "md")]
        format: String,
    },
    /// Close a ticket as an admin (recorded as closed by an admin, not an agent); the customer
    /// is thanked and asked for a rating as usual.
    Close {
        id: i64,
        #[arg(long)]
        reason: String,
    },
}

#[derive(Subcommand)]
enum CustomersCommand {
    /// List stored customers: id, channel, platform id, name, person, conversations, tickets.
    List {
        /// Print one JSON array instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Print one JSON document with everything stored about the customer and every identity
    /// linked to them.
    Export { id: i64 },
    /// Erase the customer and every identity linked to them, in one transaction. Tickets stay
    /// for the team's records, without text, shown as "erased".
    Forget { id: i64 },
    /// Record that two customers rows are the same person (e.g. their web login and their
    /// Discord user), so export and forget cover both.
    Link { id: i64, other: i64 },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // The config says how to log, so it is read before logging starts; its errors are printed.
    let config = match load_config(cli.config.as_deref()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    init_logging(config.log.format);
    match run(cli, config).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,sqlx=warn".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
    }
}

fn load_config(path: Option<&Path>) -> anyhow::Result<Config> {
    let default = Path::new("config/default.toml");
    let path = path.or_else(|| default.exists().then_some(default));
    Ok(Config::load(path)?)
}

async fn run(cli: Cli, config: Config) -> anyhow::Result<ExitCode> {
    match cli.command.unwrap_or(Command::Run) {
        Command::Run => serve(config).await?,
        Command::Migrate => {
            frontline::store::open(&config.database.url)
                .await
                .with_context(|| format!("migrating {}", redact_url(&config.database.url)))?;
            println!(
                "database {} is up to date",
                redact_url(&config.database.url)
            );
        }
        Command::Agents(cmd) => agents(cmd, &config).await?,
        Command::Tickets(cmd) => tickets(cmd, &config).await?,
        Command::Customers(cmd) => customers(cmd, &config).await?,
        Command::Report { days, top, json } => {
            let store = frontline::store::open(&config.database.url).await?;
            let (from, to) = report::last_days(SystemClock.now_ms(), days);
            let report = report::build(store.as_ref(), &config, from, to, top).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{report}");
            }
        }
        Command::Intents(cmd) => {
            let ctx = CommandContext {
                settings: config.matcher.clone(),
                known_vars: config.known_vars(),
                default_dir: config.intents.dir.clone(),
            };
            return Ok(intents::execute(cmd, &ctx)?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let bind = config.http.bind.clone();
    let public = if config.http.public_url.is_empty() {
        format!("http://{bind}")
    } else {
        config.http.public_url.trim_end_matches('/').to_string()
    };
    tracing::info!(database = %redact_url(&config.database.url), intents = %config.intents.dir.display(), "starting");
    let app = App::build(config, Arc::new(SystemClock)).await?;
    let listener = tokio::net::TcpListener::bind(&bind)
        .await
        .with_context(|| format!("binding {bind}"))?;
    tracing::info!("customer chat: {public}/chat");
    tracing::info!(
        "agent console: {public}/agent (create a token with `frontline agents add NAME`)"
    );
    app.serve(listener, shutdown_signal()).await?;
    Ok(())
}

/// Ctrl-C or SIGTERM (what service managers send) starts a graceful shutdown.
async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
    }
    tracing::info!("shutting down");
}

/// The desk on the configured database, for commands that act like an agent or admin would.
async fn desk(config: &Config) -> anyhow::Result<Desk> {
    let store = frontline::store::open(&config.database.url).await?;
    let services = Arc::new(Services::new(
        store,
        Arc::new(SystemClock),
        MatcherHandle::new(Arc::new(NoIntents)),
        Arc::new(config.clone()),
    ));
    Ok(Desk::new(services))
}

async fn tickets(cmd: TicketsCommand, config: &Config) -> anyhow::Result<()> {
    let desk = desk(config).await?;
    match cmd {
        TicketsCommand::List { status, tag, json } => {
            let queue = match status.as_str() {
                "open" => Queue::Open,
                "assigned" => Queue::Assigned,
                "closed" => Queue::Closed,
                "active" => Queue::Active,
                other => bail!("unknown status '{other}': use open, assigned, closed or active"),
            };
            let tag = match tag {
                Some(t) => Some(normalize_tag(&t).with_context(|| format!("'{t}' is not a tag"))?),
                None => None,
            };
            let filter = Filter {
                tag,
                priority: None,
            };
            let tickets = desk.list_filtered(queue, &filter).await?;
            if json {
                let all: Vec<_> = tickets
                    .iter()
                    .map(|s| {
                        serde_json::json!({
                            "id": s.ticket.id,
                            "status": s.ticket.status.as_str(),
                            "priority": s.ticket.priority.as_str(),
                            "tags": s.ticket.tags,
                            "assignee": s.assignee_name,
                            "customer": s.customer_name,
                            "subject": s.ticket.subject,
                            "created_at": rfc3339(s.ticket.created_at),
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&all)?);
            } else if tickets.is_empty() {
                println!("no tickets");
            } else {
                for t in &tickets {
                    println!("{}", export::list_line(t));
                }
            }
        }
        TicketsCommand::Show { id } => print!("{}", export::markdown(&desk.detail(id).await?)),
        TicketsCommand::Export { id, format } => {
            let detail = desk.detail(id).await?;
            if format == "json" {
                println!("{}", serde_json::to_string_pretty(&export::json(&detail))?);
            } else {
                print!("{}", export::markdown(&detail));
            }
        }
        TicketsCommand::Close { id, reason } => {
            desk.admin_close(id, &reason).await?;
            println!("closed ticket #{id}; the customer was thanked and asked for a rating");
        }
    }
    Ok(())
}

async fn agents(cmd: AgentsCommand, config: &Config) -> anyhow::Result<()> {
    let store = frontline::store::open(&config.database.url).await?;
    match cmd {
        AgentsCommand::Add { name, admin } => {
            let name = name.trim().to_string();
            if name.is_empty() || name.chars().count() > 64 {
                bail!("an agent name must be 1 to 64 characters");
            }
            let token = new_token();
            let mut tx = store.begin().await?;
            let agent = match tx
                .create_agent(&name, &token_hash(&token), SystemClock.now_ms())
                .await
            {
                Err(StoreError::Conflict(_)) => bail!("an agent named '{name}' already exists"),
                other => other?,
            };
            if admin {
                tx.set_agent_admin(agent.id, true).await?;
            }
            tx.commit().await?;
            let kind = if admin { "admin agent" } else { "agent" };
            println!("created {kind} '{name}'. Their API token (shown only now):\n{token}");
        }
        AgentsCommand::List => {
            let agents = store.read().await?.agents().await?;
            if agents.is_empty() {
                println!("no agents yet: add one with `frontline agents add NAME`");
            }
            for agent in agents {
                println!(
                    "{}\t{}\tsince {}",
                    agent.id,
                    agent.name,
                    rfc3339(agent.created_at)
                );
            }
        }
        AgentsCommand::Remove { name } => {
            // Through the desk, so the customers whose tickets go back to the queue are told.
            let services = Arc::new(Services::new(
                store,
                Arc::new(SystemClock),
                MatcherHandle::new(Arc::new(NoIntents)),
                Arc::new(config.clone()),
            ));
            match Desk::new(services).remove_agent(&name).await? {
                None => bail!("no agent named '{name}'"),
                Some(0) => println!("removed agent '{name}'"),
                Some(n) => println!(
                    "removed agent '{name}'; {n} ticket(s) they held are back in the queue"
                ),
            }
        }
    }
    Ok(())
}

async fn customers(cmd: CustomersCommand, config: &Config) -> anyhow::Result<()> {
    let store = frontline::store::open(&config.database.url).await?;
    let services = Services::new(
        store,
        Arc::new(SystemClock),
        MatcherHandle::new(Arc::new(NoIntents)),
        Arc::new(config.clone()),
    );
    match cmd {
        CustomersCommand::List { json } => {
            let list = privacy::list(&services).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
                return Ok(());
            }
            if list.is_empty() {
                println!("no customers stored");
            }
            for c in list {
                println!(
                    "{}\t{}\t{}\t{}\tperson {}\t{} conversation(s)\t{} ticket(s)\tsince {}",
                    c.id,
                    c.channel,
                    c.external_id,
                    c.display_name.as_deref().unwrap_or("-"),
                    c.person,
                    c.conversations,
                    c.tickets,
                    rfc3339(c.created_at)
                );
            }
        }
        CustomersCommand::Export { id } => {
            let document = privacy::export(&services, id).await?;
            println!("{}", serde_json::to_string_pretty(&document)?);
        }
        CustomersCommand::Forget { id } => {
            let done = privacy::forget(&services, id).await?;
            println!(
                "erased customer {id}: {} identit{} ({}); {} ticket(s) kept for the records as \"erased\"",
                done.identities.len(),
                if done.identities.len() == 1 { "y" } else { "ies" },
                done.identities
                    .iter()
                    .map(i64::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
                done.tickets_kept.len()
            );
        }
        CustomersCommand::Link { id, other } => {
            privacy::link(&services, id, other).await?;
            println!("customers {id} and {other} are now one person");
        }
    }
    Ok(())
}
