// SPDX-License-Identifier: BUSL-1.1
//! `recsys-sidecar`: serve the REST API, manage API keys, print the OpenAPI document.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use recsys_sidecar::auth::{key_admin, oidc, Role};
use recsys_sidecar::config::Config;
use recsys_sidecar::{app, metrics_app, openapi, server, AppState};

#[derive(Parser)]
#[command(
    name = "recsys-sidecar",
    version,
    about = "REST API for the recsys PostgreSQL extension"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the default). Configuration comes from RECSYS_* environment variables.
    Serve,
    /// Create, list and revoke API keys (uses RECSYS_DATABASE_URL, as a login with
    /// recsys_key_admin; the sidecar's own login may only look keys up).
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Print the OpenAPI 3.1 document as YAML.
    Openapi,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a key; it is printed once and cannot be shown again.
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long, value_parser = ["viewer", "operator", "admin"])]
        role: String,
        /// A note to recognise the key by.
        #[arg(long, default_value = "")]
        name: String,
        /// The key stops working after this many days (default: until revoked).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=36_500))]
        expires_in_days: Option<u32>,
    },
    /// List keys (never the secrets).
    List,
    /// Revoke a key by id.
    Revoke { id: i64 },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: invalid configuration: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(Command::Openapi) = cli.command {
        print!("{}", openapi::yaml(&recsys_sidecar::openapi()));
        return ExitCode::SUCCESS;
    }
    if matches!(cli.command, None | Some(Command::Serve)) {
        if let Err(e) = recsys_sidecar::tracing_setup::init(&config) {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command.unwrap_or(Command::Serve) {
            Command::Serve => serve(config).await,
            Command::Keys { command } => keys(config, command).await,
            Command::Openapi => Ok(()),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn connect(config: &Config) -> Result<sqlx::PgPool, String> {
    recsys_sidecar::db::connect(config)
        .await
        .map_err(|e| format!("cannot connect to the database (RECSYS_DATABASE_URL): {e}"))
}

async fn keys(config: Config, command: KeysCommand) -> Result<(), String> {
    let pool = connect(&config).await?;
    match command {
        KeysCommand::Create {
            tenant,
            role,
            name,
            expires_in_days,
        } => {
            let role = Role::parse(&role).ok_or("role must be viewer, operator or admin")?;
            let expires_at =
                expires_in_days.map(|d| chrono::Utc::now() + chrono::Duration::days(i64::from(d)));
            let key = key_admin::create(&pool, &tenant, role, &name, expires_at).await?;
            eprintln!(
                "created key {} for tenant {tenant} as {}; it is shown only now:",
                key.id,
                role.as_str()
            );
            println!("{}", key.key);
        }
        KeysCommand::List => {
            println!("id\tprefix\ttenant\trole\tname\tcreated_at\trevoked_at\texpires_at");
            let time = |t: Option<chrono::DateTime<chrono::Utc>>| {
                t.map(|t| t.to_rfc3339()).unwrap_or_default()
            };
            for k in key_admin::list(&pool).await.map_err(|e| e.to_string())? {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    k.id,
                    k.prefix,
                    k.tenant_id,
                    k.role,
                    k.name,
                    k.created_at.to_rfc3339(),
                    time(k.revoked_at),
                    time(k.expires_at)
                );
            }
        }
        KeysCommand::Revoke { id } => {
            if !key_admin::revoke(&pool, id)
                .await
                .map_err(|e| e.to_string())?
            {
                return Err(format!("there is no unrevoked key {id}"));
            }
            eprintln!("revoked key {id}");
        }
    }
    Ok(())
}

async fn serve(config: Config) -> Result<(), String> {
    let pool = connect(&config).await?;
    let oidc = match &config.oidc {
        None => None,
        Some(o) => {
            let http = reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(5))
                .build()
                .map_err(|e| e.to_string())?;
            let settings = oidc::OidcConfig {
                issuer: o.issuer.clone(),
                audience: o.audience.clone(),
                tenant_claim: o.tenant_claim.clone(),
                role_claim: o.role_claim.clone(),
            };
            let tuning = oidc::OidcTuning {
                max_token_lifetime: o.max_token_lifetime,
                ..oidc::OidcTuning::default()
            };
            Some(
                oidc::OidcVerifier::discover_with(settings, http, tuning)
                    .await
                    .map_err(|e| format!("OIDC discovery failed (RECSYS_OIDC_ISSUER): {e}"))?,
            )
        }
    };
    let listener = bind(config.listen_addr, "RECSYS_LISTEN_ADDR").await?;
    let metrics_listener = match config.metrics_addr {
        Some(addr) => Some(bind(addr, "RECSYS_METRICS_ADDR").await?),
        None => None,
    };
    tracing::info!(addr = %config.listen_addr, metrics_addr = ?config.metrics_addr, oidc = oidc.is_some(), "recsys-sidecar listening");
    let limits = server::Limits::from_config(&config);
    let work_pool = recsys_sidecar::db::connect_work(&config)
        .await
        .map_err(|e| format!("cannot connect to the database (RECSYS_DATABASE_URL): {e}"))?;
    let state = AppState::new(pool, work_pool, oidc, config);
    state
        .spawn_background()
        .map_err(|e| format!("invalid RECSYS_DATABASE_URL: {e}"))?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown().await;
        let _ = stop.send(true);
    });
    let until_stopped = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|s| *s).await;
    };
    let metrics = async {
        if let Some(listener) = metrics_listener {
            let app = metrics_app(state.clone());
            server::serve(listener, app, limits, until_stopped(stopped.clone())).await;
        }
    };
    let api = server::serve(
        listener,
        app(state.clone()),
        limits,
        until_stopped(stopped.clone()),
    );
    tokio::join!(api, metrics);
    // The exporter's blocking client must not be dropped on an async worker.
    tokio::task::spawn_blocking(recsys_sidecar::tracing_setup::shutdown)
        .await
        .map_err(|e| e.to_string())?;
    Ok(())
}

async fn bind(addr: std::net::SocketAddr, name: &str) -> Result<tokio::net::TcpListener, String> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr} ({name}): {e}"))
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down: finishing requests in flight");
}
