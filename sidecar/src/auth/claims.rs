// SPDX-License-Identifier: BUSL-1.1
//! Checks on a bearer token beyond its signature, issuer and audience: what kind of JWT it
//! says it is, and when it was issued. The verifier in `oidc` calls them; the messages are
//! fixed texts, since they reach logs and responses.

use std::time::Duration;

use serde_json::Value;

/// Identity providers' clocks run a little ahead of ours; a minute absorbs that.
const IAT_LEEWAY_SECS: u64 = 60;

/// The JOSE `typ` header, when present, must name a JWT (RFC 7519) or a JWT access token
/// (RFC 9068). Other typed JWTs — logout tokens, DPoP proofs, security events — are signed by
/// the same keys for other purposes and must not pass as credentials. RFC 7515 §4.1.9 lets
/// the `application/` prefix be omitted and media types compare case-insensitively.
pub(crate) fn check_type(typ: Option<&str>) -> Result<(), &'static str> {
    let Some(typ) = typ else { return Ok(()) };
    let typ = typ.to_ascii_lowercase();
    match typ.strip_prefix("application/").unwrap_or(&typ) {
        "jwt" | "at+jwt" => Ok(()),
        _ => Err("token type (typ header) not accepted"),
    }
}

/// `iat` is required and may not lie in the future. A token valid for longer than
/// `max_lifetime` is refused even if unexpired: a long-lived token is a leaked token that
/// keeps working, and the provider's revocation does not reach tokens already issued.
pub(crate) fn check_issued_at(
    claims: &Value,
    now: u64,
    max_lifetime: Duration,
) -> Result<(), &'static str> {
    let iat = match claims.get("iat") {
        None => return Err("claim `iat` is missing"),
        Some(v) => numeric_date(v).ok_or("claim `iat` is ill-typed")?,
    };
    if iat > now.saturating_add(IAT_LEEWAY_SECS) {
        return Err("token issued in the future (iat)");
    }
    let exp = claims
        .get("exp")
        .and_then(numeric_date)
        .ok_or("claim `exp` is ill-typed")?;
    if exp.saturating_sub(iat) > max_lifetime.as_secs() {
        return Err("token lifetime (exp - iat) exceeds RECSYS_OIDC_MAX_TOKEN_LIFETIME_SECS");
    }
    Ok(())
}

/// RFC 7519 NumericDate: seconds since the epoch, possibly fractional.
fn numeric_date(value: &Value) -> Option<u64> {
    value.as_u64().or_else(|| {
        value
            .as_f64()
            .filter(|f| f.is_finite() && *f >= 0.0)
            .map(|f| f as u64)
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const DAY: Duration = Duration::from_secs(86_400);

    #[test]
    fn typ_accepts_jwt_and_access_tokens_only() {
        for ok in [
            None,
            Some("JWT"),
            Some("jwt"),
            Some("at+jwt"),
            Some("AT+JWT"),
            Some("application/at+jwt"),
            Some("Application/JWT"),
        ] {
            assert_eq!(check_type(ok), Ok(()), "{ok:?}");
        }
        for bad in [
            "",
            "logout+jwt",
            "dpop+jwt",
            "secevent+jwt",
            "JOSE",
            "text/jwt",
            "jwt ",
        ] {
            assert!(check_type(Some(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn iat_bounds_the_token_in_time() {
        let now = 1_800_000_000;
        let check =
            |iat: Value, exp: Value| check_issued_at(&json!({"iat": iat, "exp": exp}), now, DAY);
        assert_eq!(check(json!(now), json!(now + 300)), Ok(()));
        assert_eq!(check(json!(now + 60), json!(now + 300)), Ok(()));
        assert_eq!(check(json!(now as f64 + 0.5), json!(now + 300)), Ok(()));
        assert_eq!(check(json!(now - 86_000), json!(now + 400)), Ok(()));
        assert!(check(json!(now + 61), json!(now + 300))
            .unwrap_err()
            .contains("future"));
        assert!(check(json!(now), json!(now + 86_401))
            .unwrap_err()
            .contains("lifetime"));
        for bad in [json!("1800000000"), json!(-1), json!(null), json!([now])] {
            assert_eq!(
                check(bad, json!(now + 300)),
                Err("claim `iat` is ill-typed")
            );
        }
        assert_eq!(
            check_issued_at(&json!({"exp": now + 300}), now, DAY),
            Err("claim `iat` is missing")
        );
    }
}
