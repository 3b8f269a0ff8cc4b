// SPDX-License-Identifier: BUSL-1.1
//! The HTTP layer without a database: the server's connection limits and timeouts, problem
//! documents for every error, request size limits, and who may read `/metrics`. The pool
//! points at a closed port and connects lazily, so no request here reaches a database.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::Path;
use axum::http::{header, HeaderMap, Request, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use http_body_util::BodyExt;
use recsys_sidecar::config::Config;
use recsys_sidecar::server::{self, Limits};
use recsys_sidecar::{app, metrics_app, problems, AppState};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tower::ServiceExt;

const TOKEN: &str = "metrics-token-0123456789";

fn state(vars: &[(&str, &str)]) -> AppState {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let config = Config::from_lookup(|k| vars.get(k).cloned()).expect("config");
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let pool = sqlx::postgres::PgPoolOptions::new()
        .acquire_timeout(Duration::from_secs(1))
        .connect_lazy(&format!("postgres://nobody@127.0.0.1:{closed_port}/none"))
        .expect("lazy pool");
    AppState::new(pool.clone(), pool, None, config)
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    text: String,
}

impl Reply {
    #[track_caller]
    fn assert_problem(&self, status: StatusCode, code: &str) -> Value {
        assert_eq!(self.status, status, "{}", self.text);
        assert_eq!(
            self.headers[header::CONTENT_TYPE],
            "application/problem+json",
            "{status}"
        );
        let body: Value = serde_json::from_str(&self.text).expect("problem JSON");
        assert_eq!(body["status"], status.as_u16(), "{body}");
        assert_eq!(body["code"], code, "{body}");
        assert_eq!(body["type"], format!("https://recsys.dev/problems/{code}"));
        body
    }
}

async fn call(app: &Router, request: Request<Body>) -> Reply {
    let response = app.clone().oneshot(request).await.expect("infallible");
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.expect("body").to_bytes();
    Reply {
        status: parts.status,
        headers: parts.headers,
        text: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

fn get_request(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).expect("request")
}

// ---- a real listener and a plain TCP client ----------------------------------------------

struct Server {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    done: tokio::task::JoinHandle<()>,
}

async fn spawn(router: Router, limits: Limits) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = oneshot::channel::<()>();
    let done = tokio::spawn(server::serve(listener, router, limits, async {
        let _ = stopped.await;
    }));
    Server { addr, stop, done }
}

const LIMITS: Limits = Limits {
    header_timeout: Duration::from_secs(10),
    max_connections: 64,
};

/// Reads until the server closes; `None` if it has not within `wait`.
async fn read_until_closed(stream: &mut TcpStream, wait: Duration) -> Option<String> {
    let mut buf = Vec::new();
    match tokio::time::timeout(wait, stream.read_to_end(&mut buf)).await {
        Err(_) => None,
        // A reset is the server closing too.
        Ok(_) => Some(String::from_utf8_lossy(&buf).into_owned()),
    }
}

/// Sends `head` (with `Connection: close`) and returns the status and body of the answer.
async fn exchange(addr: SocketAddr, head: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(head.as_bytes()).await.expect("write");
    let text = read_until_closed(&mut stream, Duration::from_secs(5))
        .await
        .expect("the server answers and closes");
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    (status, body)
}

#[track_caller]
fn assert_problem_body(body: &str, status: u16, code: &str) {
    let body: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body:?}"));
    assert_eq!(
        (body["status"].as_u64(), body["code"].as_str()),
        (Some(u64::from(status)), Some(code)),
        "{body}"
    );
}

// ---- 1. server limits ----------------------------------------------------------------------

