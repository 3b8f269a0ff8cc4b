// SPDX-License-Identifier: BUSL-1.1
//! Resource limits. Only a superuser may set or raise them (in postgresql.conf, with ALTER
//! SYSTEM, or ALTER DATABASE/ROLE ... SET by a superuser): a tenant's session cannot, so one
//! tenant cannot make a backend allocate what would take the server down for all of them.

use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting};
use recsys_core::models::Configured;
use recsys_core::Interactions;

use crate::error::SqlResult;

/// Memory one training or evaluation may need, by its estimate, before it starts.
pub static MAX_TRAIN_MEMORY_MB: GucSetting<i32> =
    GucSetting::<i32>::new(recsys_core::budget::DEFAULT_LIMIT_MB as i32);
/// Encoded model bytes kept decoded per backend for `recommend`.
pub static MODEL_CACHE_MB: GucSetting<i32> = GucSetting::<i32>::new(256);
/// Largest model version stored, in MiB: at most what one PostgreSQL value holds (1 GiB) less
/// the row's other columns.
pub static MAX_MODEL_MB: GucSetting<i32> = GucSetting::<i32>::new(MAX_MODEL_MB_LIMIT);
const MAX_MODEL_MB_LIMIT: i32 = 1023;
/// Background workers recording training progress at once, across the server.
pub static MAX_PROGRESS_WORKERS: GucSetting<i32> = GucSetting::<i32>::new(2);

pub fn init() {
    GucRegistry::define_int_guc(
        c"recsys.max_train_memory_mb",
        c"Memory a recsys training or evaluation may need, by its estimate.",
        c"Work whose estimate exceeds it is refused with SQLSTATE 53200 before it allocates.",
        &MAX_TRAIN_MEMORY_MB,
        1,
        i32::MAX,
        GucContext::Suset,
        GucFlags::UNIT_MB,
    );
    GucRegistry::define_int_guc(
        c"recsys.model_cache_mb",
        c"Encoded model bytes each backend keeps decoded for recsys.recommend.",
        c"Least recently used models are dropped past it; a larger model is decoded for each call.",
        &MODEL_CACHE_MB,
        0,
        i32::MAX,
        GucContext::Suset,
        GucFlags::UNIT_MB,
    );
    GucRegistry::define_int_guc(
        c"recsys.max_model_mb",
        c"Largest model version recsys.train stores.",
        c"A trained model whose artifact is larger is refused with SQLSTATE 54000; nothing is stored.",
        &MAX_MODEL_MB,
        1,
        MAX_MODEL_MB_LIMIT,
        GucContext::Suset,
        GucFlags::UNIT_MB,
    );
    GucRegistry::define_int_guc(
        c"recsys.max_progress_workers",
        c"Background workers that may record recsys training progress at once.",
        c"Progress steps are skipped while this many are running; 0 disables them.",
        &MAX_PROGRESS_WORKERS,
        0,
        64,
        GucContext::Suset,
        GucFlags::default(),
    );
}

/// Refuses work whose estimate exceeds `recsys.max_train_memory_mb` (53200 with a hint).
pub fn check_memory(need: u64, what: &str) -> SqlResult<()> {
    Ok(recsys_core::budget::check(
        need,
        MAX_TRAIN_MEMORY_MB.get().max(1) as u64,
        what,
        "recsys.max_train_memory_mb, which only a superuser can raise",
    )?)
}

/// Refuses a fit of `configured` on `data` whose estimate, plus `extra` bytes the caller
/// holds besides, exceeds `recsys.max_train_memory_mb`.
pub fn check_training(
    configured: &Configured,
    data: &Interactions,
    extra: u64,
    what: &str,
) -> SqlResult<()> {
    let need = recsys_core::budget::training_bytes(configured.params(), data);
    check_memory(need.saturating_add(extra), what)
}

pub fn max_model_bytes() -> usize {
    (MAX_MODEL_MB.get().clamp(1, MAX_MODEL_MB_LIMIT) as usize) << 20
}

pub fn model_cache_bytes() -> usize {
    (MODEL_CACHE_MB.get().max(0) as usize).saturating_mul(1 << 20)
}

pub fn max_progress_workers() -> i64 {
    MAX_PROGRESS_WORKERS.get().max(0) as i64
}
