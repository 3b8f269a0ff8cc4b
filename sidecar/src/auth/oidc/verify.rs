// SPDX-License-Identifier: BUSL-1.1
//! Checking a bearer token: its header (algorithm, `crit`, `typ`), its signature against the
//! key the header selects, and its claims (issuer, audience, times, tenant and role).

use jsonwebtoken::{Algorithm, Validation};
use serde_json::Value;

use super::{invalid, OidcError, OidcVerifier, TokenClaims};
use crate::auth::claims;

const LEEWAY_SECS: u64 = 30;
/// Real tokens are a few KiB; the cap keeps base64/JSON work on junk input bounded.
const MAX_TOKEN_BYTES: usize = 16 * 1024;

impl OidcVerifier {
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

        let mut keys = self.inner.keys_refreshed_if_stale().await;
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