#[tokio::test]
async fn connection_limit_and_header_timeout_free_the_server_from_idle_clients() {
    let limits = Limits {
        header_timeout: Duration::from_secs(1),
        max_connections: 2,
    };
    let server = spawn(app(state(&[])), limits).await;
    let mut idle = [
        TcpStream::connect(server.addr).await.expect("first"),
        TcpStream::connect(server.addr).await.expect("second"),
    ];
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Both permits are held by clients that send nothing: a third is closed at once.
    let mut third = TcpStream::connect(server.addr).await.expect("third");
    let _ = third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let answer = read_until_closed(&mut third, Duration::from_secs(1)).await;
    assert_eq!(
        answer.as_deref(),
        Some(""),
        "the third connection is closed unanswered"
    );

    // The header timeout closes the idle ones, and the server serves again.
    let started = Instant::now();
    for stream in &mut idle {
        let closed = read_until_closed(stream, Duration::from_secs(5)).await;
        assert_eq!(
            closed.as_deref(),
            Some(""),
            "an idle connection was left open"
        );
    }
    assert!(started.elapsed() < Duration::from_secs(3));
    let deadline = Instant::now() + Duration::from_secs(2);
    let head = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    loop {
        let mut stream = TcpStream::connect(server.addr).await.expect("connect");
        stream.write_all(head.as_bytes()).await.expect("write");
        let text = read_until_closed(&mut stream, Duration::from_secs(5)).await;
        if text
            .as_deref()
            .is_some_and(|t| t.starts_with("HTTP/1.1 200"))
        {
            break;
        }
        // Permits are returned just after the sockets close.
        assert!(Instant::now() < deadline, "no request succeeded: {text:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A keep-alive connection idle after a request is bounded by the same timeout.
    let mut keep_alive = TcpStream::connect(server.addr).await.expect("connect");
    keep_alive
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let sent = Instant::now();
    let text = read_until_closed(&mut keep_alive, Duration::from_secs(5))
        .await
        .expect("closed after the idle timeout");
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        sent.elapsed() >= Duration::from_millis(800),
        "closed before the timeout: keep-alive was not honoured"
    );
}

#[tokio::test]
async fn graceful_shutdown_finishes_requests_in_flight() {
    let slow = Router::new().route(
        "/slow",
        get(|| async {
            tokio::time::sleep(Duration::from_millis(500)).await;
            "done"
        }),
    );
    let server = spawn(slow, LIMITS).await;
    let mut idle = TcpStream::connect(server.addr).await.expect("idle");
    let in_flight = tokio::spawn(exchange(
        server.addr,
        "GET /slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    ));
    tokio::time::sleep(Duration::from_millis(150)).await;
    server.stop.send(()).expect("stop");

    assert_eq!(in_flight.await.expect("task"), (200, "done".to_owned()));
    let closed = read_until_closed(&mut idle, Duration::from_secs(2)).await;
    assert_eq!(
        closed.as_deref(),
        Some(""),
        "idle connections close on shutdown"
    );
    tokio::time::timeout(Duration::from_secs(2), server.done)
        .await
        .expect("serve returns once the requests are done")
        .expect("task");
    assert!(
        TcpStream::connect(server.addr).await.is_err(),
        "still accepting"
    );
}

// ---- 2. problem documents ----------------------------------------------------------------

#[tokio::test]
async fn unknown_routes_and_swagger_assets_are_problems() {
    let app = app(state(&[]));
    call(&app, get_request("/docs/nope.js"))
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
    call(&app, get_request("/nope"))
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
    let docs = call(&app, get_request("/docs/")).await;
    assert_eq!(docs.status, StatusCode::OK);
    assert!(docs.text.contains("swagger"), "successes are left alone");
}

#[tokio::test]
async fn method_not_allowed_is_a_problem_with_allow() {
    let app = app(state(&[]));
    for uri in ["/healthz", "/openapi.yaml", "/docs/"] {
        let request = Request::delete(uri).body(Body::empty()).expect("request");
        let reply = call(&app, request).await;
        reply.assert_problem(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
        let allow = reply.headers[header::ALLOW].to_str().expect("allow");
        assert!(allow.contains("GET"), "{uri}: {allow}");
    }
}

#[tokio::test]
async fn library_errors_are_rewritten_keeping_status_and_headers() {
    #[derive(serde::Deserialize)]
    struct Payload {
        n: u32,
    }
    let app = Router::new()
        .route(
            "/json",
            post(|axum::Json(p): axum::Json<Payload>| async move { p.n.to_string() }),
        )
        .route(
            "/busy",
            get(|| async {
                let headers = [(header::RETRY_AFTER, "7")];
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    headers,
                    "pool /internal/x exhausted",
                )
            }),
        )
        .route(
            "/problem",
            get(|| async { recsys_sidecar::error::ApiError::invalid("n is too big") }),
        )
        .route(
            "/status/{status}",
            get(|Path(status): Path<u16>| async move {
                let status = StatusCode::from_u16(status).expect("status");
                (status, "refused by a library at /internal/x")
            }),
        )
        .layer(axum::middleware::from_fn(problems::rewrite));
    let post = |content_type: Option<&str>, body: &str| {
        let mut request = Request::post("/json");
        if let Some(ct) = content_type {
            request = request.header(header::CONTENT_TYPE, ct);
        }
        request.body(Body::from(body.to_owned())).expect("request")
    };

    let reply = call(&app, post(None, r#"{"n": 1}"#)).await;
    let body = reply.assert_problem(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("Content-Type")),
        "{body}"
    );
    call(&app, post(Some("application/json"), "{"))
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "bad_request");
    call(&app, post(Some("application/json"), r#"{"n": "x"}"#))
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body");

    let reply = call(&app, get_request("/busy")).await;
    let body = reply.assert_problem(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    assert_eq!(reply.headers[header::RETRY_AFTER], "7");
    assert!(
        !reply.text.contains("/internal/x"),
        "a server error's text leaked: {body}"
    );

    let reply = call(&app, get_request("/problem")).await;
    let body = reply.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid_parameter");
    assert_eq!(body["detail"], "n is too big", "problems pass unchanged");

    // Every other status a library may answer with (docs/reference/sidecar.md, Errors): a
    // client error's text becomes the detail, a server error's is never passed on.
    for (status, code) in [
        (StatusCode::NOT_ACCEPTABLE, "not_acceptable"),
        (StatusCode::REQUEST_TIMEOUT, "request_timeout"),
        (StatusCode::LENGTH_REQUIRED, "length_required"),
        (StatusCode::IM_A_TEAPOT, "client_error"),
        (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        (StatusCode::BAD_GATEWAY, "internal"),
    ] {
        let reply = call(&app, get_request(&format!("/status/{}", status.as_u16()))).await;
        let body = reply.assert_problem(status, code);
        assert_eq!(
            reply.text.contains("/internal/x"),
            status.is_client_error(),
            "{body}"
        );
    }
}

#[tokio::test]
async fn an_unreachable_database_is_503_unavailable() {
    let app = app(state(&[]));
    call(&app, get_request("/readyz"))
        .await
        .assert_problem(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    // A well-formed key must be looked up in the database.
    let key = format!("rsk_{}", "a".repeat(52));
    let request = Request::get("/v1/models")
        .header("X-API-Key", key)
        .body(Body::empty())
        .expect("request");
    call(&app, request)
        .await
        .assert_problem(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    let alive = call(&app, get_request("/healthz")).await;
    assert_eq!(
        alive.status,
        StatusCode::OK,
        "liveness never asks the database"
    );
}

#[tokio::test]
async fn size_limits_answer_with_problems_not_bare_hyper_errors() {
    let server = spawn(app(state(&[("RECSYS_MAX_BODY_BYTES", "1024")])), LIMITS).await;
    let request = |target: &str, headers: &str| {
        format!("GET {target} HTTP/1.1\r\nHost: x\r\n{headers}Connection: close\r\n\r\n")
    };

    let long = format!("/healthz?pad={}", "a".repeat(9 * 1024));
    let (status, body) = exchange(server.addr, &request(&long, "")).await;
    assert_eq!(status, 414, "{body}");
    assert_problem_body(&body, 414, "uri_too_long");
    let fits = format!("/healthz?pad={}", "a".repeat(7 * 1024));
    assert_eq!(exchange(server.addr, &request(&fits, "")).await.0, 200);

    let big = format!(
        "X-A: {}\r\nX-B: {}\r\n",
        "a".repeat(17 * 1024),
        "b".repeat(17 * 1024)
    );
    let (status, body) = exchange(server.addr, &request("/healthz", &big)).await;
    assert_eq!(status, 431, "{body}");
    assert_problem_body(&body, 431, "headers_too_large");
    // More fields than hyper's default of 100, well within the byte limit.
    let many: String = (0..300).map(|i| format!("X-{i}: v\r\n")).collect();
    assert_eq!(
        exchange(server.addr, &request("/healthz", &many)).await.0,
        200
    );

    // Declared too large: refused before credentials are checked and before any body byte.
    let head = "POST /v1/interactions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2048\r\nConnection: close\r\n\r\n";
    let (status, body) = exchange(server.addr, head).await;
    assert_eq!(status, 413, "{body}");
    assert_problem_body(&body, 413, "payload_too_large");
}

#[tokio::test]
async fn only_what_the_http_library_refuses_gets_a_bare_answer() {
    let server = spawn(app(state(&[])), LIMITS).await;
    let request = |headers: &str| {
        format!("GET /healthz HTTP/1.1\r\nHost: x\r\n{headers}Connection: close\r\n\r\n")
    };
    let bare = |status: u16, body: &str| {
        assert!(
            serde_json::from_str::<Value>(body).is_err(),
            "{status} is hyper's own, not a problem document: {body:?}"
        );
    };
    // More fields than server::MAX_HEADER_FIELDS, each tiny.
    let many: String = (0..server::MAX_HEADER_FIELDS + 100)
        .map(|i| format!("X-{i}: v\r\n"))
        .collect();
    let (status, body) = exchange(server.addr, &request(&many)).await;
    assert_eq!(status, 431, "{body}");
    bare(status, &body);
    // A head four times server::MAX_HEAD_BYTES. (hyper refuses a head once its read buffer
    // holds that much without the head's end; a head somewhat larger, read in one go, can
    // still reach the problem-document check.)
    let huge: String = (0..4 * server::MAX_HEAD_BYTES / 1024)
        .map(|i| format!("X-{i}: {}\r\n", "h".repeat(1014)))
        .collect();
    let (status, body) = exchange(server.addr, &request(&huge)).await;
    assert_eq!(status, 431, "{body}");
    bare(status, &body);
    // Not HTTP at all.
    let (status, body) = exchange(server.addr, "HELLO\r\n\r\n").await;
    assert_eq!(status, 400, "{body}");
    bare(status, &body);
}

// ---- 3. metrics ----------------------------------------------------------------------------

#[tokio::test]
async fn metrics_are_not_served_on_the_api_listener_by_default() {
    let app = app(state(&[]));
    call(&app, get_request("/metrics"))
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn metrics_token_guards_the_api_listener() {
    let app = app(state(&[("RECSYS_METRICS_TOKEN", TOKEN)]));
    let with_auth = |value: &str| {
        Request::get("/metrics")
            .header(header::AUTHORIZATION, value)
            .body(Body::empty())
            .expect("request")
    };
    call(&app, get_request("/metrics"))
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    for wrong in [
        "Bearer metrics-token-012345678",
        "Bearer metrics-token-01234567890",
        "Basic bWV0cmljcy10b2tlbi0wMTIzNDU2Nzg5",
        TOKEN,
    ] {
        call(&app, with_auth(wrong))
            .await
            .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    }
    let reply = call(&app, with_auth(&format!("Bearer {TOKEN}"))).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert!(reply.text.contains("db_pool_connections"), "{}", reply.text);
}

#[tokio::test]
async fn metrics_listener_serves_metrics_and_nothing_else() {
    let app = metrics_app(state(&[]));
    let reply = call(&app, get_request("/metrics")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.headers[header::CONTENT_TYPE]
        .to_str()
        .is_ok_and(|ct| ct.starts_with("text/plain")));
    assert!(reply.text.contains("db_pool_connections"), "{}", reply.text);
    for uri in ["/healthz", "/v1/models", "/docs/"] {
        call(&app, get_request(uri))
            .await
            .assert_problem(StatusCode::NOT_FOUND, "not_found");
    }
    let post = Request::post("/metrics")
        .body(Body::empty())
        .expect("request");
    call(&app, post)
        .await
        .assert_problem(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
}
