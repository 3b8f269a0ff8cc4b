// SPDX-License-Identifier: BUSL-1.1
//! Memory a training will need, checked against a limit before anything large is allocated.
//! In a PostgreSQL backend an allocation that fails aborts the process, and the server then
//! restarts every connection of every tenant; so the extension, the CLI and the evaluation
//! refuse work whose estimate exceeds their limit, and the largest buffers are reserved
//! fallibly ([`zeroed`]), so an allocation the system refuses is an error too.

use crate::data::Interactions;
use crate::error::{CoreError, Result};
use crate::incremental::Changes;
use crate::models::Params;
use crate::trained::TrainedModel;

/// The default limit of the CLI and of the extension's `recsys.max_train_memory_mb`.
pub const DEFAULT_LIMIT_MB: u64 = 4096;

/// The size of the training data, for [`Algorithm::memory_needed`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    pub users: usize,
    pub items: usize,
    pub interactions: usize,
}

impl Shape {
    pub fn of(data: &Interactions) -> Self {
        Shape {
            users: data.n_users(),
            items: data.n_items(),
            interactions: data.nnz(),
        }
    }
}

/// Bytes a fit with (checked) `params` needs while `data` is loaded: the data itself, the
/// algorithm's own estimate (working memory, the model and its serialised copies) and the
/// popularity vector every model keeps.
pub fn training_bytes(params: &dyn Params, data: &Interactions) -> u64 {
    let ids = (data.users.heap_bytes() + data.items.heap_bytes()) as u64;
    let model_ids = 3 * ids; // the model's id maps and their serialised copies
    (data.matrix_bytes() as u64 + ids)
        .saturating_add(model_ids)
        .saturating_add(data.n_items() as u64 * 8)
        .saturating_add(params.memory_needed(&Shape::of(data)))
}

/// Bytes an incremental training ([`TrainedModel::update`]) needs beside `previous`, which is
/// in memory already: the changes read, the merged id maps (as a fit's, three copies) and the
/// algorithm's estimate for the merged shape, as [`training_bytes`] counts a fit's.
pub fn update_bytes(params: &dyn Params, changes: &Changes, previous: &TrainedModel) -> u64 {
    let read = [&changes.histories, &changes.seen]
        .iter()
        .map(|d| (d.matrix_bytes() + d.users.heap_bytes() + d.items.heap_bytes()) as u64)
        .sum::<u64>();
    let ids = (previous.users.heap_bytes() + previous.items.heap_bytes()) as u64
        + (changes.histories.users.heap_bytes() + changes.histories.items.heap_bytes()) as u64;
    let shape = Shape {
        users: previous.users.len() + changes.histories.n_users(),
        items: previous.items.len() + changes.histories.n_items(),
        interactions: previous.manifest.data.interactions + changes.histories.nnz(),
    };
    read.saturating_add(3 * ids)
        .saturating_add(shape.items as u64 * 8)
        .saturating_add(params.memory_needed(&shape))
}

/// Refuses `need` bytes for `what` when they exceed `limit_mb`, naming `setting` (how the
/// limit is raised) in the message.
pub fn check(need: u64, limit_mb: u64, what: &str, setting: &str) -> Result<()> {
    if need > limit_mb.saturating_mul(1 << 20) {
        return Err(CoreError::TooLarge(format!(
            "{what} needs about {} MiB, more than the limit of {limit_mb} MiB ({setting})",
            need.div_ceil(1 << 20)
        )));
    }
    Ok(())
}

/// A vector of `n` default values whose memory is reserved fallibly: a refused allocation is
/// [`CoreError::TooLarge`] instead of an abort.
pub fn zeroed<T: Clone + Default>(n: usize, what: &str) -> Result<Vec<T>> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| {
        CoreError::TooLarge(format!(
            "cannot allocate {} MiB for {what}",
            (n as u64)
                .saturating_mul(std::mem::size_of::<T>() as u64)
                .div_ceil(1 << 20)
        ))
    })?;
    v.resize(n, T::default());
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::RawInteraction;
    use crate::models::Algorithm;
    use crate::models::Registry;
    use serde_json::Value;

    fn data(users: usize, items: usize) -> Interactions {
        Interactions::from_raw((0..users).flat_map(|u| {
            (0..items).map(move |i| RawInteraction {
                user: format!("u{u}"),
                item: format!("i{i}"),
                weight: 1.0,
                timestamp: 0,
            })
        }))
        .unwrap()
    }

    #[test]
    fn check_refuses_above_the_limit_only() {
        assert!(check(1 << 20, 1, "x", "s").is_ok());
        let e = check((1 << 20) + 1, 1, "ease", "recsys.max_train_memory_mb").unwrap_err();
        assert!(matches!(e, CoreError::TooLarge(_)));
        assert_eq!(
            e.to_string(),
            "too large: ease needs about 2 MiB, more than the limit of 1 MiB (recsys.max_train_memory_mb)"
        );
        assert!(check(u64::MAX, u64::MAX, "x", "s").is_ok());
    }

    #[test]
    fn zeroed_refuses_what_cannot_be_allocated() {
        assert_eq!(zeroed::<f32>(3, "x").unwrap(), vec![0.0; 3]);
        let e = zeroed::<f64>(usize::MAX / 8, "the gram matrix").unwrap_err();
        assert!(matches!(e, CoreError::TooLarge(_)), "{e}");
        assert!(e.to_string().contains("the gram matrix"), "{e}");
    }

    #[test]
    fn estimates_grow_with_the_model_and_cover_the_data() {
        let r = Registry::builtin();
        let small = data(20, 10);
        let large = data(20, 40);
        for a in r.iter() {
            let params = a.check(&Value::Null).unwrap();
            let (s, l) = (
                training_bytes(params.as_ref(), &small),
                training_bytes(params.as_ref(), &large),
            );
            assert!(s >= small.matrix_bytes() as u64, "{}", a.name());
            assert!(l > s, "{}: {l} <= {s}", a.name());
        }
        // EASE is quadratic in the items: 12 bytes a pair at least.
        let ease = r.get("ease").unwrap();
        let p = ease.check(&Value::Null).unwrap();
        let shape = Shape {
            users: 1,
            items: 60_000,
            interactions: 1,
        };
        assert!(p.memory_needed(&shape) >= 12 * 60_000u64 * 60_000);
        // More ALS factors, more memory; neighbours past the catalogue cost nothing more.
        let als = r.get("als").unwrap();
        let shape = Shape {
            users: 1000,
            items: 1000,
            interactions: 10_000,
        };
        let estimate = |a: &dyn Algorithm, p: Value| a.check(&p).unwrap().memory_needed(&shape);
        let f = |n: u64| estimate(als, serde_json::json!({ "factors": n }));
        assert!(f(128) > f(64));
        let knn = r.get("itemknn").unwrap();
        let k = |n: u64| estimate(knn, serde_json::json!({ "neighbors": n }));
        assert!(k(100) > k(10));
        assert_eq!(k(5000), k(10_000));
    }
}
