// SPDX-License-Identifier: BUSL-1.1
//! Start-up: the discovery document, the first JWKS, the configuration, and an unreachable or
//! hostile provider.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::json;

use super::{discovery_refused, key_a, spawn_idp, spawn_raw_server, AUDIENCE};
use crate::auth::oidc::{OidcConfig, OidcTuning};

#[tokio::test]
async fn discovery_rejects_an_issuer_mismatch() {
    let idp = spawn_idp(vec![key_a().jwk("a")]).await;
    *idp.discovery_issuer.lock().unwrap() = Some("http://evil.example".to_owned());
    let message = discovery_refused(idp.config(), OidcTuning::default()).await;
    assert!(message.contains("issuer"), "{message}");

    // Exact comparison: a trailing slash is a different issuer.
    *idp.discovery_issuer.lock().unwrap() = None;
    let config = OidcConfig {
        issuer: format!("{}/", idp.base),
        ..idp.config()
    };
    let message = discovery_refused(config, OidcTuning::default()).await;
    assert!(message.contains("issuer"), "{message}");
    assert_eq!(idp.hits(), 0, "keys are not fetched for the wrong issuer");
}

#[tokio::test]
async fn discovery_rejects_unusable_jwks_and_bad_jwks_uris() {
    let mut enc = key_a().jwk("enc");
    enc["use"] = json!("enc");
    let idp = spawn_idp(vec![
        enc,
        json!({"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"}),
    ])
    .await;
    let message = discovery_refused(idp.config(), OidcTuning::default()).await;
    assert!(message.contains("no usable"), "{message}");

    let idp = spawn_idp(vec![key_a().jwk("a")]).await;
    for uri in ["file:///etc/passwd", "not a url"] {
        *idp.jwks_uri.lock().unwrap() = Some(uri.to_owned());
        discovery_refused(idp.config(), OidcTuning::default()).await;
    }

    idp.jwks_fails.store(true, Ordering::SeqCst);
    *idp.jwks_uri.lock().unwrap() = None;
    let message = discovery_refused(idp.config(), OidcTuning::default()).await;
    assert!(message.contains("500"), "{message}");
}

#[tokio::test]
async fn discovery_enforces_size_limit() {
    let idp = spawn_idp(vec![
        key_a().jwk("a"),
        json!({"padding": "x".repeat(1 << 20)}),
    ])
    .await;
    let message = discovery_refused(idp.config(), OidcTuning::default()).await;
    assert!(message.contains("larger than"), "{message}");

    // No Content-Length: the cap must hold while streaming.
    let mut response =
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
            .to_vec();
    for _ in 0..64 {
        response.extend_from_slice(b"400\r\n");
        response.extend_from_slice(&[b' '; 0x400]);
        response.extend_from_slice(b"\r\n");
    }
    response.extend_from_slice(b"0\r\n\r\n");
    let base = spawn_raw_server(Some(response));
    let config = OidcConfig {
        issuer: base,
        ..idp.config()
    };
    let tuning = OidcTuning {
        max_document_bytes: 16 * 1024,
        ..OidcTuning::default()
    };
    let message = discovery_refused(config, tuning).await;
    assert!(message.contains("larger than"), "{message}");
}

#[tokio::test]
async fn discovery_fails_fast_when_the_idp_is_down_or_hangs() {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let config = |issuer: String| OidcConfig {
        issuer,
        audience: AUDIENCE.to_owned(),
        tenant_claim: "tenant".to_owned(),
        role_claim: "role".to_owned(),
    };
    discovery_refused(config(closed), OidcTuning::default()).await;

    let hanging = spawn_raw_server(None);
    let started = Instant::now();
    let tuning = OidcTuning {
        http_timeout: Duration::from_millis(300),
        ..OidcTuning::default()
    };
    discovery_refused(config(hanging), tuning).await;
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn discovery_rejects_bad_configuration() {
    let idp = spawn_idp(vec![key_a().jwk("a")]).await;
    let bad = [
        OidcConfig {
            audience: String::new(),
            ..idp.config()
        },
        OidcConfig {
            tenant_claim: String::new(),
            ..idp.config()
        },
        OidcConfig {
            issuer: "ftp://idp.example".to_owned(),
            ..idp.config()
        },
        OidcConfig {
            issuer: format!("{}?x=1", idp.base),
            ..idp.config()
        },
    ];
    for config in bad {
        let message = discovery_refused(config, OidcTuning::default()).await;
        assert!(message.contains("configuration"), "{message}");
    }
}
