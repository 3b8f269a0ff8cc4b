// SPDX-License-Identifier: BUSL-1.1
//! Which keys and algorithms verify a token, and which headers and signatures are refused.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

use super::{
    assert_invalid, b64url, ed25519_key, es256_key, expected_claims, idp_with_key_a, key_a, key_b,
    mint, spawn_idp, with_header,
};
use crate::auth::oidc::OidcVerifier;

// ---- happy paths ------------------------------------------------------------------------

#[test]
fn verifier_is_cheap_to_share_across_tasks() {
    fn assert_traits<T: Clone + Send + Sync + 'static>() {}
    assert_traits::<OidcVerifier>();
}

#[tokio::test]
async fn valid_token_is_accepted() {
    let (idp, verifier) = idp_with_key_a().await;

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
    let rs = idp.token(key_a(), "ec");
    assert_invalid(verifier.verify(&rs).await, "not permitted");
    let rs = idp.token(key_a(), "ed");
    assert_invalid(verifier.verify(&rs).await, "not permitted");
}

// ---- typ header -------------------------------------------------------------------------

#[tokio::test]
async fn typ_header_must_name_a_jwt_or_an_access_token() {
    let (idp, verifier) = idp_with_key_a().await;
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

// ---- algorithm attacks ------------------------------------------------------------------

#[tokio::test]
async fn alg_none_is_rejected() {
    let (idp, verifier) = idp_with_key_a().await;
    let payload = b64url(idp.claims().to_string().as_bytes());
    let signed = idp.token(key_a(), "a");
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
    let (idp, verifier) = idp_with_key_a().await;
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

    let ok = idp.token(key_a(), "a");
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
    let (idp, verifier) = idp_with_key_a().await;

    let wrong_key = idp.token(key_b(), "a");
    assert_invalid(verifier.verify(&wrong_key).await, "signature");

    let good = idp.token(key_a(), "a");
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
    let (idp, verifier) = idp_with_key_a().await;
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
