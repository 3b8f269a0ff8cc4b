// SPDX-License-Identifier: BUSL-1.1
//! The SQL surface, one file per group of functions. Each function validates its arguments,
//! resolves the tenant, loads through `spi`, calls the core and returns.

pub mod admin;
pub mod eval;
pub mod recommend;
pub mod train;

use crate::error::{SqlError, SqlResult};

/// Model names by the core's rule, which the `recsys.models.name` check constraint repeats.
pub fn model_name(name: Option<&str>) -> SqlResult<&str> {
    let name = name.ok_or_else(|| SqlError::null("model"))?;
    recsys_core::rules::check_model_name(name).map_err(|_| {
        SqlError::invalid(format!("invalid model name \"{}\"", name.escape_default()))
            .hint(recsys_core::rules::MODEL_NAME_RULE)
    })?;
    Ok(name)
}

/// An optional model name: NULL means "the tenant's latest model".
pub fn optional_model_name(name: Option<&str>) -> SqlResult<Option<&str>> {
    name.map(|n| model_name(Some(n))).transpose()
}

pub fn k(k: Option<i32>) -> SqlResult<usize> {
    let k = k.ok_or_else(|| SqlError::null("k"))?;
    let max = recsys_core::rules::MAX_K;
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
