// SPDX-License-Identifier: BUSL-1.1
//! OpenID Connect bearer-token verification.
//!
//! [`OidcVerifier::discover`] reads the provider's discovery document once, checks that
//! it speaks for the configured issuer, and caches the provider's JWKS. [`OidcVerifier::verify`]
//! then checks a JWT access/ID token against those keys and returns the tenant and role
//! claims the sidecar authorises with.
//!
//! # Design
//!
//! **The algorithm comes from the key, never from the token.** The token header is written
//! by whoever presents the token, so letting its `alg` choose how the signature is checked
//! invites the classic attacks: `alg: none`, and "HS/RS confusion", where an attacker signs
//! an HS256 token using the provider's *public* RSA key as the HMAC secret and a verifier
//! that trusts the header happily checks the MAC with that same public key. Here each JWK
//! is turned, when the JWKS is loaded, into a key plus the short list of algorithms that
//! key type can legitimately produce (RSA → RS256/384/512, narrowed by the JWK's own `alg`;
//! P-256 → ES256; P-384 → ES384; Ed25519 → EdDSA). The header `alg` must be on that list,
//! and HMAC and `none` are on no list. Symmetric (`oct`) keys, keys not meant for
//! signatures, and keys the token header tries to supply itself (`jwk`, `jku`, `x5c`, ...)
//! are never used.
//!
//! **Why the JWKS refresh is rate limited.** Providers rotate keys, so a token whose `kid`
//! is not in the cache is a signal to refetch the JWKS. But `kid` is attacker-controlled
//! too: without a limit, every request carrying a made-up `kid` would turn into an
//! outbound request to the identity provider, letting anyone hammer it (and stall our own
//! request handling behind it) for free. So a refetch triggered by an unknown `kid` happens
//! at most once per [`OidcTuning::min_refresh_interval`] (30 s by default); concurrent
//! misses wait for the single refetch already in flight instead of starting their own.
//! Providers publish new keys before signing with them, so one refetch per window is
//! enough to pick up a genuine rotation. The initial fetch in `discover` does not count
//! against the window.
//!
//! The cached keys are also refetched once they are older than
//! [`OidcTuning::max_key_age`] (1 h by default), through the same rate-limited path, so a
//! key the provider withdraws (for example after a compromise) stops being trusted without
//! a restart. If that refetch fails the old keys stay in use: an identity-provider outage
//! should not log everybody out.
//!
//! # Claims
//!
//! `iss` must equal the configured issuer exactly (a string, not an array), `aud` must be
//! the configured audience or an array containing it, `exp` is required, `nbf` is checked
//! when present, both with 30 s of leeway, and ill-typed `exp`/`nbf` are rejected.
//! `iat` is required, at most 60 s in the future, and `exp - iat` may not exceed
//! [`OidcTuning::max_token_lifetime`]; a `typ` header, when present, must be `JWT` or
//! `at+jwt` (see `claims`).
//!
//! `tenant_claim` and `role_claim` name a top-level claim exactly as written, so
//! namespaced claim names full of dots (`https://example.com/tenant`) just work. A name
//! starting with `/` is instead read as a JSON Pointer (RFC 6901) into nested claims,
//! e.g. `/realm/tenant`. A JSON Pointer was chosen over dot-paths because dot-paths are
//! ambiguous with such namespaced names, whereas no real claim name starts with `/`.
//! Both claims must be non-empty strings.
//!
//! Error messages never contain the token or anything taken from it (not even its `kid`),
//! since they end up in logs and responses.
//!
//! # Transport
//!
//! Discovery and JWKS requests time out after 5 s and their bodies are capped at 1 MiB,
//! so a slow or hostile endpoint can neither hang start-up nor exhaust memory.

use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, Validation};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::Mutex;

use super::claims;
use super::jwk::{parse_jwk, RawJwk, VerificationKey};

const LEEWAY_SECS: u64 = 30;
/// Real tokens are a few KiB; the cap keeps base64/JSON work on junk input bounded.
const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// Static OIDC settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcConfig {
    /// Issuer identifier, compared byte for byte with the discovery document and `iss`.
    pub issuer: String,
    /// Value that must appear in the token's `aud`.
    pub audience: String,
    /// Claim holding the tenant: a top-level name, or a JSON Pointer starting with `/`.
    pub tenant_claim: String,
    /// Claim holding the role: a top-level name, or a JSON Pointer starting with `/`.
    pub role_claim: String,
}

/// Verified identity from a token: the claims named by tenant_claim/role_claim, as strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenClaims {
    pub subject: Option<String>,
    pub tenant: String,
    pub role: String,
}

#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// The identity provider could not be reached or answered nonsense: a 503 for the caller.
    #[error("OIDC provider unavailable: {0}")]
    Discovery(String),
    /// The token must be refused: a 401 for the caller.
    #[error("invalid bearer token: {0}")]
    InvalidToken(String),
}

fn invalid(reason: impl Into<String>) -> OidcError {
    OidcError::InvalidToken(reason.into())
}

/// Operational knobs; the defaults are what production should use.
#[derive(Debug, Clone)]
pub struct OidcTuning {
    /// Minimum time between two JWKS refetches (unknown `kid` or stale cache).
    pub min_refresh_interval: Duration,
    /// Age after which the cached JWKS is refetched even if every `kid` is known.
    pub max_key_age: Duration,
    /// Timeout for each discovery/JWKS request, body included.
    pub http_timeout: Duration,
    /// Largest discovery/JWKS body accepted.
    pub max_document_bytes: usize,
    /// Longest `exp - iat` accepted (RECSYS_OIDC_MAX_TOKEN_LIFETIME_SECS).
    pub max_token_lifetime: Duration,
}

impl Default for OidcTuning {
    fn default() -> Self {
        Self {
            min_refresh_interval: Duration::from_secs(30),
            max_key_age: Duration::from_secs(60 * 60),
            http_timeout: Duration::from_secs(5),
            max_document_bytes: 1024 * 1024,
            max_token_lifetime: Duration::from_secs(24 * 60 * 60),
        }
    }
}

/// Verifies bearer tokens against one OIDC provider. Cloning is cheap and clones share
/// the key cache.
#[derive(Clone)]
pub struct OidcVerifier {
    inner: Arc<Inner>,
}

struct Inner {
    config: OidcConfig,
    tuning: OidcTuning,
    http: reqwest::Client,
    jwks_uri: reqwest::Url,
    /// Swapped wholesale on refresh so readers never see a half-updated set, and an
    /// `Arc` identity tells a waiting refresher that someone else already refetched.
    keys: RwLock<Arc<KeySet>>,
    /// Held across the refetch itself: that is what makes concurrent refreshes coalesce.
    refresh: Mutex<RefreshState>,
}

