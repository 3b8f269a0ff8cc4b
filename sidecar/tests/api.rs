// SPDX-License-Identifier: BUSL-1.1
//! The REST API against a real PostgreSQL with the recsys extension, through the same router
//! the binary serves (harness and how to run them: tests/common/mod.rs).

mod common;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use common::{assert_problem, Api};
use recsys_sidecar::auth::{key_admin, Role};
use serde_json::json;
use sha2::Digest;

#[tokio::test]
#[ignore = "needs RECSYS_TEST_DATABASE_URL; scripts/test runs it"]
async fn tenant_a_cannot_reach_tenant_b_over_rest() {
    let api = Api::new().await;
    let (a, b) = (Api::tenant("a"), Api::tenant("b"));
    let a_operator = api.key(&a, Role::Operator).await;
    let a_viewer = api.key(&a, Role::Viewer).await;
    let b_admin = api.key(&b, Role::Admin).await;

    api.ingest(&a_operator, 30, 20, "a-item").await;
    let run = api
        .train(
            &a_operator,
            "m",
            json!({"algorithm": "als", "params": {"factors": 4, "iterations": 3}}),
        )
        .await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["version"], 1);
    let run_id = run["run_id"].as_i64().expect("run id");

    let recs = api
        .call(
            "GET",
            "/v1/users/u1/recommendations?k=5",
            Some(&a_viewer),
            None,
        )
        .await;
    assert_eq!(recs.status, StatusCode::OK, "{}", recs.body);
    assert_eq!(recs.body["items"].as_array().map(Vec::len), Some(5));

    // Tenant B, even as admin, sees none of it: 404, never 403, so existence does not leak.
    assert_problem(
        &api.call(
            "GET",
            &format!("/v1/training-runs/{run_id}"),
            Some(&b_admin),
            None,
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_problem(
        &api.call("GET", "/v1/users/u1/recommendations", Some(&b_admin), None)
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_problem(
        &api.call("GET", "/v1/items/a-item1/similar", Some(&b_admin), None)
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_problem(
        &api.call("GET", "/v1/models/m/versions", Some(&b_admin), None)
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_problem(
        &api.call(
            "POST",
            "/v1/models/m/versions/1/activate",
            Some(&b_admin),
            None,
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_problem(
        &api.call(
            "POST",
            "/v1/models/m/evaluations",
            Some(&b_admin),
            Some(json!({})),
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let models = api.call("GET", "/v1/models", Some(&b_admin), None).await;
    assert_eq!(models.body["models"], json!([]), "{}", models.body);

    // B's own model of the same name is separate; A's recommendations stay A's items.
    api.ingest(&b_admin, 10, 5, "b-item").await;
    let b_run = api
        .train(&b_admin, "m", json!({"algorithm": "popularity"}))
        .await;
    assert_eq!(b_run["version"], 1, "{b_run}");
    let recs = api
        .call(
            "GET",
            "/v1/users/u1/recommendations?k=10",
            Some(&a_viewer),
            None,
        )
        .await;
    let items = recs.body["items"].as_array().expect("items");
    assert!(
        items.iter().all(|i| i["item_id"]
            .as_str()
            .is_some_and(|s| s.starts_with("a-item"))),
        "{}",
        recs.body
    );
    let listed = api.call("GET", "/v1/models", Some(&a_viewer), None).await;
    assert_eq!(
        listed.body["models"][0]["algorithm"], "als",
        "{}",
        listed.body
    );
}

#[tokio::test]
#[ignore = "needs RECSYS_TEST_DATABASE_URL; scripts/test runs it"]
async fn roles_are_enforced_by_the_database() {
    let api = Api::new().await;
    let t = Api::tenant("roles");
    let viewer = api.key(&t, Role::Viewer).await;
    let operator = api.key(&t, Role::Operator).await;
    let admin = api.key(&t, Role::Admin).await;

    assert_problem(
        &api.call(
            "POST",
            "/v1/interactions",
            Some(&viewer),
            Some(json!({"events": [{"user_id": "u", "item_id": "i"}]})),
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_problem(
        &api.call(
            "POST",
            "/v1/models/m/training-runs",
            Some(&viewer),
            Some(json!({})),
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    api.ingest(&operator, 20, 10, "i").await;
    let run = api
        .train(
            &operator,
            "m",
            json!({"algorithm": "popularity", "activate": false}),
        )
        .await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let versions = api
        .call("GET", "/v1/models/m/versions", Some(&viewer), None)
        .await;
    assert_eq!(
        versions.body["versions"][0]["active"], false,
        "{}",
        versions.body
    );
    assert_problem(
        &api.call(
            "POST",
            "/v1/models/m/versions/1/activate",
            Some(&operator),
            None,
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    let activated = api
        .call(
            "POST",
            "/v1/models/m/versions/1/activate",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(activated.status, StatusCode::OK, "{}", activated.body);
    let recs = api
        .call(
            "GET",
            "/v1/users/u1/recommendations?k=3",
            Some(&viewer),
            None,
        )
        .await;
    assert_eq!(recs.status, StatusCode::OK, "{}", recs.body);
}

#[tokio::test]
#[ignore = "needs RECSYS_TEST_DATABASE_URL; scripts/test runs it"]
async fn credentials_are_checked() {
    let api = Api::new().await;
    let t = Api::tenant("auth");
    let r = api.call("GET", "/v1/models", None, None).await;
    assert_problem(&r, StatusCode::UNAUTHORIZED, "unauthorized");
    assert!(r.headers.contains_key(header::WWW_AUTHENTICATE));
    assert_problem(
        &api.call("GET", "/v1/models", Some("not-a-key"), None).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );

    let key = api.key(&t, Role::Viewer).await;
    // The right prefix with a wrong secret fails like an unknown key.
    let mut forged = key.clone();
    let last = forged.pop().expect("char");
    forged.push(if last == 'a' { 'b' } else { 'a' });
    assert_problem(
        &api.call("GET", "/v1/models", Some(&forged), None).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
    assert_eq!(
        api.call("GET", "/v1/models", Some(&key), None).await.status,
        StatusCode::OK
    );

    let id: i64 = sqlx::query_scalar("SELECT id FROM recsys.api_keys WHERE prefix = $1")
        .bind(&key[4..16])
        .fetch_one(&api.admin)
        .await
        .expect("key row");
    let stored: Vec<u8> = sqlx::query_scalar("SELECT key_hash FROM recsys.api_keys WHERE id = $1")
        .bind(id)
        .fetch_one(&api.admin)
        .await
        .expect("hash");
    assert!(
        !stored
            .windows(8)
            .any(|w| key.as_bytes().windows(8).any(|k| k == w)),
        "the key is stored in clear"
    );
    assert!(key_admin::revoke(&api.admin, id).await.expect("revoke"));
    assert_problem(
        &api.call("GET", "/v1/models", Some(&key), None).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );

    let request = Request::get("/v1/models")
        .header(header::AUTHORIZATION, "Bearer abc.def.ghi")
        .body(Body::empty())
        .expect("request");
    assert_problem(
        &api.send(request).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
}

#[tokio::test]
#[ignore = "needs RECSYS_TEST_DATABASE_URL; scripts/test runs it"]
async fn failed_training_is_recorded_and_retries_are_idempotent() {
    let api = Api::new().await;
    let t = Api::tenant("fail");
    let operator = api.key(&t, Role::Operator).await;
    // No interactions yet: the run fails with the extension's message.
    let run = api.train(&operator, "m", json!({})).await;
    assert_eq!(run["status"], "failed", "{run}");
    assert!(
        run["error"]
            .as_str()
            .is_some_and(|e| e.contains("no interactions")),
        "{run}"
    );

    api.ingest(&operator, 10, 8, "i").await;
    let run = api
        .train(&operator, "m", json!({"params": {"factors": 0}}))
        .await;
    assert_eq!(run["status"], "failed", "{run}");
    assert!(
        run["error"].as_str().is_some_and(|e| e.contains("factors")),
        "{run}"
    );
    assert_problem(
        &api.call(
            "POST",
            "/v1/models/m/training-runs",
            Some(&operator),
            Some(json!({"algorithm": "nope"})),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_parameter",
    );

    // The same batch twice stores nothing twice.
    let batch = json!({"events": [{"event_id": "x1", "user_id": "u", "item_id": "i"}, {"event_id": "x2", "user_id": "u", "item_id": "j", "weight": 2.5}]});
    let first = api
        .call(
            "POST",
            "/v1/interactions",
            Some(&operator),
            Some(batch.clone()),
        )
        .await;
    assert_eq!(first.body, json!({"received": 2, "inserted": 2}));
    let again = api
        .call("POST", "/v1/interactions", Some(&operator), Some(batch))
        .await;
    assert_eq!(again.body, json!({"received": 2, "inserted": 0}));
    let bad = api
        .call(
            "POST",
            "/v1/interactions",
            Some(&operator),
            Some(json!({"events": [{"user_id": "u", "item_id": "i", "weight": -1}]})),
        )
        .await;
    assert_problem(&bad, StatusCode::UNPROCESSABLE_ENTITY, "invalid_parameter");
    assert!(
        bad.body["detail"]
            .as_str()
            .is_some_and(|d| d.starts_with("events[0]")),
        "{}",
        bad.body
    );
    let items = api.call("POST", "/v1/items", Some(&operator), Some(json!({"items": [{"item_id": "i", "available": false}, {"item_id": "j", "attributes": {"genre": "x"}}]}))).await;
    assert_eq!(items.body, json!({"upserted": 2}), "{}", items.body);
}

#[tokio::test]
#[ignore = "needs RECSYS_TEST_DATABASE_URL; scripts/test runs it"]
async fn every_error_is_a_problem_document() {
    let api = Api::new().await;
    let key = api.key(&Api::tenant("errors"), Role::Operator).await;
    assert_problem(
        &api.call("GET", "/no/such/route", None, None).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let r = api.call("DELETE", "/v1/models", Some(&key), None).await;
    assert_problem(&r, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    assert!(r.headers.contains_key(header::ALLOW));

    let raw = |body: &str, content_type: &str| {
        Request::post("/v1/interactions")
            .header("x-api-key", &key)
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(body.to_string()))
            .expect("request")
    };
    assert_problem(
        &api.send(raw("{\"events\": [", "application/json")).await,
        StatusCode::BAD_REQUEST,
        "malformed_body",
    );
    assert_problem(
        &api.send(raw("{\"events\": 3}", "application/json")).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_body",
    );
    assert_problem(
        &api.send(raw("{}", "text/plain")).await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    );
    let huge = format!(
        "{{\"events\": [{}]}}",
        vec!["{\"user_id\": \"u\", \"item_id\": \"i\"}"; 4000].join(",")
    );
    assert_problem(
        &api.send(raw(&huge, "application/json")).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    );
    assert_problem(
        &api.call("GET", "/v1/users/u/recommendations?k=0", Some(&key), None)
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_parameter",
    );
    assert_problem(
        &api.call(
            "GET",
            "/v1/users/u/recommendations?model=bad%20name",
            Some(&key),
            None,
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_parameter",
    );
    assert_problem(
        &api.call("GET", "/v1/training-runs/abc", Some(&key), None)
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_parameter",
    );
    assert_problem(
        &api.call("GET", "/v1/training-runs/999999999", Some(&key), None)
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_problem(
        &api.call(
            "POST",
            "/v1/models/m/evaluations",
            Some(&key),
            Some(json!({"k": 5})),
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
}

#[tokio::test]
#[ignore = "needs RECSYS_TEST_DATABASE_URL; scripts/test runs it"]
async fn request_ids_and_metrics() {
    let token = "metrics-token-for-tests";
    let api = Api::build(
        |c| c.metrics_token_sha256 = Some(sha2::Sha256::digest(token).into()),
        None,
    )
    .await;
    let tenant = Api::tenant("metrics");
    let key = api.key(&tenant, Role::Viewer).await;
    let with_id = |id: &str| {
        Request::get("/healthz")
            .header("x-request-id", id)
            .body(Body::empty())
            .expect("request")
    };
    let r = api.send(with_id("abc-123")).await;
    assert_eq!(r.headers["x-request-id"], "abc-123");
    let long = "x".repeat(300);
    let r = api.send(with_id(&long)).await;
    let id = r.headers["x-request-id"].to_str().expect("id");
    assert!(id != long && id.len() == 36, "{id}");

    let ready = api.call("GET", "/readyz", None, None).await;
    assert_eq!(ready.body["status"], "ok", "{}", ready.body);
    api.call(
        "GET",
        "/v1/users/secret-user/recommendations",
        Some(&key),
        None,
    )
    .await;
    let metrics = api.call_bearer("GET", "/metrics", token, None).await;
    let text = metrics.body.as_str().expect("text");
    assert!(text.contains("http_requests_total{route=\"/v1/users/{user_id}/recommendations\",method=\"GET\",status=\"404\"}"), "{text}");
    assert!(text.contains("db_pool_connections"), "{text}");
    assert!(
        !text.contains(&tenant) && !text.contains("secret-user"),
        "metrics carry a tenant or user"
    );
}

#[tokio::test]
#[ignore = "needs RECSYS_TEST_DATABASE_URL; scripts/test runs it"]
async fn pooled_connections_keep_no_tenant_or_role() {
    // One serving connection, so the check below runs on the one the requests used.
    let api = Api::build(|c| c.db_max_connections = 1, None).await;
    let t = Api::tenant("pool");
    let operator = api.key(&t, Role::Operator).await;
    api.ingest(&operator, 12, 9, "i").await;
    api.train(&operator, "m", json!({"algorithm": "popularity"}))
        .await;
    for path in [
        "/v1/users/u1/recommendations",
        "/v1/items/i1/similar",
        "/v1/models",
    ] {
        let r = api.call("GET", path, Some(&operator), None).await;
        assert!(
            r.status == StatusCode::OK || r.status == StatusCode::NOT_FOUND,
            "{path}: {}",
            r.body
        );
        let (user, tenant): (String, Option<String>) = sqlx::query_as(
            "SELECT current_user::text, nullif(current_setting('recsys.tenant', true), '')",
        )
        .fetch_one(&api.pool)
        .await
        .expect("query");
        assert_eq!(
            (user.as_str(), tenant),
            ("recsys_sidecar", None),
            "after {path}"
        );
    }
}

/// An identity provider on a local port: discovery and a JWKS with one generated RSA key.
async fn local_idp() -> (String, jsonwebtoken::EncodingKey) {
    use base64::Engine;
    use rsa::pkcs1::EncodeRsaPrivateKey;
    use rsa::traits::PublicKeyParts;
    let private = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).expect("RSA key");
    let public = private.to_public_key();
    let der = private.to_pkcs1_der().expect("DER");
    let b64 = |b: Vec<u8>| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let issuer = format!("http://{}", listener.local_addr().expect("addr"));
    let discovery = json!({"issuer": issuer, "jwks_uri": format!("{issuer}/jwks")});
    let jwks = json!({"keys": [{"kty": "RSA", "use": "sig", "alg": "RS256", "kid": "k1",
                                "n": b64(public.n().to_bytes_be()), "e": b64(public.e().to_bytes_be())}]});
    let idp = Router::new()
        .route(
            "/.well-known/openid-configuration",
            axum::routing::get(move || async move { axum::Json(discovery) }),
        )
        .route(
            "/jwks",
            axum::routing::get(move || async move { axum::Json(jwks) }),
        );
    tokio::spawn(async move { axum::serve(listener, idp).await });
    (
        issuer,
        jsonwebtoken::EncodingKey::from_rsa_der(der.as_bytes()),
    )
}

#[tokio::test]
#[ignore = "needs RECSYS_TEST_DATABASE_URL; scripts/test runs it"]
async fn oidc_bearer_tokens_carry_tenant_and_role() {
    use recsys_sidecar::auth::oidc::{OidcConfig, OidcVerifier};
    let (issuer, signing) = local_idp().await;
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let verifier = OidcVerifier::discover(
        OidcConfig {
            issuer: issuer.clone(),
            audience: "recsys-api".into(),
            tenant_claim: "recsys_tenant".into(),
            role_claim: "recsys_role".into(),
        },
        http,
    )
    .await
    .expect("discovery");
    let api = Api::build(|_| {}, Some(verifier)).await;

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let mint = |tenant: &str, role: &str, exp: i64| {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = Some("k1".into());
        let claims = json!({"iss": issuer, "aud": "recsys-api", "sub": "svc", "exp": exp,
                            "iat": exp - 600, "recsys_tenant": tenant, "recsys_role": role});
        jsonwebtoken::encode(&header, &claims, &signing).expect("token")
    };
    let (t, other) = (Api::tenant("oidc"), Api::tenant("oidc-other"));
    let operator = mint(&t, "operator", now + 300);
    let events = json!({"events": [{"event_id": "1", "user_id": "u", "item_id": "i"}]});
    let r = api
        .call_bearer("POST", "/v1/interactions", &operator, Some(events.clone()))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = api
        .call_bearer(
            "POST",
            "/v1/models/m/training-runs",
            &operator,
            Some(json!({"algorithm": "popularity"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let run = format!("/v1/training-runs/{}", r.body["run_id"]);

    // A viewer of the same tenant reads but may not write: 403 from the database's grants.
    let viewer = mint(&t, "viewer", now + 300);
    assert_eq!(
        api.call_bearer("GET", &run, &viewer, None).await.status,
        StatusCode::OK
    );
    assert_problem(
        &api.call_bearer("POST", "/v1/interactions", &viewer, Some(events))
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    // Another tenant's token does not find the run.
    assert_problem(
        &api.call_bearer("GET", &run, &mint(&other, "admin", now + 300), None)
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    // Expired, a role that is not one of the three, a forged signature.
    assert_problem(
        &api.call_bearer("GET", "/v1/models", &mint(&t, "viewer", now - 3600), None)
            .await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
    assert_problem(
        &api.call_bearer("GET", "/v1/models", &mint(&t, "root", now + 300), None)
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    let mut forged = viewer.clone();
    forged.truncate(forged.len() - 4);
    forged.push_str("AAAA");
    assert_problem(
        &api.call_bearer("GET", "/v1/models", &forged, None).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
}
