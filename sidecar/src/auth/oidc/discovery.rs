// SPDX-License-Identifier: BUSL-1.1
//! Start-up: the configuration's sanity checks, the provider's discovery document and the
//! first fetch of its JWKS.

use std::sync::{Arc, RwLock};

use serde::Deserialize;
use tokio::sync::Mutex;

use super::fetch::fetch_json;
use super::jwks::{fetch_jwks, RefreshState};
use super::{Inner, OidcConfig, OidcError, OidcTuning, OidcVerifier};

#[derive(Deserialize)]
struct DiscoveryDocument {
    issuer: String,
    jwks_uri: String,
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
                refresh: Mutex::new(RefreshState::default()),
            }),
        })
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
