// SPDX-License-Identifier: Apache-2.0
//! What the CLI's integration tests share: the bundled demo data and a way to run `recsys`.

use std::path::PathBuf;
use std::process::{Command, Output};

/// examples/data/interactions.tsv.
pub fn demo_data() -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/data/interactions.tsv")
        .display()
        .to_string()
}

/// Runs `recsys -q ARGS`.
pub fn recsys(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_recsys"))
        .arg("-q")
        .args(args)
        .output()
        .expect("run recsys")
}

/// Runs `recsys -q ARGS`; its exit code and standard error.
#[allow(dead_code)] // not every test file asks for the code alone
pub fn exit_code(args: &[&str]) -> (i32, String) {
    let out = recsys(args);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
