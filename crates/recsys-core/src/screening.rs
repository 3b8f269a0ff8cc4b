// SPDX-License-Identifier: BUSL-1.1
//! Exact top-k for factor models without reading every f32 item vector: a scan over item
//! vectors quantised to i8 (a quarter of the memory traffic) bounds every item's score, and
//! only items whose upper bound reaches the k-th best lower bound are scored exactly. The
//! exact scores use the same kernel as the dense path, so the result is the one `top_k` over
//! dense scores gives, bit for bit.

use crate::fma_dispatch;
use crate::kernels::dot;
use crate::topk::TopK;

/// Item vectors as `code * scale` with one scale per item: |y - code * scale| <= scale / 2
/// in every component.
pub(crate) struct QuantizedItems {
    dim: usize,
    codes: Vec<i8>,
    scales: Vec<f32>,
}

impl QuantizedItems {
    pub(crate) fn new(items: &[f32], dim: usize) -> Self {
        let mut codes = Vec::with_capacity(items.len());
        let mut scales = Vec::with_capacity(items.len() / dim.max(1));
        for y in items.chunks_exact(dim) {
            let max = y.iter().fold(0f32, |m, v| m.max(v.abs()));
            let scale = if max > 0.0 && max.is_finite() {
                max / 127.0
            } else {
                0.0
            };
            scales.push(scale);
            codes.extend(y.iter().map(|v| {
                if scale > 0.0 {
                    (v / scale).round().clamp(-127.0, 127.0) as i8
                } else {
                    0
                }
            }));
        }
        QuantizedItems { dim, codes, scales }
    }
}

/// Largest |code| of the user vector: with item codes up to 127, a dot product of up to 1024
/// components stays below 2^31 (127 * 16383 * 1024 < 2^31).
const USER_LEVELS: f32 = 16383.0;

fma_dispatch!(fn screen => screen_impl(codes: &[i8], scales: &[f32], xq: &[i16], x_scale: f32, out: &mut [f32]));

#[inline(always)]
fn screen_impl<const FMA: bool>(
    codes: &[i8],
    scales: &[f32],
    xq: &[i16],
    x_scale: f32,
    out: &mut [f32],
) {
    for ((o, q), s) in out.iter_mut().zip(codes.chunks_exact(xq.len())).zip(scales) {
        // Integer sums are exact in any order, so this compiles to multiply-add-pairs.
        let mut sum = 0i32;
        for (&a, &b) in q.iter().zip(xq) {
            sum += a as i32 * b as i32;
        }
        *o = s * x_scale * sum as f32;
    }
}

fma_dispatch!(fn exact => exact_impl(items: &[f32], x: &[f32], candidates: &[u32], best: &mut TopK));

#[inline(always)]
fn exact_impl<const FMA: bool>(items: &[f32], x: &[f32], candidates: &[u32], best: &mut TopK) {
    let dim = x.len();
    for &j in candidates {
        best.offer(j, dot::<FMA>(&items[j as usize * dim..][..dim], x));
    }
}

/// The `k` best items for user vector `x` among `items` (row-major, `q.dim` columns), never an
/// item of `exclude`; `buf` is scratch of any content.
pub(crate) fn top_k_factored(
    items: &[f32],
    q: &QuantizedItems,
    x: &[f32],
    k: usize,
    exclude: &[u32],
    buf: &mut Vec<f32>,
) -> Vec<(u32, f32)> {
    let n = q.scales.len();
    buf.resize(n, 0.0);
    let x_max = x.iter().fold(0f32, |m, v| m.max(v.abs()));
    let x_scale = if x_max > 0.0 {
        x_max / USER_LEVELS
    } else {
        0.0
    };
    let xq: Vec<i16> = x
        .iter()
        .map(|v| {
            if x_scale > 0.0 {
                (v / x_scale).round() as i16
            } else {
                0
            }
        })
        .collect();
    screen(&q.codes, &q.scales, &xq, x_scale, buf);
    for &e in exclude {
        if let Some(slot) = buf.get_mut(e as usize) {
            *slot = f32::NAN;
        }
    }
    // |y.x - approx| <= scale/2 * |x|_1 (item codes) + scale * 127 * dim * x_scale/2 (user
    // codes); the 2 % on top covers f32 rounding of the exact score and of the products.
    let l1: f32 = x.iter().map(|v| v.abs()).sum();
    let dim = x.len() as f32;
    let margin = (0.5 * l1 + 63.5 * dim * x_scale) * 1.02 + f32::EPSILON * 127.0 * dim * l1;
    let mut lower = TopK::new(k);
    for (j, (&a, &s)) in buf.iter().zip(&q.scales).enumerate() {
        lower.offer(j as u32, a - s * margin);
    }
    let bar = lower.threshold();
    let candidates: Vec<u32> = buf
        .iter()
        .zip(&q.scales)
        .enumerate()
        .filter(|&(_, (&a, &s))| !a.is_nan() && a + s * margin >= bar)
        .map(|(j, _)| j as u32)
        .collect();
    debug_assert_eq!(q.dim, x.len());
    let mut best = TopK::new(k);
    exact(items, x, &candidates, &mut best);
    best.take_sorted()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::gemv;
    use crate::rng::SplitMix64;
    use crate::topk::top_k;

    // The dense path of ALS: the same dispatch as the exact pass.
    fma_dispatch!(fn dense_scores => dense_impl(m: &[f32], x: &[f32], out: &mut [f32]));

    #[inline(always)]
    fn dense_impl<const FMA: bool>(m: &[f32], x: &[f32], out: &mut [f32]) {
        gemv::<FMA>(m, x, out)
    }

    #[test]
    fn equals_dense_top_k_exactly() {
        let mut rng = SplitMix64::new(9);
        for (n, dim, k) in [(1000, 64, 10), (300, 7, 50), (50, 16, 60), (2000, 32, 1)] {
            // Many near-ties: values on a coarse grid.
            let items: Vec<f32> = (0..n * dim)
                .map(|_| ((rng.next_f32() * 8.0).floor() - 4.0) / 8.0)
                .collect();
            let q = QuantizedItems::new(&items, dim);
            for _ in 0..20 {
                let x: Vec<f32> = (0..dim).map(|_| rng.next_f32() - 0.5).collect();
                let exclude: Vec<u32> =
                    (0..5).map(|_| (rng.next_f32() * n as f32) as u32).collect();
                let mut dense = vec![0f32; n];
                dense_scores(&items, &x, &mut dense);
                let want = top_k(&mut dense, k, &exclude);
                let got = top_k_factored(&items, &q, &x, k, &exclude, &mut Vec::new());
                assert_eq!(got, want, "n={n} dim={dim} k={k}");
            }
        }
    }
}
