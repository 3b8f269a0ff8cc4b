// SPDX-License-Identifier: BUSL-1.1
//! EASE (Steck 2019): a closed-form item-item model. With G = XᵀX + λI and P = G⁻¹,
//! B = I - P · diag(1/diag(P)), i.e. B_ij = -P_ij / P_jj off the diagonal and 0 on it.
//! A user's scores are x_u B.
//!
//! P is never formed whole: G is factored in place (Cholesky, f64), then P is solved one
//! block of columns at a time and each column is turned into a column of B (f32) at once.
//! Peak memory is about 12 bytes per item pair, the figure `max_memory_mb` is checked against.

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::cholesky::llt::factor::{cholesky_in_place, cholesky_in_place_scratch};
use faer::linalg::triangular_solve::{
    solve_lower_triangular_in_place, solve_upper_triangular_in_place,
};
use faer::{Mat, MatMut, Par};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::{ensure, FitContext, Guarded, Model, ParamGuard, Params};
use crate::artifact::{Artifact, Blob};
use crate::budget::{zeroed, Shape};
use crate::data::Interactions;
use crate::error::{CoreError, Result};
use crate::fma_dispatch;
use crate::kernels::axpy;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EaseParams {
    /// L2 regularisation λ added to the diagonal of XᵀX.
    pub lambda: f64,
    /// Refuse catalogues whose computation would need more memory than this.
    pub max_memory_mb: u64,
}

impl Default for EaseParams {
    fn default() -> Self {
        EaseParams {
            lambda: 250.0,
            max_memory_mb: 4096,
        }
    }
}

/// Columns of P solved per block.
const BLOCK: usize = 256;

struct EaseModel {
    n: usize,
    /// Row-major n x n; row i is how much item i contributes to every item's score.
    weights: Vec<f32>,
}

/// Bytes the fit needs for `n` items: G/L in f64, B in f32, one block of P in f64.
pub fn memory_needed(n: usize) -> u64 {
    let n = n as u64;
    n.saturating_mul(n)
        .saturating_mul(12)
        .saturating_add(n.saturating_mul(BLOCK as u64 * 8))
}

/// The algorithm: its parameters say everything ([`ParamGuard`]).
pub type Ease = Guarded<EaseParams>;
pub const EASE: Ease = Guarded::new();

impl ParamGuard for EaseParams {
    const ALGORITHM: &'static str = "ease";
    const VERSION: u32 = 1;
    const SUMMARY: &'static str =
        "closed-form item-item regression (EASE), for catalogues up to tens of thousands of items";

    fn check(&self) -> Result<()> {
        let p = self;
        ensure(
            p.lambda.is_finite() && p.lambda > 0.0,
            "lambda",
            "must be a finite number > 0",
        )?;
        ensure(p.max_memory_mb >= 1, "max_memory_mb", "must be at least 1")?;
        Ok(())
    }
}

impl Params for EaseParams {
    fn reads_timestamps(&self) -> bool {
        false
    }

    fn memory_needed(&self, shape: &Shape) -> u64 {
        // The fit, and the weights' serialised copies.
        let n = shape.items as u64;
        memory_needed(shape.items).saturating_add(n.saturating_mul(n).saturating_mul(8))
    }

