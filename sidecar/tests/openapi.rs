// SPDX-License-Identifier: BUSL-1.1
//! The committed contract, docs/reference/api/openapi.yaml, must be what the code serves.
//! Regenerate it with `cargo run -p recsys-sidecar -- openapi > docs/reference/api/openapi.yaml`.

#[test]
fn committed_openapi_matches_the_code() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/reference/api/openapi.yaml"
    );
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    let generated = recsys_sidecar::openapi::yaml(&recsys_sidecar::openapi());
    assert!(
        committed == generated,
        "docs/reference/api/openapi.yaml is out of date: run `cargo run -p recsys-sidecar -- openapi > docs/reference/api/openapi.yaml`"
    );
}

#[test]
fn every_operation_documents_problem_responses_and_security() {
    let api = recsys_sidecar::openapi();
    assert!(api.openapi == utoipa::openapi::OpenApiVersion::Version31);
    let mut checked = 0;
    for (path, item) in &api.paths.paths {
        let ops = [&item.get, &item.post, &item.put, &item.delete, &item.patch];
        for op in ops.into_iter().flatten() {
            checked += 1;
            if path.starts_with("/v1/") {
                assert!(
                    op.responses.responses.contains_key("4XX"),
                    "{path} lacks 4XX"
                );
                assert!(
                    op.security.as_ref().is_some_and(|s| !s.is_empty()),
                    "{path} lacks security"
                );
            }
        }
    }
    assert!(checked >= 12, "only {checked} operations documented");
}
