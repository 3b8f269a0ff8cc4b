// SPDX-License-Identifier: BUSL-1.1
//! The recsys REST sidecar: the extension's operations over HTTP. It holds no algorithm and
//! decides no permission: every request is one transaction, run as the caller's tenant and
//! database role, calling recsys SQL functions with bound parameters.

pub mod auth;
pub mod compat;
pub mod config;
pub mod db;
pub mod error;
mod extract;
pub mod json;
mod limits;
mod locks;
pub mod openapi;
pub mod problems;
pub mod prometheus;
mod rate;
pub mod request_id;
pub mod routes;
pub mod server;
pub mod tracing_setup;
pub mod trainers;
mod validate;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, Request};
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use sqlx::PgPool;
use tokio::sync::{Notify, Semaphore};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

use crate::auth::api_keys::KeyStore;
use crate::auth::oidc::OidcVerifier;
use crate::config::Config;
use crate::error::ApiError;

#[derive(Clone)]
pub struct AppState {
    /// Serving: recommendations, reads, ingestion.
    pub pool: PgPool,
    /// Long work (trainings, evaluations), apart so it cannot take serving's connections.
    pub work_pool: PgPool,
    pub keys: KeyStore,
    pub oidc: Option<OidcVerifier>,
    /// Wakes a trainer when this sidecar queues a run.
    pub trainers: Arc<Notify>,
    /// Evaluations running now; at RECSYS_EVAL_CONCURRENCY more are refused with 429.
    pub evaluations: Arc<Semaphore>,
    /// Whether the installed extension is one this sidecar works with.
    pub extension: compat::Extension,
    pub config: Arc<Config>,
    pub metrics: PrometheusHandle,
}

impl AppState {
    /// `work_pool` as [`db::connect_work`] makes it.
    pub fn new(
        pool: PgPool,
        work_pool: PgPool,
        oidc: Option<OidcVerifier>,
        config: Config,
    ) -> Self {
        AppState {
            keys: KeyStore::new(
                pool.clone(),
                config.key_cache_ttl,
                config.key_lookups_per_sec,
            ),
            pool,
            work_pool,
            oidc,
            trainers: Arc::new(Notify::new()),
            evaluations: Arc::new(Semaphore::new(config.eval_concurrency)),
            extension: compat::Extension::default(),
            config: Arc::new(config),
            metrics: prometheus::recorder(),
        }
    }

    /// Starts what runs beside the requests: the trainers and their reconciler, the listener
    /// for API key revocations, and the watch on the extension's version.
    pub fn spawn_background(&self) -> Result<(), sqlx::Error> {
        trainers::spawn(self);
        let listener = db::listener(&self.config)?;
        tokio::spawn(auth::api_keys::listen_for_revocations(
            self.keys.clone(),
            listener,
        ));
        tokio::spawn(self.extension.clone().watch(self.pool.clone()));
        Ok(())
    }
}

fn documented() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .merge(routes::v1())
        .merge(routes::health::router())
        .routes(routes!(prometheus::metrics_endpoint))
}

/// The OpenAPI document of every route.
pub fn openapi() -> utoipa::openapi::OpenApi {
    documented().split_for_parts().1
}

async fn not_found() -> ApiError {
    ApiError::not_found("there is no such route").hint("GET /openapi.yaml lists every route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not support this method",
    )
}

pub fn app(state: AppState) -> Router {
    let max_body = state.config.max_body_bytes;
    let (router, api) = documented().split_for_parts();
    let yaml = openapi::yaml(&api);
    router
        .route_layer(axum::middleware::from_fn(prometheus::track))
        .route(
            "/openapi.yaml",
            get(move || async move { ([(header::CONTENT_TYPE, "application/yaml")], yaml) }),
        )
        .merge(SwaggerUi::new("/docs").url("/openapi.json", api))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(CatchPanicLayer::custom(|_| {
            tracing::error!("a handler panicked");
            axum::response::IntoResponse::into_response(ApiError::internal())
        }))
        .layer(axum::middleware::from_fn(problems::rewrite))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request<_>| {
                    let id = request
                        .headers()
                        .get(request_id::HEADER)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("");
                    tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id = %id)
                })
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
        // Outside the trace span, so an oversized URI is refused before it reaches the log.
        .layer(axum::middleware::from_fn_with_state(
            max_body,
            limits::enforce,
        ))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(axum::middleware::from_fn(request_id::sanitize))
        .with_state(state)
}

/// The metrics listener (`RECSYS_METRICS_ADDR`): `/metrics` without credentials, nothing else.
/// Keep it off the network clients reach; it is meant for the scraper.
pub fn metrics_app(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(prometheus::metrics_open))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn(problems::rewrite))
        .with_state(state)
}
