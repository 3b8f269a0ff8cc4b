// SPDX-License-Identifier: BUSL-1.1
//! The token's claims: times, issuer, audience, tenant and role; and errors that never echo it.

use std::time::Duration;

use jsonwebtoken::Algorithm;
use serde_json::{json, Value};

use super::{
    assert_invalid, b64url, expected_claims, http, idp_with_key_a, key_a, key_b, mint, spawn_idp,
    with_header, AUDIENCE,
};
use crate::auth::oidc::{OidcConfig, OidcError, OidcTuning, OidcVerifier};

// ---- time-based claims ------------------------------------------------------------------

#[tokio::test]
async fn expiry_and_not_before_are_enforced_with_leeway() {
    let (idp, verifier) = idp_with_key_a().await;
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
    let (idp, verifier) = idp_with_key_a().await;
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

// ---- issuer and audience ----------------------------------------------------------------

#[tokio::test]
async fn issuer_must_match_exactly() {
    let (idp, verifier) = idp_with_key_a().await;
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
    let (idp, verifier) = idp_with_key_a().await;
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

// ---- tenant and role claims -------------------------------------------------------------

#[tokio::test]
async fn tenant_and_role_must_be_non_empty_strings() {
    let (idp, verifier) = idp_with_key_a().await;
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
    let (idp, verifier) = idp_with_key_a().await;
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
