// SPDX-License-Identifier: Apache-2.0
//! Train/test splits of interaction events.
//!
//! Rules shared by every strategy:
//! - all events of one `(user, item)` pair land on the same side, so a test item is never
//!   also a train interaction of the same user;
//! - users that do not qualify for holding out stay wholly in train;
//! - the result is a pure function of the events and the strategy: the same seed gives the
//!   same split whatever the order of the input, and both sides keep the input order.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use crate::error::EvalError;
use crate::rng::SplitMix64;

/// One interaction. `weight` and `timestamp` are carried through untouched.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Event {
    pub user: u32,
    pub item: u32,
    pub weight: f32,
    pub timestamp: i64,
}

/// How to hold out test interactions.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SplitStrategy {
    /// Per user with at least `min_user_items` distinct items, hold out
    /// `round(n * test_fraction)` (at least 1, at most n-1) distinct items at random.
    RandomHoldout {
        test_fraction: f64,
        min_user_items: usize,
        seed: u64,
    },
    /// Per user with at least `min_user_items` distinct items, hold out the item of the latest
    /// event (ties: larger item id).
    LeaveLastOut { min_user_items: usize },
    /// Every event with `timestamp >= cut` goes to test; test users/items not seen in train are
    /// dropped from test.
    TimeCut { cut: i64 },
}

impl SplitStrategy {
    /// The shared evaluation protocol: 20 % of the items of every user with at least 5 items,
    /// seed 42.
    pub fn default_protocol() -> Self {
        SplitStrategy::RandomHoldout {
            test_fraction: 0.2,
            min_user_items: 5,
            seed: 42,
        }
    }

    /// One line for reports, e.g. `random holdout (test_fraction=0.2, min_user_items=5, seed=42)`.
    pub fn describe(&self) -> String {
        match self {
            SplitStrategy::RandomHoldout {
                test_fraction,
                min_user_items,
                seed,
            } => format!(
                "random holdout (test_fraction={test_fraction}, min_user_items={min_user_items}, seed={seed})"
            ),
            SplitStrategy::LeaveLastOut { min_user_items } => {
                format!("leave last out (min_user_items={min_user_items})")
            }
            SplitStrategy::TimeCut { cut } => format!("time cut (test from timestamp {cut})"),
        }
    }

    /// Refuses parameters no split can use; [`split`] calls it first, and a surface that
    /// takes a strategy (the sidecar) calls it to refuse one before any work.
    pub fn check(&self) -> Result<(), EvalError> {
        let min_items = match self {
            SplitStrategy::RandomHoldout {
                test_fraction,
                min_user_items,
                seed,
            } => {
                if i64::try_from(*seed).is_err() {
                    return Err(EvalError::param(
                        "seed",
                        format!(
                            "must be from 0 to 2^63-1 (a bigint, an OpenAPI int64), got {seed}"
                        ),
                    ));
                }
                if !(test_fraction.is_finite() && *test_fraction > 0.0 && *test_fraction < 1.0) {
                    return Err(EvalError::param(
                        "test_fraction",
                        format!("must be strictly between 0 and 1, got {test_fraction}"),
                    ));
                }
                *min_user_items
            }
            SplitStrategy::LeaveLastOut { min_user_items } => *min_user_items,
            SplitStrategy::TimeCut { .. } => return Ok(()),
        };
        if min_items < 2 {
            return Err(EvalError::param(
                "min_user_items",
                format!(
                    "must be at least 2 so every test user keeps an item in train, got {min_items}"
                ),
            ));
        }
        Ok(())
    }
}

impl Default for SplitStrategy {
    fn default() -> Self {
        SplitStrategy::default_protocol()
    }
}

/// The two sides of a split, each in input order.
#[derive(Clone, Debug, PartialEq)]
pub struct Split {
    pub train: Vec<Event>,
    pub test: Vec<Event>,
}

/// Splits `events` by `strategy`.
///
/// Errors: `EmptyData` when `events` is empty or when nothing qualifies for the test side
/// (or, for a time cut, nothing falls before the cut); `InvalidParameter` when
/// `test_fraction` is not in (0, 1) or `min_user_items < 2`.
///
/// For `TimeCut`, train is exactly the events before the cut. A pair that has events on both
/// sides of the cut is a re-interaction, not a new item to predict: its events from the cut
/// on are dropped, as are test events of users or items absent from train.
pub fn split(events: &[Event], strategy: &SplitStrategy) -> Result<Split, EvalError> {
    strategy.check()?;
    if events.is_empty() {
        return Err(EvalError::EmptyData("no events to split".into()));
    }
    let result = match strategy {
        SplitStrategy::RandomHoldout {
            test_fraction,
            min_user_items,
            seed,
        } => {
            let held = random_holdout(events, *test_fraction, *min_user_items, *seed);
            partition_by_pairs(events, &held)
        }
        SplitStrategy::LeaveLastOut { min_user_items } => {
            let held = leave_last_out(events, *min_user_items);
            partition_by_pairs(events, &held)
        }
        SplitStrategy::TimeCut { cut } => time_cut(events, *cut)?,
    };
    if result.test.is_empty() {
        return Err(EvalError::EmptyData(format!(
            "{} left no events for the test side",
            strategy.describe()
        )));
    }
    Ok(result)
}

