// SPDX-License-Identifier: BUSL-1.1
//! A stored model version the extension cannot read is a problem document of its own: of a
//! newer format, 409 `incompatible_artifact`; damaged, 500 `corrupt_artifact` (harness:
//! tests/common/mod.rs). A superuser changes the stored bytes, standing in for a newer
//! release's writer and for damage.

mod common;

use axum::http::StatusCode;
use common::{assert_problem, Api};
use recsys_sidecar::auth::Role;
use serde_json::json;

/// The container: magic (8 bytes), manifest length (u64 LE), the manifest's SHA-256, the
/// manifest, the blobs. Rewrites the format version with a valid checksum.
const NEWER_FORMAT: &str = "UPDATE recsys.model_versions v
    SET artifact = substr(v.artifact, 1, 16) || sha256(m.manifest) || m.manifest
                   || substr(v.artifact, 49 + length(m.manifest))
    FROM (SELECT id, overlay(j PLACING '\"format_version\":9'::bytea
                             FROM position('\"format_version\":1'::bytea IN j)) AS manifest
          FROM (SELECT id, substr(artifact, 49, get_byte(artifact, 8) + 256 * get_byte(artifact, 9)) AS j
                FROM recsys.model_versions WHERE tenant_id = $1) x) m
    WHERE v.id = m.id";
const DAMAGE: &str = "UPDATE recsys.model_versions
    SET artifact = set_byte(artifact, length(artifact) - 1, get_byte(artifact, length(artifact) - 1) # 255)
    WHERE tenant_id = $1";

#[tokio::test]
#[ignore = "needs RECSYS_TEST_DATABASE_URL; scripts/test runs it"]
async fn unreadable_model_versions_are_their_own_problems() {
    let api = Api::new().await;
    for (sql, status, code) in [
        (NEWER_FORMAT, StatusCode::CONFLICT, "incompatible_artifact"),
        (
            DAMAGE,
            StatusCode::INTERNAL_SERVER_ERROR,
            "corrupt_artifact",
        ),
    ] {
        let t = Api::tenant("artifact");
        let operator = api.key(&t, Role::Operator).await;
        api.ingest(&operator, 12, 9, "i").await;
        let run = api
            .train(&operator, "m", json!({"algorithm": "popularity"}))
            .await;
        assert_eq!(run["status"], "succeeded", "{run}");
        sqlx::query(sql)
            .bind(&t)
            .execute(&api.admin)
            .await
            .expect(code);
        let r = api
            .call(
                "GET",
                "/v1/users/u1/recommendations?model=m",
                Some(&operator),
                None,
            )
            .await;
        assert_problem(&r, status, code);
        assert!(
            r.body["detail"]
                .as_str()
                .unwrap_or_default()
                .contains("model artifact"),
            "{}",
            r.body
        );
    }
}
