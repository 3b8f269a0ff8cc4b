// SPDX-License-Identifier: BUSL-1.1
//! The OIDC verifier's tests, by subject, and what they share: signing keys, a mock identity
//! provider, token minting.

mod claims;
mod discovery;
mod header_and_signature;
mod jwks;

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs1::{EncodeRsaPrivateKey, EncodeRsaPublicKey};
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use rsa::traits::PublicKeyParts;
use serde_json::{json, Value};

use super::{OidcConfig, OidcError, OidcTuning, OidcVerifier, TokenClaims};

const AUDIENCE: &str = "recsys-api";

// ---- keys -------------------------------------------------------------------------------

struct RsaTestKey {
    encoding: EncodingKey,
    public_pem_spki: String,
    public_pem_pkcs1: String,
    n: String,
    e: String,
}

impl RsaTestKey {
    fn generate() -> Self {
        let private =
            rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).expect("generate RSA key");
        let public = private.to_public_key();
        let der = private.to_pkcs1_der().expect("encode private key");
        Self {
            encoding: EncodingKey::from_rsa_der(der.as_bytes()),
            public_pem_spki: public.to_public_key_pem(LineEnding::LF).expect("SPKI PEM"),
            public_pem_pkcs1: public.to_pkcs1_pem(LineEnding::LF).expect("PKCS#1 PEM"),
            n: b64url(&public.n().to_bytes_be()),
            e: b64url(&public.e().to_bytes_be()),
        }
    }

    fn jwk(&self, kid: &str) -> Value {
        json!({"kty": "RSA", "use": "sig", "kid": kid, "n": self.n, "e": self.e})
    }
}

// Shared across tests because 2048-bit generation dominates the suite's run time.
fn key_a() -> &'static RsaTestKey {
    static KEY: OnceLock<RsaTestKey> = OnceLock::new();
    KEY.get_or_init(RsaTestKey::generate)
}

fn key_b() -> &'static RsaTestKey {
    static KEY: OnceLock<RsaTestKey> = OnceLock::new();
    KEY.get_or_init(RsaTestKey::generate)
}

/// P-256 key from a fixed scalar, wrapped by hand in PKCS#8 (no EC crate in dev-deps).
fn es256_key(kid: &str) -> (EncodingKey, Value) {
    let mut der = vec![
        0x30, 0x41, 0x02, 0x01, 0x00, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02,
        0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x04, 0x27, 0x30, 0x25,
        0x02, 0x01, 0x01, 0x04, 0x20,
    ];
    der.extend_from_slice(&[0x11; 32]);
    with_public_jwk(EncodingKey::from_ec_der(&der), Algorithm::ES256, kid)
}

/// Ed25519 key from a fixed seed, wrapped by hand in PKCS#8.
fn ed25519_key(kid: &str) -> (EncodingKey, Value) {
    let mut der = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    der.extend_from_slice(&[0x22; 32]);
    with_public_jwk(EncodingKey::from_ed_der(&der), Algorithm::EdDSA, kid)
}

/// A private key and its public JWK under `kid`.
fn with_public_jwk(encoding: EncodingKey, alg: Algorithm, kid: &str) -> (EncodingKey, Value) {
    let jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(&encoding, alg).expect("public JWK");
    let mut jwk = serde_json::to_value(jwk).expect("JWK to JSON");
    jwk["kid"] = json!(kid);
    (encoding, jwk)
}

fn b64url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

// ---- mock identity provider -------------------------------------------------------------

struct Idp {
    base: String,
    jwks: std::sync::Mutex<Value>,
    jwks_hits: AtomicUsize,
    jwks_delay: std::sync::Mutex<Duration>,
    jwks_fails: AtomicBool,
    discovery_issuer: std::sync::Mutex<Option<String>>,
    jwks_uri: std::sync::Mutex<Option<String>>,
}

impl Idp {
    fn hits(&self) -> usize {
        self.jwks_hits.load(Ordering::SeqCst)
    }

    fn serve_keys(&self, keys: Vec<Value>) {
        *self.jwks.lock().unwrap() = json!({ "keys": keys });
    }

    fn config(&self) -> OidcConfig {
        OidcConfig {
            issuer: self.base.clone(),
            audience: AUDIENCE.to_owned(),
            tenant_claim: "tenant".to_owned(),
            role_claim: "role".to_owned(),
        }
    }

    fn claims(&self) -> Value {
        let now = jsonwebtoken::get_current_timestamp();
        json!({
            "iss": self.base,
            "aud": AUDIENCE,
            "sub": "user-1",
            "iat": now,
            "exp": now + 300,
            "tenant": "acme",
            "role": "admin",
        })
    }

