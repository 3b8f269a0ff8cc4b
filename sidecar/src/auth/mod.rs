// SPDX-License-Identifier: BUSL-1.1
//! Who is calling: an API key (`X-API-Key`) or an OIDC bearer token, resolved to a tenant and
//! one of the three recsys roles. What the caller may do is not decided here: each request's
//! transaction takes the tenant and `SET LOCAL ROLE`, and the database's grants and row-level
//! security decide (see `db`).

pub mod api_keys;
mod claims;
mod jwk;
pub mod key_admin;
pub mod oidc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::AppState;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Operator,
    Admin,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "viewer" => Some(Role::Viewer),
            "operator" => Some(Role::Operator),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }

    /// The database group role each request's transaction switches to.
    pub fn db_role(self) -> &'static str {
        match self {
            Role::Viewer => "recsys_viewer",
            Role::Operator => "recsys_operator",
            Role::Admin => "recsys_admin",
        }
    }
}

/// A tenant as `recsys.tenant_name` allows it; checked before it reaches the database.
pub fn valid_tenant(t: &str) -> bool {
    let b = t.as_bytes();
    (1..=63).contains(&b.len())
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub tenant: String,
    pub role: Role,
    /// Who is calling, for the audit log (`recsys.subject`): `api_key:<id>` or
    /// `oidc:<subject>`.
    pub subject: String,
}

/// Longest subject passed to the database; an identity provider's `sub` is usually far shorter.
const MAX_SUBJECT_BYTES: usize = 200;

fn oidc_subject(sub: Option<&str>) -> String {
    let mut subject = format!("oidc:{}", sub.unwrap_or("-"));
    if subject.len() > MAX_SUBJECT_BYTES {
        let mut end = MAX_SUBJECT_BYTES;
        while !subject.is_char_boundary(end) {
            end -= 1;
        }
        subject.truncate(end);
    }
    subject
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(refusal) = state.extension.get().refusal() {
            return Err(refusal);
        }
        if let Some(key) = parts.headers.get("x-api-key") {
            let key = key
                .to_str()
                .map_err(|_| ApiError::unauthorized("the API key is not valid"))?;
            return state.keys.authenticate(key).await;
        }
        if let Some(value) = parts.headers.get(axum::http::header::AUTHORIZATION) {
            let token = value
                .to_str()
                .ok()
                .and_then(|v| {
                    v.strip_prefix("Bearer ")
                        .or_else(|| v.strip_prefix("bearer "))
                })
                .ok_or_else(|| {
                    ApiError::unauthorized("the Authorization header must be `Bearer <token>`")
                })?;
            let Some(oidc) = &state.oidc else {
                return Err(ApiError::unauthorized(
                    "bearer tokens are not accepted: OIDC is not configured",
                )
                .hint("use an X-API-Key, or set RECSYS_OIDC_ISSUER and RECSYS_OIDC_AUDIENCE"));
            };
            let claims = oidc.verify(token.trim()).await.map_err(|e| match e {
                oidc::OidcError::Discovery(_) => {
                    tracing::warn!(error = %e, "identity provider unavailable");
                    ApiError::unavailable("the identity provider is unavailable; retry later")
                }
                other => ApiError::unauthorized(other.to_string()),
            })?;
            if !valid_tenant(&claims.tenant) {
                return Err(ApiError::unauthorized(
                    "the token's tenant claim is not a valid tenant name",
                ));
            }
            let role = Role::parse(&claims.role).ok_or_else(|| {
                ApiError::new(
                    StatusCode::FORBIDDEN,
                    "forbidden",
                    "the token's role claim is not viewer, operator or admin",
                )
            })?;
            return Ok(Principal {
                subject: oidc_subject(claims.subject.as_deref()),
                tenant: claims.tenant,
                role,
            });
        }
        Err(ApiError::unauthorized("credentials are missing")
            .hint("send an X-API-Key header or an Authorization: Bearer token"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oidc_subjects_are_bounded_on_a_character_boundary() {
        assert_eq!(oidc_subject(Some("user-1")), "oidc:user-1");
        assert_eq!(oidc_subject(None), "oidc:-");
        let long = oidc_subject(Some(&"é".repeat(200)));
        assert!(
            long.len() <= MAX_SUBJECT_BYTES && long.starts_with("oidc:é"),
            "{long}"
        );
    }
}
