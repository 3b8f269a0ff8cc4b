// SPDX-License-Identifier: BUSL-1.1
//! The harness of the tests against a real PostgreSQL with the recsys extension, through the
//! same router the binary serves. scripts/test prepares the database and runs them with
//! `RECSYS_TEST_DATABASE_URL` (the sidecar's login) and `RECSYS_TEST_ADMIN_URL` (a superuser),
//! `cargo test -p recsys-sidecar -- --ignored --test-threads=1`: one test at a time, so no
//! test's trainers are stopped with its runtime while they train another test's run.
#![allow(dead_code)] // each test file uses part of it

use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderMap, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use recsys_sidecar::auth::oidc::OidcVerifier;
use recsys_sidecar::auth::{key_admin, Role};
use recsys_sidecar::config::Config;
use recsys_sidecar::{app, AppState};
use serde_json::{json, Value};
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;
use tower::ServiceExt;

pub const NEEDS_DB: &str = "needs RECSYS_TEST_DATABASE_URL; scripts/test runs it";

pub struct Api {
    pub app: Router,
    /// The sidecar's own login.
    pub pool: PgPool,
    /// A superuser: creates keys (recsys_key_admin) and inspects every tenant's rows.
    pub admin: PgPool,
    pub state: AppState,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Api {
    pub async fn new() -> Api {
        Api::build(|_| {}, None).await
    }

    /// An API on the test database with `tweak` applied to its configuration and, with
    /// `oidc`, bearer tokens accepted. Its trainers and other background tasks run.
    pub async fn build(tweak: impl FnOnce(&mut Config), oidc: Option<OidcVerifier>) -> Api {
        let url = std::env::var("RECSYS_TEST_DATABASE_URL").expect(NEEDS_DB);
        let admin_url = std::env::var("RECSYS_TEST_ADMIN_URL").expect(NEEDS_DB);
        let mut config = Config::from_lookup(|_| None).expect("config");
        config.database_url = url;
        config.db_max_connections = 8;
        // Revocations must show at once in these tests.
        config.key_cache_ttl = Duration::ZERO;
        config.max_body_bytes = 64 * 1024;
        tweak(&mut config);
        let pool = recsys_sidecar::db::connect(&config)
            .await
            .expect("database");
        let work = recsys_sidecar::db::connect_work(&config)
            .await
            .expect("database");
        let admin = PgPoolOptions::new()
            .max_connections(2)
            .connect(&admin_url)
            .await
            .expect("admin database");
        let state = AppState::new(pool.clone(), work, oidc, config);
        state.spawn_background().expect("background tasks");
        Api {
            app: app(state.clone()),
            pool,
            admin,
            state,
        }
    }

    /// A fresh tenant name per test, so tests share the database without seeing each other.
    pub fn tenant(prefix: &str) -> String {
        format!("{prefix}-{}", rand_suffix())
    }

    pub async fn key(&self, tenant: &str, role: Role) -> String {
        key_admin::create(&self.admin, tenant, role, "test", None)
            .await
            .expect("key")
            .key
    }

    pub async fn call(
        &self,
        method: &str,
        uri: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        self.call_with(method, uri, key.map(|k| ("x-api-key", k.to_string())), body)
            .await
    }

    pub async fn call_bearer(
        &self,
        method: &str,
        uri: &str,
        token: &str,
        body: Option<Value>,
    ) -> Reply {
        self.call_with(
            method,
            uri,
            Some(("authorization", format!("Bearer {token}"))),
            body,
        )
        .await
    }

    /// A request with one credential header (name, value) and an optional JSON body.
    pub async fn call_with(
        &self,
        method: &str,
        uri: &str,
        credential: Option<(&str, String)>,
        body: Option<Value>,
    ) -> Reply {
        let mut request = Request::builder().method(method).uri(uri);
        if let Some((name, value)) = credential {
            request = request.header(name, value);
        }
        let body = match body {
            Some(b) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Body::from(b.to_string())
            }
            None => Body::empty(),
        };
        self.send(request.body(body).expect("request")).await
    }

    pub async fn send(&self, request: Request<Body>) -> Reply {
        let response = self.app.clone().oneshot(request).await.expect("response");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
        Reply {
            status,
            headers,
            body,
        }
    }

    pub async fn ingest(&self, key: &str, users: usize, items: usize, item_prefix: &str) {
        let events: Vec<Value> = (0..users * 6)
            .map(|i| {
                let (user, j) = (i / 6, i % 6);
                let item = (user * 3 + j * (1 + user % 4) + j * j) % items;
                json!({"event_id": format!("e{i}"), "user_id": format!("u{user}"), "item_id": format!("{item_prefix}{item}")})
            })
            .collect();
        let r = self
            .call(
                "POST",
                "/v1/interactions",
                Some(key),
                Some(json!({ "events": events })),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }

    /// Starts training; returns the run's URL (its `Location`).
    pub async fn queue(&self, key: &str, model: &str, body: Value) -> String {
        let r = self
            .call(
                "POST",
                &format!("/v1/models/{model}/training-runs"),
                Some(key),
                Some(body),
            )
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
        assert_eq!(r.body["status"], "queued");
        r.headers[header::LOCATION]
            .to_str()
            .expect("location")
            .to_string()
    }

    /// Polls a run until `done` says so (60 s at most) and returns it.
    pub async fn wait_run(&self, key: &str, run: &str, done: impl Fn(&Value) -> bool) -> Value {
        for _ in 0..600 {
            let r = self.call("GET", run, Some(key), None).await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
            if done(&r.body) {
                return r.body;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{run} did not reach the awaited state within 60 s");
    }

    /// Starts training and polls the run until it finishes.
    pub async fn train(&self, key: &str, model: &str, body: Value) -> Value {
        let run = self.queue(key, model, body).await;
        self.wait_run(key, &run, |r| {
            ["succeeded", "failed", "cancelled"].contains(&r["status"].as_str().unwrap_or(""))
        })
        .await
    }
}

pub fn rand_suffix() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{:x}{:x}", nanos, std::process::id())
}

pub fn assert_problem(r: &Reply, status: StatusCode, code: &str) {
    assert_eq!(r.status, status, "{}", r.body);
    assert_eq!(r.headers[header::CONTENT_TYPE], "application/problem+json");
    assert_eq!(r.body["code"], code, "{}", r.body);
    assert_eq!(
        r.body["type"],
        format!("https://recsys.dev/problems/{code}")
    );
    assert_eq!(r.body["status"], status.as_u16());
}
