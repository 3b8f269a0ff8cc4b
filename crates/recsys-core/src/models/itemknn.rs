// SPDX-License-Identifier: BUSL-1.1
//! Item-kNN: cosine similarity between item columns with shrinkage, keeping the top
//! `neighbors` per item. A user's score for item j is the sum over their items i of
//! weight(i) * sim(i, j).

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::{ensure, FitContext, Guarded, Model, ParamGuard, Params};
use crate::artifact::{Artifact, Blob};
use crate::budget::Shape;
use crate::data::{Csr, Interactions};
use crate::error::{CoreError, Result};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ItemKnnParams {
    /// Neighbours kept per item.
    pub neighbors: usize,
    /// sim(i, j) = x_i . x_j / (|x_i| |x_j| + shrinkage): damps similarities from few users.
    pub shrinkage: f64,
}

impl Default for ItemKnnParams {
    fn default() -> Self {
        ItemKnnParams {
            neighbors: 50,
            shrinkage: 10.0,
        }
    }
}

/// Items processed between progress reports (and cancellation checks).
const ITEMS_PER_REPORT: usize = 2048;

struct ItemKnnModel {
    /// items x items, each row the neighbours of an item.
    similarity: Csr,
}

/// The algorithm: its parameters say everything ([`ParamGuard`]).
pub type ItemKnn = Guarded<ItemKnnParams>;
pub const ITEMKNN: ItemKnn = Guarded::new();

impl ParamGuard for ItemKnnParams {
    const ALGORITHM: &'static str = "itemknn";
    const VERSION: u32 = 1;
    const SUMMARY: &'static str = "item-item cosine neighbours with shrinkage";

    fn check(&self) -> Result<()> {
        let p = self;
        ensure(
            (1..=10_000).contains(&p.neighbors),
            "neighbors",
            "must be between 1 and 10000",
        )?;
        ensure(
            p.shrinkage.is_finite() && p.shrinkage >= 0.0,
            "shrinkage",
            "must be a finite number >= 0",
        )?;
        Ok(())
    }
}

impl Params for ItemKnnParams {
    fn reads_timestamps(&self) -> bool {
        false
    }

    fn memory_needed(&self, shape: &Shape) -> u64 {
        let k = self.neighbors.min(shape.items.saturating_sub(1)).max(1) as u64;
        let n = shape.items as u64;
        // Rows of (item, similarity) while fitting, the similarity matrix, its serialised copies,
        // and one dense accumulator per worker thread.
        let threads = rayon::current_num_threads() as u64;
        n.saturating_mul(k)
            .saturating_mul(8 * 4)
            .saturating_add(n * 8)
            .saturating_add(threads.saturating_mul(n) * 4)
    }

    fn fit(&self, data: &Interactions, ctx: &FitContext) -> Result<Box<dyn Model>> {
        let p = self;
        let n = data.n_items();
        let norms: Vec<f32> = (0..n)
            .map(|i| {
                data.by_item
                    .row(i)
                    .1
                    .iter()
                    .map(|w| w * w)
                    .sum::<f32>()
                    .sqrt()
            })
            .collect();
        let mut rows: Vec<Vec<(u32, f32)>> = Vec::with_capacity(n);
        let mut start = 0;
        while start < n {
            let end = (start + ITEMS_PER_REPORT).min(n);
            let chunk: Vec<Vec<(u32, f32)>> = (start..end)
                .into_par_iter()
                .map_init(
                    || (vec![0f32; n], Vec::<u32>::new(), Vec::new()),
                    |(acc, touched, candidates), i| {
                        neighbours(data, &norms, p, i, acc, touched, candidates)
                    },
                )
                .collect();
            rows.extend(chunk);
            ctx.report("itemknn", end as u64, n as u64)?;
            start = end;
        }
        let mut similarity = Csr {
            n_rows: n,
            n_cols: n,
            indptr: Vec::with_capacity(n + 1),
            indices: Vec::new(),
            values: Vec::new(),
        };
        similarity.indptr.push(0);
        for row in rows {
            for (j, s) in row {
                similarity.indices.push(j);
                similarity.values.push(s);
            }
            similarity.indptr.push(similarity.indices.len());
        }
        Ok(Box::new(ItemKnnModel { similarity }))
    }

