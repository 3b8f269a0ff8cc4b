// SPDX-License-Identifier: BUSL-1.1
//! Interactions as sparse matrices: users x items (CSR) and its transpose, plus the maps
//! between external string ids and dense indices.

use std::collections::HashMap;

use crate::error::{CoreError, Result};

/// Longest external id accepted, in bytes. Ids are keys, not documents.
pub const MAX_ID_BYTES: usize = 512;

/// Bidirectional map between external ids and dense indices `0..len`.
/// Indices follow the sorted order of the ids, so a model does not depend on input order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct IdMap {
    ids: Vec<String>,
    index: HashMap<String, u32>,
}

impl IdMap {
    /// Builds a map from ids that must be unique.
    pub fn from_ids(ids: Vec<String>) -> Result<Self> {
        let mut index = HashMap::with_capacity(ids.len());
        for (i, id) in ids.iter().enumerate() {
            validate_id(id)?;
            if index.insert(id.clone(), i as u32).is_some() {
                return Err(CoreError::InvalidInput(format!("duplicate id \"{id}\"")));
            }
        }
        Ok(IdMap { ids, index })
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    pub fn get(&self, id: &str) -> Option<u32> {
        self.index.get(id).copied()
    }

    pub fn id(&self, index: u32) -> &str {
        &self.ids[index as usize]
    }

    pub fn ids(&self) -> &[String] {
        &self.ids
    }
}

pub fn validate_id(id: &str) -> Result<()> {
    if id.is_empty() {
        return Err(CoreError::InvalidInput("empty id".into()));
    }
    if id.len() > MAX_ID_BYTES {
        return Err(CoreError::InvalidInput(format!(
            "id longer than {MAX_ID_BYTES} bytes"
        )));
    }
    if id.contains('\0') {
        return Err(CoreError::InvalidInput("id contains a NUL byte".into()));
    }
    Ok(())
}

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