struct RefreshState {
    last_attempt: Option<Instant>,
}

struct KeySet {
    keys: Vec<VerificationKey>,
    fetched_at: Instant,
}

impl fmt::Debug for OidcVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OidcVerifier")
            .field("issuer", &self.inner.config.issuer)
            .field("audience", &self.inner.config.audience)
            .field("jwks_uri", &self.inner.jwks_uri.as_str())
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct DiscoveryDocument {
    issuer: String,
    jwks_uri: String,
}

#[derive(Deserialize)]
struct JwkSetDocument {
    // Kept as raw values so that one key we cannot parse does not void the whole set.
    keys: Vec<Value>,
}

impl OidcVerifier {
    /// Fetches `{issuer}/.well-known/openid-configuration`, checks its `issuer` equals the
    /// configured one, then the `jwks_uri`.
    ///
    /// # Errors
    ///
    /// [`OidcError::Discovery`] if the configuration is unusable, the provider cannot be
    /// reached, its documents are malformed or oversized, it names another issuer, or its
    /// JWKS holds no key this verifier can use.
    pub async fn discover(config: OidcConfig, http: reqwest::Client) -> Result<Self, OidcError> {
        Self::discover_with(config, http, OidcTuning::default()).await
    }

    /// [`discover`](Self::discover) with non-default timings and limits.
    ///
    /// # Errors
    ///
    /// As for [`discover`](Self::discover).
    pub async fn discover_with(
        config: OidcConfig,
        http: reqwest::Client,
        tuning: OidcTuning,
    ) -> Result<Self, OidcError> {
        let issuer_url = check_config(&config)?;
        let discovery_url = reqwest::Url::parse(&format!(
            "{}/.well-known/openid-configuration",
            config.issuer.trim_end_matches('/')
        ))
        .map_err(|e| OidcError::Discovery(format!("cannot build the discovery URL: {e}")))?;

        let doc: DiscoveryDocument =
            fetch_json(&http, &discovery_url, "discovery document", &tuning).await?;
        // Without this check a provider (or whoever answers for it) could vouch for keys
        // of a different issuer; OIDC Discovery 1.0 §4.3 requires exact equality.
        if doc.issuer != config.issuer {
            return Err(OidcError::Discovery(format!(
                "discovery document names issuer {:?}, expected {:?}",
                doc.issuer, config.issuer
            )));
        }
        let jwks_uri = reqwest::Url::parse(&doc.jwks_uri)
            .map_err(|e| OidcError::Discovery(format!("jwks_uri is not a URL: {e}")))?;
        // Fetching keys over plain HTTP for an HTTPS issuer would let a network attacker
        // substitute their own keys.
        let scheme_ok = match jwks_uri.scheme() {
            "https" => true,
            "http" => issuer_url.scheme() == "http",
            _ => false,
        };
        if !scheme_ok {
            return Err(OidcError::Discovery(format!(
                "jwks_uri scheme {:?} is not allowed for issuer scheme {:?}",
                jwks_uri.scheme(),
                issuer_url.scheme()
            )));
        }

        let keys = fetch_jwks(&http, &jwks_uri, &tuning).await?;
        // Fail at start-up rather than 401 every request when nothing usable is published.
        if keys.keys.is_empty() {
            return Err(OidcError::Discovery(
                "the JWKS contains no usable signing key".into(),
            ));
        }
        tracing::info!(
            issuer = %config.issuer,
            jwks_uri = %jwks_uri,
            keys = keys.keys.len(),
            "OIDC provider discovered"
        );

        Ok(Self {
            inner: Arc::new(Inner {
                config,
                tuning,
                http,
                jwks_uri,
                keys: RwLock::new(Arc::new(keys)),
                refresh: Mutex::new(RefreshState { last_attempt: None }),
            }),
        })
    }

    /// Verifies a bearer token (without the `Bearer ` prefix). Must run inside a Tokio
    /// runtime: a JWKS refetch is spawned as its own task.
    ///
    /// # Errors
    ///
    /// [`OidcError::InvalidToken`] for any token that must be refused.
    /// [`OidcError::Discovery`] only when the token's `kid` is unknown and the refetch
    /// it triggered failed: the token may be fine and the provider down. Further unknown
    /// kids inside the rate-limit window are then refused as `InvalidToken` without
    /// asking the provider again.
    pub async fn verify(&self, token: &str) -> Result<TokenClaims, OidcError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(invalid("token too large"));
        }
        let header =
            jsonwebtoken::decode_header(token).map_err(|_| invalid("malformed token header"))?;
        // Checked before any key lookup so that tokens which can never verify do not
        // consume the refresh budget.
        if !matches!(
            header.alg,
            Algorithm::RS256
                | Algorithm::RS384
                | Algorithm::RS512
                | Algorithm::ES256
                | Algorithm::ES384
                | Algorithm::EdDSA
        ) {
            return Err(invalid("token algorithm not accepted"));
        }
        // RFC 7515 §4.1.11: extensions we do not understand must not be ignored.
        if header.crit.is_some() {
            return Err(invalid("token has critical header parameters"));
        }
        claims::check_type(header.typ.as_deref()).map_err(invalid)?;

        let mut keys = self.inner.current_keys();
        if keys.fetched_at.elapsed() >= self.inner.tuning.max_key_age {
            match self.inner.refresh_after(&keys).await {
                Ok(fresh) => keys = fresh,
                Err(e) => {
                    tracing::warn!(error = %e, "stale JWKS could not be refreshed; keeping the cached keys")
                }
            }
        }

        let kid = header.kid.as_deref();
        let key = match keys.select(kid, header.alg)? {
            Some(key) => key,
            None => {
                keys = self.inner.refresh_after(&keys).await?;
                keys.select(kid, header.alg)?
                    .ok_or_else(|| invalid("no key in the JWKS matches the token's kid"))?
            }
        };

        let config = &self.inner.config;
        let mut validation = Validation::new(header.alg);
        validation.leeway = LEEWAY_SECS;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = true;
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.set_issuer(&[&config.issuer]);
        validation.set_audience(&[&config.audience]);
        let data = jsonwebtoken::decode::<Value>(token, &key.key, &validation)
            .map_err(|e| map_jwt_error(&e))?;
        let claims = data.claims;

        // jsonwebtoken also accepts an `iss` array that merely contains our issuer.
        if claims.get("iss").and_then(Value::as_str) != Some(config.issuer.as_str()) {
            return Err(invalid("issuer mismatch"));
        }
        claims::check_issued_at(
            &claims,
            jsonwebtoken::get_current_timestamp(),
            self.inner.tuning.max_token_lifetime,
        )
        .map_err(invalid)?;
        let subject = match claims.get("sub") {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(invalid("claim `sub` is not a string")),
        };
        Ok(TokenClaims {
            subject,
            tenant: required_string_claim(&claims, &config.tenant_claim)?,
            role: required_string_claim(&claims, &config.role_claim)?,
        })
    }
}

