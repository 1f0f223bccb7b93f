//! `veilgram`: the one binary. `serve` runs every service in one process; `migrate` brings the
//! database schema up to date; `rotate-signing-key` retires the access-token signing key.
//!
//! # Layout
//! - `config`: layered configuration (defaults → TOML file → `VEILGRAM_*` environment).
//! - `serve`: wires adapters to services to the gateway, serves HTTP, shuts down gracefully.

mod config;
mod serve;

/// glibc's allocator spent about a third of a warm feed read's CPU time in `malloc`, `free`
/// and `malloc_consolidate` across the runtime's threads (measured with `perf`); mimalloc's
/// thread-local pages do not.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};
use config::Config;
use std::path::PathBuf;
use std::process::ExitCode;

/// VeilGram: an anonymous social network server.
///
/// Configuration comes from defaults, then the TOML file given with --config, then environment
/// variables: VEILGRAM_LISTEN (default 127.0.0.1:8080), VEILGRAM_DATA_DIR (default
/// ./veilgram-data), VEILGRAM_DATABASE_URL (default: SQLite in the data dir; postgres://… for
/// PostgreSQL), VEILGRAM_REDIS_URL (default: an in-process cache; redis://host:port for Redis,
/// redis-cluster://host:port,host:port for a Redis Cluster). Nested settings use a double
/// underscore: VEILGRAM_HTTP__CORS_ALLOWED_ORIGINS.
#[derive(Parser)]
#[command(name = "veilgram", version, about, long_about)]
struct Cli {
    /// A TOML configuration file.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run this process's roles (all by default). Migrates the database first.
    Serve {
        /// What this process runs, comma-separated: api (the API and the web app), realtime
        /// (/ws), consumers (the event consumers), jobs (media and push jobs), periodic
        /// (reconciliation, closing polls, media collection). Also VEILGRAM_ROLES.
        #[arg(long, value_name = "ROLES")]
        roles: Option<String>,
    },
    /// The jobs role alone (media and push jobs), without serving HTTP (but its admin
    /// listener, if set). `serve` runs the jobs too unless `media.worker` is off.
    Worker,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Rebuild the search index from the database while the current one keeps serving, then
    /// switch to it (after a mapping change, or to repair it). Runs beside the servers.
    Reindex,
    /// Retire the current access-token signing key and start signing with a new one. Tokens
    /// signed by the old key stay valid until they expire; running servers pick the new key up.
    RotateSigningKey,
    /// Block an address or network from making changes (sign-up, login, writes) for a while;
    /// it is kept only as keyed hashes, one per day, that cannot be read back into addresses.
    BlockAddress {
        /// An address (IPv6 by its /64) or a network in CIDR (at least /8, or /16 for IPv6).
        network: String,
        /// How long: `90s`, `30m`, `12h`, `7d` (at most 90 days).
        #[arg(long = "for", value_name = "DURATION")]
        lasting: String,
        /// Shown to moderators in the list of blocks.
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Lift an address block by its id (listed by `GET /api/v1/admin/address-blocks`).
    UnblockAddress { id: String },
    /// Grant or revoke the moderator role (moderators see the report queue and act on it).
    Moderator {
        #[command(subcommand)]
        change: RoleChange,
    },
    /// Automatic moderation's tools.
    Moderation {
        #[command(subcommand)]
        tool: ModerationTool,
    },
}

#[derive(Subcommand)]
enum ModerationTool {
    /// Classify one text per line of standard input as the configured policy would, printing
    /// one JSON object per line: `{"decision": "allow"|"queue"|"warn"|"hide"|"block",
    /// "category": "slur"|"profanity"|"toxicity"|null, "score": 0..1, "rule": …}`.
    Classify,
}

#[derive(Subcommand)]
enum RoleChange {
    /// Make the account a moderator.
    Grant { user_id: String },
    /// Make the account a member again.
    Revoke { user_id: String },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let loaded = match Config::load(cli.config.as_deref(), std::env::vars()) {
        Ok(loaded) => loaded,
        Err(error) => {
            eprintln!("veilgram: configuration error: {error:#}");
            return ExitCode::from(2);
        }
    };
    serve::init_logging(&loaded.config.log);
    for name in &loaded.ignored_environment {
        tracing::warn!(variable = %name, "environment variable matches no setting; ignored");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("veilgram: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async {
        match cli.command {
            Command::Serve { roles } => {
                let mut config = loaded.config;
                if let Some(roles) = roles {
                    config.roles = roles;
                }
                serve::serve(config).await
            }
            Command::Worker => serve::worker(loaded.config).await,
            Command::Migrate => serve::migrate(&loaded.config).await,
            Command::Reindex => serve::reindex(&loaded.config).await,
            Command::RotateSigningKey => serve::rotate_signing_key(&loaded.config).await,
            Command::BlockAddress {
                network,
                lasting,
                reason,
            } => {
                serve::block_address(&loaded.config, Some((&network, &lasting, &reason)), None)
                    .await
            }
            Command::UnblockAddress { id } => {
                serve::block_address(&loaded.config, None, Some(&id)).await
            }
            Command::Moderation {
                tool: ModerationTool::Classify,
            } => serve::classify(&loaded.config),
            Command::Moderator { change } => match change {
                RoleChange::Grant { user_id } => {
                    serve::set_moderator(&loaded.config, &user_id, true).await
                }
                RoleChange::Revoke { user_id } => {
                    serve::set_moderator(&loaded.config, &user_id, false).await
                }
            },
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = %format!("{error:#}"), "veilgram failed");
            eprintln!("veilgram: {error:#}");
            ExitCode::FAILURE
        }
    }
}
