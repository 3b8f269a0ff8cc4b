// SPDX-License-Identifier: BUSL-1.1
//! JWKS refetches: on an unknown `kid` or a stale cache, rate limited, coalesced, and what an
//! identity-provider outage does.

use std::sync::atomic::Ordering;
use std::time::Duration;

use jsonwebtoken::Algorithm;

use super::{assert_invalid, expected_claims, idp_with_key_a, key_a, key_b, mint, spawn_idp};
use crate::auth::oidc::{OidcError, OidcTuning};

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

    let ghost = idp.token(key_a(), "ghost");
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
    let token_b = idp.token(key_b(), "b");
    assert_invalid(verifier.verify(&token_b).await, "kid");
    assert_eq!(idp.hits(), 2, "still rate limited");

    tokio::time::sleep(interval + Duration::from_millis(100)).await;
    assert_eq!(verifier.verify(&token_b).await.unwrap(), expected_claims());
    assert_eq!(idp.hits(), 3);
    assert!(verifier.verify(&token_b).await.is_ok());
    assert_eq!(idp.hits(), 3, "the rotated key is cached");

    let token_a = idp.token(key_a(), "a");
    assert_invalid(verifier.verify(&token_a).await, "kid");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flood_of_unknown_kids_refreshes_at_most_once() {
    let (idp, verifier) = idp_with_key_a().await;
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

    let good = idp.token(key_a(), "a");
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

    let token = idp.token(key_b(), "b");
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
    let token_a = idp.token(key_a(), "a");
    let token_b = idp.token(key_b(), "b");
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

    let token_a = idp.token(key_a(), "a");
    assert_eq!(verifier.verify(&token_a).await.unwrap(), expected_claims());
    assert!(
        idp.hits() >= 2,
        "the stale cache was refetched (and failed)"
    );

    let token_new = idp.token(key_a(), "new");
    assert!(matches!(
        verifier.verify(&token_new).await,
        Err(OidcError::Discovery(_))
    ));
}