    /// Builds from triplets that are already sorted by (row, col) and unique.
    fn from_sorted(
        n_rows: usize,
        n_cols: usize,
        rows: &[u32],
        cols: Vec<u32>,
        values: Vec<f32>,
    ) -> Self {
        let mut indptr = vec![0usize; n_rows + 1];
        for &r in rows {
            indptr[r as usize + 1] += 1;
        }
        for r in 0..n_rows {
            indptr[r + 1] += indptr[r];
        }
        Csr {
            n_rows,
            n_cols,
            indptr,
            indices: cols,
            values,
        }
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

/// One interaction as it arrives from outside.
#[derive(Clone, Debug, PartialEq)]
pub struct RawInteraction {
    pub user: String,
    pub item: String,
    pub weight: f32,
    pub timestamp: i64,
}

/// The training data: a users x items matrix of summed weights, with the latest timestamp per pair.
#[derive(Clone, Debug)]
pub struct Interactions {
    pub users: IdMap,
    pub items: IdMap,
    /// users x items, values are summed weights of repeated (user, item) pairs.
    pub by_user: Csr,
    /// Latest timestamp of each entry of `by_user`, aligned with `by_user.indices`.
    pub timestamps: Vec<i64>,
    /// items x users, the transpose of `by_user`.
    pub by_item: Csr,
}

impl Interactions {
    pub fn n_users(&self) -> usize {
        self.users.len()
    }

    pub fn n_items(&self) -> usize {
        self.items.len()
    }

    pub fn nnz(&self) -> usize {
        self.by_user.nnz()
    }

    pub fn min_timestamp(&self) -> Option<i64> {
        self.timestamps.iter().copied().min()
    }

    pub fn max_timestamp(&self) -> Option<i64> {
        self.timestamps.iter().copied().max()
    }

    /// Builds from interactions with external ids. Repeated (user, item) pairs are summed.
    /// Weights must be finite and positive: a zero or negative confidence has no meaning for
    /// implicit feedback and silently breaks ALS.
    pub fn from_raw(raw: impl IntoIterator<Item = RawInteraction>) -> Result<Self> {
        let mut user_tmp: HashMap<String, u32> = HashMap::new();
        let mut item_tmp: HashMap<String, u32> = HashMap::new();
        let mut triples: Vec<(u32, u32, f32, i64)> = Vec::new();
        for r in raw {
            validate_weight(r.weight)?;
            let u = intern(&mut user_tmp, r.user)?;
            let i = intern(&mut item_tmp, r.item)?;
            triples.push((u, i, r.weight, r.timestamp));
        }
        let (users, user_remap) = sorted_map(user_tmp)?;
        let (items, item_remap) = sorted_map(item_tmp)?;
        for t in &mut triples {
            t.0 = user_remap[t.0 as usize];
            t.1 = item_remap[t.1 as usize];
        }
        Self::from_indexed(users, items, triples)
    }

    /// Builds from interactions already mapped to dense indices of `users` and `items`.
    pub fn from_indexed(
        users: IdMap,
        items: IdMap,
        mut triples: Vec<(u32, u32, f32, i64)>,
    ) -> Result<Self> {
        for &(u, i, w, _) in &triples {
            if u as usize >= users.len() || i as usize >= items.len() {
                return Err(CoreError::InvalidInput("index out of range".into()));
            }
            validate_weight(w)?;
        }
        triples.sort_unstable_by_key(|t| (t.0, t.1));
        let mut rows = Vec::with_capacity(triples.len());
        let mut cols = Vec::with_capacity(triples.len());
        let mut vals: Vec<f32> = Vec::with_capacity(triples.len());
        let mut stamps: Vec<i64> = Vec::with_capacity(triples.len());
        for (u, i, w, ts) in triples {
            if rows.last() == Some(&u) && cols.last() == Some(&i) {
                let last = vals.len() - 1;
                vals[last] += w;
                stamps[last] = stamps[last].max(ts);
            } else {
                rows.push(u);
                cols.push(i);
                vals.push(w);
                stamps.push(ts);
            }
        }
        let by_user = Csr::from_sorted(users.len(), items.len(), &rows, cols, vals);
        let by_item = by_user.transpose();
        Ok(Interactions {
            users,
            items,
            by_user,
            timestamps: stamps,
            by_item,
        })
    }

    /// The (item, weight) pairs of one user, for scoring.
    pub fn history(&self, user: u32) -> Vec<(u32, f32)> {
        let (items, weights) = self.by_user.row(user as usize);
        items.iter().copied().zip(weights.iter().copied()).collect()
    }
}

pub fn validate_weight(w: f32) -> Result<()> {
    if !w.is_finite() || w <= 0.0 {
        return Err(CoreError::InvalidInput(format!(
            "weight {w} is not a finite positive number"
        )));
    }
    Ok(())
}

fn intern(map: &mut HashMap<String, u32>, id: String) -> Result<u32> {
    if let Some(&i) = map.get(&id) {
        return Ok(i);
    }
    validate_id(&id)?;
    let i =
        u32::try_from(map.len()).map_err(|_| CoreError::TooLarge("more than 2^32 ids".into()))?;
    map.insert(id, i);
    Ok(i)
}

/// Sorts interned ids and returns the map plus `remap[temporary] = final`.
fn sorted_map(tmp: HashMap<String, u32>) -> Result<(IdMap, Vec<u32>)> {
    let mut pairs: Vec<(String, u32)> = tmp.into_iter().collect();
    pairs.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let mut remap = vec![0u32; pairs.len()];
    for (final_index, (_, tmp_index)) in pairs.iter().enumerate() {
        remap[*tmp_index as usize] = final_index as u32;
    }
    let ids = pairs.into_iter().map(|(id, _)| id).collect();
    Ok((IdMap::from_ids(ids)?, remap))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(u: &str, i: &str, w: f32, ts: i64) -> RawInteraction {
        RawInteraction {
            user: u.into(),
            item: i.into(),
            weight: w,
            timestamp: ts,
        }
    }

    #[test]
    fn builds_sorted_deduplicated_matrix() {
        let data = Interactions::from_raw(vec![
            raw("u2", "b", 1.0, 5),
            raw("u1", "c", 2.0, 1),
            raw("u1", "a", 1.0, 2),
            raw("u2", "b", 0.5, 9),
        ])
        .unwrap();
        assert_eq!(data.users.ids(), ["u1", "u2"]);
        assert_eq!(data.items.ids(), ["a", "b", "c"]);
        assert_eq!(data.by_user.indptr, vec![0, 2, 3]);
        assert_eq!(data.by_user.indices, vec![0, 2, 1]);
        assert_eq!(data.by_user.values, vec![1.0, 2.0, 1.5]);
        assert_eq!(data.timestamps, vec![2, 1, 9]);
        assert_eq!(data.by_item.indptr, vec![0, 1, 2, 3]);
        assert_eq!(data.by_item.indices, vec![0, 1, 0]);
        assert_eq!(data.by_item.values, vec![1.0, 1.5, 2.0]);
    }

    #[test]
    fn input_order_does_not_change_the_result() {
        let a = vec![
            raw("x", "1", 1.0, 0),
            raw("y", "2", 1.0, 0),
            raw("x", "2", 3.0, 0),
        ];
        let mut b = a.clone();
        b.reverse();
        let (a, b) = (
            Interactions::from_raw(a).unwrap(),
            Interactions::from_raw(b).unwrap(),
        );
        assert_eq!(a.by_user, b.by_user);
        assert_eq!(a.users, b.users);
    }

    #[test]
    fn rejects_bad_weights_and_ids() {
        for w in [0.0, -1.0, f32::NAN, f32::INFINITY] {
            assert!(
                Interactions::from_raw(vec![raw("u", "i", w, 0)]).is_err(),
                "{w}"
            );
        }
        assert!(Interactions::from_raw(vec![raw("", "i", 1.0, 0)]).is_err());
        assert!(Interactions::from_raw(vec![raw("u\0", "i", 1.0, 0)]).is_err());
        let long = "x".repeat(MAX_ID_BYTES + 1);
        assert!(Interactions::from_raw(vec![raw("u", &long, 1.0, 0)]).is_err());
    }

    #[test]
    fn transpose_twice_is_identity() {
        let data = Interactions::from_raw(vec![
            raw("a", "x", 1.0, 0),
            raw("b", "y", 2.0, 0),
            raw("b", "x", 3.0, 0),
        ])
        .unwrap();
        assert_eq!(data.by_item.transpose(), data.by_user);
    }
}
