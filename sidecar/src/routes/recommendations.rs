// SPDX-License-Identifier: BUSL-1.1
//! Recommendations for one user.

use std::sync::LazyLock;

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Principal;
use crate::error::{ApiResult, Problem};
use crate::extract::{Path, Query};
use crate::validate::ModelName;
use crate::{db, validate, AppState};

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RecommendQuery {
    /// How many items, 1 to 1000.
    #[param(minimum = 1, maximum = 1000, default = 10)]
    pub k: Option<u32>,
    /// Model to use; the tenant's most recently trained one when absent.
    #[param(value_type = Option<ModelName>)]
    pub model: Option<String>,
    /// Leave out items the user already interacted with (default true).
    pub exclude_seen: Option<bool>,
}

#[derive(Serialize, ToSchema)]
pub struct Recommendation {
    pub item_id: String,
    pub score: f32,
    /// 1 for the best item.
    pub rank: i32,
    /// True when the user is unknown to the model and popularity answered instead.
    pub fallback: bool,
}

#[derive(Serialize, ToSchema)]
pub struct Recommendations {
    pub user_id: String,
    pub items: Vec<Recommendation>,
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(recommend))
}

/// Top-k items for a user (viewer). Unknown users get popular items, marked `fallback`.
#[utoipa::path(get, path = "/v1/users/{user_id}/recommendations", tag = "recommendations",
    params(("user_id" = String, Path, min_length = 1, max_length = 512), RecommendQuery),
    responses((status = 200, body = Recommendations),
              (status = "4XX", body = Problem, content_type = "application/problem+json"),
              (status = "5XX", body = Problem, content_type = "application/problem+json")),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn recommend(
    State(state): State<AppState>,
    principal: Principal,
    Path(user_id): Path<String>,
    Query(q): Query<RecommendQuery>,
) -> ApiResult<axum::Json<Recommendations>> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        db::caller_call_sql("r.item_id, r.score, r.rank, r.fallback", "recommend", 4)
    });
    validate::id("user_id", &user_id)?;
    let k = validate::list(q.k, q.model.as_deref())?;
    let rows: Vec<(String, f32, i32, bool)> =
        db::bind_caller(sqlx::query_as(SQL.as_str()), &principal)
            .bind(&user_id)
            .bind(k)
            .bind(&q.model)
            .bind(q.exclude_seen.unwrap_or(true))
            .fetch_all(&state.pool)
            .await?;
    Ok(axum::Json(Recommendations {
        user_id,
        items: rows
            .into_iter()
            .map(|(item_id, score, rank, fallback)| Recommendation {
                item_id,
                score,
                rank,
                fallback,
            })
            .collect(),
    }))
}
