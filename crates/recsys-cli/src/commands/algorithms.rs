// SPDX-License-Identifier: Apache-2.0
//! `recsys algorithms`: the built-in algorithms and their default parameters.

use recsys_core::Registry;
use serde_json::Value;

use crate::error::CliError;

pub fn run() -> Result<(), CliError> {
    for a in Registry::builtin().iter() {
        let defaults = a.check(&Value::Null)?.to_json();
        println!(
            "{:<12} {}\n{:<12} defaults: {defaults}",
            a.name(),
            a.summary(),
            ""
        );
    }
    Ok(())
}
