// SPDX-License-Identifier: Apache-2.0
//! `recsys tune` end to end on the bundled demo data: the table, the winner, the JSON, and
//! refusals before any training.

mod common;

use common::{demo_data, recsys};

/// The NDCG@10 column of the ranked rows (everything but the popularity row).
fn ndcgs(table: &str, column: usize) -> Vec<f64> {
    table
        .lines()
        .filter(|l| l.starts_with("| ") && l[2..].starts_with(|c: char| c.is_ascii_digit()))
        .map(|l| {
            let cell = l
                .split('|')
                .nth(column)
                .expect("a table row has this column");
            cell.trim().parse().expect("NDCG is a number")
        })
        .collect()
}

#[test]
fn ranks_every_combination_and_names_the_best() {
    let json = std::env::temp_dir().join(format!("recsys-tune-{}.json", std::process::id()));
    let out = recsys(&[
        "tune",
        "-i",
        &demo_data(),
        "-g",
        "regularization=1,30",
        "-g",
        "alpha=1,3",
        "-p",
        r#"{"factors": 16, "iterations": 5}"#,
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8(out.stdout).unwrap();
    // rank | regularization | alpha | NDCG@10 | …
    let scores = ndcgs(&table, 4);
    assert_eq!(scores.len(), 4, "{table}");
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{table}");
    assert!(table.contains("| popularity |"), "{table}");

    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    std::fs::remove_file(&json).unwrap();
    let trials = report["trials"].as_array().unwrap();
    assert_eq!(trials.len(), 4);
    let best = &trials[0];
    // The JSON's first trial is the table's first row (printed to 4 decimals).
    assert!((best["metrics"]["ndcg"].as_f64().unwrap() - scores[0]).abs() < 5e-5);
    // The shared parameters reach every candidate; the grid's values are the candidate's own.
    assert_eq!(best["params"]["factors"], 16);
    assert_eq!(best["params"]["iterations"], 5);
    let best_line = table
        .lines()
        .find_map(|l| l.strip_prefix("best: "))
        .expect("a best: line");
    let best_params: serde_json::Value = serde_json::from_str(best_line).unwrap();
    assert_eq!(best_params, best["params"]);
    assert!(
        best["metrics"]["ndcg"].as_f64().unwrap() > report["baseline"]["ndcg"].as_f64().unwrap()
    );
}

#[test]
fn refuses_a_bad_grid_with_exit_2_and_no_table() {
    let data = demo_data();
    let data = data.as_str();
    for (args, message) in [
        (vec!["-g", "factors=16,0"], "invalid parameter \"factors\""),
        (vec!["-g", "bogus=1"], "unknown field `bogus`"),
        (vec!["-g", "alpha"], "expected NAME=V1,V2"),
        (vec!["-a", "popularity"], "has no default grid"),
        (vec!["-a", "svd"], "unknown algorithm"),
        (vec!["-p", "[1]"], "--params must be a JSON object"),
    ] {
        let mut all = vec!["tune", "-i", data];
        all.extend(args);
        let out = recsys(&all);
        assert_eq!(out.status.code(), Some(2), "{all:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(message), "{all:?}: {err}");
        assert!(out.stdout.is_empty(), "{all:?}: printed a table");
    }
}
