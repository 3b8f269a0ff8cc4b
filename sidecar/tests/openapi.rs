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

/// `k` is bounded in one place, `recsys_core::rules::MAX_K_REST`: every `k` the contract
/// states (query parameters and request bodies) says the same maximum.
#[test]
fn every_k_in_the_contract_has_the_rest_maximum() {
    let api = serde_json::to_value(recsys_sidecar::openapi()).expect("the contract serialises");
    let mut maxima = Vec::new();
    collect_k_maxima(&api, &mut maxima);
    assert!(maxima.len() >= 3, "k parameters found: {maxima:?}");
    let limit = recsys_core::rules::MAX_K_REST as u64;
    assert!(maxima.iter().all(|m| *m == Some(limit)), "{maxima:?}");
}

/// The `maximum` of every bounded schema named `k` (an input), as a parameter (`name: k`) or
/// a property; `k` in a response states no bounds.
fn collect_k_maxima(v: &serde_json::Value, out: &mut Vec<Option<u64>>) {
    match v {
        serde_json::Value::Object(o) => {
            if o.get("name").and_then(|n| n.as_str()) == Some("k") {
                out.push(o["schema"]["maximum"].as_u64());
            }
            if let Some(k) = o.get("properties").and_then(|p| p.get("k")) {
                if k.get("minimum").is_some() || k.get("maximum").is_some() {
                    out.push(k["maximum"].as_u64());
                }
            }
            o.values().for_each(|x| collect_k_maxima(x, out));
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| collect_k_maxima(x, out)),
        _ => {}
    }
}
