//! `post-sync`: run the data-quality hook for a data location, manage the retraining queue, or serve the
//! Airbyte webhook receiver. Logs go to stderr with secrets masked.

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use post_sync::config::{PostSyncConfig, ServeConfig};
use post_sync::{dispatch, run_post_sync, DataLocation, Queue, SyncInfo};
use std::path::{Path, PathBuf};

#[derive(Parser)]
#[command(name = "post-sync", version, about = "Data-quality checks, reports and retraining triggers after a sync")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check the saved profiles of a sync under a data location, write the report, queue and dispatch jobs.
    Run {
        /// The data root (destination path) holding `_airbyte_quality/`.
        #[arg(long)]
        location: PathBuf,
        /// A JSON file: the `post_sync` block, or a destination/runner config that contains one.
        #[arg(long)]
        config: Option<PathBuf>,
        /// The sync to check (default: the newest saved).
        #[arg(long)]
        sync: Option<String>,
        /// The connection id (part of the jobs' idempotency key).
        #[arg(long)]
        connection: Option<String>,
    },
    /// The retraining queue.
    Queue {
        #[command(subcommand)]
        action: QueueAction,
        /// The queue file (default: from --config, else `<location>/_airbyte_quality/queue.sqlite`).
        #[arg(long, global = true)]
        queue: Option<PathBuf>,
        #[arg(long, global = true)]
        location: Option<PathBuf>,
        #[arg(long, global = true)]
        config: Option<PathBuf>,
    },
    /// Receive Airbyte sync webhooks and work the queue.
    Serve {
        /// The serve config (JSON): listen, token, connections, post_sync.
        #[arg(long)]
        config: PathBuf,
    },
}

#[derive(Subcommand)]
enum QueueAction {
    /// Show jobs (newest first) as JSON lines.
    List {
        /// Only jobs with this status: pending, done, dead.
        #[arg(long)]
        status: Option<String>,
    },
    /// Put dead jobs back in the queue with fresh attempts.
    Retry {
        /// One job id; without it, every dead job.
        id: Option<i64>,
    },
    /// Deliver pending jobs, waiting out backoffs, until none is pending (or the timeout).
    Drain {
        #[arg(long)]
        timeout_secs: Option<u64>,
    },
}

fn load_hook_config(path: Option<&Path>) -> Result<PostSyncConfig> {
    let Some(path) = path else { return Ok(PostSyncConfig::default()) };
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    let block = value.get("post_sync").cloned().unwrap_or(value);
    let config: PostSyncConfig = serde_path_to_error::deserialize(block)
        .with_context(|| format!("invalid post_sync config in {}", path.display()))?;
    config.register_secrets();
    Ok(config)
}

async fn main_inner() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Run { location, config, sync, connection } => {
            let hook = load_hook_config(config.as_deref())?;
            let location = DataLocation::local(location);
            let sync_id = match sync {
                Some(s) => s,
                None => post_sync::store::profiles_of_sync(&location, None)?
                    .first()
                    .and_then(|p| p.sync_id.clone())
                    .with_context(|| format!("no saved profiles under {:?}", location))?,
            };
            let mut info = SyncInfo::new(&sync_id);
            if let Some(at) =
                post_sync::store::profiles_of_sync(&location, Some(&sync_id))?.first().and_then(|p| p.synced_at)
            {
                info = info.at(at);
            }
            if let Some(c) = connection {
                info = info.with_connection(c);
            }
            let outcome = run_post_sync(&hook, &location, Vec::new(), info).await?;
            println!("{}", serde_json::to_string(&outcome)?);
        }
        Command::Queue { action, queue, location, config } => {
            let hook = load_hook_config(config.as_deref())?;
            let path = queue
                .or_else(|| hook.queue.path.clone())
                .or_else(|| location.map(|l| DataLocation::local(l).default_queue_path()))
                .context("say which queue: --queue FILE, --config with queue.path, or --location DIR")?;
            if !path.exists() {
                bail!("no queue at {}", path.display());
            }
            let q = Queue::open(&path)?;
            match action {
                QueueAction::List { status } => {
                    for job in q.list(status.as_deref())? {
                        println!("{}", airbyte_protocol::redact::apply(&serde_json::to_string(&job)?));
                    }
                }
                QueueAction::Retry { id } => {
                    let n = q.retry(id)?;
                    println!("{n} job(s) back in the queue");
                }
                QueueAction::Drain { timeout_secs } => {
                    let deadline = timeout_secs.map(|s| std::time::Instant::now() + std::time::Duration::from_secs(s));
                    let stats = dispatch::drain(&q, &hook, deadline).await?;
                    println!(
                        "{}",
                        serde_json::json!({"delivered": stats.delivered, "dead": stats.dead, "pending": stats.retrying})
                    );
                }
            }
        }
        Command::Serve { config } => {
            let text = std::fs::read_to_string(&config).with_context(|| format!("cannot read {}", config.display()))?;
            let serve: ServeConfig = serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_str(&text))
                .with_context(|| format!("invalid serve config in {}", config.display()))?;
            post_sync::serve::serve(serve).await?;
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() {
    post_sync::logging::init_stderr();
    if let Err(e) = main_inner().await {
        eprintln!("error: {}", airbyte_protocol::redact::apply(&format!("{e:#}")));
        std::process::exit(1);
    }
}
