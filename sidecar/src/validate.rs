// SPDX-License-Identifier: BUSL-1.1
//! Checks of request values, made before they reach the database so that a bad value gets a
//! message naming the field rather than a constraint violation.

use crate::error::{ApiError, ApiResult};

pub const MAX_ID_BYTES: usize = 512;
pub const MAX_K: u32 = 1000;
pub const MAX_BATCH: usize = 10_000;

/// User, item and event ids: 1-512 bytes, no NUL (PostgreSQL text cannot hold one).
pub fn id(field: &str, value: &str) -> ApiResult<()> {
    if value.is_empty() || value.len() > MAX_ID_BYTES || value.contains('\0') {
        return Err(ApiError::invalid(format!(
            "{field} must be 1 to {MAX_ID_BYTES} bytes without NUL characters"
        )));
    }
    Ok(())
}

/// Model names as `recsys.models.name` allows them.
pub fn model(name: &str) -> ApiResult<()> {
    let b = name.as_bytes();
    let ok = (1..=64).contains(&b.len())
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid("model names are 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit"))
    }
}

pub fn k(k: u32) -> ApiResult<i32> {
    if (1..=MAX_K).contains(&k) {
        Ok(k as i32)
    } else {
        Err(ApiError::invalid(format!(
            "k must be between 1 and {MAX_K}"
        )))
    }
}

/// The list length (10 when absent) and the optional model name of a listing query.
pub fn list(k_param: Option<u32>, model_name: Option<&str>) -> ApiResult<i32> {
    let k = k(k_param.unwrap_or(10))?;
    if let Some(m) = model_name {
        model(m)?;
    }
    Ok(k)
}

pub fn batch<T>(field: &str, items: &[T]) -> ApiResult<()> {
    if items.is_empty() || items.len() > MAX_BATCH {
        return Err(ApiError::invalid(format!(
            "{field} must hold 1 to {MAX_BATCH} entries, not {}",
            items.len()
        ))
        .hint("split large loads into several requests"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert!(id("user_id", "u1").is_ok());
        assert!(id("user_id", "").is_err());
        assert!(id("user_id", "a\0b").is_err());
        assert!(id("user_id", &"x".repeat(513)).is_err());
        assert!(id("user_id", &"x".repeat(512)).is_ok());
    }

    #[test]
    fn models_and_k() {
        assert!(model("als-64.v2").is_ok());
        assert!(model("-x").is_err());
        assert!(model("a b").is_err());
        assert!(model(&"m".repeat(65)).is_err());
        assert_eq!(k(10).ok(), Some(10));
        assert!(k(0).is_err());
        assert!(k(1001).is_err());
    }
}
