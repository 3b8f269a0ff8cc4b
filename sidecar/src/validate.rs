// SPDX-License-Identifier: BUSL-1.1
//! Checks of request values, made before they reach the database so that a bad value gets a
//! message naming the field rather than a constraint violation. The rules themselves are the
//! core's (`recsys_core::rules`, `recsys_core::data::validate_id`), shared with SQL and the CLI.

use recsys_core::rules::{check_model_name, MAX_K_REST, MODEL_NAME_PATTERN};
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

use crate::error::{ApiError, ApiResult};

pub const MAX_BATCH: usize = 10_000;

/// A model name in the OpenAPI contract, its pattern taken from the core's rule.
pub struct ModelName;

impl PartialSchema for ModelName {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .max_length(Some(64))
            .pattern(Some(MODEL_NAME_PATTERN))
            .into()
    }
}

impl ToSchema for ModelName {}

/// User, item and event ids, by the core's rule: 1-512 bytes, no NUL.
pub fn id(field: &str, value: &str) -> ApiResult<()> {
    recsys_core::data::validate_id(value).map_err(|e| ApiError::invalid(format!("{field}: {e}")))
}

pub fn model(name: &str) -> ApiResult<()> {
    Ok(check_model_name(name)?)
}

/// A list length, 1 to `recsys_core::rules::MAX_K_REST`.
pub fn k(k: u32) -> ApiResult<i32> {
    if (1..=MAX_K_REST).contains(&(k as usize)) {
        Ok(k as i32)
    } else {
        Err(ApiError::invalid(format!(
            "k must be between 1 and {MAX_K_REST}"
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
        assert_eq!(model("-x").map_err(|e| e.status.as_u16()), Err(422));
        assert!(model("a b").is_err());
        assert!(model(&"m".repeat(65)).is_err());
        assert_eq!(k(10).ok(), Some(10));
        assert!(k(0).is_err());
        assert!(k(MAX_K_REST as u32 + 1).is_err());
    }

    /// The copy of the model-name rule the database keeps: `recsys.models.name`'s check
    /// constraint.
    #[test]
    fn the_table_states_the_core_rule() {
        let tables = include_str!("../../sql/tables.sql");
        let constraint = format!("name ~ '{}'", recsys_core::rules::MODEL_NAME_PATTERN);
        assert!(
            tables.contains(&constraint),
            "sql/tables.sql lacks {constraint}"
        );
    }
}
