// SPDX-License-Identifier: BUSL-1.1
//! Batch ingestion of interactions, idempotent by event id.

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::Json;
use crate::{db, validate, AppState};

#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Interaction {
    /// Idempotency key: an event already stored for this tenant is skipped. Generated when absent.
    #[schema(min_length = 1, max_length = 512)]
    pub event_id: Option<String>,
    #[schema(min_length = 1, max_length = 512)]
    pub user_id: String,
    #[schema(min_length = 1, max_length = 512)]
    pub item_id: String,
    /// Strength of the interaction; 1 when absent.
    #[schema(minimum = 1e-30, maximum = 1e30)]
    pub weight: Option<f64>,
    /// When it happened; now when absent.
    pub occurred_at: Option<DateTime<Utc>>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IngestRequest {
    #[schema(min_items = 1, max_items = 10000)]
    pub events: Vec<Interaction>,
}

#[derive(Serialize, ToSchema)]
pub struct IngestResult {
    /// Events in the request.
    pub received: u64,
    /// Events stored now; the rest were already stored (same event_id).
    pub inserted: u64,
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(ingest))
}

/// Stores a batch of interactions (operator). Retrying a batch stores nothing twice when
/// events carry an `event_id`.
#[utoipa::path(post, path = "/v1/interactions", tag = "interactions",
    request_body = IngestRequest,
    responses((status = 200, body = IngestResult),
              (status = "4XX", body = Problem, content_type = "application/problem+json"),
              (status = "5XX", body = Problem, content_type = "application/problem+json")),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn ingest(
    State(state): State<AppState>,
    principal: Principal,
    Json(request): Json<IngestRequest>,
) -> ApiResult<axum::Json<IngestResult>> {
    validate::batch("events", &request.events)?;
    for (i, e) in request.events.iter().enumerate() {
        let at = |r: ApiResult<()>| {
            r.map_err(|err| ApiError {
                detail: format!("events[{i}]: {}", err.detail),
                ..err
            })
        };
        at(validate::id(
            "event_id",
            e.event_id.as_deref().unwrap_or("x"),
        ))?;
        at(validate::id("user_id", &e.user_id))?;
        at(validate::id("item_id", &e.item_id))?;
        if let Some(w) = e.weight {
            // Within what the `real` column holds as a positive, finite number.
            if !(1e-30..=1e30).contains(&w) {
                return Err(ApiError::invalid(format!(
                    "events[{i}]: weight must be between 1e-30 and 1e30"
                )));
            }
        }
    }
    let events = serde_json::to_value(&request.events).map_err(|_| ApiError::internal())?;
    let mut tx = db::begin(&state.pool, &principal).await?;
    let inserted: i64 = sqlx::query_scalar("SELECT recsys.ingest($1)")
        .bind(events)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(axum::Json(IngestResult {
        received: request.events.len() as u64,
        inserted: inserted as u64,
    }))
}
