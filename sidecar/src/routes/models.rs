// SPDX-License-Identifier: BUSL-1.1
//! Models, their versions, activation and offline evaluation.

use axum::extract::State;
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
use recsys_eval::SplitStrategy;

#[derive(Serialize, ToSchema, sqlx::FromRow)]
pub struct Model {
    pub name: String,
    pub algorithm: String,
    /// Parameters of the most recent training, every default filled in.
    #[schema(value_type = Object)]
    pub params: JsonText,
    /// The version served by recommendations; null until one is activated.
    pub active_version: Option<i32>,
    pub created_at: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct ModelList {
    pub models: Vec<Model>,
}

#[derive(Serialize, ToSchema, sqlx::FromRow)]
pub struct ModelVersion {
    pub version: i32,
    pub algorithm: String,
    #[schema(value_type = Object)]
    pub params: JsonText,
    pub active: bool,
    pub training_run_id: Option<i64>,
    /// Size of the stored artifact in bytes.
    pub bytes: i64,
    pub created_at: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct VersionList {
    pub model: String,
    pub versions: Vec<ModelVersion>,
}

#[derive(Serialize, ToSchema)]
pub struct Activated {
    pub model: String,
    pub active_version: i32,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct EvalRequest {
    /// List length scored, 1 to 1000 (default 10).
    #[schema(minimum = 1, maximum = 1000)]
    #[serde(default, deserialize_with = "crate::json::optional_whole")]
    pub k: Option<u32>,
    /// How to hold out test interactions; 20 % of each user's items (users with at least 5),
    /// seed 42, when absent.
    pub split: Option<Split>,
}

/// The split of `recsys.eval` (docs/reference/sql.md#recsyseval), checked by the same rule
/// as in SQL and the CLI (`recsys_eval::SplitStrategy::check`).
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Split {
    /// Per user with at least `min_user_items` items, hold out a random `test_fraction` of them.
    RandomHoldout {
        #[schema(exclusive_minimum = 0.0, exclusive_maximum = 1.0)]
        test_fraction: f64,
        #[schema(minimum = 2)]
        #[serde(deserialize_with = "crate::json::whole")]
        min_user_items: u64,
        #[serde(deserialize_with = "crate::json::whole")]
        seed: u64,
    },
    /// Per user with at least `min_user_items` items, hold out the latest.
    LeaveLastOut {
        #[schema(minimum = 2)]
        #[serde(deserialize_with = "crate::json::whole")]
        min_user_items: u64,
    },
    /// Events at or after `cut` (Unix seconds, negative before 1970) are the test side.
    TimeCut {
        #[serde(deserialize_with = "crate::json::whole")]
        cut: i64,
    },
}

impl Split {
    fn check(&self) -> ApiResult<()> {
        let items = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        let strategy = match *self {
            Split::RandomHoldout {
                test_fraction,
                min_user_items,
                seed,
            } => SplitStrategy::RandomHoldout {
                test_fraction,
                min_user_items: items(min_user_items),
                seed,
            },
            Split::LeaveLastOut { min_user_items } => SplitStrategy::LeaveLastOut {
                min_user_items: items(min_user_items),
            },
            Split::TimeCut { cut } => SplitStrategy::TimeCut { cut },
        };
        strategy
            .check()
            .map_err(|e| ApiError::from(recsys_core::CoreError::from(e)))
    }
}

#[derive(Serialize, ToSchema, sqlx::FromRow)]
pub struct Evaluation {
    pub eval_id: i64,
    pub model: String,
    pub algorithm: String,
    pub k: i32,
    /// Test users scored.
    pub users: i64,
    pub precision: f64,
    pub recall: f64,
    pub ndcg: f64,
    pub map: f64,
    pub hit_rate: f64,
    pub coverage: f64,
    pub novelty: f64,
    pub seconds: f64,
}

/// How long a caller refused for want of an evaluation slot is told to wait.
const EVALUATION_RETRY: std::time::Duration = std::time::Duration::from_secs(10);

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_models))
        .routes(routes!(list_versions))
        .routes(routes!(activate))
        .routes(routes!(evaluate))
}

