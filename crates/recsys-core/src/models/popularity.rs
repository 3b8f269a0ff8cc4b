// SPDX-License-Identifier: BUSL-1.1
//! Popularity: items ranked by how many users interacted with them, optionally with
//! exponential time decay ("trending").

use serde::{Deserialize, Serialize};

use super::{ensure, FitContext, Guarded, Model, ParamGuard, Params, Update};
use crate::artifact::{Artifact, Blob};
use crate::budget::Shape;
use crate::data::Interactions;
use crate::error::Result;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PopularityParams {
    /// With a half-life, an interaction `age` seconds before `reference_time` counts
    /// `0.5^(age / half_life)`; without, every user counts 1.
    pub half_life_days: Option<f64>,
    /// Unix seconds the ages are measured from; defaults to the latest interaction.
    pub reference_time: Option<i64>,
}

struct PopularityModel {
    scores: Vec<f32>,
}

/// The algorithm: its parameters say everything ([`ParamGuard`]).
pub type Popularity = Guarded<PopularityParams>;
pub const POPULARITY: Popularity = Guarded::new();

impl ParamGuard for PopularityParams {
    const ALGORITHM: &'static str = "popularity";
    const VERSION: u32 = 1;
    const SUMMARY: &'static str = "most popular items, optionally time-decayed (trending)";

    fn check(&self) -> Result<()> {
        let p = self;
        if let Some(h) = p.half_life_days {
            ensure(
                h.is_finite() && h > 0.0,
                "half_life_days",
                "must be a positive number of days",
            )?;
        }
        Ok(())
    }
}

impl Params for PopularityParams {
    fn reads_timestamps(&self) -> bool {
        self.half_life_days.is_some()
    }

    fn memory_needed(&self, shape: &Shape) -> u64 {
        // One score per item, and its serialised copies.
        shape.items as u64 * 12
    }

    fn fit(&self, data: &Interactions, ctx: &FitContext) -> Result<Box<dyn Model>> {
        let p = self;
        let reference = p.reference_time.or(data.max_timestamp()).unwrap_or(0);
        let mut scores = vec![0f64; data.n_items()];
        match p.half_life_days {
            None => {
                for &item in &data.by_user.indices {
                    scores[item as usize] += 1.0;
                }
            }
            Some(days) => {
                let stamps = data.timestamps()?;
                for (&item, &t) in data.by_user.indices.iter().zip(stamps) {
                    let age = (reference - t) as f64;
                    scores[item as usize] += 0.5f64.powf(age / (days * 86_400.0));
                }
            }
        }
        ctx.report("popularity", 1, 1)?;
        Ok(Box::new(PopularityModel {
            scores: scores.into_iter().map(|s| s as f32).collect(),
        }))
    }

    fn updates(&self) -> bool {
        true
    }

    /// The previous scores, decayed to the new reference time, minus what the changed users
    /// counted before plus what they count now: what a fit on all the data gives.
    fn update(&self, update: &Update<'_>, ctx: &FitContext) -> Result<Box<dyn Model>> {
        let p = self;
        let mut previous = vec![0f32; update.previous_shape.1];
        update.previous.score(None, &[], &mut previous);
        let mut scores: Vec<f64> = previous.iter().map(|&s| f64::from(s)).collect();
        scores.resize(update.shape.1, 0.0);
        match p.half_life_days {
            None => update.add_pair_changes(&mut scores, |_| 1.0)?,
            Some(days) => {
                let half_life = days * 86_400.0;
                let reference = |latest: Option<i64>| p.reference_time.or(latest).unwrap_or(0);
                let (before, now) = (
                    reference(update.previous_data.max_timestamp),
                    reference(update.max_timestamp()),
                );
                let decay = 0.5f64.powf((now - before) as f64 / half_life);
                scores.iter_mut().for_each(|s| *s *= decay);
                update
                    .add_pair_changes(&mut scores, |t| 0.5f64.powf((now - t) as f64 / half_life))?;
            }
        }
        ctx.report("popularity", 1, 1)?;
        // What was subtracted was added before, up to rounding.
        Ok(Box::new(PopularityModel {
            scores: scores.into_iter().map(|s| s.max(0.0) as f32).collect(),
        }))
    }

    fn load(
        &self,
        artifact: &mut Artifact,
        _n_users: usize,
        n_items: usize,
    ) -> Result<Box<dyn Model>> {
        Ok(Box::new(PopularityModel {
            scores: artifact.take_f32("scores", &[n_items])?,
        }))
    }
}

impl Model for PopularityModel {
    fn score(&self, _user: Option<u32>, _history: &[(u32, f32)], out: &mut [f32]) -> bool {
        out.copy_from_slice(&self.scores);
        true
    }

    fn blobs(&self) -> Vec<Blob> {
        vec![Blob::f32(
            "scores",
            vec![self.scores.len()],
            self.scores.clone(),
        )]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::RawInteraction;
    use crate::models::Algorithm;
    use serde_json::Value;

    fn data() -> Interactions {
        let day = 86_400;
        // item "old": 3 users 20 days ago; item "new": 2 users today
        let rows = [
            ("a", "old", 0),
            ("b", "old", 0),
            ("c", "old", 0),
            ("a", "new", 20 * day),
            ("b", "new", 20 * day),
        ];
        Interactions::from_raw(rows.iter().map(|&(u, i, t)| RawInteraction {
            user: u.into(),
            item: i.into(),
            weight: 1.0,
            timestamp: t,
        }))
        .unwrap()
    }

    fn scores(params: Value) -> Vec<f32> {
        let fitted = crate::models::fit_json(&POPULARITY, &data(), &params).unwrap();
        let mut out = vec![0.0; 2];
        fitted.score(None, &[], &mut out);
        out // items sorted: ["new", "old"]
    }

    #[test]
    fn counts_users() {
        assert_eq!(scores(Value::Null), vec![2.0, 3.0]);
    }

    #[test]
    fn decay_halves_per_half_life() {
        // old: 3 * 0.5^(20/10) = 0.75; new: 2
        assert_eq!(
            scores(serde_json::json!({"half_life_days": 10.0})),
            vec![2.0, 0.75]
        );
    }

    #[test]
    fn reads_timestamps_only_to_decay() {
        let reads = |p: Value| POPULARITY.check(&p).unwrap().reads_timestamps();
        assert!(!reads(Value::Null));
        assert!(reads(serde_json::json!({"half_life_days": 1.0})));

        let mut b = crate::data::InteractionsBuilder::without_timestamps();
        b.push("a", "x", 1.0, 5).unwrap();
        let without = b.build().unwrap();
        let decay = serde_json::json!({"half_life_days": 1.0});
        assert!(crate::models::fit_json(&POPULARITY, &without, &decay).is_err());
        assert!(crate::models::fit_json(&POPULARITY, &without, &Value::Null).is_ok());
    }

    #[test]
    fn rejects_nonpositive_half_life() {
        for h in [0.0, -1.0] {
            assert!(POPULARITY
                .check(&serde_json::json!({"half_life_days": h}))
                .is_err());
        }
    }
}
