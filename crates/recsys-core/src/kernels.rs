// SPDX-License-Identifier: BUSL-1.1
//! Dense f32 kernels (dot, axpy, small matrix-vector) written so LLVM vectorises them, and a
//! dispatcher that picks an AVX2+FMA build at run time. No BLAS: its thread pools must never
//! run inside a PostgreSQL backend.
//!
//! The FMA and non-FMA builds round differently, so results are deterministic per machine,
//! not across machines with different instruction sets.

const LANES: usize = 16;

#[inline(always)]
pub fn madd<const FMA: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FMA {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

/// Sums the partial sums as a tree of halves, which compiles to a few vector adds and
/// shuffles (a left-to-right sum is a chain of 16 scalar adds, the cost of a whole 64-wide dot).
#[inline(always)]
fn reduce(acc: &[f32; LANES]) -> f32 {
    let mut half = [0f32; LANES / 2];
    for l in 0..LANES / 2 {
        half[l] = acc[l] + acc[l + LANES / 2];
    }
    let mut quarter = [0f32; LANES / 4];
    for l in 0..LANES / 4 {
        quarter[l] = half[l] + half[l + LANES / 4];
    }
    (quarter[0] + quarter[2]) + (quarter[1] + quarter[3])
}

/// Sum of `a[i] * b[i]` with a fixed reduction order (16 partial sums), so it vectorises.
#[inline(always)]
pub fn dot<const FMA: bool>(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; LANES];
    let mut ca = a.chunks_exact(LANES);
    let mut cb = b.chunks_exact(LANES);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for l in 0..LANES {
            acc[l] = madd::<FMA>(x[l], y[l], acc[l]);
        }
    }
    let mut tail = 0f32;
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        tail = madd::<FMA>(*x, *y, tail);
    }
    reduce(&acc) + tail
}

/// `y += alpha * x`.
#[inline(always)]
pub fn axpy<const FMA: bool>(alpha: f32, x: &[f32], y: &mut [f32]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi = madd::<FMA>(alpha, *xi, *yi);
    }
}

/// `out = m * x` for a row-major `out.len() x x.len()` matrix `m`.
#[inline(always)]
pub fn gemv<const FMA: bool>(m: &[f32], x: &[f32], out: &mut [f32]) {
    let cols = x.len();
    for (o, row) in out.iter_mut().zip(m.chunks_exact(cols)) {
        *o = dot::<FMA>(row, x);
    }
}

#[cfg(target_arch = "x86_64")]
pub fn fma_available() -> bool {
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
}

/// Defines `fn $name(args) -> ret` that runs `$generic::<true>` compiled for AVX2+FMA when the
/// CPU has them and `$generic::<false>` otherwise. Dispatch once per coarse call (a user, a
/// batch), never per dot product, so the kernels inline into the specialised body.
#[macro_export]
#[doc(hidden)]
macro_rules! fma_dispatch {
    ($vis:vis fn $name:ident => $generic:ident ( $($arg:ident : $ty:ty),* $(,)? ) $(-> $ret:ty)?) => {
        #[allow(clippy::too_many_arguments)]
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[allow(clippy::too_many_arguments)]
                #[target_feature(enable = "avx2,fma")]
                unsafe fn fast($($arg: $ty),*) $(-> $ret)? {
                    $generic::<true>($($arg),*)
                }
                if $crate::kernels::fma_available() {
                    // SAFETY: the running CPU has the features `fast` was compiled for.
                    return unsafe { fast($($arg),*) };
                }
            }
            $generic::<false>($($arg),*)
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive_dot(a: &[f32], b: &[f32]) -> f64 {
        a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum()
    }

    #[test]
    fn dot_matches_naive_for_all_tail_lengths() {
        for n in 0..70 {
            let a: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
            let b: Vec<f32> = (0..n).map(|i| (i as f32 * 0.11).cos()).collect();
            let want = naive_dot(&a, &b);
            assert!((dot::<false>(&a, &b) as f64 - want).abs() < 1e-4, "n={n}");
            assert!((dot::<true>(&a, &b) as f64 - want).abs() < 1e-4, "n={n}");
        }
    }

    #[test]
    fn axpy_and_gemv() {
        let mut y = vec![1.0f32, 2.0, 3.0];
        axpy::<false>(2.0, &[1.0, 1.0, -1.0], &mut y);
        assert_eq!(y, vec![3.0, 4.0, 1.0]);
        let m = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
        let mut out = [0f32; 2];
        gemv::<false>(&m, &[1.0, 0.0, -1.0], &mut out);
        assert_eq!(out, [-2.0, -2.0]);
    }
}
