// SPDX-License-Identifier: Apache-2.0
//! The quality gate (`recsys eval --baseline`) with the committed baseline of the demo data:
//! an unchanged tree passes; a run 2 % below the baseline, or a degraded default, fails with
//! exit code 3 and names what fell.

mod common;

use std::path::PathBuf;

use common::{demo_data, recsys};
use serde_json::Value;

fn committed_baseline() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../benches/quality/demo.json")
}

/// Runs the gate of the demo data against `baseline`, with extra arguments.
fn gate(baseline: &str, extra: &[&str]) -> (Option<i32>, String) {
    let data = demo_data();
    let mut args = vec!["eval", "-i", &data, "--baseline", baseline];
    args.extend(extra);
    let out = recsys(&args);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn an_unchanged_tree_passes_the_committed_baseline() {
    let (code, stderr) = gate(committed_baseline().to_str().expect("utf-8 path"), &[]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stderr.contains("regression"), "{stderr}");
}

#[test]
fn a_two_percent_drop_fails() {
    // Every metric of the baseline raised so that today's figures sit 2 % below it.
    let text = std::fs::read_to_string(committed_baseline()).expect("the committed baseline");
    let mut baseline: Value = serde_json::from_str(&text).expect("JSON");
    for metrics in baseline["algorithms"]
        .as_object_mut()
        .expect("algorithms")
        .values_mut()
    {
        for value in metrics.as_object_mut().expect("metrics").values_mut() {
            *value = (value.as_f64().expect("a number") / 0.98).into();
        }
    }
    let path = std::env::temp_dir().join(format!("recsys-gate-{}.json", std::process::id()));
    std::fs::write(&path, baseline.to_string()).expect("write the raised baseline");
    let (code, stderr) = gate(path.to_str().expect("utf-8 path"), &[]);
    std::fs::remove_file(&path).expect("clean up");
    assert_eq!(code, Some(3), "{stderr}");
    assert!(stderr.contains("regression: als ndcg@10"), "{stderr}");
    assert!(
        stderr.contains("(2.0 % lower; at most 1.0 % allowed)"),
        "{stderr}"
    );
}

#[test]
fn a_degraded_default_fails() {
    // As if EASE's default regularisation had been changed from 250 to 5.
    let baseline = committed_baseline();
    let (code, stderr) = gate(
        baseline.to_str().expect("utf-8 path"),
        &["-p", r#"ease={"lambda": 5}"#],
    );
    assert_eq!(code, Some(3), "{stderr}");
    assert!(stderr.contains("regression: ease ndcg@10"), "{stderr}");
    assert!(!stderr.contains("regression: als"), "{stderr}");
}
