// SPDX-License-Identifier: BUSL-1.1
//! Training in the background: the request commits a `queued` run and answers 202 at once;
//! a trainer (`crate::trainers`) of this or any other sidecar of the database claims it and
//! calls `recsys.train(..., run_id)`, which completes that same row in the transaction that
//! stores the model, or the trainer marks it `failed`. The queue is the table, so runs queued
//! by a sidecar that stopped are picked up by another. A tenant may have
//! RECSYS_TRAINING_QUEUE_PER_TENANT unfinished runs; more are refused with 429.

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
use crate::validate::ModelName;
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
    /// `queued`, `running`, `succeeded`, `failed` or `cancelled`.
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
        .routes(routes!(cancel_run))
}

const RUN_COLUMNS: &str =
    "id AS run_id, model, algorithm, params::text AS params, status, progress, version, users, \
     items, interactions, metrics::text AS metrics, error, started_at, finished_at, seconds";

/// How long a tenant over its queue limit is told to wait.
const QUEUE_FULL_RETRY: std::time::Duration = std::time::Duration::from_secs(30);

/// Starts training a new version of `model` (operator). Answers 202 with the queued run; poll
/// `Location` until `status` is `succeeded`, `failed` or `cancelled`. A tenant with
/// RECSYS_TRAINING_QUEUE_PER_TENANT unfinished runs gets 429 and `Retry-After`.
#[utoipa::path(post, path = "/v1/models/{model}/training-runs", tag = "training",
    params(("model" = ModelName, Path)),
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
    let unfinished: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM recsys.training_runs WHERE status IN ('queued', 'running') \
           AND tenant_id OPERATOR(pg_catalog.=) recsys.current_tenant()",
    )
    .fetch_one(&mut *tx)
    .await?;
    if unfinished >= state.config.training_queue_per_tenant {
        return Err(ApiError::too_many_requests(
            format!("this tenant already has {unfinished} unfinished training runs"),
            QUEUE_FULL_RETRY,
        )
        .hint("wait for one to finish, or cancel one: POST /v1/training-runs/{run_id}/cancel"));
    }
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
        "INSERT INTO recsys.training_runs (model, algorithm, params, status, activate) \
         VALUES ($1, $2, $3, 'queued', $4) RETURNING {RUN_COLUMNS}"
    ))
    .bind(&model)
    .bind(&algorithm)
    .bind(&params)
    .bind(activate)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    state.trainers.notify_one();
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
    let found = fetch_run(&mut tx, run_id).await?;
    tx.commit().await?;
    Ok(axum::Json(found.run))
}

/// A run and the session that trains it.
#[derive(sqlx::FromRow)]
struct OwnedRun {
    #[sqlx(flatten)]
    run: TrainingRun,
    #[sqlx(flatten)]
    owner: crate::trainers::Owner,
}

async fn fetch_run(tx: &mut db::Tx, run_id: i64) -> ApiResult<OwnedRun> {
    let run: Option<OwnedRun> = sqlx::query_as(&format!(
        "SELECT {RUN_COLUMNS}, owner_pid, owner_started FROM recsys.training_runs \
         WHERE id = $1 AND tenant_id OPERATOR(pg_catalog.=) recsys.current_tenant()"
    ))
    .bind(run_id)
    .fetch_optional(&mut **tx)
    .await?;
    run.ok_or_else(|| ApiError::not_found(format!("there is no training run {run_id}")))
}

/// Cancels a queued or running training run (operator). A queued run never starts; a running
/// one is stopped at once when a sidecar trains it (otherwise at its next progress step) and
/// stores nothing. 409 when the run has already finished.
#[utoipa::path(post, path = "/v1/training-runs/{run_id}/cancel", tag = "training",
    params(("run_id" = i64, Path, minimum = 1)),
    responses((status = 200, body = TrainingRun),
              (status = "4XX", body = Problem, content_type = "application/problem+json"),
              (status = "5XX", body = Problem, content_type = "application/problem+json")),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn cancel_run(
    State(state): State<AppState>,
    principal: Principal,
    Path(run_id): Path<i64>,
) -> ApiResult<axum::Json<TrainingRun>> {
    let mut tx = db::begin(&state.pool, &principal).await?;
    let cancelled: bool = sqlx::query_scalar("SELECT recsys.cancel_training($1)")
        .bind(run_id)
        .fetch_one(&mut *tx)
        .await?;
    let OwnedRun { run, owner } = fetch_run(&mut tx, run_id).await?;
    tx.commit().await?;
    if !cancelled {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            format!("training run {run_id} is already {}", run.status),
        ));
    }
    // A run that was still queued has no owner, and nothing to interrupt.
    crate::trainers::interrupt(&state, run_id, &owner).await;
    Ok(axum::Json(run))
}
