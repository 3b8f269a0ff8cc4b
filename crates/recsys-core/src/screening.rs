// SPDX-License-Identifier: BUSL-1.1
//! Exact top-k for factor models without reading every f32 item vector. Items are visited in
//! decreasing order of their vector's norm, so once the k-th best exact score exceeds
//! `|y| |x|` of the next item (Cauchy-Schwarz), no item left can enter and the scan stops; in
//! an ALS model a few hundred of 50,000 items are usually visited. Each visited block is
//! screened with item vectors quantised to i8 (a quarter of the memory traffic), which bounds
//! every item's score, and only items whose upper bound reaches the k-th best exact score so
//! far are scored exactly. The exact scores use the same kernel as the dense path, and `TopK`
//! breaks ties by item index whatever the order of arrival, so the result is the one `top_k`
//! over dense scores gives, bit for bit.

use crate::fma_dispatch;
use crate::kernels::dot;
use crate::topk::TopK;

/// Item vectors as `code * scale` with one scale per item (|y - code * scale| <= scale / 2 in
/// every component), stored by decreasing norm.
pub(crate) struct QuantizedItems {
    dim: usize,
    /// `order[p]` is the item at position `p`; positions go by decreasing norm.
    order: Vec<u32>,
    /// Upper bounds of the norms, by position.
    norms: Vec<f32>,
    codes: Vec<i8>,
    scales: Vec<f32>,
}

