// SPDX-License-Identifier: BUSL-1.1
//! From a model's scores to ranked lists: one user at a time (dense or sparse scores), or a
//! block of users at a time for factor models, through a matrix product.
//!
//! Every path ranks by score (best first, ties to the lower item index), never returns an
//! excluded item, NaN or -inf, and falls back to popularity when the model cannot score a
//! user. A sparse model's list is completed with popular items when it scored fewer than
//! `k`.

use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};
use rayon::prelude::*;

use crate::models::Model;
use crate::topk::{top_k, TopK};
use crate::trained::{Recommendations, UserQuery};

/// Users scored together by one matrix product. The item factors are read once per block,
/// so a larger block reads memory less often; with the tile below, a block's scores (1 MiB)
/// stay in L2. 64 to 256 measured the same on the 2-core benchmark machine, 32 was 25 %
/// slower.
const USERS_PER_BLOCK: usize = 128;
/// Items per tile of the product: a tile of scores (users x items) is ranked while it is
/// still in cache, so the full users x items matrix never exists.
const ITEMS_PER_TILE: usize = 2048;

/// Items ranked by popularity, best first, ties to the lower index; items whose popularity
/// is NaN or -inf are left out, as `top_k` would leave them out.
pub(crate) fn popular_order(popularity: &[f32]) -> Vec<u32> {
    let mut order: Vec<u32> = (0..popularity.len() as u32)
        .filter(|&i| {
            let p = popularity[i as usize];
            !p.is_nan() && p != f32::NEG_INFINITY
        })
        .collect();
    order.sort_unstable_by(|&a, &b| {
        popularity[b as usize]
            .total_cmp(&popularity[a as usize])
            .then(a.cmp(&b))
    });
    order
}

/// Per-thread buffers for ranking one user at a time.
pub(crate) struct Scratch {
    /// Sparse accumulator and exclusion marks; every slot is +0.0 between users.
    acc: Vec<f32>,
    /// Dense scores, allocated on first use.
    dense: Vec<f32>,
    touched: Vec<u32>,
}

impl Scratch {
    pub(crate) fn new(n_items: usize) -> Self {
        Scratch {
            acc: vec![0.0; n_items],
            dense: Vec::new(),
            touched: Vec::new(),
        }
    }
}

/// Sets `acc[e] = value` for every excluded item in range.
fn mark(acc: &mut [f32], exclude: &[u32], value: f32) {
    for &e in exclude {
        if let Some(slot) = acc.get_mut(e as usize) {
            *slot = value;
        }
    }
}

/// What ranks: the model and the popularity fallback of a trained model.
pub(crate) struct Ranker<'a> {
    pub model: &'a dyn Model,
    pub popularity: &'a [f32],
    pub popular_order: &'a [u32],
}