    fn fit(&self, data: &Interactions, ctx: &FitContext) -> Result<Box<dyn Model>> {
        let p = self;
        let n = data.n_items();
        let need = memory_needed(n);
        let limit = p.max_memory_mb.saturating_mul(1 << 20);
        if need > limit {
            return Err(CoreError::TooLarge(format!(
                "ease on {n} items needs about {} MiB, more than max_memory_mb = {}; raise max_memory_mb or use als or itemknn",
                need.div_ceil(1 << 20),
                p.max_memory_mb
            )));
        }
        let steps = n.div_ceil(BLOCK) as u64 + 2;
        let mut g = gram(data, p.lambda)?;
        ctx.report("ease", 1, steps)?;
        let par = Par::rayon(0);
        let mut lower = MatMut::from_column_major_slice_mut(&mut g, n, n);
        let mut buf = MemBuffer::new(cholesky_in_place_scratch::<f64>(n, par, Default::default()));
        cholesky_in_place(
            lower.as_mut(),
            Default::default(),
            par,
            MemStack::new(&mut buf),
            Default::default(),
        )
        .map_err(|_| {
            CoreError::param("lambda", "XᵀX + λI is not positive definite; raise lambda")
        })?;
        ctx.report("ease", 2, steps)?;
        let lower = lower.as_ref();
        // Row j of `weights` first holds column j of B; transposed at the end.
        let mut weights = zeroed(n * n, "ease weights")?;
        for (block, rows) in weights.chunks_mut(BLOCK * n).enumerate() {
            let start = block * BLOCK;
            let m = rows.len() / n;
            let mut z = Mat::<f64>::zeros(n, m);
            for c in 0..m {
                z[(start + c, c)] = 1.0;
            }
            // Rows above `start` of L⁻¹ e_j are zero: solve only the trailing system.
            solve_lower_triangular_in_place(
                lower.submatrix(start, start, n - start, n - start),
                z.as_mut().submatrix_mut(start, 0, n - start, m),
                par,
            );
            solve_upper_triangular_in_place(lower.transpose(), z.as_mut(), par);
            rows.par_chunks_mut(n).enumerate().for_each(|(c, out)| {
                let j = start + c;
                let col = z.col(c);
                let scale = -1.0 / col[j];
                for (i, o) in out.iter_mut().enumerate() {
                    *o = (col[i] * scale) as f32;
                }
                out[j] = 0.0;
            });
            ctx.report("ease", 3 + block as u64, steps)?;
        }
        drop(g);
        transpose_in_place(&mut weights, n);
        Ok(Box::new(EaseModel { n, weights }))
    }

    fn load(
        &self,
        artifact: &mut Artifact,
        _n_users: usize,
        n_items: usize,
    ) -> Result<Box<dyn Model>> {
        let weights = artifact.take_f32("weights", &[n_items, n_items])?;
        if !weights.iter().all(|v| v.is_finite()) {
            return Err(CoreError::Artifact(
                "ease: weights contain NaN or infinity".into(),
            ));
        }
        Ok(Box::new(EaseModel {
            n: n_items,
            weights,
        }))
    }
}

/// XᵀX + λI as a column-major f64 matrix.
fn gram(data: &Interactions, lambda: f64) -> Result<Vec<f64>> {
    let n = data.n_items();
    let mut g = zeroed(n * n, "the ease gram matrix")?;
    g.par_chunks_mut(n).enumerate().for_each(|(i, col)| {
        let (users, wu) = data.by_item.row(i);
        for (&u, &w_ui) in users.iter().zip(wu) {
            let (items, wi) = data.by_user.row(u as usize);
            for (&j, &w_uj) in items.iter().zip(wi) {
                col[j as usize] += w_ui as f64 * w_uj as f64;
            }
        }
        col[i] += lambda;
    });
    Ok(g)
}

fn transpose_in_place(a: &mut [f32], n: usize) {
    const TILE: usize = 64;
    for bi in (0..n).step_by(TILE) {
        for bj in (bi..n).step_by(TILE) {
            for i in bi..(bi + TILE).min(n) {
                for j in bj.max(i + 1)..(bj + TILE).min(n) {
                    a.swap(i * n + j, j * n + i);
                }
            }
        }
    }
}

fma_dispatch!(fn accumulate_rows => accumulate_rows_impl(weights: &[f32], history: &[(u32, f32)], out: &mut [f32]));

#[inline(always)]
fn accumulate_rows_impl<const FMA: bool>(weights: &[f32], history: &[(u32, f32)], out: &mut [f32]) {
    let n = out.len();
    for &(i, w) in history {
        if (i as usize) < n {
            axpy::<FMA>(w, &weights[i as usize * n..][..n], out);
        }
    }
}

impl Model for EaseModel {
    fn score(&self, _user: Option<u32>, history: &[(u32, f32)], out: &mut [f32]) -> bool {
        if history.is_empty() {
            return false;
        }
        out.fill(0.0);
        accumulate_rows(&self.weights, history, out);
        true
    }

    fn similar(&self, item: u32, out: &mut [f32]) -> bool {
        out.copy_from_slice(&self.weights[item as usize * self.n..][..self.n]);
        true
    }

    fn blobs(&self) -> Vec<Blob> {
        vec![Blob::f32(
            "weights",
            vec![self.n, self.n],
            self.weights.clone(),
        )]
    }

