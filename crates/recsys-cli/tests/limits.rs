// SPDX-License-Identifier: Apache-2.0
//! `--max-memory-mb`: a training whose estimate exceeds it is refused before it allocates, in
//! every command that trains, with exit code 2 and the flag named.

mod common;

use common::{demo_data, exit_code};

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
        let (code, stderr) = exit_code(&limited);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(
            stderr.contains("more than the limit of 1 MiB (--max-memory-mb)"),
            "{args:?}: {stderr}"
        );
        assert!(!dir.exists(), "{args:?} wrote a model");
    }
    // The default (4096 MiB) lets the demo data train.
    let (code, stderr) = exit_code(&["train", "-i", &data, "-a", "ease", "-o", &out]);
    assert_eq!(code, 0, "{stderr}");
    std::fs::remove_dir_all(&dir).expect("clean up");
    let (code, stderr) = exit_code(&["--max-memory-mb", "0", "algorithms"]);
    assert_eq!(code, 2, "{stderr}");
}