impl Ranker<'_> {
    fn n_items(&self) -> usize {
        self.popularity.len()
    }

    /// Appends the most popular items whose slot of `marks` is +0.0 (neither scored nor
    /// excluded) until `out` holds `k`; each gets `score(item)`.
    fn fill_from_popular(
        &self,
        out: &mut Vec<(u32, f32)>,
        k: usize,
        marks: &[f32],
        score: impl Fn(u32) -> f32,
    ) {
        for &j in self.popular_order {
            if out.len() >= k {
                break;
            }
            if marks[j as usize].to_bits() == 0 {
                out.push((j, score(j)));
            }
        }
    }

    /// The popularity ranking minus `exclude`; `marks` is all +0.0 and left so.
    fn popular(&self, k: usize, exclude: &[u32], marks: &mut [f32]) -> Recommendations {
        mark(marks, exclude, f32::NEG_INFINITY);
        let mut items = Vec::with_capacity(k);
        self.fill_from_popular(&mut items, k, marks, |j| self.popularity[j as usize]);
        mark(marks, exclude, 0.0);
        Recommendations {
            items,
            fallback: true,
        }
    }

    /// Top `k` for one user.
    pub(crate) fn one(
        &self,
        query: &UserQuery,
        k: usize,
        exclude: &[u32],
        s: &mut Scratch,
    ) -> Recommendations {
        let sparse =
            self.model
                .score_sparse(query.user, &query.history, &mut s.acc, &mut s.touched);
        match sparse {
            Some(true) => {
                mark(&mut s.acc, exclude, f32::NEG_INFINITY);
                let mut best = TopK::new(k);
                for &j in &s.touched {
                    let slot = &mut s.acc[j as usize];
                    best.offer(j, *slot);
                    // Marks the item as taken for the padding below, and makes a repeat in
                    // `touched` harmless.
                    *slot = f32::NEG_INFINITY;
                }
                let mut items = best.take_sorted();
                // No evidence is a score of zero, as in a dense score vector.
                self.fill_from_popular(&mut items, k, &s.acc, |_| 0.0);
                self.clean(s, exclude);
                Recommendations {
                    items,
                    fallback: false,
                }
            }
            Some(false) => {
                self.clean(s, exclude);
                self.popular(k, exclude, &mut s.acc)
            }
            None => {
                s.dense.resize(self.n_items(), 0.0);
                if self.model.score(query.user, &query.history, &mut s.dense) {
                    Recommendations {
                        items: top_k(&mut s.dense, k, exclude),
                        fallback: false,
                    }
                } else {
                    self.popular(k, exclude, &mut s.acc)
                }
            }
        }
    }

    /// Returns every slot the last sparse scoring or exclusion wrote to +0.0.
    fn clean(&self, s: &mut Scratch, exclude: &[u32]) {
        for &j in &s.touched {
            s.acc[j as usize] = 0.0;
        }
        s.touched.clear();
        mark(&mut s.acc, exclude, 0.0);
    }

    /// Top `k` for every query, in parallel, in query order.
    pub(crate) fn many(
        &self,
        queries: &[UserQuery],
        k: usize,
        exclude_seen: bool,
    ) -> Vec<Recommendations> {
        if let Some((items, dim)) = self.model.item_vectors() {
            if dim > 0 && items.len() == dim * self.n_items() {
                return self.many_factored(queries, k, exclude_seen, items, dim);
            }
        }
        let n = self.n_items();
        queries
            .par_iter()
            .map_init(
                || (Scratch::new(n), Vec::new()),
                |(scratch, exclude), q| {
                    exclude.clear();
                    if exclude_seen {
                        exclude.extend(q.history.iter().map(|&(i, _)| i));
                    }
                    self.one(q, k, exclude, scratch)
                },
            )
            .collect()
    }

    fn many_factored(
        &self,
        queries: &[UserQuery],
        k: usize,
        exclude_seen: bool,
        items: &[f32],
        dim: usize,
    ) -> Vec<Recommendations> {
        let n = self.n_items();
        let blocks: Vec<Vec<Recommendations>> = queries
            .par_chunks(USERS_PER_BLOCK)
            .map_init(
                || Block::new(n, dim, k),
                |block, queries| self.factored_block(block, queries, k, exclude_seen, items, dim),
            )
            .collect();
        let mut out = Vec::with_capacity(queries.len());
        for b in blocks {
            out.extend(b);
        }
        out
    }

    fn factored_block(
        &self,
        s: &mut Block,
        queries: &[UserQuery],
        k: usize,
        exclude_seen: bool,
        items: &[f32],
        dim: usize,
    ) -> Vec<Recommendations> {
        let n = self.n_items();
        let b = queries.len();
        s.users.resize(b * dim, 0.0);
        s.scored.clear();
        for (r, q) in queries.iter().enumerate() {
            let x = &mut s.users[r * dim..][..dim];
            let ok = self.model.user_vector(q.user, &q.history, x);
            if !ok {
                x.fill(0.0);
            }
            s.scored.push(ok);
            let ex = &mut s.exclude[r];
            ex.clear();
            if exclude_seen {
                ex.extend(
                    q.history
                        .iter()
                        .map(|&(i, _)| i)
                        .filter(|&i| (i as usize) < n),
                );
                ex.sort_unstable();
                ex.dedup();
            }
            s.cursor[r] = 0;
        }
        let users = MatRef::from_row_major_slice(&s.users[..b * dim], b, dim);
        for start in (0..n).step_by(ITEMS_PER_TILE) {
            let width = ITEMS_PER_TILE.min(n - start);
            let tile_items =
                MatRef::from_row_major_slice(&items[start * dim..][..width * dim], width, dim);
            let tile = &mut s.tile[..b * width];
            matmul(
                MatMut::from_row_major_slice_mut(tile, b, width),
                Accum::Replace,
                users,
                tile_items.transpose(),
                1.0f32,
                Par::Seq,
            );
            let end = (start + width) as u32;
            for r in (0..b).filter(|&r| s.scored[r]) {
                let row = &mut tile[r * width..][..width];
                let (ex, cursor) = (&s.exclude[r], &mut s.cursor[r]);
                while *cursor < ex.len() && ex[*cursor] < end {
                    row[ex[*cursor] as usize - start] = f32::NEG_INFINITY;
                    *cursor += 1;
                }
                s.best[r].offer_run(start as u32, row);
            }
        }
        (0..b)
            .map(|r| {
                if s.scored[r] {
                    Recommendations {
                        items: s.best[r].take_sorted(),
                        fallback: false,
                    }
                } else {
                    self.popular(k, &s.exclude[r], &mut s.marks)
                }
            })
            .collect()
    }
}

/// Per-thread buffers for ranking a block of users of a factor model.
struct Block {
    users: Vec<f32>,
    tile: Vec<f32>,
    scored: Vec<bool>,
    /// Sorted excluded items per user, and how far each tile has consumed them.
    exclude: Vec<Vec<u32>>,
    cursor: Vec<usize>,
    best: Vec<TopK>,
    /// All +0.0: exclusion marks for the popularity fallback.
    marks: Vec<f32>,
}

impl Block {
    fn new(n_items: usize, dim: usize, k: usize) -> Self {
        Block {
            users: Vec::with_capacity(USERS_PER_BLOCK * dim),
            tile: vec![0.0; USERS_PER_BLOCK * ITEMS_PER_TILE.min(n_items)],
            scored: Vec::with_capacity(USERS_PER_BLOCK),
            exclude: vec![Vec::new(); USERS_PER_BLOCK],
            cursor: vec![0; USERS_PER_BLOCK],
            best: (0..USERS_PER_BLOCK).map(|_| TopK::new(k)).collect(),
            marks: vec![0.0; n_items],
        }
    }
}
