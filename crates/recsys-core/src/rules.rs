// SPDX-License-Identifier: BUSL-1.1
//! Input rules every surface applies, defined once: SQL (the extension, and the check
//! constraint on `recsys.models.name`), REST (the sidecar and its OpenAPI contract, whose
//! tests hold the copies there equal to these) and the CLI. Ids are checked by
//! [`crate::data::validate_id`], splits by `recsys_eval::SplitStrategy::check`.

use crate::error::{CoreError, Result};

/// Model names: 1-64 characters of letters, digits, '_', '.' and '-', starting with a letter
/// or digit, as a POSIX/ECMA regular expression (the same text works in both).
pub const MODEL_NAME_PATTERN: &str = "^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$";
/// [`MODEL_NAME_PATTERN`] in words, for messages and hints.
pub const MODEL_NAME_RULE: &str = "model names are 1-64 characters of letters, digits, '_', '.' and '-', starting with a letter or digit";

/// The longest list `recommend` and `similar` return in SQL and the CLI.
pub const MAX_K: usize = 10_000;
/// The longest list over REST, lower than [`MAX_K`] so that one response stays around 100 kB.
pub const MAX_K_REST: usize = 1_000;
const _: () = assert!(MAX_K_REST <= MAX_K);

/// Refuses a name [`MODEL_NAME_PATTERN`] does not match, with the rule in the message.
pub fn check_model_name(name: &str) -> Result<()> {
    let b = name.as_bytes();
    let ok = (1..=64).contains(&b.len())
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(CoreError::param(
            "model",
            format!(
                "\"{}\" is invalid: {MODEL_NAME_RULE}",
                name.escape_default()
            ),
        ))
    }
}

/// Refuses a list length outside 1..=[`MAX_K`].
pub fn check_k(k: usize) -> Result<()> {
    if k == 0 || k > MAX_K {
        return Err(CoreError::param(
            "k",
            format!("must be between 1 and {MAX_K}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_names() {
        for good in ["m", "als-64.v2", "A_1", &"m".repeat(64)] {
            assert!(check_model_name(good).is_ok(), "{good}");
        }
        for bad in ["", "-x", ".x", "a b", "a/b", "é", &"m".repeat(65), "a\0"] {
            let e = check_model_name(bad).expect_err(bad);
            assert!(
                matches!(e, CoreError::InvalidParameter { .. }),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn list_lengths() {
        assert!(check_k(1).is_ok() && check_k(MAX_K).is_ok());
        assert!(check_k(0).is_err() && check_k(MAX_K + 1).is_err());
    }
}
