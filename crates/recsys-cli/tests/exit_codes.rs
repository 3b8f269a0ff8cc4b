// SPDX-License-Identifier: Apache-2.0
//! Every exit code docs/reference/cli.md promises, one command per case: 0 for success and
//! help, 2 for what the user can fix, 1 for a refused model directory or a failed write.

use std::path::PathBuf;
use std::process::Command;

fn demo_data() -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/data/interactions.tsv")
        .display()
        .to_string()
}

fn exit_code(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_recsys"))
        .arg("-q")
        .args(args)
        .output()
        .expect("run recsys");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("recsys-exit-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn write(dir: &std::path::Path, name: &str, text: &str) -> String {
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
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("unknown option", vec!["train", "--no-such-flag"]),
        ("missing required option", vec!["train", "-a", "als"]),
        (
            "value of the wrong type",
            vec!["recommend", "-m", "x", "-i", &data, "-k", "many"],
        ),
        (
            "input file missing",
            vec!["train", "-i", "/nonexistent/x.tsv", "-o", &model],
        ),
        ("bad line", vec!["train", "-i", &bad_line, "-o", &model]),
        (
            "params not JSON",
            vec!["train", "-i", &data, "-p", "{", "-o", &model],
        ),
        (
            "params not an object",
            vec!["train", "-i", &data, "-p", "[1]", "-o", &model],
        ),
        (
            "unknown parameter",
            vec!["train", "-i", &data, "-p", r#"{"factor": 8}"#, "-o", &model],
        ),
        (
            "out of range",
            vec![
                "train",
                "-i",
                &data,
                "-p",
                r#"{"factors": 0}"#,
                "-o",
                &model,
            ],
        ),
        (
            "unknown algorithm",
            vec!["train", "-i", &data, "-a", "svd", "-o", &model],
        ),
        (
            "k out of range",
            vec!["eval", "-i", &data, "-a", "popularity", "-k", "0"],
        ),
        (
            "split option in eval",
            vec![
                "eval",
                "-i",
                &data,
                "-a",
                "popularity",
                "--test-fraction",
                "2",
            ],
        ),
        (
            "split option in split",
            vec![
                "split",
                "-i",
                &data,
                "--test-fraction",
                "2",
                "--train-out",
                &train_out,
                "--test-out",
                &test_out,
            ],
        ),
        (
            "time split without cut",
            vec![
                "split",
                "-i",
                &data,
                "--split",
                "time",
                "--train-out",
                &train_out,
                "--test-out",
                &test_out,
            ],
        ),
        (
            "nothing to hold out",
            vec![
                "eval",
                "-i",
                &data,
                "-a",
                "popularity",
                "--min-user-items",
                "100000",
            ],
        ),
        ("no interactions", vec!["train", "-i", &empty, "-o", &model]),
        (
            "score: recommendations missing",
            vec![
                "score",
                "--train",
                &data,
                "--test",
                &data,
                "--recommendations",
                "/nonexistent/recs.tsv",
            ],
        ),
        (
            "score: a line without a rank",
            vec![
                "score",
                "--train",
                &data,
                "--test",
                &data,
                "--recommendations",
                &no_rank,
            ],
        ),
        (
            "too large",
            vec![
                "train",
                "-i",
                &huge,
                "-a",
                "ease",
                "-p",
                r#"{"max_memory_mb": 1}"#,
                "-o",
                &model,
            ],
        ),
    ];
    for (what, args) in cases {
        let (code, stderr) = exit_code(&args);
        assert_eq!(code, 2, "{what}: {stderr}");
        assert!(!stderr.is_empty(), "{what}: says nothing");
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