    /// An RS256 token of `key` under `kid`, with this provider's usual claims.
    fn token(&self, key: &RsaTestKey, kid: &str) -> String {
        mint(&key.encoding, Algorithm::RS256, Some(kid), &self.claims())
    }

    async fn verifier(&self) -> OidcVerifier {
        self.verifier_with(OidcTuning::default()).await
    }

    async fn verifier_with(&self, tuning: OidcTuning) -> OidcVerifier {
        OidcVerifier::discover_with(self.config(), http(), tuning)
            .await
            .expect("discovery succeeds")
    }
}

async fn discovery_handler(State(idp): State<Arc<Idp>>) -> Response {
    let issuer = idp
        .discovery_issuer
        .lock()
        .unwrap()
        .clone()
        .unwrap_or_else(|| idp.base.clone());
    let jwks_uri = idp
        .jwks_uri
        .lock()
        .unwrap()
        .clone()
        .unwrap_or_else(|| format!("{}/jwks", idp.base));
    axum::Json(json!({ "issuer": issuer, "jwks_uri": jwks_uri })).into_response()
}

async fn jwks_handler(State(idp): State<Arc<Idp>>) -> Response {
    idp.jwks_hits.fetch_add(1, Ordering::SeqCst);
    let delay = *idp.jwks_delay.lock().unwrap();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if idp.jwks_fails.load(Ordering::SeqCst) {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    let body = idp.jwks.lock().unwrap().to_string();
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Discovery's refusal of `config`: its message (a panic if it succeeds or fails otherwise).
async fn discovery_refused(config: OidcConfig, tuning: OidcTuning) -> String {
    match OidcVerifier::discover_with(config, http(), tuning).await {
        Err(OidcError::Discovery(message)) => message,
        Err(other) => panic!("expected a discovery error, got {other}"),
        Ok(_) => panic!("discovery succeeded"),
    }
}

/// The usual set-up: a provider publishing key A as "a", and a verifier that discovered it.
async fn idp_with_key_a() -> (Arc<Idp>, OidcVerifier) {
    let idp = spawn_idp(vec![key_a().jwk("a")]).await;
    let verifier = idp.verifier().await;
    (idp, verifier)
}

async fn spawn_idp(keys: Vec<Value>) -> Arc<Idp> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let idp = Arc::new(Idp {
        base: format!("http://{addr}"),
        jwks: std::sync::Mutex::new(json!({ "keys": keys })),
        jwks_hits: AtomicUsize::new(0),
        jwks_delay: std::sync::Mutex::new(Duration::ZERO),
        jwks_fails: AtomicBool::new(false),
        discovery_issuer: std::sync::Mutex::new(None),
        jwks_uri: std::sync::Mutex::new(None),
    });
    let app = Router::new()
        .route("/.well-known/openid-configuration", get(discovery_handler))
        .route("/jwks", get(jwks_handler))
        .with_state(Arc::clone(&idp));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    idp
}

/// A server axum cannot imitate: answers every connection with `response` verbatim, or
/// never answers at all.
fn spawn_raw_server(response: Option<Vec<u8>>) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let response = response.clone();
            std::thread::spawn(move || {
                let mut buf = [0_u8; 4096];
                let _ = stream.read(&mut buf);
                match response {
                    Some(bytes) => {
                        let _ = stream.write_all(&bytes);
                    }
                    None => std::thread::sleep(Duration::from_secs(30)),
                }
            });
        }
    });
    format!("http://{addr}")
}

fn http() -> reqwest::Client {
    // A proxy from the environment must not intercept 127.0.0.1.
    reqwest::Client::builder().no_proxy().build().unwrap()
}

fn mint(key: &EncodingKey, alg: Algorithm, kid: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

/// Replaces a token's header without re-signing, as an attacker would.
fn with_header(token: &str, header: &Value) -> String {
    let (_, rest) = token.split_once('.').unwrap();
    format!("{}.{rest}", b64url(header.to_string().as_bytes()))
}

#[track_caller]
fn assert_invalid(result: Result<TokenClaims, OidcError>, needle: &str) {
    match result {
        Err(OidcError::InvalidToken(msg)) => {
            assert!(msg.contains(needle), "message {msg:?} lacks {needle:?}");
        }
        other => panic!("expected InvalidToken containing {needle:?}, got {other:?}"),
    }
}

fn expected_claims() -> TokenClaims {
    TokenClaims {
        subject: Some("user-1".to_owned()),
        tenant: "acme".to_owned(),
        role: "admin".to_owned(),
    }
}
