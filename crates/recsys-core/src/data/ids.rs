// SPDX-License-Identifier: BUSL-1.1
//! External ids and their dense indices: the id rule, and the map between the two.

use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;

use crate::error::{CoreError, Result};

/// Longest external id accepted, in bytes. Ids are keys, not documents.
pub const MAX_ID_BYTES: usize = 512;

/// Bidirectional map between external ids and dense indices `0..len`.
/// Indices follow the sorted order of the ids, so a model does not depend on input order.
///
/// Cloning is cheap (the map is shared), so the training data and every model trained on it
/// hold one copy of the ids between them.
#[derive(Clone, Default)]
pub struct IdMap {
    inner: Arc<IdTable>,
}

impl IdMap {
    /// Builds a map from ids that must be unique.
    pub fn from_ids(ids: Vec<String>) -> Result<Self> {
        for id in &ids {
            validate_id(id)?;
        }
        let mut table = IdTable::with_capacity(ids.len());
        for id in ids {
            if table.get(&id).is_some() {
                return Err(CoreError::InvalidInput(format!("duplicate id \"{id}\"")));
            }
            table.insert_new(id)?;
        }
        Ok(IdMap {
            inner: Arc::new(table),
        })
    }

    pub fn len(&self) -> usize {
        self.inner.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.inner.ids.is_empty()
    }

    pub fn get(&self, id: &str) -> Option<u32> {
        self.inner.get(id)
    }

    pub fn id(&self, index: u32) -> &str {
        &self.inner.ids[index as usize]
    }

    pub fn ids(&self) -> &[String] {
        &self.inner.ids
    }

    /// The ids, moved out when no other clone shares them, copied otherwise.
    pub fn into_ids(self) -> Vec<String> {
        match Arc::try_unwrap(self.inner) {
            Ok(table) => table.ids,
            Err(shared) => shared.ids.clone(),
        }
    }

    /// Approximate heap bytes of the map (ids and index).
    pub fn heap_bytes(&self) -> usize {
        self.inner.heap_bytes()
    }
}

impl PartialEq for IdMap {
    fn eq(&self, other: &Self) -> bool {
        self.ids() == other.ids()
    }
}

impl std::fmt::Debug for IdMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdMap").field("ids", &self.ids()).finish()
    }
}

/// Ids in index order plus an open-addressing index over them. The index holds positions,
/// not copies of the ids, so each id is stored once (a `HashMap<String, u32>` next to the
/// `Vec<String>` would store it twice).
#[derive(Default)]
pub(super) struct IdTable {
    ids: Vec<String>,
    /// Positions into `ids`, or `EMPTY`; the length is a power of two, at most half full.
    slots: Vec<u32>,
    hasher: RandomState,
}

const EMPTY: u32 = u32::MAX;

impl IdMap {
    /// The map of a table the builder filled and sorted.
    pub(super) fn from_table(table: IdTable) -> Self {
        IdMap {
            inner: Arc::new(table),
        }
    }
}

impl IdTable {
    pub(super) fn len(&self) -> usize {
        self.ids.len()
    }

    fn with_capacity(n: usize) -> Self {
        let mut t = IdTable {
            ids: Vec::with_capacity(n),
            ..IdTable::default()
        };
        t.rehash((n * 2).next_power_of_two().max(16));
        t
    }

    fn slot_of(&self, id: &str) -> usize {
        self.hasher.hash_one(id) as usize & (self.slots.len() - 1)
    }

    pub(super) fn get(&self, id: &str) -> Option<u32> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.slots.len() - 1;
        let mut s = self.slot_of(id);
        loop {
            match self.slots[s] {
                EMPTY => return None,
                i if self.ids[i as usize] == id => return Some(i),
                _ => s = (s + 1) & mask,
            }
        }
    }

    /// Appends an id known to be absent and returns its position.
    pub(super) fn insert_new(&mut self, id: String) -> Result<u32> {
        let i = u32::try_from(self.ids.len())
            .ok()
            .filter(|&i| i != EMPTY)
            .ok_or_else(|| CoreError::TooLarge("more than 2^32 - 1 ids".into()))?;
        if (self.ids.len() + 1) * 2 > self.slots.len() {
            self.rehash((self.slots.len() * 2).max(16));
        }
        let mask = self.slots.len() - 1;
        let mut s = self.slot_of(&id);
        while self.slots[s] != EMPTY {
            s = (s + 1) & mask;
        }
        self.slots[s] = i;
        self.ids.push(id);
        Ok(i)
    }

    fn rehash(&mut self, size: usize) {
        // Grown in place rather than replaced: with glibc, freeing a large block raises the
        // size below which later blocks come from the heap instead of their own mapping, and
        // heap blocks freed later (the builder's chunks) then stay resident.
        self.slots.clear();
        self.slots.resize(size, EMPTY);
        let mask = size - 1;
        for (i, id) in self.ids.iter().enumerate() {
            let mut s = self.hasher.hash_one(id.as_str()) as usize & mask;
            while self.slots[s] != EMPTY {
                s = (s + 1) & mask;
            }
            self.slots[s] = i as u32;
        }
    }

    pub(super) fn heap_bytes(&self) -> usize {
        self.ids.capacity() * std::mem::size_of::<String>()
            + self.ids.iter().map(String::capacity).sum::<usize>()
            + self.slots.capacity() * 4
    }

    /// Sorts the ids; returns the sorted table and `remap[old position] = new position`.
    pub(super) fn into_sorted(mut self) -> (IdTable, Vec<u32>) {
        let mut order: Vec<u32> = (0..self.ids.len() as u32).collect();
        order.sort_unstable_by(|&a, &b| self.ids[a as usize].cmp(&self.ids[b as usize]));
        let mut remap = vec![0u32; order.len()];
        for (new, &old) in order.iter().enumerate() {
            remap[old as usize] = new as u32;
        }
        let ids: Vec<String> = order
            .iter()
            .map(|&old| std::mem::take(&mut self.ids[old as usize]))
            .collect();
        drop(order);
        self.ids = ids;
        // An empty builder's table has no slots yet: give it the smallest table.
        let size = self.slots.len().max(16);
        self.rehash(size);
        (self, remap)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_map_finds_every_id_and_refuses_duplicates() {
        let ids: Vec<String> = (0..1000)
            .map(|i| format!("id{}", i * 7919 % 1000))
            .collect();
        let map = IdMap::from_ids(ids.clone()).unwrap();
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(map.get(id), Some(i as u32));
            assert_eq!(map.id(i as u32), id);
        }
        assert_eq!(map.get("id1000"), None);
        assert_eq!(map.clone(), map);
        assert_eq!(map.clone().into_ids(), ids);
        let err = IdMap::from_ids(vec!["a".into(), "b".into(), "a".into()]).unwrap_err();
        assert!(err.to_string().contains("duplicate id \"a\""), "{err}");
        assert_eq!(IdMap::default().get("a"), None);
    }
}
