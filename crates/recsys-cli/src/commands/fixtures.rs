// SPDX-License-Identifier: Apache-2.0
//! Hand-made data and scratch folders for the commands' tests.

use std::path::{Path, PathBuf};

use super::InputArgs;
use crate::progress::Bars;

/// Eleven interactions of four users: popularity a 4, b 3, c 2, d 1, e 1; each user's latest
/// item is u1 c, u2 b, u3 d, u4 e.
pub const DATA: &str = "user\titem\tweight\ttimestamp
u1\ta\t1\t1
u1\tb\t1\t2
u1\tc\t1\t3
u2\ta\t1\t1
u2\tb\t1\t2
u3\ta\t1\t1
u3\tb\t1\t2
u3\tc\t1\t3
u3\td\t1\t4
u4\ta\t1\t1
u4\te\t1\t4
";

/// An empty folder of its own for one test.
pub fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("recsys-cli-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch folder");
    dir
}

pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write a fixture");
    path
}

pub fn input(path: &Path) -> InputArgs {
    InputArgs {
        input: path.to_path_buf(),
        weight_column: None,
    }
}

pub fn quiet() -> Bars {
    Bars::new(true)
}

/// The data rows of a TSV file written by a command, split into fields.
pub fn rows(path: &Path) -> Vec<Vec<String>> {
    std::fs::read_to_string(path)
        .expect("the command wrote the file")
        .lines()
        .skip(1)
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}