impl Inner {
    fn current_keys(&self) -> Arc<KeySet> {
        // A panic elsewhere while holding the lock cannot leave the `Arc` half-written.
        Arc::clone(&self.keys.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Refetches the JWKS unless rate limited, or unless somebody replaced `seen` while we
    /// waited; returns whatever key set is current afterwards.
    async fn refresh_after(self: &Arc<Self>, seen: &Arc<KeySet>) -> Result<Arc<KeySet>, OidcError> {
        let inner = Arc::clone(self);
        let seen = Arc::clone(seen);
        // Run detached: if the client that triggered the refetch hangs up, the requests
        // queued behind it still get the result instead of a cancelled fetch that has
        // already used up the rate-limit window.
        tokio::spawn(async move { inner.refresh_locked(&seen).await })
            .await
            .map_err(|e| OidcError::Discovery(format!("JWKS refresh task failed: {e}")))?
    }

    async fn refresh_locked(&self, seen: &Arc<KeySet>) -> Result<Arc<KeySet>, OidcError> {
        let mut state = self.refresh.lock().await;
        let current = self.current_keys();
        if !Arc::ptr_eq(&current, seen) {
            return Ok(current);
        }
        if let Some(last) = state.last_attempt {
            if last.elapsed() < self.tuning.min_refresh_interval {
                tracing::debug!("JWKS refresh skipped: rate limited");
                return Ok(current);
            }
        }
        // Stamped before fetching so that failures are rate limited too.
        state.last_attempt = Some(Instant::now());
        let fresh = Arc::new(fetch_jwks(&self.http, &self.jwks_uri, &self.tuning).await?);
        tracing::info!(keys = fresh.keys.len(), "JWKS refreshed");
        *self.keys.write().unwrap_or_else(PoisonError::into_inner) = Arc::clone(&fresh);
        Ok(fresh)
    }
}

impl KeySet {
    /// `Ok(None)` means "unknown kid": the only outcome worth a refresh.
    fn select(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<Option<&VerificationKey>, OidcError> {
        let Some(kid) = kid else {
            // Without a kid the only unambiguous choice is the sole key.
            return match self.keys.as_slice() {
                [only] if only.algorithms.contains(&alg) => Ok(Some(only)),
                [_] => Err(invalid("token algorithm not permitted for the signing key")),
                _ => Err(invalid(
                    "token has no kid and the JWKS has more than one signing key",
                )),
            };
        };
        let mut candidates = self
            .keys
            .iter()
            .filter(|k| k.kid.as_deref() == Some(kid))
            .peekable();
        if candidates.peek().is_none() {
            return Ok(None);
        }
        candidates
            .find(|k| k.algorithms.contains(&alg))
            .map(Some)
            .ok_or_else(|| invalid("token algorithm not permitted for the signing key"))
    }
}

fn check_config(config: &OidcConfig) -> Result<reqwest::Url, OidcError> {
    let bad = |what: &str| OidcError::Discovery(format!("invalid OIDC configuration: {what}"));
    let url = reqwest::Url::parse(&config.issuer).map_err(|_| bad("issuer is not a URL"))?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err(bad("issuer must be an http(s) URL"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("issuer must not have a query or fragment"));
    }
    // An empty audience would match tokens minted with `"aud": ""`.
    if config.audience.is_empty() {
        return Err(bad("audience is empty"));
    }
    if config.tenant_claim.is_empty() || config.role_claim.is_empty() {
        return Err(bad("tenant_claim and role_claim must be set"));
    }
    Ok(url)
}

fn required_string_claim(claims: &Value, name: &str) -> Result<String, OidcError> {
    let value = if name.starts_with('/') {
        claims.pointer(name)
    } else {
        claims.get(name)
    };
    match value {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(Value::String(_)) => Err(invalid(format!("claim `{name}` is empty"))),
        Some(_) => Err(invalid(format!("claim `{name}` is not a string"))),
        None => Err(invalid(format!("claim `{name}` is missing"))),
    }
}

/// Maps library errors to fixed texts: some library messages quote decoded token content.
fn map_jwt_error(e: &jsonwebtoken::errors::Error) -> OidcError {
    use jsonwebtoken::errors::ErrorKind;
    invalid(match e.kind() {
        ErrorKind::ExpiredSignature => "token expired".to_owned(),
        ErrorKind::ImmatureSignature => "token not yet valid (nbf)".to_owned(),
        ErrorKind::InvalidIssuer => "issuer mismatch".to_owned(),
        ErrorKind::InvalidAudience => "audience mismatch".to_owned(),
        ErrorKind::InvalidSignature => "signature verification failed".to_owned(),
        ErrorKind::InvalidAlgorithm => {
            "token algorithm not permitted for the signing key".to_owned()
        }
        // The names come from our own required-claims list or the library, not the token.
        ErrorKind::MissingRequiredClaim(c) => format!("claim `{c}` is missing or ill-typed"),
        ErrorKind::InvalidClaimFormat(c) => format!("claim `{c}` is ill-typed"),
        ErrorKind::InvalidRsaKey(_)
        | ErrorKind::InvalidEcdsaKey
        | ErrorKind::InvalidEddsaKey
        | ErrorKind::InvalidKeyFormat => {
            tracing::warn!("a JWKS key could not be used for verification");
            "signature verification failed".to_owned()
        }
        _ => "malformed token".to_owned(),
    })
}

async fn fetch_jwks(
    http: &reqwest::Client,
    url: &reqwest::Url,
    tuning: &OidcTuning,
) -> Result<KeySet, OidcError> {
    let doc: JwkSetDocument = fetch_json(http, url, "JWKS", tuning).await?;
    let mut keys = Vec::with_capacity(doc.keys.len());
    for value in doc.keys {
        let kid = value.get("kid").and_then(Value::as_str).map(str::to_owned);
        match serde_json::from_value::<RawJwk>(value)
            .map_err(|_| "not a well-formed JWK")
            .and_then(parse_jwk)
        {
            Ok(key) => keys.push(key),
            // Encryption keys and exotic types are normal in a JWKS; not worth a warning.
            Err(reason) => tracing::debug!(kid = ?kid, reason, "JWKS key ignored"),
        }
    }
    Ok(KeySet {
        keys,
        fetched_at: Instant::now(),
    })
}

async fn fetch_json<T: DeserializeOwned>(
    http: &reqwest::Client,
    url: &reqwest::Url,
    what: &str,
    tuning: &OidcTuning,
) -> Result<T, OidcError> {
    let fail = |detail: String| {
        OidcError::Discovery(format!("fetching the {what} from {url} failed: {detail}"))
    };
    let mut response = http
        .get(url.clone())
        .header(reqwest::header::ACCEPT, "application/json")
        // reqwest applies this to the whole exchange, body included.
        .timeout(tuning.http_timeout)
        .send()
        .await
        .map_err(|e| fail(error_chain(&e.without_url())))?;
    if !response.status().is_success() {
        return Err(fail(format!("HTTP {}", response.status())));
    }
    let limit = tuning.max_document_bytes;
    if response
        .content_length()
        .is_some_and(|len| len > limit as u64)
    {
        return Err(fail(format!("response larger than {limit} bytes")));
    }
    // Content-Length may be absent or lie, so the cap is enforced while reading.
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| fail(error_chain(&e.without_url())))?
    {
        if body.len() + chunk.len() > limit {
            return Err(fail(format!("response larger than {limit} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body).map_err(|e| fail(format!("invalid JSON: {e}")))
}

/// reqwest's top-level message hides the useful part ("connection refused", "timed out").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::OnceLock;

    use axum::extract::State;
    use axum::http::{header, StatusCode};
    use axum::response::{IntoResponse, Response};
    use axum::routing::get;
    use axum::Router;
    use jsonwebtoken::{EncodingKey, Header};
    use rsa::pkcs1::{EncodeRsaPrivateKey, EncodeRsaPublicKey};
    use rsa::pkcs8::{EncodePublicKey, LineEnding};
    use rsa::traits::PublicKeyParts;
    use serde_json::json;

    use super::*;

    const AUDIENCE: &str = "recsys-api";

    // ---- keys -------------------------------------------------------------------------

    struct RsaTestKey {
        encoding: EncodingKey,
        public_pem_spki: String,
        public_pem_pkcs1: String,
        n: String,
        e: String,
    }

    impl RsaTestKey {
        fn generate() -> Self {
            let private = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048)
                .expect("generate RSA key");
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
            0x30, 0x41, 0x02, 0x01, 0x00, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d,
            0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x04, 0x27,
            0x30, 0x25, 0x02, 0x01, 0x01, 0x04, 0x20,
        ];
        der.extend_from_slice(&[0x11; 32]);
        let encoding = EncodingKey::from_ec_der(&der);
        let jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(&encoding, Algorithm::ES256)
            .expect("P-256 public JWK");
        let mut jwk = serde_json::to_value(jwk).expect("JWK to JSON");
        jwk["kid"] = json!(kid);
        (encoding, jwk)
    }

    /// Ed25519 key from a fixed seed, wrapped by hand in PKCS#8.
    fn ed25519_key(kid: &str) -> (EncodingKey, Value) {
        let mut der = vec![
            0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22,
            0x04, 0x20,
        ];
        der.extend_from_slice(&[0x22; 32]);
        let encoding = EncodingKey::from_ed_der(&der);
        let jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(&encoding, Algorithm::EdDSA)
            .expect("Ed25519 public JWK");
        let mut jwk = serde_json::to_value(jwk).expect("JWK to JSON");
        jwk["kid"] = json!(kid);
        (encoding, jwk)
    }

    fn b64url(bytes: &[u8]) -> String {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    // ---- mock identity provider ---------------------------------------------------------

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

    // ---- happy paths --------------------------------------------------------------------

    #[test]
    fn verifier_is_cheap_to_share_across_tasks() {
        fn assert_traits<T: Clone + Send + Sync + 'static>() {}
        assert_traits::<OidcVerifier>();
    }

    #[tokio::test]
    async fn valid_token_is_accepted() {
        let idp = spawn_idp(vec![key_a().jwk("a")]).await;
        let verifier = idp.verifier().await;

        for alg in [Algorithm::RS256, Algorithm::RS384, Algorithm::RS512] {
            let token = mint(&key_a().encoding, alg, Some("a"), &idp.claims());
            assert_eq!(verifier.verify(&token).await.unwrap(), expected_claims());
        }
        let mut claims = idp.claims();
        claims.as_object_mut().unwrap().remove("sub");
        let token = mint(&key_a().encoding, Algorithm::RS256, Some("a"), &claims);
        assert_eq!(verifier.clone().verify(&token).await.unwrap().subject, None);
        assert_eq!(idp.hits(), 1, "a known kid must not refetch the JWKS");

        // axum handlers need a Send future.
        fn assert_send<F: Send>(_: F) {}
        assert_send(verifier.verify(&token));
    }

    #[tokio::test]
    async fn ec_and_ed25519_keys_get_their_only_algorithm() {
        let (ec, ec_jwk) = es256_key("ec");
        let (ed, ed_jwk) = ed25519_key("ed");
        let idp = spawn_idp(vec![ec_jwk, ed_jwk, key_a().jwk("rsa")]).await;
        let verifier = idp.verifier().await;

        let es = mint(&ec, Algorithm::ES256, Some("ec"), &idp.claims());
        assert_eq!(verifier.verify(&es).await.unwrap(), expected_claims());
        let eddsa = mint(&ed, Algorithm::EdDSA, Some("ed"), &idp.claims());
        assert_eq!(verifier.verify(&eddsa).await.unwrap(), expected_claims());

        // Header claims ES384 for a P-256 key: refused before any signature maths.
        let forged = with_header(&es, &json!({"alg": "ES384", "kid": "ec"}));
        assert_invalid(verifier.verify(&forged).await, "not permitted");
        // An RSA signature presented under the EC key's kid.
        let rs = mint(
            &key_a().encoding,
            Algorithm::RS256,
            Some("ec"),
            &idp.claims(),
        );
        assert_invalid(verifier.verify(&rs).await, "not permitted");
        let rs = mint(
            &key_a().encoding,
            Algorithm::RS256,
            Some("ed"),
            &idp.claims(),
        );
        assert_invalid(verifier.verify(&rs).await, "not permitted");
    }

    // ---- time-based claims --------------------------------------------------------------

    #[tokio::test]
    async fn expiry_and_not_before_are_enforced_with_leeway() {
        let idp = spawn_idp(vec![key_a().jwk("a")]).await;
        let verifier = idp.verifier().await;
        let now = jsonwebtoken::get_current_timestamp();
        let token_with = |field: &str, value: Value| {
            let mut claims = idp.claims();
            claims[field] = value;
            mint(&key_a().encoding, Algorithm::RS256, Some("a"), &claims)
        };

        assert_invalid(
            verifier.verify(&token_with("exp", json!(now - 120))).await,
            "expired",
        );
        assert!(verifier
            .verify(&token_with("exp", json!(now - 10)))
            .await
            .is_ok());
        assert_invalid(
            verifier.verify(&token_with("nbf", json!(now + 120))).await,
            "nbf",
        );
        assert!(verifier
            .verify(&token_with("nbf", json!(now + 10)))
            .await
            .is_ok());
        assert!(verifier
            .verify(&token_with("nbf", json!(now - 10)))
            .await
            .is_ok());
    }

    #[tokio::test]
    async fn missing_or_ill_typed_time_claims_are_rejected() {
        let idp = spawn_idp(vec![key_a().jwk("a")]).await;
        let verifier = idp.verifier().await;
        let now = jsonwebtoken::get_current_timestamp();
        let sign = |claims: &Value| mint(&key_a().encoding, Algorithm::RS256, Some("a"), claims);

        let mut claims = idp.claims();
        claims.as_object_mut().unwrap().remove("exp");
        assert_invalid(verifier.verify(&sign(&claims)).await, "`exp`");

        for bad in [json!((now + 300).to_string()), json!(null), json!(-5)] {
            let mut claims = idp.claims();
            claims["exp"] = bad.clone();
            assert_invalid(verifier.verify(&sign(&claims)).await, "`exp`");
        }
        // The library's parser gives up on the whole payload here; still a rejection.
        let mut claims = idp.claims();
        claims["exp"] = json!([now + 300]);
        assert_invalid(verifier.verify(&sign(&claims)).await, "malformed");

        let mut claims = idp.claims();
        claims["nbf"] = json!("0");
        assert_invalid(verifier.verify(&sign(&claims)).await, "`nbf`");
    }

    #[tokio::test]
    async fn issued_at_is_required_and_bounds_the_lifetime() {
        let idp = spawn_idp(vec![key_a().jwk("a")]).await;
        let verifier = idp
            .verifier_with(OidcTuning {
                max_token_lifetime: Duration::from_secs(3600),
                ..OidcTuning::default()
            })
            .await;
        let now = jsonwebtoken::get_current_timestamp();
        let sign = |iat: Option<u64>, exp: u64| {
            let mut claims = idp.claims();
            claims["exp"] = json!(exp);
            claims["iat"] = json!(iat);
            if iat.is_none() {
                claims.as_object_mut().unwrap().remove("iat");
            }
            mint(&key_a().encoding, Algorithm::RS256, Some("a"), &claims)
        };

        assert_invalid(
            verifier.verify(&sign(None, now + 300)).await,
            "`iat` is missing",
        );
        assert_invalid(
            verifier.verify(&sign(Some(now + 120), now + 300)).await,
            "issued in the future",
        );
        assert!(verifier
            .verify(&sign(Some(now + 30), now + 300))
            .await
            .is_ok());
        assert_invalid(
            verifier.verify(&sign(Some(now), now + 3601)).await,
            "lifetime",
        );
        assert!(verifier.verify(&sign(Some(now), now + 3600)).await.is_ok());
        // Old but short-lived tokens are fine until they expire.
        assert!(verifier
            .verify(&sign(Some(now - 3000), now + 300))
            .await
            .is_ok());

        let mut claims = idp.claims();
        claims["iat"] = json!(now.to_string());
        let token = mint(&key_a().encoding, Algorithm::RS256, Some("a"), &claims);
        assert_invalid(verifier.verify(&token).await, "`iat`");

        // The default allows a day.
        let verifier = idp.verifier().await;
        assert!(verifier
            .verify(&sign(Some(now), now + 86_400))
            .await
            .is_ok());
        assert_invalid(
            verifier.verify(&sign(Some(now), now + 86_401)).await,
            "lifetime",
        );
    }

    #[tokio::test]
    async fn typ_header_must_name_a_jwt_or_an_access_token() {
        let idp = spawn_idp(vec![key_a().jwk("a")]).await;
        let verifier = idp.verifier().await;
        let with_typ = |typ: Option<&str>, kid: &str| {
            let mut header = Header::new(Algorithm::RS256);
            header.kid = Some(kid.to_owned());
            header.typ = typ.map(str::to_owned);
            jsonwebtoken::encode(&header, &idp.claims(), &key_a().encoding).unwrap()
        };
        for typ in [
            None,
            Some("JWT"),
            Some("at+jwt"),
            Some("AT+JWT"),
            Some("application/at+jwt"),
        ] {
            assert_eq!(
                verifier.verify(&with_typ(typ, "a")).await.unwrap(),
                expected_claims(),
                "{typ:?}"
            );
        }
        for typ in ["logout+jwt", "dpop+jwt", "secevent+jwt", "JWE", ""] {
            assert_invalid(verifier.verify(&with_typ(Some(typ), "a")).await, "typ");
            // Refused on the header alone: an unknown kid does not reach the provider.
            assert_invalid(
                verifier.verify(&with_typ(Some(typ), "unknown")).await,
                "typ",
            );
        }
        assert_eq!(idp.hits(), 1);
    }

    // ---- issuer and audience ------------------------------------------------------------

    #[tokio::test]
    async fn issuer_must_match_exactly() {
        let idp = spawn_idp(vec![key_a().jwk("a")]).await;
        let verifier = idp.verifier().await;
        let sign = |claims: &Value| mint(&key_a().encoding, Algorithm::RS256, Some("a"), claims);

        for bad in [
            json!("http://evil.example"),
            json!(format!("{}/", idp.base)),
            json!([idp.base]),
            json!(null),
        ] {
            let mut claims = idp.claims();
            claims["iss"] = bad;
            assert!(matches!(
                verifier.verify(&sign(&claims)).await,
                Err(OidcError::InvalidToken(_))
            ));
        }
        let mut claims = idp.claims();
        claims.as_object_mut().unwrap().remove("iss");
        assert_invalid(verifier.verify(&sign(&claims)).await, "`iss`");
    }

    #[tokio::test]
    async fn audience_may_be_a_string_or_an_array_containing_ours() {
        let idp = spawn_idp(vec![key_a().jwk("a")]).await;
        let verifier = idp.verifier().await;
        let token_with_aud = |aud: Value| {
            let mut claims = idp.claims();
            claims["aud"] = aud;
            mint(&key_a().encoding, Algorithm::RS256, Some("a"), &claims)
        };

        assert_invalid(
            verifier.verify(&token_with_aud(json!("other-api"))).await,
            "audience",
        );
        assert_invalid(
            verifier
                .verify(&token_with_aud(json!(["other-api", "more"])))
                .await,
            "audience",
        );
        assert_invalid(
            verifier.verify(&token_with_aud(json!([]))).await,
            "audience",
        );
        assert_eq!(
            verifier
                .verify(&token_with_aud(json!(["other-api", AUDIENCE])))
                .await
                .unwrap(),
            expected_claims()
        );
        assert_eq!(
            verifier
                .verify(&token_with_aud(json!([AUDIENCE])))
                .await
                .unwrap(),
            expected_claims()
        );
        for bad in [json!(7), json!(null)] {
            assert_invalid(verifier.verify(&token_with_aud(bad)).await, "`aud`");
        }
    }

    // ---- algorithm attacks --------------------------------------------------------------

    #[tokio::test]
    async fn alg_none_is_rejected() {
        let idp = spawn_idp(vec![key_a().jwk("a")]).await;
        let verifier = idp.verifier().await;
        let payload = b64url(idp.claims().to_string().as_bytes());
        let signed = mint(
            &key_a().encoding,
            Algorithm::RS256,
            Some("a"),
            &idp.claims(),
        );
        let signature = signed.rsplit('.').next().unwrap();

        for alg in ["none", "None", "NONE", ""] {
            let header = b64url(
                json!({"alg": alg, "kid": "a", "typ": "JWT"})
                    .to_string()
                    .as_bytes(),
            );
            assert_invalid(
                verifier.verify(&format!("{header}.{payload}.")).await,
                "header",
            );
            assert_invalid(
                verifier
                    .verify(&format!("{header}.{payload}.{signature}"))
                    .await,
                "header",
            );
        }
        let header = b64url(json!({"kid": "a"}).to_string().as_bytes());
        assert_invalid(
            verifier.verify(&format!("{header}.{payload}.")).await,
            "header",
        );
        assert_eq!(idp.hits(), 1);
    }

    #[tokio::test]
    async fn hs256_signed_with_the_public_key_is_rejected() {
        let idp = spawn_idp(vec![key_a().jwk("a")]).await;
        let verifier = idp.verifier().await;
        let secrets = [
            key_a().public_pem_spki.as_bytes(),
            key_a().public_pem_pkcs1.as_bytes(),
            key_a().n.as_bytes(),
        ];
        for secret in secrets {
            for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
                for kid in [Some("a"), None, Some("unknown")] {
                    let token = mint(&EncodingKey::from_secret(secret), alg, kid, &idp.claims());
                    assert_invalid(verifier.verify(&token).await, "algorithm");
                }
            }
        }
        // Rejected on the header alone: not even an unknown kid may trigger a refetch.
        assert_eq!(idp.hits(), 1);
    }

    #[tokio::test]
    async fn header_alg_must_match_the_jwk_alg() {
        let mut jwk = key_a().jwk("a");
        jwk["alg"] = json!("RS256");
        let idp = spawn_idp(vec![jwk]).await;
        let verifier = idp.verifier().await;

        let ok = mint(
            &key_a().encoding,
            Algorithm::RS256,
            Some("a"),
            &idp.claims(),
        );
        assert!(verifier.verify(&ok).await.is_ok());
        // Correctly signed, but with a hash the key is not registered for.
        for alg in [Algorithm::RS384, Algorithm::RS512] {
            let token = mint(&key_a().encoding, alg, Some("a"), &idp.claims());
            assert_invalid(verifier.verify(&token).await, "not permitted");
        }
        // PS256 is outside what this verifier supports at all.
        let pss = mint(
            &key_a().encoding,
            Algorithm::PS256,
            Some("a"),
            &idp.claims(),
        );
        assert_invalid(verifier.verify(&pss).await, "algorithm");
    }

    #[tokio::test]
    async fn bad_signature_and_crit_header_are_rejected() {
        let idp = spawn_idp(vec![key_a().jwk("a")]).await;
        let verifier = idp.verifier().await;

        let wrong_key = mint(
            &key_b().encoding,
            Algorithm::RS256,
            Some("a"),
            &idp.claims(),
        );
        assert_invalid(verifier.verify(&wrong_key).await, "signature");

        let good = mint(
            &key_a().encoding,
            Algorithm::RS256,
            Some("a"),
            &idp.claims(),
        );
        let mut parts: Vec<&str> = good.split('.').collect();
        let mut tampered_claims = idp.claims();
        tampered_claims["role"] = json!("superuser");
        let tampered_payload = b64url(tampered_claims.to_string().as_bytes());
        parts[1] = &tampered_payload;
        assert_invalid(verifier.verify(&parts.join(".")).await, "signature");

        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some("a".to_owned());
        header.crit = Some(vec!["exp".to_owned()]);
        let crit = jsonwebtoken::encode(&header, &idp.claims(), &key_a().encoding).unwrap();
        assert_invalid(verifier.verify(&crit).await, "critical");

        assert_invalid(verifier.verify("").await, "malformed");
        assert_invalid(verifier.verify("a.b").await, "malformed");
        assert_invalid(verifier.verify(&"x".repeat(100_000)).await, "too large");
    }

    #[tokio::test]
    async fn token_without_kid_needs_a_single_key() {
        let idp = spawn_idp(vec![key_a().jwk("a")]).await;
        let verifier = idp.verifier().await;
        let token = mint(&key_a().encoding, Algorithm::RS256, None, &idp.claims());
        assert_eq!(verifier.verify(&token).await.unwrap(), expected_claims());

        // An encryption key does not count as a second signing key.
        let mut enc = key_b().jwk("enc");
        enc["use"] = json!("enc");
        let idp = spawn_idp(vec![key_a().jwk("a"), enc]).await;
        let verifier = idp.verifier().await;
        let token = mint(&key_a().encoding, Algorithm::RS256, None, &idp.claims());
        assert!(verifier.verify(&token).await.is_ok());

        let idp = spawn_idp(vec![key_a().jwk("a"), key_b().jwk("b")]).await;
        let verifier = idp.verifier().await;
        let token = mint(&key_a().encoding, Algorithm::RS256, None, &idp.claims());
        assert_invalid(verifier.verify(&token).await, "no kid");
        assert_eq!(idp.hits(), 1);
    }

    // ---- JWKS refresh -------------------------------------------------------------------

    #[tokio::test]
    async fn unknown_kid_refreshes_once_and_picks_up_a_rotation() {
        let idp = spawn_idp(vec![key_a().jwk("a")]).await;
        // Generous, so a loaded CI machine cannot outrun the window by accident.
        let interval = Duration::from_secs(1);
        let verifier = idp
            .verifier_with(OidcTuning {
                min_refresh_interval: interval,
                ..OidcTuning::default()
            })
            .await;
        assert_eq!(idp.hits(), 1);

        let ghost = mint(
            &key_a().encoding,
            Algorithm::RS256,
            Some("ghost"),
            &idp.claims(),
        );
        assert_invalid(verifier.verify(&ghost).await, "kid");
        assert_eq!(idp.hits(), 2, "an unknown kid refetches once");
        assert_invalid(verifier.verify(&ghost).await, "kid");
        assert_eq!(
            idp.hits(),
            2,
            "a second miss inside the window does not refetch"
        );

        // The provider rotates: key A is withdrawn, key B published.
        idp.serve_keys(vec![key_b().jwk("b")]);
        let token_b = mint(
            &key_b().encoding,
            Algorithm::RS256,
            Some("b"),
            &idp.claims(),
        );
        assert_invalid(verifier.verify(&token_b).await, "kid");
        assert_eq!(idp.hits(), 2, "still rate limited");

        tokio::time::sleep(interval + Duration::from_millis(100)).await;
        assert_eq!(verifier.verify(&token_b).await.unwrap(), expected_claims());
        assert_eq!(idp.hits(), 3);
        assert!(verifier.verify(&token_b).await.is_ok());
        assert_eq!(idp.hits(), 3, "the rotated key is cached");

        let token_a = mint(
            &key_a().encoding,
            Algorithm::RS256,
            Some("a"),
            &idp.claims(),
        );
        assert_invalid(verifier.verify(&token_a).await, "kid");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn flood_of_unknown_kids_refreshes_at_most_once() {
        let idp = spawn_idp(vec![key_a().jwk("a")]).await;
        let verifier = idp.verifier().await;
        // A slow IdP keeps the first refetch in flight while the rest of the flood arrives.
        *idp.jwks_delay.lock().unwrap() = Duration::from_millis(200);

        let tasks: Vec<_> = (0..64)
            .map(|i| {
                let verifier = verifier.clone();
                let kid = format!("bogus-{i}");
                let token = mint(
                    &key_a().encoding,
                    Algorithm::RS256,
                    Some(&kid),
                    &idp.claims(),
                );
                tokio::spawn(async move { verifier.verify(&token).await })
            })
            .collect();
        for task in tasks {
            assert_invalid(task.await.unwrap(), "kid");
        }
        for i in 0..64 {
            let token = mint(
                &key_a().encoding,
                Algorithm::RS256,
                Some(&format!("late-{i}")),
                &idp.claims(),
            );
            assert_invalid(verifier.verify(&token).await, "kid");
        }
        assert_eq!(idp.hits(), 2, "discovery plus a single refresh");

        let good = mint(
            &key_a().encoding,
            Algorithm::RS256,
            Some("a"),
            &idp.claims(),
        );
        assert!(verifier.verify(&good).await.is_ok());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_refreshes_coalesce() {
        let idp = spawn_idp(vec![key_a().jwk("a")]).await;
        // No rate limit at all, so only coalescing can keep this at one refetch.
        let verifier = idp
            .verifier_with(OidcTuning {
                min_refresh_interval: Duration::ZERO,
                ..OidcTuning::default()
            })
            .await;
        idp.serve_keys(vec![key_a().jwk("a"), key_b().jwk("b")]);
        *idp.jwks_delay.lock().unwrap() = Duration::from_millis(300);

        let token = mint(
            &key_b().encoding,
            Algorithm::RS256,
            Some("b"),
            &idp.claims(),
        );
        let tasks: Vec<_> = (0..32)
            .map(|_| {
                let verifier = verifier.clone();
                let token = token.clone();
                tokio::spawn(async move { verifier.verify(&token).await })
            })
            .collect();
        for task in tasks {
            assert_eq!(task.await.unwrap().unwrap(), expected_claims());
        }
        assert_eq!(idp.hits(), 2);
    }

    #[tokio::test]
    async fn stale_keys_are_refetched_and_withdrawn_keys_dropped() {
        let idp = spawn_idp(vec![key_a().jwk("a"), key_b().jwk("b")]).await;
        let verifier = idp
            .verifier_with(OidcTuning {
                min_refresh_interval: Duration::ZERO,
                max_key_age: Duration::from_secs(1),
                ..OidcTuning::default()
            })
            .await;
        let token_a = mint(
            &key_a().encoding,
            Algorithm::RS256,
            Some("a"),
            &idp.claims(),
        );
        let token_b = mint(
            &key_b().encoding,
            Algorithm::RS256,
            Some("b"),
            &idp.claims(),
        );
        assert!(verifier.verify(&token_a).await.is_ok());

        idp.serve_keys(vec![key_b().jwk("b")]);
        assert!(verifier.verify(&token_a).await.is_ok(), "cache still fresh");
        tokio::time::sleep(Duration::from_millis(1200)).await;
        assert_invalid(verifier.verify(&token_a).await, "kid");
        assert!(verifier.verify(&token_b).await.is_ok());
    }

    #[tokio::test]
    async fn idp_outage_keeps_cached_keys_but_reports_unknown_kids_as_unavailable() {
        let idp = spawn_idp(vec![key_a().jwk("a")]).await;
        let verifier = idp
            .verifier_with(OidcTuning {
                min_refresh_interval: Duration::ZERO,
                max_key_age: Duration::ZERO,
                ..OidcTuning::default()
            })
            .await;
        idp.jwks_fails.store(true, Ordering::SeqCst);

        let token_a = mint(
            &key_a().encoding,
            Algorithm::RS256,
            Some("a"),
            &idp.claims(),
        );
        assert_eq!(verifier.verify(&token_a).await.unwrap(), expected_claims());
        assert!(
            idp.hits() >= 2,
            "the stale cache was refetched (and failed)"
        );

        let token_new = mint(
            &key_a().encoding,
            Algorithm::RS256,
            Some("new"),
            &idp.claims(),
        );
        assert!(matches!(
            verifier.verify(&token_new).await,
            Err(OidcError::Discovery(_))
        ));
    }

    // ---- tenant and role claims ---------------------------------------------------------

    #[tokio::test]
    async fn tenant_and_role_must_be_non_empty_strings() {
        let idp = spawn_idp(vec![key_a().jwk("a")]).await;
        let verifier = idp.verifier().await;
        let sign = |claims: &Value| mint(&key_a().encoding, Algorithm::RS256, Some("a"), claims);

        let mut claims = idp.claims();
        claims.as_object_mut().unwrap().remove("tenant");
        assert_invalid(
            verifier.verify(&sign(&claims)).await,
            "claim `tenant` is missing",
        );

        for bad in [
            json!(["admin"]),
            json!(42),
            json!(null),
            json!({"name": "admin"}),
        ] {
            let mut claims = idp.claims();
            claims["role"] = bad;
            assert_invalid(
                verifier.verify(&sign(&claims)).await,
                "claim `role` is not a string",
            );
        }

        let mut claims = idp.claims();
        claims["tenant"] = json!("");
        assert_invalid(
            verifier.verify(&sign(&claims)).await,
            "claim `tenant` is empty",
        );

        let mut claims = idp.claims();
        claims["sub"] = json!(12);
        assert_invalid(verifier.verify(&sign(&claims)).await, "`sub`");
    }

    #[tokio::test]
    async fn claim_names_can_be_namespaced_or_json_pointers() {
        let idp = spawn_idp(vec![key_a().jwk("a")]).await;
        let config = OidcConfig {
            tenant_claim: "/realm/tenant".to_owned(),
            role_claim: "https://example.com/claims.role".to_owned(),
            ..idp.config()
        };
        let verifier = OidcVerifier::discover(config, http()).await.unwrap();
        let mut claims = idp.claims();
        claims["realm"] = json!({"tenant": "nested-co"});
        claims["https://example.com/claims.role"] = json!("editor");
        // Decoys: the literal names must not be confused with the paths.
        claims["/realm/tenant"] = json!("decoy");
        claims["https://example"] = json!({"com/claims": {"role": "decoy"}});
        let token = mint(&key_a().encoding, Algorithm::RS256, Some("a"), &claims);
        let verified = verifier.verify(&token).await.unwrap();
        assert_eq!(verified.tenant, "nested-co");
        assert_eq!(verified.role, "editor");

        claims["realm"] = json!({"tenant": 5});
        let token = mint(&key_a().encoding, Algorithm::RS256, Some("a"), &claims);
        assert_invalid(
            verifier.verify(&token).await,
            "claim `/realm/tenant` is not a string",
        );
    }

    #[tokio::test]
    async fn errors_never_echo_the_token() {
        let idp = spawn_idp(vec![key_a().jwk("a")]).await;
        let verifier = idp.verifier().await;
        let mut claims = idp.claims();
        claims["aud"] = json!("MARKER-aud");
        claims["role"] = json!(["MARKER-role"]);
        let tokens = [
            mint(
                &key_a().encoding,
                Algorithm::RS256,
                Some("MARKER-kid"),
                &claims,
            ),
            mint(&key_b().encoding, Algorithm::RS256, Some("a"), &claims),
            mint(&key_a().encoding, Algorithm::RS256, Some("a"), &claims),
            with_header("x.y.z", &json!({"alg": "MARKER-alg", "kid": "a"})),
            format!(
                "{}.MARKER.MARKER",
                b64url(b"{\"alg\":\"RS256\",\"kid\":\"a\"}")
            ),
            "MARKER".to_owned(),
        ];
        for token in tokens {
            let err = verifier.verify(&token).await.unwrap_err();
            for rendered in [err.to_string(), format!("{err:?}")] {
                assert!(!rendered.contains("MARKER"), "{rendered}");
                for part in token.split('.').filter(|p| p.len() > 3) {
                    assert!(!rendered.contains(part), "{rendered}");
                }
            }
        }
    }

    // ---- discovery ----------------------------------------------------------------------

    #[tokio::test]
    async fn discovery_rejects_an_issuer_mismatch() {
        let idp = spawn_idp(vec![key_a().jwk("a")]).await;
        *idp.discovery_issuer.lock().unwrap() = Some("http://evil.example".to_owned());
        let err = OidcVerifier::discover(idp.config(), http())
            .await
            .unwrap_err();
        assert!(
            matches!(&err, OidcError::Discovery(m) if m.contains("issuer")),
            "{err}"
        );

        // Exact comparison: a trailing slash is a different issuer.
        *idp.discovery_issuer.lock().unwrap() = None;
        let config = OidcConfig {
            issuer: format!("{}/", idp.base),
            ..idp.config()
        };
        let err = OidcVerifier::discover(config, http()).await.unwrap_err();
        assert!(
            matches!(&err, OidcError::Discovery(m) if m.contains("issuer")),
            "{err}"
        );
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
        let err = OidcVerifier::discover(idp.config(), http())
            .await
            .unwrap_err();
        assert!(
            matches!(&err, OidcError::Discovery(m) if m.contains("no usable")),
            "{err}"
        );

        let idp = spawn_idp(vec![key_a().jwk("a")]).await;
        for uri in ["file:///etc/passwd", "not a url"] {
            *idp.jwks_uri.lock().unwrap() = Some(uri.to_owned());
            let err = OidcVerifier::discover(idp.config(), http())
                .await
                .unwrap_err();
            assert!(matches!(err, OidcError::Discovery(_)), "{err}");
        }

        idp.jwks_fails.store(true, Ordering::SeqCst);
        *idp.jwks_uri.lock().unwrap() = None;
        let err = OidcVerifier::discover(idp.config(), http())
            .await
            .unwrap_err();
        assert!(
            matches!(&err, OidcError::Discovery(m) if m.contains("500")),
            "{err}"
        );
    }

    #[tokio::test]
    async fn discovery_enforces_size_limit() {
        let idp = spawn_idp(vec![
            key_a().jwk("a"),
            json!({"padding": "x".repeat(1 << 20)}),
        ])
        .await;
        let err = OidcVerifier::discover(idp.config(), http())
            .await
            .unwrap_err();
        assert!(
            matches!(&err, OidcError::Discovery(m) if m.contains("larger than")),
            "{err}"
        );

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
        let err = OidcVerifier::discover_with(config, http(), tuning)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, OidcError::Discovery(m) if m.contains("larger than")),
            "{err}"
        );
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
        let err = OidcVerifier::discover(config(closed), http())
            .await
            .unwrap_err();
        assert!(matches!(err, OidcError::Discovery(_)), "{err}");

        let hanging = spawn_raw_server(None);
        let started = Instant::now();
        let tuning = OidcTuning {
            http_timeout: Duration::from_millis(300),
            ..OidcTuning::default()
        };
        let err = OidcVerifier::discover_with(config(hanging), http(), tuning)
            .await
            .unwrap_err();
        assert!(matches!(err, OidcError::Discovery(_)), "{err}");
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
            let err = OidcVerifier::discover(config, http()).await.unwrap_err();
            assert!(
                matches!(&err, OidcError::Discovery(m) if m.contains("configuration")),
                "{err}"
            );
        }
    }
}