    fn load(
        &self,
        artifact: &mut Artifact,
        _n_users: usize,
        n_items: usize,
    ) -> Result<Box<dyn Model>> {
        let indptr = artifact.take_u32("indptr")?;
        let indices = artifact.take_u32("indices")?;
        let values = artifact.take_f32("values", &[indices.len()])?;
        let bad = |why: &str| CoreError::Artifact(format!("itemknn: {why}"));
        if indptr.len() != n_items + 1 || indptr.first() != Some(&0) {
            return Err(bad("indptr has the wrong length"));
        }
        if indptr.windows(2).any(|w| w[0] > w[1])
            || *indptr.last().unwrap_or(&0) as usize != indices.len()
        {
            return Err(bad("indptr is not a valid row index"));
        }
        if indices.iter().any(|&j| j as usize >= n_items) {
            return Err(bad("neighbour index out of range"));
        }
        Ok(Box::new(ItemKnnModel {
            similarity: Csr {
                n_rows: n_items,
                n_cols: n_items,
                indptr: indptr.into_iter().map(|x| x as usize).collect(),
                indices,
                values,
            },
        }))
    }
}

/// The top neighbours of item `i`, best first, using `acc` (zeroed, one slot per item),
/// `touched` and `candidates` as scratch; `acc` and `touched` are left clean.
fn neighbours(
    data: &Interactions,
    norms: &[f32],
    p: &ItemKnnParams,
    i: usize,
    acc: &mut [f32],
    touched: &mut Vec<u32>,
    candidates: &mut Vec<(u32, f32)>,
) -> Vec<(u32, f32)> {
    let (users, wu) = data.by_item.row(i);
    for (&u, &w_ui) in users.iter().zip(wu) {
        let (items, wi) = data.by_user.row(u as usize);
        for (&j, &w_uj) in items.iter().zip(wi) {
            let slot = &mut acc[j as usize];
            // Weights are positive, so a zero slot has not been touched yet.
            if *slot == 0.0 {
                touched.push(j);
            }
            *slot += w_ui * w_uj;
        }
    }
    candidates.clear();
    for &j in touched.iter() {
        let dot = std::mem::take(&mut acc[j as usize]);
        if j as usize != i {
            let denom = norms[i] * norms[j as usize] + p.shrinkage as f32;
            candidates.push((j, dot / denom));
        }
    }
    touched.clear();
    let better = |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
    if candidates.len() > p.neighbors {
        candidates.select_nth_unstable_by(p.neighbors - 1, better);
        candidates.truncate(p.neighbors);
    }
    candidates.sort_unstable_by(better);
    // A fresh vector of the exact size: the scratch one is as long as the co-occurring items
    // (thousands for a popular item), and every item's row lives until the fit ends.
    candidates.to_vec()
}

impl Model for ItemKnnModel {
    fn score(&self, _user: Option<u32>, history: &[(u32, f32)], out: &mut [f32]) -> bool {
        if history.is_empty() {
            return false;
        }
        out.fill(0.0);
        for &(i, w) in history {
            if i as usize >= self.similarity.n_rows {
                continue;
            }
            let (js, sims) = self.similarity.row(i as usize);
            for (&j, &s) in js.iter().zip(sims) {
                out[j as usize] += w * s;
            }
        }
        true
    }

