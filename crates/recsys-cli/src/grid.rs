// SPDX-License-Identifier: Apache-2.0
//! The grid of `recsys tune`: its axes, candidates and ranked outcome. The default grids are
//! a starting point, not a tuned choice (docs/how-to/tune-parameters.md): ALS's overfit every
//! data set we measured, and its best regularisation grows with the data.

use std::fmt::Write as _;

use recsys_eval::MetricSummary;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::CliError;

/// More candidates than this is almost certainly a typo in a grid, and hours of training.
pub const MAX_CANDIDATES: usize = 1000;

/// One parameter and the values to try, in the order given.
#[derive(Clone, Debug, PartialEq)]
pub struct Axis {
    pub name: String,
    pub values: Vec<Value>,
}

/// Parses `NAME=V1,V2,…`; each value is JSON (`0.1`, `true`, `null`, `"text"`), or a bare
/// word taken as a string.
pub fn parse_axis(text: &str) -> Result<Axis, CliError> {
    let bad = |why: &str| {
        CliError::Input(format!(
            "--grid \"{text}\" {why}; expected NAME=V1,V2,… such as regularization=1,10,100"
        ))
    };
    let (name, values) = text.split_once('=').ok_or_else(|| bad("has no '='"))?;
    let name = name.trim();
    if name.is_empty() {
        return Err(bad("names no parameter"));
    }
    let values: Vec<Value> = values
        .split(',')
        .map(str::trim)
        .map(|v| {
            if v.is_empty() {
                Err(bad("has an empty value"))
            } else {
                Ok(serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.to_string())))
            }
        })
        .collect::<Result<_, _>>()?;
    Ok(Axis {
        name: name.to_string(),
        values,
    })
}

/// The grid searched when none is given: each built-in's main knobs on a logarithmic scale,
/// wide enough to reach both overfitting and the collapse onto popularity.
pub fn default_grid(algorithm: &str) -> Result<Vec<Axis>, CliError> {
    let axes: &[&str] = match algorithm {
        "als" => &["regularization=0.1,1,10,30,100,300,1000", "alpha=1,3,10"],
        "ease" => &["lambda=10,50,100,250,500,1000,2000"],
        "itemknn" => &["neighbors=10,20,50,100,200", "shrinkage=0,10,100"],
        other => {
            return Err(CliError::Input(format!(
                "\"{other}\" has no default grid; give one or more --grid NAME=V1,V2,…"
            )))
        }
    };
    axes.iter().map(|a| parse_axis(a)).collect()
}

/// Every combination of the axes' values, each merged over `base`, in order: the last axis
/// varies fastest.
pub fn candidates(base: &Map<String, Value>, axes: &[Axis]) -> Result<Vec<Value>, CliError> {
    for (k, axis) in axes.iter().enumerate() {
        if axes[..k].iter().any(|a| a.name == axis.name) {
            return Err(CliError::Input(format!(
                "--grid names \"{}\" twice; give all its values in one --grid",
                axis.name
            )));
        }
    }
    let count = axes
        .iter()
        .try_fold(1usize, |n, a| n.checked_mul(a.values.len()))
        .filter(|&n| n <= MAX_CANDIDATES)
        .ok_or_else(|| {
            CliError::Input(format!(
                "the grid has more than {MAX_CANDIDATES} combinations; search coarser first"
            ))
        })?;
    let mut out = Vec::with_capacity(count);
    for index in 0..count {
        let mut params = base.clone();
        let mut rest = index;
        for axis in axes.iter().rev() {
            let n = axis.values.len();
            params.insert(axis.name.clone(), axis.values[rest % n].clone());
            rest /= n;
        }
        out.push(Value::Object(params));
    }
    Ok(out)
}

/// One trained and scored candidate.
#[derive(Serialize)]
pub struct Trial {
    /// The values of the grid's parameters, for the table.
    pub grid: Map<String, Value>,
    /// Every parameter, defaults filled in: what to pass to `train`.
    pub params: Value,
    pub fit_seconds: f64,
    pub metrics: MetricSummary,
}

