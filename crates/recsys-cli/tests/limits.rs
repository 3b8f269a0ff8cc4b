// SPDX-License-Identifier: Apache-2.0
//! `--max-memory-mb`: a training whose estimate exceeds it is refused before it allocates, in
//! every command that trains, with exit code 2 and the flag named.

use std::path::PathBuf;
use std::process::Command;

fn demo_data() -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/data/interactions.tsv")
        .display()
        .to_string()
}

fn recsys(args: &[&str]) -> (i32, String) {
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

#[test]
fn trainings_over_the_limit_are_refused_in_every_command() {
    let data = demo_data();
    let dir = std::env::temp_dir().join(format!("recsys-limits-{}", std::process::id()));
    let out = dir.display().to_string();
    for args in [
        vec!["train", "-i", &data, "-a", "ease", "-o", &out],
        vec!["eval", "-i", &data, "-a", "ease"],
        vec!["tune", "-i", &data, "-a", "ease", "-g", "lambda=10,100"],
    ] {
        let mut limited = vec!["--max-memory-mb", "1"];
        limited.extend(&args);
        let (code, stderr) = recsys(&limited);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(
            stderr.contains("more than the limit of 1 MiB (--max-memory-mb)"),
            "{args:?}: {stderr}"
        );
        assert!(!dir.exists(), "{args:?} wrote a model");
    }
    // The default (4096 MiB) lets the demo data train.
    let (code, stderr) = recsys(&["train", "-i", &data, "-a", "ease", "-o", &out]);
    assert_eq!(code, 0, "{stderr}");
    std::fs::remove_dir_all(&dir).expect("clean up");
    let (code, stderr) = recsys(&["--max-memory-mb", "0", "algorithms"]);
    assert_eq!(code, 2, "{stderr}");
}
