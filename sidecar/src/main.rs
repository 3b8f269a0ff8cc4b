// SPDX-License-Identifier: BUSL-1.1
//! `recsys-sidecar`: serve the REST API, manage API keys, print the OpenAPI document.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use recsys_sidecar::auth::{api_keys, oidc, Role};
use recsys_sidecar::config::Config;
use recsys_sidecar::{app, openapi, AppState};

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
    /// Create, list and revoke API keys (uses RECSYS_DATABASE_URL).
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
        if let Err(e) = recsys_sidecar::telemetry::init(&config) {
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
        KeysCommand::Create { tenant, role, name } => {
            let role = Role::parse(&role).ok_or("role must be viewer, operator or admin")?;
            let key = api_keys::create(&pool, &tenant, role, &name).await?;
            eprintln!(
                "created key {} for tenant {tenant} as {}; it is shown only now:",
                key.id,
                role.as_str()
            );
            println!("{}", key.key);
        }
        KeysCommand::List => {
            println!("id\tprefix\ttenant\trole\tname\tcreated_at\trevoked_at");
            for k in api_keys::list(&pool).await.map_err(|e| e.to_string())? {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    k.id,
                    k.prefix,
                    k.tenant_id,
                    k.role,
                    k.name,
                    k.created_at.to_rfc3339(),
                    k.revoked_at.map(|t| t.to_rfc3339()).unwrap_or_default()
                );
            }
        }
        KeysCommand::Revoke { id } => {
            if !api_keys::revoke(&pool, id)
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
            Some(
                oidc::OidcVerifier::discover(settings, http)
                    .await
                    .map_err(|e| format!("OIDC discovery failed (RECSYS_OIDC_ISSUER): {e}"))?,
            )
        }
    };
    let listener = tokio::net::TcpListener::bind(config.listen_addr)
        .await
        .map_err(|e| {
            format!(
                "cannot listen on {} (RECSYS_LISTEN_ADDR): {e}",
                config.listen_addr
            )
        })?;
    tracing::info!(addr = %config.listen_addr, oidc = oidc.is_some(), "recsys-sidecar listening");
    let app = app(AppState::new(pool, oidc, config));
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown())
        .await
        .map_err(|e| e.to_string())?;
    // The exporter's blocking client must not be dropped on an async worker.
    tokio::task::spawn_blocking(recsys_sidecar::telemetry::shutdown)
        .await
        .map_err(|e| e.to_string())?;
    Ok(())
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
