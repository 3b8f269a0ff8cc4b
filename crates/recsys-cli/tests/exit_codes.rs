// SPDX-License-Identifier: Apache-2.0
//! Every exit code docs/reference/cli.md promises, one command per case: 0 for success and
//! help, 2 for what the user can fix, 1 for a refused model directory or a failed write.

mod common;

use std::path::{Path, PathBuf};

use common::{demo_data, exit_code};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("recsys-exit-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write input");
    path.display().to_string()
}

#[test]
fn success_and_help_exit_0() {
    for args in [
        &["--help"][..],
        &["--version"],
        &["algorithms"],
        &["train", "--help"],
    ] {
        let (code, stderr) = exit_code(args);
        assert_eq!(code, 0, "{args:?}: {stderr}");
    }
}

#[test]
fn what_the_user_can_fix_exits_2() {
    let data = demo_data();
    let dir = scratch("2");
    let model = dir.join("m").display().to_string();
    let split_out = |side: &str| dir.join(side).display().to_string();
    let (train_out, test_out) = (split_out("train.tsv"), split_out("test.tsv"));
    let bad_line = write(
        &dir,
        "bad.tsv",
        "user\titem\tweight\nu1\ti1\tnot-a-number\n",
    );
    let empty = write(&dir, "empty.tsv", "user\titem\n");
    let no_rank = write(&dir, "recs.tsv", "user\titem\trank\nu1\ti1\n");
    let huge = write(&dir, "wide.tsv", &{
        let mut s = String::from("user\titem\n");
        for i in 0..60_000 {
            s.push_str(&format!("u{}\ti{i}\n", i % 7));
        }
        s
    });
    let recs = |file| {
        vec![
            "score",
            "--train",
            &data,
            "--test",
            &data,
            "--recommendations",
            file,
        ]
    };
    let split = |option, value| {
        let outs = ["--train-out", &train_out, "--test-out", &test_out];
        [vec!["split", "-i", &data, option, value], outs.to_vec()].concat()
    };
    // What went wrong, the command, and a fragment of the one line it must print.
    #[rustfmt::skip]
    let cases: Vec<(&str, Vec<&str>, &str)> = vec![
        ("unknown option", vec!["train", "--no-such-flag"], "unexpected argument"),
        ("missing required option", vec!["train", "-a", "als"], "--input"),
        ("value of the wrong type", vec!["recommend", "-m", "x", "-i", &data, "-k", "many"], "invalid value 'many'"),
        ("input file missing", vec!["train", "-i", "/nonexistent/x.tsv", "-o", &model], "cannot open"),
        ("bad line", vec!["train", "-i", &bad_line, "-o", &model], "bad.tsv:2: weight"),
        ("params not JSON", vec!["train", "-i", &data, "-p", "{", "-o", &model], "not valid JSON"),
        ("params not an object", vec!["train", "-i", &data, "-p", "[1]", "-o", &model], "must be a JSON object"),
        ("unknown parameter", vec!["train", "-i", &data, "-p", r#"{"factor": 8}"#, "-o", &model], "unknown field `factor`"),
        ("out of range", vec!["train", "-i", &data, "-p", r#"{"factors": 0}"#, "-o", &model], "\"factors\": must be between"),
        ("unknown algorithm", vec!["train", "-i", &data, "-a", "svd", "-o", &model], "unknown algorithm \"svd\""),
        ("k out of range", vec!["eval", "-i", &data, "-a", "popularity", "-k", "0"], "\"k\": must be between"),
        ("split option in eval", vec!["eval", "-i", &data, "-a", "popularity", "--test-fraction", "2"], "\"test_fraction\""),
        ("split option in split", split("--test-fraction", "2"), "\"test_fraction\""),
        ("time split without cut", split("--split", "time"), "needs --cut"),
        ("nothing to hold out", vec!["eval", "-i", &data, "-a", "popularity", "--min-user-items", "100000"], "left no events"),
        ("no interactions", vec!["train", "-i", &empty, "-o", &model], "no interactions"),
        ("score: recommendations missing", recs("/nonexistent/recs.tsv"), "cannot read /nonexistent/recs.tsv"),
        ("score: a line without a rank", recs(&no_rank), "expected user, item, rank"),
        ("too large", vec!["train", "-i", &huge, "-a", "ease", "-o", &model], "too large: training ease"),
    ];
    for (what, args, message) in cases {
        let (code, stderr) = exit_code(&args);
        assert_eq!(code, 2, "{what}: {stderr}");
        assert!(stderr.contains(message), "{what}: {stderr}");
    }
    assert!(!dir.join("m").exists(), "a refused training wrote a model");
    std::fs::remove_dir_all(&dir).expect("clean up");
}

#[test]
fn refused_models_and_failed_writes_exit_1() {
    let data = demo_data();
    let dir = scratch("1");
    let model = dir.join("m");
    let model_arg = model.display().to_string();
    let (code, stderr) = exit_code(&["train", "-i", &data, "-a", "popularity", "-o", &model_arg]);
    assert_eq!(code, 0, "{stderr}");

    let (code, stderr) = exit_code(&["recommend", "-m", "/nonexistent/model", "-i", &data]);
    assert_eq!(code, 1, "missing model: {stderr}");

    let blob = std::fs::read_dir(model.join("blobs"))
        .expect("blobs")
        .next()
        .expect("a blob")
        .expect("entry")
        .path();
    let mut bytes = std::fs::read(&blob).expect("blob");
    let last = bytes.len() - 1;
    bytes[last] ^= 0xFF;
    std::fs::write(&blob, bytes).expect("corrupt the blob");
    let (code, stderr) = exit_code(&["recommend", "-m", &model_arg, "-i", &data]);
    assert_eq!(code, 1, "corrupt model: {stderr}");

    let manifest = model.join("manifest.json");
    let text = std::fs::read_to_string(&manifest).expect("manifest");
    let newer = text.replacen("\"format_version\": 1", "\"format_version\": 99", 1);
    assert_ne!(text, newer, "the manifest names its format version");
    std::fs::write(&manifest, newer).expect("edit the manifest");
    let (code, stderr) = exit_code(&["recommend", "-m", &model_arg, "-i", &data]);
    assert_eq!(code, 1, "newer format: {stderr}");

    let (code, stderr) = exit_code(&[
        "generate",
        "--users",
        "10",
        "--items",
        "5",
        "--interactions",
        "20",
        "-o",
        "/dev/full",
    ]);
    assert_eq!(code, 1, "a write that fails: {stderr}");

    let unwritable = "/nonexistent/dir/recs.tsv";
    let (code, stderr) = exit_code(&[
        "split",
        "-i",
        &data,
        "--train-out",
        unwritable,
        "--test-out",
        unwritable,
    ]);
    assert_eq!(code, 1, "output cannot be created: {stderr}");
    std::fs::remove_dir_all(&dir).expect("clean up");
}
