// SPDX-License-Identifier: BUSL-1.1
//! The trainers: RECSYS_TRAINING_WORKERS tasks that claim queued runs from
//! `recsys.training_runs` (fairly across tenants, at most RECSYS_TRAINING_PER_TENANT of a
//! tenant at once, see `recsys.claim_training_run`) and train them on the work pool, for at
//! most RECSYS_MAX_TRAINING_SECS; and the reconciler, which at start and then every
//! [`RECONCILE_EVERY`] fails the runs whose session is gone (a database restart, a killed
//! sidecar), so no run stays `running` forever.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sqlx::pool::PoolConnection;
use sqlx::Postgres;

use crate::auth::{Principal, Role};
use crate::error::{ApiError, ApiResult};
use crate::{db, AppState};

/// How often queued runs are looked for when nobody announced one (runs queued by another
/// sidecar, or left by one that stopped).
const POLL_EVERY: Duration = Duration::from_secs(5);
pub const RECONCILE_EVERY: Duration = Duration::from_secs(30);

#[derive(sqlx::FromRow)]
struct Claimed {
    run_id: i64,
    tenant_id: String,
    model: String,
    algorithm: String,
    params: serde_json::Value,
    activate: bool,
    requested_by: Option<String>,
}

/// Starts the trainers and the reconciler.
pub fn spawn(state: &AppState) {
    for _ in 0..state.config.training_workers {
        tokio::spawn(work(state.clone()));
    }
    tokio::spawn(reconcile(state.clone()));
}

async fn work(state: AppState) {
    loop {
        match claim_and_train(&state).await {
            Ok(true) => {}
            Ok(false) => {
                let _ = tokio::time::timeout(POLL_EVERY, state.trainers.notified()).await;
            }
            Err(e) => {
                tracing::warn!(code = e.code, error = %e.detail, "could not claim a training run");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// Claims the next run and trains it on the same connection, which the run then names as its
/// owner. False when no run was waiting.
async fn claim_and_train(state: &AppState) -> ApiResult<bool> {
    let mut conn = state.work_pool.acquire().await?;
    let claimed: Option<Claimed> = sqlx::query_as(
        "SELECT run_id, tenant_id, model, algorithm, params, activate, requested_by \
         FROM recsys.claim_training_run($1)",
    )
    .bind(state.config.training_per_tenant as i32)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(run) = claimed else {
        return Ok(false);
    };
    let principal = Principal {
        tenant: run.tenant_id.clone(),
        // Authorised when it was queued (only operators and admins may queue).
        role: Role::Operator,
        subject: run.requested_by.clone().unwrap_or_default(),
    };
    metrics::gauge!("recsys_training_runs_in_progress").increment(1.0);
    let started = Instant::now();
    let outcome = train(&mut conn, state, &principal, &run).await;
    metrics::gauge!("recsys_training_runs_in_progress").decrement(1.0);
    metrics::histogram!("recsys_training_run_duration_seconds")
        .record(started.elapsed().as_secs_f64());
    match outcome {
        Ok(version) => {
            metrics::counter!("recsys_training_runs_total", "outcome" => "succeeded").increment(1);
            tracing::info!(run_id = run.run_id, version, "training run succeeded");
        }
        Err(e) => {
            metrics::counter!("recsys_training_runs_total", "outcome" => "failed").increment(1);
            tracing::warn!(run_id = run.run_id, code = e.code, error = %e.detail, "training run failed");
            if let Err(mark) = mark_failed(state, &principal, run.run_id, &e).await {
                tracing::error!(run_id = run.run_id, error = %mark.detail, "could not record the failed run");
            }
        }
    }
    Ok(true)
}

async fn train(
    conn: &mut PoolConnection<Postgres>,
    state: &AppState,
    principal: &Principal,
    run: &Claimed,
) -> ApiResult<i32> {
    let mut tx = db::begin_on(&mut *conn, principal).await?;
    sqlx::query("SELECT pg_catalog.set_config('statement_timeout', $1, true)")
        .bind(format!("{}s", state.config.max_training_duration.as_secs()))
        .execute(&mut *tx)
        .await?;
    let version: i32 =
        sqlx::query_scalar("SELECT version FROM recsys.train($1, $2, $3, $4, run_id => $5)")
            .bind(&run.model)
            .bind(&run.algorithm)
            .bind(&run.params)
            .bind(run.activate)
            .bind(run.run_id)
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| match ApiError::from(e) {
                timeout if timeout.code == "timeout" => ApiError::new(
                    timeout.status,
                    "timeout",
                    "the training took longer than RECSYS_MAX_TRAINING_SECS and was stopped",
                ),
                other => other,
            })?;
    tx.commit().await?;
    Ok(version)
}

/// Records why a run failed. A run cancelled meanwhile stays cancelled.
async fn mark_failed(
    state: &AppState,
    principal: &Principal,
    run_id: i64,
    e: &ApiError,
) -> ApiResult<()> {
    let mut error = e.detail.clone();
    if let Some(h) = &e.hint {
        error.push_str(" (hint: ");
        error.push_str(h);
        error.push(')');
    }
    let mut tx = db::begin(&state.work_pool, principal).await?;
    sqlx::query(
        "UPDATE recsys.training_runs SET status = 'failed', error = $2, finished_at = now(), \
           seconds = extract(epoch FROM now() - started_at) \
         WHERE id = $1 AND status IN ('queued', 'running')",
    )
    .bind(run_id)
    .bind(error)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The session that owns a run, and when the run was cancelled.
#[derive(sqlx::FromRow)]
pub struct Owner {
    owner_pid: Option<i32>,
    owner_started: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
}

/// Stops the training of a run just cancelled, when a sidecar's connection trains it: the
/// owning backend, if it is one of this login's and its transaction began before the cancel
/// (so it is not already training another run), is sent a cancel request. Other trainers
/// notice the cancel at their next progress step.
pub async fn interrupt(state: &AppState, run_id: i64, owner: &Owner) {
    let sent = sqlx::query_scalar::<_, bool>(
        "SELECT pg_catalog.pg_cancel_backend(a.pid) FROM pg_catalog.pg_stat_activity a \
         WHERE a.pid OPERATOR(pg_catalog.=) $1 AND a.backend_start OPERATOR(pg_catalog.=) $2 \
           AND a.usename OPERATOR(pg_catalog.=) current_user \
           AND a.xact_start OPERATOR(pg_catalog.<=) $3",
    )
    .bind(owner.owner_pid)
    .bind(owner.owner_started)
    .bind(owner.finished_at)
    .fetch_optional(&state.pool)
    .await;
    match sent {
        Ok(Some(true)) => tracing::info!(run_id, "cancelled a running training"),
        Ok(_) => tracing::debug!(run_id, "no sidecar backend trains this run"),
        Err(e) => tracing::warn!(run_id, error = %e, "could not interrupt a cancelled training"),
    }
}

async fn reconcile(state: AppState) {
    loop {
        match sqlx::query_scalar::<_, i32>("SELECT recsys.fail_orphaned_runs()")
            .fetch_one(&state.pool)
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::warn!(runs = n, "failed training runs whose session was gone"),
            Err(e) => tracing::warn!(error = %e, "could not reconcile training runs"),
        }
        tokio::time::sleep(RECONCILE_EVERY).await;
    }
}
