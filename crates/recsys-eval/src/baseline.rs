// SPDX-License-Identifier: Apache-2.0
//! The quality gate: a committed baseline of each algorithm's ranking metrics on one data set
//! and split, and the comparison that names every metric a new run lost more than a set share
//! of. Only metrics where higher is better are gated (precision, recall, NDCG, MAP, hit rate);
//! coverage and novelty move both ways for good reasons.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::EvalError;
use crate::report::Report;

/// The gated metrics of one algorithm.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatedMetrics {
    pub precision: f64,
    pub recall: f64,
    pub ndcg: f64,
    pub map: f64,
    pub hit_rate: f64,
}

impl GatedMetrics {
    fn named(&self) -> [(&'static str, f64); 5] {
        [
            ("precision", self.precision),
            ("recall", self.recall),
            ("ndcg", self.ndcg),
            ("map", self.map),
            ("hit_rate", self.hit_rate),
        ]
    }
}

/// What a run is held to: the protocol it must repeat and the metrics it must keep.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Baseline {
    /// Free text: where the data came from. Not compared (paths differ between machines).
    pub dataset: String,
    /// The split, as [`crate::SplitStrategy::describe`] prints it.
    pub split: String,
    pub k: usize,
    pub algorithms: BTreeMap<String, GatedMetrics>,
}

/// One metric that fell more than allowed.
#[derive(Clone, Debug, PartialEq)]
pub struct Regression {
    pub algorithm: String,
    pub metric: &'static str,
    pub baseline: f64,
    pub current: f64,
}

impl Regression {
    /// The share lost, e.g. 0.02 for a 2 % drop.
    pub fn drop(&self) -> f64 {
        1.0 - self.current / self.baseline
    }
}

impl Baseline {
    /// The baseline a report would set: its algorithms' gated metrics.
    pub fn of(report: &Report, k: usize) -> Self {
        Baseline {
            dataset: report.dataset.clone(),
            split: report.split.clone(),
            k,
            algorithms: report
                .rows
                .iter()
                .map(|r| {
                    let m = &r.metrics;
                    let gated = GatedMetrics {
                        precision: m.precision,
                        recall: m.recall,
                        ndcg: m.ndcg,
                        map: m.map,
                        hit_rate: m.hit_rate,
                    };
                    (r.algorithm.clone(), gated)
                })
                .collect(),
        }
    }

    /// Every gated metric of `report` more than `max_drop` (a share, e.g. 0.01) below this
    /// baseline. Refuses a report made under another protocol (split, `k`) or without one of
    /// the baseline's algorithms: its figures would not be comparable.
    pub fn regressions(
        &self,
        report: &Report,
        k: usize,
        max_drop: f64,
    ) -> Result<Vec<Regression>, EvalError> {
        if !(max_drop.is_finite() && (0.0..1.0).contains(&max_drop)) {
            return Err(EvalError::param(
                "max_drop",
                format!("must be a share from 0 to below 1, got {max_drop}"),
            ));
        }
        if self.split != report.split || self.k != k {
            return Err(EvalError::param(
                "baseline",
                format!(
                    "was made with {} at k={}, this run is {} at k={k}: evaluate with the baseline's protocol",
                    self.split, self.k, report.split
                ),
            ));
        }
        let now = Baseline::of(report, k);
        let mut out = Vec::new();
        for (algorithm, held) in &self.algorithms {
            let current = now.algorithms.get(algorithm).ok_or_else(|| {
                EvalError::param(
                    "baseline",
                    format!("has {algorithm}, which this run did not evaluate"),
                )
            })?;
            for ((metric, base), (_, value)) in held.named().into_iter().zip(current.named()) {
                if value < base * (1.0 - max_drop) {
                    out.push(Regression {
                        algorithm: algorithm.clone(),
                        metric,
                        baseline: base,
                        current: value,
                    });
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::MetricSummary;
    use crate::report::ReportRow;

    fn report(ndcg: f64) -> Report {
        let metrics = MetricSummary {
            k: 10,
            users: 100,
            precision: 0.1,
            recall: 0.2,
            ndcg,
            map: 0.15,
            hit_rate: 0.5,
            coverage: 0.3,
            novelty: 9.0,
            diversity: None,
        };
        Report {
            title: "t".into(),
            dataset: "demo".into(),
            split: "leave last out (min_user_items=5)".into(),
            train_events: 10,
            test_events: 5,
            rows: vec![ReportRow {
                algorithm: "als".into(),
                params: serde_json::Value::Null,
                fit_seconds: 1.0,
                recommend_seconds: 0.1,
                metrics,
            }],
        }
    }

    #[test]
    fn an_unchanged_run_passes_and_a_two_percent_drop_fails() {
        let baseline = Baseline::of(&report(0.30), 10);
        assert_eq!(baseline.regressions(&report(0.30), 10, 0.01), Ok(vec![]));
        assert_eq!(baseline.regressions(&report(0.31), 10, 0.01), Ok(vec![]));
        // Within the allowed share: 0.5 % down.
        assert_eq!(baseline.regressions(&report(0.2985), 10, 0.01), Ok(vec![]));
        let found = baseline.regressions(&report(0.294), 10, 0.01).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(
            (found[0].algorithm.as_str(), found[0].metric),
            ("als", "ndcg")
        );
        assert!((found[0].drop() - 0.02).abs() < 1e-9, "{}", found[0].drop());
    }

    #[test]
    fn another_protocol_or_a_missing_algorithm_is_refused() {
        let baseline = Baseline::of(&report(0.3), 10);
        assert!(baseline.regressions(&report(0.3), 20, 0.01).is_err());
        let mut other = report(0.3);
        other.split = "time cut (test from timestamp 5)".into();
        assert!(baseline.regressions(&other, 10, 0.01).is_err());
        let mut fewer = report(0.3);
        fewer.rows.clear();
        assert!(baseline.regressions(&fewer, 10, 0.01).is_err());
        assert!(baseline.regressions(&report(0.3), 10, f64::NAN).is_err());
    }

    #[test]
    fn round_trips_through_json() {
        let baseline = Baseline::of(&report(0.3), 10);
        let text = serde_json::to_string_pretty(&baseline).unwrap();
        assert_eq!(serde_json::from_str::<Baseline>(&text).unwrap(), baseline);
    }
}