#[derive(Serialize)]
pub struct Outcome {
    pub algorithm: String,
    pub dataset: String,
    pub split: String,
    pub train_events: usize,
    pub test_events: usize,
    pub k: usize,
    /// Popularity with its defaults on the same split: what a model must beat.
    pub baseline: MetricSummary,
    /// Best NDCG first; ties keep the grid's order.
    pub trials: Vec<Trial>,
}

impl Outcome {
    pub fn rank(&mut self) {
        self.trials
            .sort_by(|a, b| b.metrics.ndcg.total_cmp(&a.metrics.ndcg));
    }

    /// The best trial, if it beats the popularity baseline.
    pub fn best(&self) -> Option<&Trial> {
        self.trials
            .first()
            .filter(|t| t.metrics.ndcg > self.baseline.ndcg)
    }

    pub fn to_markdown(&self, axes: &[Axis]) -> String {
        let k = self.k;
        let names: Vec<&str> = axes.iter().map(|a| a.name.as_str()).collect();
        let mut s = format!("# recsys tuning: {}\n\n", self.algorithm);
        let _ = writeln!(
            s,
            "dataset: {} · split: {} · train events: {} · test events: {} · ranked by NDCG@{k}\n",
            self.dataset, self.split, self.train_events, self.test_events
        );
        let _ = writeln!(
            s,
            "| rank | {} | NDCG@{k} | vs popularity | P@{k} | R@{k} | coverage | fit s |",
            names.join(" | ")
        );
        let _ = writeln!(
            s,
            "| ---: | {} | ---: | ---: | ---: | ---: | ---: | ---: |",
            vec!["---:"; names.len()].join(" | ")
        );
        for (rank, t) in self.trials.iter().enumerate() {
            let values: Vec<String> = names
                .iter()
                .map(|n| t.grid.get(*n).map_or_else(String::new, Value::to_string))
                .collect();
            let m = &t.metrics;
            let _ = writeln!(
                s,
                "| {} | {} | {:.4} | {:+.4} | {:.4} | {:.4} | {:.4} | {:.3} |",
                rank + 1,
                values.join(" | "),
                m.ndcg,
                m.ndcg - self.baseline.ndcg,
                m.precision,
                m.recall,
                m.coverage,
                t.fit_seconds
            );
        }
        let b = &self.baseline;
        let _ = writeln!(
            s,
            "| popularity | {} | {:.4} | | {:.4} | {:.4} | {:.4} | |",
            vec![""; names.len()].join(" | "),
            b.ndcg,
            b.precision,
            b.recall,
            b.coverage
        );
        match self.best() {
            Some(t) => {
                let _ = writeln!(s, "\nbest: {}", t.params);
            }
            None => {
                let _ = writeln!(
                    s,
                    "\nno candidate beat popularity: widen the grid (docs/how-to/tune-parameters.md)"
                );
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_axes_of_json_and_bare_words() {
        let a = parse_axis("regularization=0.1, 10,1e3").unwrap();
        assert_eq!(a.name, "regularization");
        assert_eq!(a.values, vec![json!(0.1), json!(10), json!(1000.0)]);
        let b = parse_axis("half_life_days=null,7").unwrap();
        assert_eq!(b.values, vec![Value::Null, json!(7)]);
        let c = parse_axis("mode=fast,\"slow\"").unwrap();
        assert_eq!(c.values, vec![json!("fast"), json!("slow")]);
        for bad in ["regularization", "=1,2", "alpha=1,,3", "alpha="] {
            let e = parse_axis(bad).unwrap_err().to_string();
            assert!(e.contains("expected NAME=V1,V2"), "{bad}: {e}");
        }
    }

    #[test]
    fn candidates_are_the_product_over_the_base_last_axis_fastest() {
        let axes = [
            parse_axis("regularization=1,10").unwrap(),
            parse_axis("alpha=1,3,10").unwrap(),
        ];
        let base = json!({"factors": 16, "alpha": 99});
        let c = candidates(base.as_object().unwrap(), &axes).unwrap();
        assert_eq!(c.len(), 6);
        assert_eq!(
            c[0],
            json!({"factors": 16, "regularization": 1, "alpha": 1})
        );
        assert_eq!(
            c[1],
            json!({"factors": 16, "regularization": 1, "alpha": 3})
        );
        assert_eq!(
            c[5],
            json!({"factors": 16, "regularization": 10, "alpha": 10})
        );
        assert_eq!(candidates(&Map::new(), &[]).unwrap(), vec![json!({})]);
    }

    #[test]
    fn refuses_repeated_axes_and_huge_grids() {
        let twice = [
            parse_axis("alpha=1").unwrap(),
            parse_axis("alpha=3").unwrap(),
        ];
        assert!(candidates(&Map::new(), &twice)
            .unwrap_err()
            .to_string()
            .contains("twice"));
        let values = (0..11).map(|v| v.to_string()).collect::<Vec<_>>().join(",");
        let big: Vec<Axis> = ["a", "b", "c"]
            .iter()
            .map(|n| parse_axis(&format!("{n}={values}")).unwrap())
            .collect();
        assert!(candidates(&Map::new(), &big)
            .unwrap_err()
            .to_string()
            .contains("more than 1000"));
    }

    #[test]
    fn default_grids_are_valid_parameters_of_the_tunable_built_ins() {
        let registry = recsys_core::Registry::builtin();
        for (name, size) in [("als", 21), ("ease", 7), ("itemknn", 15)] {
            let c = candidates(&Map::new(), &default_grid(name).unwrap()).unwrap();
            assert_eq!(c.len(), size, "{name}");
            let algorithm = registry.get(name).unwrap();
            for p in &c {
                if let Err(e) = algorithm.check(p) {
                    panic!("{name} {p}: {e}");
                }
            }
        }
        assert!(default_grid("popularity").is_err());
    }

    fn summary(ndcg: f64) -> MetricSummary {
        MetricSummary {
            k: 10,
            users: 1,
            precision: 0.0,
            recall: 0.0,
            ndcg,
            map: 0.0,
            hit_rate: 0.0,
            coverage: 0.0,
            novelty: 0.0,
            diversity: None,
        }
    }

    fn outcome(ndcgs: &[f64], baseline: f64) -> Outcome {
        Outcome {
            algorithm: "als".into(),
            dataset: "d.tsv".into(),
            split: "s".into(),
            train_events: 1,
            test_events: 1,
            k: 10,
            baseline: summary(baseline),
            trials: ndcgs
                .iter()
                .enumerate()
                .map(|(i, &n)| Trial {
                    grid: [("alpha".to_string(), json!(i))].into_iter().collect(),
                    params: json!({"alpha": i}),
                    fit_seconds: 0.0,
                    metrics: summary(n),
                })
                .collect(),
        }
    }

    #[test]
    fn ranks_by_ndcg_and_names_the_best_only_if_it_beats_popularity() {
        let axes = [parse_axis("alpha=0,1,2").unwrap()];
        let mut o = outcome(&[0.2, 0.4, 0.1], 0.3);
        o.rank();
        let order: Vec<f64> = o.trials.iter().map(|t| t.metrics.ndcg).collect();
        assert_eq!(order, vec![0.4, 0.2, 0.1]);
        assert_eq!(o.best().unwrap().params, json!({"alpha": 1}));
        let md = o.to_markdown(&axes);
        assert!(md.contains("| 1 | 1 | 0.4000 | +0.1000 |"), "{md}");
        assert!(md.contains("| 3 | 2 | 0.1000 | -0.2000 |"), "{md}");
        assert!(md.contains("| popularity |  | 0.3000 | | 0.0000 |"), "{md}");
        assert!(md.contains("best: {\"alpha\":1}"), "{md}");

        let mut worse = outcome(&[0.2, 0.3], 0.3);
        worse.rank();
        assert!(worse.best().is_none());
        assert!(worse
            .to_markdown(&axes)
            .contains("no candidate beat popularity"));
    }
}