/// Distinct items per user, both in ascending order (deterministic whatever the input order).
fn items_by_user(events: &[Event]) -> BTreeMap<u32, BTreeSet<u32>> {
    let mut by_user: BTreeMap<u32, BTreeSet<u32>> = BTreeMap::new();
    for e in events {
        by_user.entry(e.user).or_default().insert(e.item);
    }
    by_user
}

fn random_holdout(
    events: &[Event],
    test_fraction: f64,
    min_user_items: usize,
    seed: u64,
) -> HashSet<(u32, u32)> {
    let mut held = HashSet::new();
    for (user, items) in items_by_user(events) {
        let n = items.len();
        if n < min_user_items {
            continue;
        }
        let count = ((n as f64 * test_fraction).round() as usize).clamp(1, n - 1);
        let mut items: Vec<u32> = items.into_iter().collect();
        SplitMix64::stream(seed, u64::from(user)).shuffle(&mut items);
        held.extend(items[..count].iter().map(|&item| (user, item)));
    }
    held
}

fn leave_last_out(events: &[Event], min_user_items: usize) -> HashSet<(u32, u32)> {
    let mut latest: HashMap<u32, (i64, u32)> = HashMap::new();
    for e in events {
        let candidate = (e.timestamp, e.item);
        latest
            .entry(e.user)
            .and_modify(|best| *best = (*best).max(candidate))
            .or_insert(candidate);
    }
    items_by_user(events)
        .into_iter()
        .filter(|(_, items)| items.len() >= min_user_items)
        .filter_map(|(user, _)| latest.get(&user).map(|&(_, item)| (user, item)))
        .collect()
}

fn partition_by_pairs(events: &[Event], held: &HashSet<(u32, u32)>) -> Split {
    let (test, train) = events
        .iter()
        .partition(|e| held.contains(&(e.user, e.item)));
    Split { train, test }
}