impl QuantizedItems {
    pub(crate) fn new(items: &[f32], dim: usize) -> Self {
        let vectors: Vec<&[f32]> = items.chunks_exact(dim.max(1)).collect();
        let exact_norms: Vec<f64> = vectors.iter().map(|y| norm(y)).collect();
        let mut order: Vec<u32> = (0..vectors.len() as u32).collect();
        // NaN sorts first, so a model with one never stops early.
        order.sort_by(|&a, &b| {
            exact_norms[b as usize]
                .total_cmp(&exact_norms[a as usize])
                .then(a.cmp(&b))
        });
        let mut codes = Vec::with_capacity(items.len());
        let mut scales = Vec::with_capacity(vectors.len());
        let mut norms = Vec::with_capacity(vectors.len());
        for &j in &order {
            // Rounded up, so it stays a bound after the conversion to f32.
            norms.push((exact_norms[j as usize] as f32).next_up());
            let y = vectors[j as usize];
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
        QuantizedItems {
            dim,
            order,
            norms,
            codes,
            scales,
        }
    }
}

/// Euclidean norm, summed in f64 so that it bounds the f32 dot products it is compared with.
fn norm(v: &[f32]) -> f64 {
    v.iter()
        .map(|&a| f64::from(a) * f64::from(a))
        .sum::<f64>()
        .sqrt()
}

/// Items screened between two checks of the norm bound.
const BLOCK: usize = 64;

/// Largest |code| of the user vector: with item codes up to 127, a dot product of up to 1024
/// components stays below 2^31 (127 * 16383 * 1024 < 2^31).
const USER_LEVELS: f32 = 16383.0;

/// `out[j] = scales[j] * x_scale * (codes[j] . xq)` for every item `j`.
fn screen(codes: &[i8], scales: &[f32], xq: &[i16], x_scale: f32, out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if xq.len().is_multiple_of(16) && crate::kernels::fma_available() {
        // SAFETY: the running CPU has AVX2, and the slices hold `out.len()` items of
        // `xq.len()` codes each (checked inside).
        unsafe { screen_avx2(codes, scales, xq, x_scale, out) };
        return;
    }
    screen_scalar(codes, scales, xq, x_scale, out);
}

fn screen_scalar(codes: &[i8], scales: &[f32], xq: &[i16], x_scale: f32, out: &mut [f32]) {
    for ((o, q), s) in out.iter_mut().zip(codes.chunks_exact(xq.len())).zip(scales) {
        // Integer sums are exact in any order, so this compiles to multiply-add-pairs.
        let mut sum = 0i32;
        for (&a, &b) in q.iter().zip(xq) {
            sum += a as i32 * b as i32;
        }
        *o = s * x_scale * sum as f32;
    }
}

/// Eight items at a time, so that one horizontal reduction serves eight dot products; the
/// same integer sums and the same float operations as `screen_scalar`, so the same bits.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn screen_avx2(codes: &[i8], scales: &[f32], xq: &[i16], x_scale: f32, out: &mut [f32]) {
    use std::arch::x86_64::*;
    let dim = xq.len();
    let n = out.len().min(scales.len()).min(codes.len() / dim.max(1));
    let blocks = n / 8;
    let xs = _mm256_set1_ps(x_scale);
    for b in 0..blocks {
        let first = b * 8;
        let mut acc = [_mm256_setzero_si256(); 8];
        for c in (0..dim).step_by(16) {
            // SAFETY: c + 16 <= dim, so the loads stay inside xq and inside item rows < n.
            let x = unsafe { _mm256_loadu_si256(xq.as_ptr().add(c).cast()) };
            for (r, a) in acc.iter_mut().enumerate() {
                let row = unsafe { codes.as_ptr().add((first + r) * dim + c) };
                let q = _mm256_cvtepi8_epi16(unsafe { _mm_loadu_si128(row.cast()) });
                *a = _mm256_add_epi32(*a, _mm256_madd_epi16(q, x));
            }
        }
        // hadd pairs lanes within 128-bit halves: after two rounds the low half holds the
        // partial sums of elements 0-3 and the high half those of elements 4-7.
        let h01 = _mm256_hadd_epi32(acc[0], acc[1]);
        let h23 = _mm256_hadd_epi32(acc[2], acc[3]);
        let h45 = _mm256_hadd_epi32(acc[4], acc[5]);
        let h67 = _mm256_hadd_epi32(acc[6], acc[7]);
        let h0123 = _mm256_hadd_epi32(h01, h23);
        let h4567 = _mm256_hadd_epi32(h45, h67);
        let sums = _mm256_add_epi32(
            _mm256_permute2x128_si256(h0123, h4567, 0x20),
            _mm256_permute2x128_si256(h0123, h4567, 0x31),
        );
        // SAFETY: first + 8 <= n <= scales.len(), out.len().
        let s = unsafe { _mm256_loadu_ps(scales.as_ptr().add(first)) };
        let v = _mm256_mul_ps(_mm256_mul_ps(s, xs), _mm256_cvtepi32_ps(sums));
        unsafe { _mm256_storeu_ps(out.as_mut_ptr().add(first), v) };
    }
    let done = blocks * 8;
    screen_scalar(
        &codes[done * dim..],
        &scales[done..],
        xq,
        x_scale,
        &mut out[done..],
    );
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
    debug_assert_eq!(q.dim, x.len());
    let dim = x.len();
    let n = q.scales.len();
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
    // |y.x - approx| <= scale/2 * |x|_1 (item codes) + scale * 127 * dim * x_scale/2 (user
    // codes); the 2 % on top covers f32 rounding of the exact score and of the products.
    let l1: f32 = x.iter().map(|v| v.abs()).sum();
    let margin =
        (0.5 * l1 + 63.5 * dim as f32 * x_scale) * 1.02 + f32::EPSILON * 127.0 * dim as f32 * l1;
    // The exact score of item y, a sum of `dim` f32 products, is at most |y| |x| times
    // 1 + dim * 2^-24 (the rounding of a dot product); twice that covers the bound's own.
    let x_norm = norm(x);
    let slack = 1.0 + 2.0 * (dim as f64 + 2.0) * f64::from(f32::EPSILON);
    let mut excluded = exclude.to_vec();
    excluded.sort_unstable();

