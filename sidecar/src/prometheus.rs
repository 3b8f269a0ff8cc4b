// SPDX-License-Identifier: BUSL-1.1
//! Prometheus metrics: the recorder, the per-request counters and timings, and `/metrics`.
//! Labels never carry a tenant or a user: only the route template, the method and the status,
//! so cardinality stays fixed.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::{ApiError, Problem};
use crate::AppState;

/// The process-wide recorder (metrics allows one); later calls share the first.
pub fn recorder() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("http_request_duration_seconds".into()),
                    &[
                        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                        10.0,
                    ],
                )
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full("recsys_training_run_duration_seconds".into()),
                        &[1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0],
                    )
                });
            match builder.map(|b| b.install_recorder()) {
                Ok(Ok(handle)) => handle,
                // Only fails if another recorder is installed: keep rendering an empty registry.
                _ => PrometheusBuilder::new().build_recorder().handle(),
            }
        })
        .clone()
}

/// Counts and times every routed request by route template, method and status.
pub async fn track(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let method = request.method().as_str().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("http_requests_total", "route" => route.clone(), "method" => method.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("http_request_duration_seconds", "route" => route, "method" => method)
        .record(started.elapsed().as_secs_f64());
    response
}

/// Prometheus text exposition, on the API listener only with `RECSYS_METRICS_TOKEN`.
///
/// Metrics describe the whole process, so they are not public: with `RECSYS_METRICS_TOKEN`
/// set this route needs `Authorization: Bearer <token>`; without it the route answers 404
/// here and is served, without credentials, on `RECSYS_METRICS_ADDR` if that is set.
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses(
        (status = 200, description = "Prometheus text format", body = String, content_type = "text/plain; version=0.0.4"),
        (status = 401, description = "RECSYS_METRICS_TOKEN is set and the request does not carry it", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "RECSYS_METRICS_TOKEN is not set: no metrics on this listener", body = Problem, content_type = "application/problem+json")))]
pub async fn metrics_endpoint(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(expected) = state.config.metrics_token_sha256 else {
        return ApiError::not_found("metrics are not served on this listener")
            .hint("set RECSYS_METRICS_ADDR for a metrics listener, or RECSYS_METRICS_TOKEN")
            .into_response();
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| Sha256::digest(token.trim().as_bytes()));
    // Digests have one length, so the comparison's time says nothing about the token.
    match presented {
        Some(digest) if bool::from(digest.as_slice().ct_eq(&expected)) => {
            exposition(&state).into_response()
        }
        _ => ApiError::unauthorized("/metrics needs Authorization: Bearer <RECSYS_METRICS_TOKEN>")
            .into_response(),
    }
}

/// `/metrics` on the metrics listener, which serves nothing else.
pub async fn metrics_open(State(state): State<AppState>) -> impl IntoResponse {
    exposition(&state)
}

fn exposition(state: &AppState) -> impl IntoResponse {
    metrics::gauge!("db_pool_connections").set(state.pool.size() as f64);
    metrics::gauge!("db_pool_idle_connections").set(state.pool.num_idle() as f64);
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}
