// SPDX-License-Identifier: BUSL-1.1
//! Model versions written by an earlier release load and score as they did; artifacts of a
//! format or algorithm version this build does not know are refused as incompatible. The
//! fixtures are `recsys.model_versions.artifact` values written by extension 0.1.0 (commit
//! 4dc9081) on a six-user data set: user u<n> has items i((3n + j*j) mod 7) with weight
//! 1 + (n + j) mod 3, for j = 1, 2, 3.

use std::path::PathBuf;

use recsys_core::artifact::Artifact;
use recsys_core::{CoreError, Registry, TrainedModel, UserQuery};

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn history(user: u64) -> Vec<(String, f32)> {
    (1..=3u64)
        .map(|j| {
            (
                format!("i{}", (3 * user + j * j) % 7),
                (1 + (user + j) % 3) as f32,
            )
        })
        .collect()
}

/// The top 3 for `user` without the items they have, as `recsys.recommend` lists them.
fn top3(model: &TrainedModel, user: u64) -> String {
    let seen = history(user);
    let history: Vec<(u32, f32)> = seen
        .iter()
        .filter_map(|(item, w)| model.items.get(item).map(|i| (i, *w)))
        .collect();
    let exclude: Vec<u32> = history.iter().map(|&(i, _)| i).collect();
    let query = UserQuery {
        user: model.users.get(&format!("u{user}")),
        history,
    };
    let recs = model.recommend(&query, 3, &exclude).expect("recommend");
    recs.items
        .iter()
        .map(|&(i, score)| format!("{}:{score}", model.items.id(i)))
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn versions_written_by_0_1_0_score_as_they_did() {
    let registry = Registry::builtin();
    // What 0.1.0's recsys.recommend answered for these versions, to the last bit.
    for (name, user, expected) in [
        (
            "knn-0.1.0.artifact",
            1,
            "i6:0.66858125 i3:0.49417582 i1:0.4858902",
        ),
        (
            "mf-0.1.0.artifact",
            2,
            "i5:0.88244796 i6:0.3395974 i2:0.3383953",
        ),
    ] {
        let model = TrainedModel::from_bytes(&registry, &fixture(name)).expect(name);
        assert_eq!(top3(&model, user), expected, "{name}");
    }
}

#[test]
fn newer_formats_and_algorithm_versions_are_refused_as_incompatible() {
    let registry = Registry::builtin();
    let bytes = fixture("knn-0.1.0.artifact");
    let reencode = |change: &dyn Fn(&mut Artifact)| {
        let mut artifact = Artifact::from_bytes(&bytes).expect("artifact");
        change(&mut artifact);
        let blobs: Vec<_> = artifact.blobs.values().cloned().collect();
        Artifact::to_bytes(artifact.manifest, &blobs).expect("encode")
    };
    for (what, changed) in [
        (
            "format version",
            reencode(&|a| a.manifest.format_version += 1),
        ),
        (
            "algorithm version",
            reencode(&|a| a.manifest.algorithm_version += 1),
        ),
        (
            "algorithm",
            reencode(&|a| a.manifest.algorithm = "sansa".into()),
        ),
    ] {
        let err = TrainedModel::from_bytes(&registry, &changed)
            .err()
            .expect(what);
        assert!(matches!(err, CoreError::Incompatible(_)), "{what}: {err}");
        assert!(
            err.to_string().starts_with("incompatible model artifact: "),
            "{err}"
        );
    }
    // A damaged one is corrupt, not incompatible.
    let mut damaged = bytes.clone();
    let last = damaged.len() - 1;
    damaged[last] ^= 0xff;
    let err = TrainedModel::from_bytes(&registry, &damaged)
        .err()
        .expect("damaged");
    assert!(matches!(err, CoreError::Artifact(_)), "{err}");
}
