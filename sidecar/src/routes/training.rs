// SPDX-License-Identifier: BUSL-1.1
//! Training in the background: the request commits a `queued` run and answers 202 at once; a
//! task then calls `recsys.train(..., run_id)`, which completes that same row in the
//! transaction that stores the model, or the task marks it `failed`. One training runs at a
//! time per sidecar (they would compete for the same cores); the others wait queued.

use std::time::Instant;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{Json, Path};
use crate::json::JsonText;
use crate::{db, validate, AppState};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrainRequest {
    /// `als` when absent.
    #[schema(value_type = Option<AlgorithmName>)]
    pub algorithm: Option<String>,
    /// Algorithm parameters; defaults for those absent (`SELECT * FROM recsys.algorithms()`).
    #[schema(value_type = Option<Object>)]
    pub params: Option<serde_json::Map<String, serde_json::Value>>,
    /// Serve the new version once trained (default true).
    pub activate: Option<bool>,
}

/// The built-in algorithms (an extension built with more also accepts their names).
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)] // exists for the OpenAPI document only
pub enum AlgorithmName {
    Als,
    Ease,
    Itemknn,
    Popularity,
}

#[derive(Serialize, ToSchema, sqlx::FromRow)]
pub struct TrainingRun {
    pub run_id: i64,
    pub model: String,
    pub algorithm: String,
    #[schema(value_type = Object)]
    pub params: JsonText,
    /// `queued`, `running`, `succeeded` or `failed`.
    pub status: String,
    /// From 0 to 1: rises by tenths while the model fits, 1 once stored.
    pub progress: f32,
    /// The stored version, once succeeded.
    pub version: Option<i32>,
    pub users: Option<i64>,
    pub items: Option<i64>,
    pub interactions: Option<i64>,
    #[schema(value_type = Option<Object>)]
    pub metrics: Option<JsonText>,
    /// Why it failed.
    pub error: Option<String>,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub seconds: Option<f64>,
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(start_training))
        .routes(routes!(get_run))
}

const RUN_COLUMNS: &str =
    "id AS run_id, model, algorithm, params::text AS params, status, progress, version, users, \
     items, interactions, metrics::text AS metrics, error, started_at, finished_at, seconds";

/// Starts training a new version of `model` (operator). Answers 202 with the queued run; poll
/// `Location` until `status` is `succeeded` or `failed`.
#[utoipa::path(post, path = "/v1/models/{model}/training-runs", tag = "training",
    params(("model" = String, Path, pattern = "^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")),
    request_body = TrainRequest,
    responses((status = 202, body = TrainingRun,
               headers(("Location" = String, description = "URL of the run"))),
              (status = "4XX", body = Problem, content_type = "application/problem+json"),
              (status = "5XX", body = Problem, content_type = "application/problem+json")),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn start_training(
    State(state): State<AppState>,
    principal: Principal,
    Path(model): Path<String>,
    Json(request): Json<TrainRequest>,
) -> ApiResult<(StatusCode, HeaderMap, axum::Json<TrainingRun>)> {
    validate::model(&model)?;
    let algorithm = request.algorithm.unwrap_or_else(|| "als".into());
    let params = serde_json::Value::Object(request.params.unwrap_or_default());
    let activate = request.activate.unwrap_or(true);
    let mut tx = db::begin(&state.pool, &principal).await?;
    let known: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM recsys.algorithms() WHERE name = $1)")
            .bind(&algorithm)
            .fetch_one(&mut *tx)
            .await?;
    if !known {
        return Err(
            ApiError::invalid(format!("unknown algorithm {algorithm:?}"))
                .hint("choose one of: als, ease, itemknn, popularity"),
        );
    }
    let run: TrainingRun = sqlx::query_as(&format!(
        "INSERT INTO recsys.training_runs (model, algorithm, params, status) VALUES ($1, $2, $3, 'queued') \
         RETURNING {RUN_COLUMNS}"
    ))
    .bind(&model)
    .bind(&algorithm)
    .bind(&params)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;

    let job = Job {
        principal,
        run_id: run.run_id,
        model,
        algorithm,
        params,
        activate,
    };
    tokio::spawn(job.run(state));
    let mut headers = HeaderMap::new();
    if let Ok(location) = HeaderValue::from_str(&format!("/v1/training-runs/{}", run.run_id)) {
        headers.insert(header::LOCATION, location);
    }
    Ok((StatusCode::ACCEPTED, headers, axum::Json(run)))
}