/// The tenant's models (viewer).
#[utoipa::path(get, path = "/v1/models", tag = "models",
    responses((status = 200, body = ModelList),
              (status = "4XX", body = Problem, content_type = "application/problem+json"),
              (status = "5XX", body = Problem, content_type = "application/problem+json")),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn list_models(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<axum::Json<ModelList>> {
    let mut tx = db::begin(&state.pool, &principal).await?;
    let models = sqlx::query_as(
        "SELECT name, algorithm, params::text AS params, active_version, created_at FROM recsys.models \
         WHERE tenant_id OPERATOR(pg_catalog.=) recsys.current_tenant() ORDER BY name",
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(axum::Json(ModelList { models }))
}

/// A model's versions, newest first (viewer).
#[utoipa::path(get, path = "/v1/models/{model}/versions", tag = "models",
    params(("model" = ModelName, Path)),
    responses((status = 200, body = VersionList),
              (status = "4XX", body = Problem, content_type = "application/problem+json"),
              (status = "5XX", body = Problem, content_type = "application/problem+json")),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn list_versions(
    State(state): State<AppState>,
    principal: Principal,
    Path(model): Path<String>,
) -> ApiResult<axum::Json<VersionList>> {
    validate::model(&model)?;
    let mut tx = db::begin(&state.pool, &principal).await?;
    let exists: Option<i32> = sqlx::query_scalar(
        "SELECT 1 FROM recsys.models \
         WHERE tenant_id OPERATOR(pg_catalog.=) recsys.current_tenant() AND name = $1",
    )
    .bind(&model)
    .fetch_optional(&mut *tx)
    .await?;
    if exists.is_none() {
        return Err(ApiError::not_found(format!(
            "model \"{model}\" does not exist"
        )));
    }
    let versions = sqlx::query_as(
        "SELECT v.version, v.algorithm, v.params::text AS params, v.version IS NOT DISTINCT FROM m.active_version AS active, \
                v.training_run_id, octet_length(v.artifact)::bigint AS bytes, v.created_at \
         FROM recsys.model_versions v JOIN recsys.models m \
           ON m.tenant_id OPERATOR(pg_catalog.=) v.tenant_id AND m.name = v.model \
         WHERE v.tenant_id OPERATOR(pg_catalog.=) recsys.current_tenant() AND v.model = $1 \
         ORDER BY v.version DESC",
    )
    .bind(&model)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(axum::Json(VersionList { model, versions }))
}

/// Makes `version` the one served (admin).
#[utoipa::path(post, path = "/v1/models/{model}/versions/{version}/activate", tag = "models",
    params(("model" = ModelName, Path),
           ("version" = i32, Path, minimum = 1)),
    responses((status = 200, body = Activated),
              (status = "4XX", body = Problem, content_type = "application/problem+json"),
              (status = "5XX", body = Problem, content_type = "application/problem+json")),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn activate(
    State(state): State<AppState>,
    principal: Principal,
    Path((model, version)): Path<(String, i32)>,
) -> ApiResult<axum::Json<Activated>> {
    validate::model(&model)?;
    if version < 1 {
        return Err(ApiError::invalid("version must be 1 or more"));
    }
    let mut tx = db::begin(&state.pool, &principal).await?;
    sqlx::query("SELECT recsys.activate($1, $2)")
        .bind(&model)
        .bind(version)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(axum::Json(Activated {
        model,
        active_version: version,
    }))
}

/// Evaluates the model's algorithm and parameters offline and stores the metrics (operator).
/// Runs within the request, bounded by RECSYS_REQUEST_TIMEOUT_SECS, on connections apart from
/// serving's; at RECSYS_EVAL_CONCURRENCY evaluations running, more get 429.
#[utoipa::path(post, path = "/v1/models/{model}/evaluations", tag = "models",
    params(("model" = ModelName, Path)),
    request_body = EvalRequest,
    responses((status = 200, body = Evaluation),
              (status = "4XX", body = Problem, content_type = "application/problem+json"),
              (status = "5XX", body = Problem, content_type = "application/problem+json")),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn evaluate(
    State(state): State<AppState>,
    principal: Principal,
    Path(model): Path<String>,
    Json(request): Json<EvalRequest>,
) -> ApiResult<axum::Json<Evaluation>> {
    validate::model(&model)?;
    let k = validate::k(request.k.unwrap_or(10))?;
    let split = match &request.split {
        Some(s) => {
            s.check()?;
            serde_json::to_value(s).map_err(|_| ApiError::internal())?
        }
        None => serde_json::json!({}),
    };
    let Ok(_running) = state.evaluations.clone().try_acquire_owned() else {
        return Err(ApiError::too_many_requests(
            "this sidecar is running as many evaluations as it may",
            EVALUATION_RETRY,
        ));
    };
    let mut tx = db::begin(&state.work_pool, &principal).await?;
    let evaluation = sqlx::query_as(
        "SELECT eval_id, model, algorithm, k, users, \"precision\", recall, ndcg, map, hit_rate, coverage, \
                novelty, seconds FROM recsys.eval($1, $2, $3)",
    )
    .bind(&model)
    .bind(k)
    .bind(split)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(axum::Json(evaluation))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(body: serde_json::Value) -> Result<(), String> {
        let split: Split = serde_json::from_value(body).map_err(|e| e.to_string())?;
        split
            .check()
            .map_err(|e| format!("{} {}", e.status, e.detail))
    }

    /// The bounds are `recsys_eval::SplitStrategy::check`'s, as in SQL and the CLI.
    #[test]
    fn splits_are_checked_by_the_evaluation_rule() {
        let holdout = |fraction: f64, min: u64| json!({"kind": "random_holdout", "test_fraction": fraction, "min_user_items": min, "seed": 7});
        assert_eq!(check(holdout(0.0005, 5)), Ok(()));
        assert_eq!(check(json!({"kind": "time_cut", "cut": -86400})), Ok(()));
        assert_eq!(
            check(json!({"kind": "leave_last_out", "min_user_items": 2_000_000})),
            Ok(())
        );
        let seed = json!({"kind": "random_holdout", "test_fraction": 0.2, "min_user_items": 5, "seed": 9007199254740993_u64});
        let Ok(Split::RandomHoldout { seed, .. }) = serde_json::from_value::<Split>(seed) else {
            panic!("a seed above 2^53 parses");
        };
        assert_eq!(seed, 9007199254740993);
        let too_big = json!({"kind": "random_holdout", "test_fraction": 0.2, "min_user_items": 5, "seed": 9223372036854775808_u64});
        for bad in [holdout(0.0, 5), holdout(1.0, 5), holdout(0.2, 1), too_big] {
            let refused = check(bad.clone()).expect_err("refused");
            assert!(refused.starts_with("422"), "{bad}: {refused}");
        }
    }
}
