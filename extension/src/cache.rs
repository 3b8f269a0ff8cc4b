// SPDX-License-Identifier: BUSL-1.1
//! Decoded models kept per backend, so repeated `recommend` calls decode a model once.
//! Keys are model-version ids (plus the tenant). Versions are never updated in place (no role
//! holds UPDATE on `recsys.model_versions`), so an entry cannot go stale: a retrained model is a
//! new id. Least recently used entries are evicted past `recsys.model_cache_mb`; a model larger
//! than that is decoded for its call and not kept.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use recsys_core::{Registry, TrainedModel};

use crate::error::SqlResult;
use crate::{guc, spi};

struct Entry {
    model: Rc<TrainedModel>,
    bytes: usize,
    last_used: u64,
}

#[derive(Default)]
struct Cache {
    entries: HashMap<(String, i64), Entry>,
    clock: u64,
    bytes: usize,
}

thread_local! {
    // A backend runs SQL functions on one thread; this is per backend process.
    static CACHE: RefCell<Cache> = RefCell::new(Cache::default());
    static REGISTRY: Registry = Registry::builtin();
}

pub fn registry<T>(f: impl FnOnce(&Registry) -> T) -> T {
    REGISTRY.with(f)
}

/// The decoded model of version `id`, from the cache or loaded and decoded now.
pub fn model(tenant: &str, id: i64) -> SqlResult<Rc<TrainedModel>> {
    let key = (tenant.to_string(), id);
    let hit = CACHE.with(|c| {
        let mut c = c.borrow_mut();
        c.clock += 1;
        let now = c.clock;
        c.entries.get_mut(&key).map(|e| {
            e.last_used = now;
            e.model.clone()
        })
    });
    if let Some(m) = hit {
        return Ok(m);
    }
    let bytes = spi::artifact(id)?;
    let model = Rc::new(registry(|r| TrainedModel::from_bytes(r, &bytes))?);
    let budget = guc::model_cache_bytes();
    if bytes.len() > budget {
        return Ok(model);
    }
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        while c.bytes + bytes.len() > budget && !c.entries.is_empty() {
            let oldest = c
                .entries
                .iter()
                .min_by_key(|(_, e)| e.last_used)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                if let Some(e) = c.entries.remove(&k) {
                    c.bytes -= e.bytes;
                }
            }
        }
        c.bytes += bytes.len();
        let last_used = c.clock;
        c.entries.insert(
            key,
            Entry {
                model: model.clone(),
                bytes: bytes.len(),
                last_used,
            },
        );
    });
    Ok(model)
}

/// Number of cached models, for `recsys.cached_models()`.
pub fn len() -> usize {
    CACHE.with(|c| c.borrow().entries.len())
}
