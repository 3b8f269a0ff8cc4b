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

mod discovery;
mod fetch;
mod jwks;
#[cfg(test)]
mod tests;
mod verify;

use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::Mutex;

use jwks::{KeySet, RefreshState};

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

impl fmt::Debug for OidcVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OidcVerifier")
            .field("issuer", &self.inner.config.issuer)
            .field("audience", &self.inner.config.audience)
            .field("jwks_uri", &self.inner.jwks_uri.as_str())
            .finish_non_exhaustive()
    }
}
