// SPDX-License-Identifier: BUSL-1.1
//! The provider's keys: the cached key set, the key a token's header selects from it, and the
//! refetches, rate limited and coalesced (the `oidc` module documentation says why).

use std::sync::{Arc, PoisonError};
use std::time::Instant;

use jsonwebtoken::Algorithm;
use serde::Deserialize;
use serde_json::Value;

use super::fetch::fetch_json;
use super::{invalid, Inner, OidcError, OidcTuning};
use crate::auth::jwk::{parse_jwk, RawJwk, VerificationKey};

pub(super) struct KeySet {
    pub(super) keys: Vec<VerificationKey>,
    fetched_at: Instant,
}

#[derive(Default)]
pub(super) struct RefreshState {
    last_attempt: Option<Instant>,
}

#[derive(Deserialize)]
struct JwkSetDocument {
    // Kept as raw values so that one key we cannot parse does not void the whole set.
    keys: Vec<Value>,
}

pub(super) async fn fetch_jwks(
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

impl KeySet {
    /// `Ok(None)` means "unknown kid": the only outcome worth a refresh.
    pub(super) fn select(
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

impl Inner {
    fn current_keys(&self) -> Arc<KeySet> {
        // A panic elsewhere while holding the lock cannot leave the `Arc` half-written.
        Arc::clone(&self.keys.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// The cached key set, refetched first once older than `max_key_age`; kept if that fails.
    pub(super) async fn keys_refreshed_if_stale(self: &Arc<Self>) -> Arc<KeySet> {
        let keys = self.current_keys();
        if keys.fetched_at.elapsed() < self.tuning.max_key_age {
            return keys;
        }
        match self.refresh_after(&keys).await {
            Ok(fresh) => fresh,
            Err(e) => {
                tracing::warn!(error = %e, "stale JWKS could not be refreshed; keeping the cached keys");
                keys
            }
        }
    }

    /// Refetches the JWKS unless rate limited, or unless somebody replaced `seen` while we
    /// waited; returns whatever key set is current afterwards.
    pub(super) async fn refresh_after(
        self: &Arc<Self>,
        seen: &Arc<KeySet>,
    ) -> Result<Arc<KeySet>, OidcError> {
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