    fn score_sparse(
        &self,
        _user: Option<u32>,
        history: &[(u32, f32)],
        acc: &mut [f32],
        touched: &mut Vec<u32>,
    ) -> Option<bool> {
        if history.is_empty() {
            return Some(false);
        }
        for &(i, w) in history {
            if i as usize >= self.similarity.n_rows {
                continue;
            }
            let (js, sims) = self.similarity.row(i as usize);
            for (&j, &s) in js.iter().zip(sims) {
                let slot = &mut acc[j as usize];
                // Weights and similarities are positive, so a slot at zero is still untouched;
                // a zero contribution only repeats an item in `touched`, which callers allow.
                if *slot == 0.0 {
                    touched.push(j);
                }
                *slot += w * s;
            }
        }
        Some(true)
    }

    fn similar(&self, item: u32, out: &mut [f32]) -> bool {
        out.fill(f32::NEG_INFINITY);
        let (js, sims) = self.similarity.row(item as usize);
        for (&j, &s) in js.iter().zip(sims) {
            out[j as usize] = s;
        }
        true
    }

    fn blobs(&self) -> Vec<Blob> {
        let s = &self.similarity;
        vec![
            Blob::u32("indptr", s.indptr.iter().map(|&x| x as u32).collect()),
            Blob::u32("indices", s.indices.clone()),
            Blob::f32("values", vec![s.values.len()], s.values.clone()),
        ]
    }

    fn into_blobs(self: Box<Self>) -> Vec<Blob> {
        let s = self.similarity;
        let n = s.values.len();
        vec![
            Blob::u32("indptr", s.indptr.iter().map(|&x| x as u32).collect()),
            Blob::u32("indices", s.indices),
            Blob::f32("values", vec![n], s.values),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::Algorithm;
    use crate::trained::tests::toy;
    use serde_json::Value;

    #[test]
    fn cosine_by_hand() {
        // toy: a={u0,u1}, b={u0,u1,u2}, c={u0,u2}, d={u3}
        // sim(a,b) = 2 / (sqrt2*sqrt3) = 0.8165, sim(a,c) = 1 / (sqrt2*sqrt2) = 0.5
        let fitted =
            crate::models::fit_json(&ITEMKNN, &toy(), &serde_json::json!({"shrinkage": 0.0}))
                .unwrap();
        let mut out = vec![0.0; 4];
        assert!(fitted.similar(0, &mut out));
        assert!((out[1] - 2.0 / 6f32.sqrt()).abs() < 1e-6);
        assert!((out[2] - 0.5).abs() < 1e-6);
        assert_eq!(out[3], f32::NEG_INFINITY);
        // a user who saw a and c: score(b) = sim(a,b) + sim(c,b) = 2 * 0.8165
        assert!(fitted.score(None, &[(0, 1.0), (2, 1.0)], &mut out));
        assert!((out[1] - 4.0 / 6f32.sqrt()).abs() < 1e-6);
        assert_eq!(out[3], 0.0);
    }

    #[test]
    fn shrinkage_and_neighbour_limit() {
        // with shrinkage 1: sim(a,b) = 2 / (sqrt6 + 1)
        let fitted = crate::models::fit_json(
            &ITEMKNN,
            &toy(),
            &serde_json::json!({"shrinkage": 1.0, "neighbors": 1}),
        )
        .unwrap();
        let mut out = vec![0.0; 4];
        fitted.similar(0, &mut out);
        assert!((out[1] - 2.0 / (6f32.sqrt() + 1.0)).abs() < 1e-6);
        assert_eq!(out[2], f32::NEG_INFINITY, "only one neighbour is kept");
    }

    #[test]
    fn validates_params() {
        for p in [
            serde_json::json!({"neighbors": 0}),
            serde_json::json!({"shrinkage": -1.0}),
            serde_json::json!({"neighbors": "ten"}),
        ] {
            assert!(ITEMKNN.check(&p).is_err(), "{p}");
        }
    }

    #[test]
    fn cancellation_stops_the_fit() {
        let cancel = |_: super::super::Progress| Err(CoreError::Cancelled);
        let ctx = FitContext {
            on_progress: &cancel,
        };
        assert!(matches!(
            ITEMKNN.check(&Value::Null).unwrap().fit(&toy(), &ctx),
            Err(CoreError::Cancelled)
        ));
    }
}