    let mut best = TopK::new(k);
    let mut candidates: Vec<u32> = Vec::with_capacity(BLOCK);
    buf.resize(BLOCK, 0.0);
    for start in (0..n).step_by(BLOCK) {
        // An item scoring exactly the threshold could still win on its index, so only a
        // bound strictly below it ends the scan.
        if f64::from(q.norms[start]) * x_norm * slack < f64::from(best.threshold()) {
            break;
        }
        let end = (start + BLOCK).min(n);
        let approx = &mut buf[..end - start];
        screen(
            &q.codes[start * dim..end * dim],
            &q.scales[start..end],
            &xq,
            x_scale,
            approx,
        );
        let bar = best.threshold();
        candidates.clear();
        for (p, (&a, &s)) in approx.iter().zip(&q.scales[start..end]).enumerate() {
            if a + s * margin >= bar {
                let item = q.order[start + p];
                if excluded.binary_search(&item).is_err() {
                    candidates.push(item);
                }
            }
        }
        exact(items, x, &candidates, &mut best);
    }
    best.take_sorted()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::gemv;
    use crate::topk::top_k;
    use recsys_eval::SplitMix64;

    // The dense path of ALS: the same dispatch as the exact pass.
    fma_dispatch!(fn dense_scores => dense_impl(m: &[f32], x: &[f32], out: &mut [f32]));

    #[inline(always)]
    fn dense_impl<const FMA: bool>(m: &[f32], x: &[f32], out: &mut [f32]) {
        gemv::<FMA>(m, x, out)
    }

    #[test]
    fn vector_screen_equals_scalar_bit_for_bit() {
        let mut rng = SplitMix64::new(3);
        for (n, dim) in [(1, 16), (8, 16), (13, 64), (1003, 64), (37, 128), (5, 48)] {
            let codes: Vec<i8> = (0..n * dim)
                .map(|_| (rng.next_f32() * 254.0 - 127.0) as i8)
                .collect();
            let scales: Vec<f32> = (0..n).map(|_| rng.next_f32()).collect();
            let xq: Vec<i16> = (0..dim)
                .map(|_| (rng.next_f32() * 32766.0 - 16383.0) as i16)
                .collect();
            let (mut fast, mut slow) = (vec![0f32; n], vec![0f32; n]);
            screen(&codes, &scales, &xq, 0.37, &mut fast);
            screen_scalar(&codes, &scales, &xq, 0.37, &mut slow);
            assert_eq!(
                fast.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                slow.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                "n={n} dim={dim}"
            );
        }
    }

    #[test]
    fn stopping_at_the_norm_bound_keeps_the_exact_top_k() {
        // Norms spread over four orders of magnitude, as in ALS models, so the scan stops
        // early; duplicated vectors tie in norm and in score, and the lower index must win.
        let mut rng = SplitMix64::new(17);
        let (n, dim) = (3000, 32);
        let mut items: Vec<f32> = Vec::with_capacity(n * dim);
        for j in 0..n {
            if j % 100 == 99 {
                let copy = items[(j - 1) * dim..j * dim].to_vec();
                items.extend(copy);
                continue;
            }
            let size = 10f32.powf(rng.next_f32() * 4.0 - 3.0);
            items.extend((0..dim).map(|_| (rng.next_f32() - 0.5) * size));
        }
        let q = QuantizedItems::new(&items, dim);
        assert!(q.norms.windows(2).all(|w| w[0] >= w[1]));
        for k in [1, 10, 50] {
            for _ in 0..30 {
                let x: Vec<f32> = (0..dim).map(|_| rng.next_f32() - 0.5).collect();
                let mut dense = vec![0f32; n];
                dense_scores(&items, &x, &mut dense);
                // Leave out some of the best items, as a user's history would.
                let mut order: Vec<u32> = (0..n as u32).collect();
                order.sort_by(|&a, &b| dense[b as usize].total_cmp(&dense[a as usize]));
                let exclude: Vec<u32> = order.iter().step_by(3).take(5).copied().collect();
                let want = top_k(&mut dense, k, &exclude);
                let got = top_k_factored(&items, &q, &x, k, &exclude, &mut Vec::new());
                assert_eq!(got, want, "k={k}");
            }
        }
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
