// SPDX-License-Identifier: BUSL-1.1
//! Liveness and readiness.

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ApiResult, Problem};
use crate::{compat, AppState};

#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok` when the check passed.
    pub status: String,
    /// Version of the installed recsys extension (readiness only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extension_version: Option<String>,
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
}

/// Liveness: the process answers. Does not touch the database.
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        extension_version: None,
    })
}

/// Readiness: the database answers and has a recsys extension this sidecar works with.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses((status = 200, body = Health),
              (status = 503, body = Problem, content_type = "application/problem+json")))]
pub async fn readyz(State(state): State<AppState>) -> ApiResult<Json<Health>> {
    let status = compat::check(&state.pool).await.map_err(|e| {
        tracing::warn!(error = %e, "readiness check failed");
        ApiError::unavailable("the database is unavailable")
    })?;
    state.extension.set(status.clone());
    match status {
        compat::Status::Ready(version) => Ok(Json(Health {
            status: "ok".into(),
            extension_version: Some(version),
        })),
        other => Err(other.refusal().unwrap_or_else(ApiError::internal)),
    }
}
