// SPDX-License-Identifier: BUSL-1.1
//! The item catalogue: batch upsert, and items similar to one item.

use std::sync::LazyLock;

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{Json, Path, Query};
use crate::validate::ModelName;
use crate::{db, validate, AppState};

#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Item {
    #[schema(min_length = 1, max_length = 512)]
    pub item_id: String,
    /// Free-form attributes, a JSON object; `{}` when absent.
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<serde_json::Map<String, serde_json::Value>>,
    /// Unavailable items are never recommended; true when absent.
    pub available: Option<bool>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpsertItemsRequest {
    #[schema(min_items = 1, max_items = 10000)]
    pub items: Vec<Item>,
}

#[derive(Serialize, ToSchema)]
pub struct UpsertItemsResult {
    /// Distinct items written (inserted or replaced).
    pub upserted: u64,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SimilarQuery {
    /// How many items, 1 to 1000.
    #[param(minimum = 1, maximum = 1000, default = 10)]
    pub k: Option<u32>,
    /// Model to use; the tenant's most recently trained one when absent.
    #[param(value_type = Option<ModelName>)]
    pub model: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct SimilarItem {
    pub item_id: String,
    pub score: f32,
    pub rank: i32,
}

#[derive(Serialize, ToSchema)]
pub struct SimilarItems {
    pub item_id: String,
    pub items: Vec<SimilarItem>,
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(upsert_items))
        .routes(routes!(similar_items))
}

/// Inserts or replaces catalogue items (operator).
#[utoipa::path(post, path = "/v1/items", tag = "items",
    request_body = UpsertItemsRequest,
    responses((status = 200, body = UpsertItemsResult),
              (status = "4XX", body = Problem, content_type = "application/problem+json"),
              (status = "5XX", body = Problem, content_type = "application/problem+json")),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn upsert_items(
    State(state): State<AppState>,
    principal: Principal,
    Json(request): Json<UpsertItemsRequest>,
) -> ApiResult<axum::Json<UpsertItemsResult>> {
    validate::batch("items", &request.items)?;
    for (i, item) in request.items.iter().enumerate() {
        validate::id("item_id", &item.item_id).map_err(|e| ApiError {
            detail: format!("items[{i}]: {}", e.detail),
            ..e
        })?;
    }
    let items = serde_json::to_value(&request.items).map_err(|_| ApiError::internal())?;
    let mut tx = db::begin(&state.pool, &principal).await?;
    let upserted: i64 = sqlx::query_scalar("SELECT recsys.upsert_items($1)")
        .bind(items)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(axum::Json(UpsertItemsResult {
        upserted: upserted as u64,
    }))
}

/// Items most similar to `item_id` under a model (viewer).
#[utoipa::path(get, path = "/v1/items/{item_id}/similar", tag = "items",
    params(("item_id" = String, Path, min_length = 1, max_length = 512), SimilarQuery),
    responses((status = 200, body = SimilarItems),
              (status = "4XX", body = Problem, content_type = "application/problem+json"),
              (status = "5XX", body = Problem, content_type = "application/problem+json")),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn similar_items(
    State(state): State<AppState>,
    principal: Principal,
    Path(item_id): Path<String>,
    Query(q): Query<SimilarQuery>,
) -> ApiResult<axum::Json<SimilarItems>> {
    static SQL: LazyLock<String> =
        LazyLock::new(|| db::caller_call_sql("r.item_id, r.score, r.rank", "similar_items", 3));
    validate::id("item_id", &item_id)?;
    let k = validate::list(q.k, q.model.as_deref())?;
    let rows: Vec<(String, f32, i32)> = db::bind_caller(sqlx::query_as(SQL.as_str()), &principal)
        .bind(&item_id)
        .bind(k)
        .bind(&q.model)
        .fetch_all(&state.pool)
        .await?;
    Ok(axum::Json(SimilarItems {
        item_id,
        items: rows
            .into_iter()
            .map(|(item_id, score, rank)| SimilarItem {
                item_id,
                score,
                rank,
            })
            .collect(),
    }))
}
