// SPDX-License-Identifier: BUSL-1.1
//! The SQL surface, one file per group of functions. Each function validates its arguments,
//! resolves the tenant, loads through `spi`, calls the core and returns.

pub mod admin;
pub mod eval;
pub mod recommend;
pub mod train;

use crate::error::{SqlError, SqlResult};

/// Model names as the `recsys.models.name` check constraint allows them.
pub fn model_name(name: Option<&str>) -> SqlResult<&str> {
    let name = name.ok_or_else(|| SqlError::null("model"))?;
    let ok = (1..=64).contains(&name.len())
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(name)
    } else {
        Err(SqlError::invalid(format!("invalid model name \"{}\"", name.escape_default()))
            .hint("model names are 1-64 characters of letters, digits, '_', '.' and '-', starting with a letter or digit"))
    }
}

/// An optional model name: NULL means "the tenant's latest model".
pub fn optional_model_name(name: Option<&str>) -> SqlResult<Option<&str>> {
    name.map(|n| model_name(Some(n))).transpose()
}

pub fn k(k: Option<i32>) -> SqlResult<usize> {
    let k = k.ok_or_else(|| SqlError::null("k"))?;
    let max = recsys_core::trained::MAX_K;
    if k < 1 || k as usize > max {
        return Err(SqlError::invalid(format!(
            "k must be between 1 and {max}, not {k}"
        )));
    }
    Ok(k as usize)
}

pub fn external_id<'a>(name: &str, value: Option<&'a str>) -> SqlResult<&'a str> {
    let value = value.ok_or_else(|| SqlError::null(name))?;
    recsys_core::data::validate_id(value).map_err(|e| SqlError::invalid(format!("{name}: {e}")))?;
    Ok(value)
}