    fn into_blobs(self: Box<Self>) -> Vec<Blob> {
        vec![Blob::f32("weights", vec![self.n, self.n], self.weights)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::Algorithm;
    use crate::trained::tests::toy;

    /// Dense reference: invert G by Gauss-Jordan in f64 and apply the EASE formula.
    fn reference(data: &Interactions, lambda: f64) -> Vec<f64> {
        let n = data.n_items();
        let mut a = gram(data, lambda).unwrap();
        let mut inv = vec![0f64; n * n];
        for i in 0..n {
            inv[i * n + i] = 1.0;
        }
        for c in 0..n {
            let piv = a[c * n + c];
            for k in 0..n {
                a[c * n + k] /= piv;
                inv[c * n + k] /= piv;
            }
            for r in 0..n {
                if r != c {
                    let f = a[r * n + c];
                    for k in 0..n {
                        a[r * n + k] -= f * a[c * n + k];
                        inv[r * n + k] -= f * inv[c * n + k];
                    }
                }
            }
        }
        let mut b = vec![0f64; n * n];
        for i in 0..n {
            for j in 0..n {
                b[i * n + j] = if i == j {
                    0.0
                } else {
                    -inv[i * n + j] / inv[j * n + j]
                };
            }
        }
        b
    }

    #[test]
    fn matches_dense_reference() {
        let data = toy();
        let want = reference(&data, 0.5);
        let fitted =
            crate::models::fit_json(&EASE, &data, &serde_json::json!({"lambda": 0.5})).unwrap();
        let got = &fitted.blobs()[0];
        let crate::artifact::BlobData::F32(w) = &got.data else {
            panic!()
        };
        for (g, r) in w.iter().zip(&want) {
            assert!((*g as f64 - r).abs() < 1e-5, "{g} vs {r}");
        }
    }

    /// 300 items (more than one BLOCK); users see spread-out windows of items.
    fn windows() -> Interactions {
        let mut rows = Vec::new();
        for u in 0..400 {
            for k in 0..6 {
                rows.push(crate::data::RawInteraction {
                    user: format!("u{u}"),
                    item: format!("i{:03}", (u * 7 + k * 13) % 300),
                    weight: 1.0,
                    timestamp: 0,
                });
            }
        }
        Interactions::from_raw(rows).unwrap()
    }

    #[test]
    fn blocked_solve_matches_reference_beyond_one_block() {
        let data = windows();
        assert!(data.n_items() > BLOCK);
        let want = reference(&data, 10.0);
        let fitted =
            crate::models::fit_json(&EASE, &data, &serde_json::json!({"lambda": 10.0})).unwrap();
        let crate::artifact::BlobData::F32(w) = &fitted.blobs()[0].data else {
            panic!()
        };
        let worst = w
            .iter()
            .zip(&want)
            .map(|(g, r)| (*g as f64 - r).abs())
            .fold(0.0, f64::max);
        assert!(worst < 1e-5, "max error {worst}");
    }

    #[test]
    fn refuses_catalogue_over_memory_limit() {
        let small = serde_json::json!({"max_memory_mb": 1});
        assert!(
            crate::models::fit_json(&EASE, &toy(), &small).is_ok(),
            "4 items fit in 1 MiB"
        );
        // 300 items: 12 * 300² + 300 * 256 * 8 bytes = 1.7 MiB
        let err = crate::models::fit_json(&EASE, &windows(), &small)
            .err()
            .unwrap();
        assert!(matches!(err, CoreError::TooLarge(_)), "{err}");
        assert!(err.to_string().contains("max_memory_mb"), "{err}");
        assert_eq!(
            memory_needed(30_000),
            30_000 * 30_000 * 12 + 30_000 * 256 * 8
        );
        let big = memory_needed(20_000).div_ceil(1 << 20);
        assert!(
            big > 4096,
            "20k items need more than the 4 GiB default: {big}"
        );
    }

    #[test]
    fn validates_params() {
        for p in [
            serde_json::json!({"lambda": 0}),
            serde_json::json!({"lambda": -5}),
            serde_json::json!({"max_memory_mb": 0}),
        ] {
            assert!(EASE.check(&p).is_err(), "{p}");
        }
    }
}
