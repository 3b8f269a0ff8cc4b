// SPDX-License-Identifier: BUSL-1.1
//! Compressed sparse rows, the layout of the training matrix and of item-kNN's neighbours.

/// Compressed sparse rows with `f32` values. Column indices within a row are sorted and unique.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Csr {
    pub n_rows: usize,
    pub n_cols: usize,
    pub indptr: Vec<usize>,
    pub indices: Vec<u32>,
    pub values: Vec<f32>,
}

impl Csr {
    pub fn nnz(&self) -> usize {
        self.indices.len()
    }

    pub fn row(&self, r: usize) -> (&[u32], &[f32]) {
        let (a, b) = (self.indptr[r], self.indptr[r + 1]);
        (&self.indices[a..b], &self.values[a..b])
    }

    /// The given rows, in that order, with column `c` renamed `columns[c]` (of `n_cols`).
    pub fn select_rows(&self, rows: &[usize], columns: &[u32], n_cols: usize) -> Csr {
        let mut out = Csr {
            n_rows: rows.len(),
            n_cols,
            indptr: Vec::with_capacity(rows.len() + 1),
            ..Csr::default()
        };
        out.indptr.push(0);
        let mut entries = Vec::new();
        for &r in rows {
            let (cols, vals) = self.row(r);
            entries.clear();
            entries.extend(
                cols.iter()
                    .map(|&c| columns[c as usize])
                    .zip(vals.iter().copied()),
            );
            entries.sort_unstable_by_key(|&(c, _)| c);
            out.indices.extend(entries.iter().map(|&(c, _)| c));
            out.values.extend(entries.iter().map(|&(_, v)| v));
            out.indptr.push(out.indices.len());
        }
        out
    }

    /// The transpose, with sorted indices per row.
    pub fn transpose(&self) -> Csr {
        let mut indptr = vec![0usize; self.n_cols + 1];
        for &c in &self.indices {
            indptr[c as usize + 1] += 1;
        }
        for c in 0..self.n_cols {
            indptr[c + 1] += indptr[c];
        }
        let mut next = indptr.clone();
        let mut indices = vec![0u32; self.nnz()];
        let mut values = vec![0f32; self.nnz()];
        for r in 0..self.n_rows {
            let (cols, vals) = self.row(r);
            for (&c, &v) in cols.iter().zip(vals) {
                let slot = &mut next[c as usize];
                indices[*slot] = r as u32;
                values[*slot] = v;
                *slot += 1;
            }
        }
        Csr {
            n_rows: self.n_cols,
            n_cols: self.n_rows,
            indptr,
            indices,
            values,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::data::{Interactions, RawInteraction};

    fn raw(u: &str, i: &str, w: f32) -> RawInteraction {
        RawInteraction {
            user: u.into(),
            item: i.into(),
            weight: w,
            timestamp: 0,
        }
    }

    #[test]
    fn transpose_twice_is_identity() {
        let data = Interactions::from_raw(vec![
            raw("a", "x", 1.0),
            raw("b", "y", 2.0),
            raw("b", "x", 3.0),
        ])
        .unwrap();
        assert_eq!(data.by_item.transpose(), data.by_user);
    }
}
