// SPDX-License-Identifier: BUSL-1.1
//! JSON helpers for request and response bodies.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use sqlx::postgres::{PgTypeInfo, PgValueRef};
use sqlx::{Decode, Postgres, Type};

/// A `jsonb` column passed through as the database prints it, never re-parsed into numbers:
/// PostgreSQL keeps numbers exactly (e.g. 1.8e308 as 309 digits) that an f64 cannot hold.
/// Select the column as `col::text`.
#[derive(Debug)]
pub struct JsonText(Box<RawValue>);

impl Serialize for JsonText {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl Type<Postgres> for JsonText {
    fn type_info() -> PgTypeInfo {
        <String as Type<Postgres>>::type_info()
    }

    fn compatible(ty: &PgTypeInfo) -> bool {
        <String as Type<Postgres>>::compatible(ty)
    }
}

impl<'r> Decode<'r, Postgres> for JsonText {
    fn decode(value: PgValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        let text = <String as Decode<Postgres>>::decode(value)?;
        Ok(JsonText(RawValue::from_string(text)?))
    }
}

/// An optional whole number that also accepts the JSON form `5.0`: JSON Schema counts it as
/// an integer, so a schema-valid request must not be refused for it.
pub fn optional_whole<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    Option::<serde_json::Number>::deserialize(d)?
        .map(|n| exact_whole(&n))
        .transpose()
}

/// A whole number of the field's type that also accepts the JSON form `5.0`; integers are
/// taken exactly (a seed above 2^53 keeps every digit).
pub fn whole<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i128>,
{
    exact_whole(&serde_json::Number::deserialize(d)?)
}

/// `n` as a `T`, if it is a whole number in `T`'s range.
fn exact_whole<T: TryFrom<i128>, E: serde::de::Error>(n: &serde_json::Number) -> Result<T, E> {
    let exact = n
        .as_i64()
        .map(i128::from)
        .or_else(|| n.as_u64().map(i128::from))
        .or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 2f64.powi(64))
                .map(|f| f as i128)
        });
    exact
        .and_then(|v| T::try_from(v).ok())
        .ok_or_else(|| E::custom(format!("expected a whole number in range, got {n}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct K {
        #[serde(default, deserialize_with = "optional_whole")]
        k: Option<u32>,
    }

    #[test]
    fn whole_numbers_in_either_form() {
        let k = |s: &str| serde_json::from_str::<K>(s).map(|k| k.k).ok();
        assert_eq!(k(r#"{"k": 5}"#), Some(Some(5)));
        assert_eq!(k(r#"{"k": 5.0}"#), Some(Some(5)));
        assert_eq!(k(r#"{"k": null}"#), Some(None));
        assert_eq!(k(r#"{}"#), Some(None));
        assert_eq!(k(r#"{"k": 5.5}"#), None);
        assert_eq!(k(r#"{"k": -1}"#), None);
    }

    #[test]
    fn huge_numbers_pass_through_unparsed() {
        let digits = format!("{{\"x\": 1{}}}", "0".repeat(400));
        let raw = RawValue::from_string(digits.clone()).expect("valid JSON");
        assert_eq!(
            serde_json::to_string(&JsonText(raw)).expect("serialize"),
            digits
        );
    }
}