/// A training run of the caller's tenant (viewer).
#[utoipa::path(get, path = "/v1/training-runs/{run_id}", tag = "training",
    params(("run_id" = i64, Path, minimum = 1)),
    responses((status = 200, body = TrainingRun),
              (status = "4XX", body = Problem, content_type = "application/problem+json"),
              (status = "5XX", body = Problem, content_type = "application/problem+json")),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn get_run(
    State(state): State<AppState>,
    principal: Principal,
    Path(run_id): Path<i64>,
) -> ApiResult<axum::Json<TrainingRun>> {
    let mut tx = db::begin(&state.pool, &principal).await?;
    let run: Option<TrainingRun> = sqlx::query_as(&format!(
        "SELECT {RUN_COLUMNS} FROM recsys.training_runs WHERE id = $1 AND tenant_id = recsys.current_tenant()"
    ))
    .bind(run_id)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    run.map(axum::Json)
        .ok_or_else(|| ApiError::not_found(format!("there is no training run {run_id}")))
}

struct Job {
    principal: Principal,
    run_id: i64,
    model: String,
    algorithm: String,
    params: serde_json::Value,
    activate: bool,
}

impl Job {
    async fn run(self, state: AppState) {
        // The semaphore is never closed, so acquiring only waits.
        let Ok(_permit) = state.trainer.acquire().await else {
            return;
        };
        metrics::gauge!("recsys_training_runs_in_progress").increment(1.0);
        let started = Instant::now();
        let outcome = self.train(&state).await;
        metrics::gauge!("recsys_training_runs_in_progress").decrement(1.0);
        metrics::histogram!("recsys_training_run_duration_seconds")
            .record(started.elapsed().as_secs_f64());
        match outcome {
            Ok(version) => {
                metrics::counter!("recsys_training_runs_total", "outcome" => "succeeded")
                    .increment(1);
                tracing::info!(run_id = self.run_id, version, "training run succeeded");
            }
            Err(e) => {
                metrics::counter!("recsys_training_runs_total", "outcome" => "failed").increment(1);
                tracing::warn!(run_id = self.run_id, code = e.code, error = %e.detail, "training run failed");
                if let Err(mark) = self.mark_failed(&state, &e).await {
                    tracing::error!(run_id = self.run_id, error = %mark.detail, "could not record the failed run");
                }
            }
        }
    }

    /// The extension turns the run `running` once it holds the model's lock and fits.
    async fn train(&self, state: &AppState) -> ApiResult<i32> {
        let mut tx = db::begin_unbounded(&state.pool, &self.principal).await?;
        let version: i32 =
            sqlx::query_scalar("SELECT version FROM recsys.train($1, $2, $3, $4, run_id => $5)")
                .bind(&self.model)
                .bind(&self.algorithm)
                .bind(&self.params)
                .bind(self.activate)
                .bind(self.run_id)
                .fetch_one(&mut *tx)
                .await?;
        tx.commit().await?;
        Ok(version)
    }

    async fn mark_failed(&self, state: &AppState, e: &ApiError) -> ApiResult<()> {
        let mut error = e.detail.clone();
        if let Some(h) = &e.hint {
            error.push_str(" (hint: ");
            error.push_str(h);
            error.push(')');
        }
        let mut tx = db::begin(&state.pool, &self.principal).await?;
        sqlx::query(
            "UPDATE recsys.training_runs SET status = 'failed', error = $2, finished_at = now(), \
               seconds = extract(epoch FROM now() - started_at) \
             WHERE id = $1 AND status IN ('queued', 'running')",
        )
        .bind(self.run_id)
        .bind(error)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