fn time_cut(events: &[Event], cut: i64) -> Result<Split, EvalError> {
    let train: Vec<Event> = events
        .iter()
        .filter(|e| e.timestamp < cut)
        .copied()
        .collect();
    if train.is_empty() {
        return Err(EvalError::EmptyData(format!(
            "no events before the time cut {cut}"
        )));
    }
    let users: HashSet<u32> = train.iter().map(|e| e.user).collect();
    let items: HashSet<u32> = train.iter().map(|e| e.item).collect();
    let pairs: HashSet<(u32, u32)> = train.iter().map(|e| (e.user, e.item)).collect();
    let test = events
        .iter()
        .filter(|e| {
            e.timestamp >= cut
                && users.contains(&e.user)
                && items.contains(&e.item)
                && !pairs.contains(&(e.user, e.item))
        })
        .copied()
        .collect();
    Ok(Split { train, test })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is the failure report in a test
mod tests {
    use super::*;

    fn ev(user: u32, item: u32, timestamp: i64) -> Event {
        Event {
            user,
            item,
            weight: 1.0,
            timestamp,
        }
    }

    /// User u has `n_items(u)` distinct items, each seen twice (two events per pair).
    fn dataset() -> Vec<Event> {
        let mut events = Vec::new();
        let sizes = [(1u32, 10u32), (2, 5), (3, 4), (4, 7), (5, 1)];
        for &(user, n) in &sizes {
            for item in 0..n {
                let t = i64::from(user * 100 + item);
                events.push(ev(user, item * 3 + user, t));
                events.push(ev(user, item * 3 + user, t + 1000));
            }
        }
        events
    }

    fn sorted(mut v: Vec<Event>) -> Vec<(u32, u32, i64)> {
        let mut out: Vec<_> = v.drain(..).map(|e| (e.user, e.item, e.timestamp)).collect();
        out.sort_unstable();
        out
    }

    fn pairs(events: &[Event]) -> BTreeSet<(u32, u32)> {
        events.iter().map(|e| (e.user, e.item)).collect()
    }

    fn assert_pair_integrity(s: &Split) {
        let train = pairs(&s.train);
        let test = pairs(&s.test);
        assert!(train.is_disjoint(&test), "a pair is on both sides");
    }

    #[test]
    fn random_holdout_counts_and_min_items() {
        let events = dataset();
        let s = split(&events, &SplitStrategy::default_protocol()).unwrap();
        assert_eq!(s.train.len() + s.test.len(), events.len());
        assert_pair_integrity(&s);
        let test_items = |u: u32| pairs(&s.test).iter().filter(|p| p.0 == u).count();
        // round(10 * 0.2) = 2; round(5 * 0.2) = 1; round(7 * 0.2) = round(1.4) = 1.
        assert_eq!(test_items(1), 2);
        assert_eq!(test_items(2), 1);
        assert_eq!(test_items(4), 1);
        // Users 3 (4 items) and 5 (1 item) are below min_user_items = 5: wholly in train.
        assert_eq!(test_items(3), 0);
        assert_eq!(test_items(5), 0);
        assert_eq!(s.train.iter().filter(|e| e.user == 3).count(), 8);
        // Both events of every held-out pair are in test.
        assert_eq!(s.test.len(), 2 * (2 + 1 + 1));
    }

    #[test]
    fn random_holdout_clamps_to_one_and_n_minus_one() {
        let events: Vec<Event> = (0..3).map(|i| ev(1, i, 0)).collect();
        // round(3 * 0.01) = 0 -> at least 1.
        let low = SplitStrategy::RandomHoldout {
            test_fraction: 0.01,
            min_user_items: 2,
            seed: 1,
        };
        assert_eq!(split(&events, &low).unwrap().test.len(), 1);
        // round(3 * 0.99) = 3 -> at most n - 1 = 2.
        let high = SplitStrategy::RandomHoldout {
            test_fraction: 0.99,
            min_user_items: 2,
            seed: 1,
        };
        let s = split(&events, &high).unwrap();
        assert_eq!((s.train.len(), s.test.len()), (1, 2));
    }

    #[test]
    fn random_holdout_is_deterministic_and_order_independent() {
        let events = dataset();
        let strategy = SplitStrategy::default_protocol();
        let a = split(&events, &strategy).unwrap();
        let b = split(&events, &strategy).unwrap();
        assert_eq!(a, b);

        let mut shuffled = events.clone();
        SplitMix64::new(99).shuffle(&mut shuffled);
        let c = split(&shuffled, &strategy).unwrap();
        assert_eq!(sorted(a.test.clone()), sorted(c.test));
        assert_eq!(sorted(a.train.clone()), sorted(c.train));

        // Dropping another user does not change user 1's draw (per-user streams).
        let without_4: Vec<Event> = events.iter().copied().filter(|e| e.user != 4).collect();
        let d = split(&without_4, &strategy).unwrap();
        let user1 = |s: &Split| -> Vec<_> {
            sorted(s.test.iter().copied().filter(|e| e.user == 1).collect())
        };
        assert_eq!(user1(&a), user1(&d));

        // Different seeds eventually give a different split.
        let differs = (0..20).any(|seed| {
            let other = SplitStrategy::RandomHoldout {
                test_fraction: 0.2,
                min_user_items: 5,
                seed,
            };
            sorted(split(&events, &other).unwrap().test) != sorted(a.test.clone())
        });
        assert!(differs);
    }

    #[test]
    fn random_holdout_output_keeps_input_order() {
        let events = dataset();
        let s = split(&events, &SplitStrategy::default_protocol()).unwrap();
        let position = |e: &Event| events.iter().position(|x| x == e).unwrap();
        assert!(s
            .train
            .windows(2)
            .all(|w| position(&w[0]) < position(&w[1])));
        assert!(s.test.windows(2).all(|w| position(&w[0]) < position(&w[1])));
    }

    #[test]
    fn leave_last_out_holds_the_latest_item() {
        let events = vec![
            ev(1, 10, 5),
            ev(1, 11, 9),
            ev(1, 12, 7),
            ev(1, 10, 8), // a repeat of item 10, earlier than item 11's event
            ev(2, 20, 1),
            ev(2, 21, 3),
            ev(2, 22, 3), // tie at t=3: larger item id (22) wins
            ev(3, 30, 1),
            ev(3, 31, 2), // only 2 items: below min 3, stays in train
        ];
        let s = split(&events, &SplitStrategy::LeaveLastOut { min_user_items: 3 }).unwrap();
        assert_pair_integrity(&s);
        assert_eq!(pairs(&s.test), BTreeSet::from([(1, 11), (2, 22)]));
        assert_eq!(s.train.len(), 7);
    }

    #[test]
    fn leave_last_out_moves_every_event_of_the_pair() {
        // Item 2 is the latest, and also appears earlier: both events go to test.
        let events = vec![ev(1, 2, 1), ev(1, 1, 2), ev(1, 2, 3)];
        let s = split(&events, &SplitStrategy::LeaveLastOut { min_user_items: 2 }).unwrap();
        assert_eq!(sorted(s.test), vec![(1, 2, 1), (1, 2, 3)]);
        assert_eq!(sorted(s.train), vec![(1, 1, 2)]);
    }

    #[test]
    fn time_cut_drops_cold_users_items_and_repeats() {
        let events = vec![
            ev(1, 10, 1),
            ev(2, 11, 2),
            ev(1, 11, 10), // test: user 1 and item 11 are known
            ev(3, 10, 11), // dropped: user 3 is new
            ev(2, 12, 12), // dropped: item 12 is new
            ev(2, 11, 13), // dropped: (2, 11) already in train, a repeat
            ev(2, 10, 10), // test: exactly at the cut
        ];
        let s = split(&events, &SplitStrategy::TimeCut { cut: 10 }).unwrap();
        assert_eq!(sorted(s.train), vec![(1, 10, 1), (2, 11, 2)]);
        assert_eq!(sorted(s.test), vec![(1, 11, 10), (2, 10, 10)]);
    }

    #[test]
    fn empty_input_and_empty_sides_are_errors() {
        let strategies = [
            SplitStrategy::default_protocol(),
            SplitStrategy::LeaveLastOut { min_user_items: 2 },
            SplitStrategy::TimeCut { cut: 0 },
        ];
        for s in &strategies {
            assert!(matches!(split(&[], s), Err(EvalError::EmptyData(_))));
        }
        // Nothing before the cut.
        let events = vec![ev(1, 1, 5), ev(1, 2, 6)];
        assert!(matches!(
            split(&events, &SplitStrategy::TimeCut { cut: 5 }),
            Err(EvalError::EmptyData(_))
        ));
        // Every user below the minimum: nothing to hold out.
        assert!(matches!(
            split(&events, &SplitStrategy::default_protocol()),
            Err(EvalError::EmptyData(_))
        ));
    }

    #[test]
    fn invalid_parameters_are_rejected() {
        let events = dataset();
        let seeded = |seed| SplitStrategy::RandomHoldout {
            test_fraction: 0.2,
            min_user_items: 2,
            seed,
        };
        assert!(seeded(i64::MAX as u64).check().is_ok());
        // JSON numbers parse to the nearest double: just below 1 stays below 1.
        let near_one: SplitStrategy = serde_json::from_str(
            r#"{"kind": "random_holdout", "test_fraction": 0.9999999999999999, "min_user_items": 2, "seed": 0}"#,
        )
        .expect("a split");
        assert!(near_one.check().is_ok(), "{near_one:?}");
        assert!(matches!(
            seeded(1 << 63).check(),
            Err(EvalError::InvalidParameter { name: "seed", .. })
        ));
        for fraction in [0.0, 1.0, -0.1, 1.5, f64::NAN, f64::INFINITY] {
            let s = SplitStrategy::RandomHoldout {
                test_fraction: fraction,
                min_user_items: 5,
                seed: 1,
            };
            let err = split(&events, &s).unwrap_err();
            assert!(
                matches!(
                    err,
                    EvalError::InvalidParameter {
                        name: "test_fraction",
                        ..
                    }
                ),
                "{fraction}: {err}"
            );
        }
        for s in [
            SplitStrategy::LeaveLastOut { min_user_items: 1 },
            SplitStrategy::RandomHoldout {
                test_fraction: 0.2,
                min_user_items: 0,
                seed: 1,
            },
        ] {
            let err = split(&events, &s).unwrap_err();
            assert!(matches!(
                err,
                EvalError::InvalidParameter {
                    name: "min_user_items",
                    ..
                }
            ));
            assert!(err
                .to_string()
                .starts_with("invalid parameter \"min_user_items\""));
        }
        // Parameters are checked before the data.
        let bad = SplitStrategy::LeaveLastOut { min_user_items: 0 };
        assert!(matches!(
            split(&[], &bad),
            Err(EvalError::InvalidParameter { .. })
        ));
    }

    #[test]
    fn strategy_serde_and_describe() {
        let json = serde_json::to_value(SplitStrategy::default_protocol()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"kind": "random_holdout", "test_fraction": 0.2, "min_user_items": 5, "seed": 42})
        );
        let back: SplitStrategy =
            serde_json::from_str(r#"{"kind":"leave_last_out","min_user_items":3}"#).unwrap();
        assert_eq!(back, SplitStrategy::LeaveLastOut { min_user_items: 3 });
        let cut: SplitStrategy = serde_json::from_str(r#"{"kind":"time_cut","cut":-7}"#).unwrap();
        assert_eq!(cut.describe(), "time cut (test from timestamp -7)");
        assert_eq!(
            SplitStrategy::default().describe(),
            "random holdout (test_fraction=0.2, min_user_items=5, seed=42)"
        );
        assert_eq!(back.describe(), "leave last out (min_user_items=3)");
    }
}
