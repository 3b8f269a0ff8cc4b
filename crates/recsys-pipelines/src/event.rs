// SPDX-License-Identifier: Apache-2.0
//! An interaction as `recsys.interactions` stores it, checked on this side of the wire so that
//! a bad event becomes a dead letter with a reason instead of failing its whole batch. The
//! limits are the table's own checks (sql/tables.sql): ids of 1 to 512 bytes, a finite weight
//! above 0; text holds no NUL character.

use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};

pub const MAX_ID_BYTES: usize = 512;

#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub event_id: String,
    pub user_id: String,
    pub item_id: String,
    pub weight: f32,
    pub occurred_at: DateTime<Utc>,
}

/// A field's value as the source gave it: text (CSV, TSV) or JSON.
#[derive(Clone, Copy, Debug)]
pub enum Field<'a> {
    Text(&'a str),
    Json(&'a Value),
}

/// The fields of one record by role, as a format found them.
#[derive(Clone, Copy, Debug, Default)]
pub struct Fields<'a> {
    pub event_id: Option<Field<'a>>,
    pub user_id: Option<Field<'a>>,
    pub item_id: Option<Field<'a>>,
    pub weight: Option<Field<'a>>,
    pub occurred_at: Option<Field<'a>>,
}

impl Event {
    /// Checks a record's fields. `origin` names the record in its source (object and line,
    /// topic partition and offset): an event without an id of its own gets one derived from
    /// it, so reading the same record again inserts nothing twice. `now` stands for a missing
    /// time.
    pub fn from_fields(
        fields: &Fields<'_>,
        origin: &str,
        now: DateTime<Utc>,
    ) -> Result<Event, String> {
        let user_id = id(fields.user_id, "user_id")?.ok_or("no user_id")?;
        let item_id = id(fields.item_id, "item_id")?.ok_or("no item_id")?;
        let event_id = match id(fields.event_id, "event_id")? {
            Some(id) => id,
            None => derived_id(origin),
        };
        let weight = match fields.weight {
            None => 1.0,
            Some(f) => weight(f)?,
        };
        let occurred_at = match fields.occurred_at {
            None => now,
            Some(f) => time(f)?,
        };
        Ok(Event {
            event_id,
            user_id,
            item_id,
            weight,
            occurred_at,
        })
    }
}

/// The id of an event without one: `h:`, the first 20 hex digits of the SHA-256 of the
/// stream it was read from (an object, a partition), `:`, and its number in that stream (the
/// origin's trailing line, offset or rank), zero-padded to 12 digits. Stable across re-reads,
/// and a stream's events sort together in read order, so the primary key's B-tree takes them
/// as appends: 2M inserts took 16.3 s instead of 30.6 s with ids hashed whole.
pub fn derived_id(origin: &str) -> String {
    let stream_len = origin.len() - origin.bytes().rev().take_while(u8::is_ascii_digit).count();
    let (stream, number) = origin.split_at(stream_len);
    let digest = Sha256::digest(stream.as_bytes());
    let mut out = String::with_capacity(35);
    out.push_str("h:");
    for b in &digest[..10] {
        out.push_str(&format!("{b:02x}"));
    }
    out.push(':');
    let number = number.trim_start_matches('0');
    for _ in number.len()..12 {
        out.push('0');
    }
    out.push_str(number);
    out
}

pub(crate) fn id(field: Option<Field<'_>>, name: &str) -> Result<Option<String>, String> {
    let text = match field {
        None => return Ok(None),
        Some(Field::Text(t)) => t.to_owned(),
        Some(Field::Json(Value::Null)) => return Ok(None),
        Some(Field::Json(Value::String(s))) => s.clone(),
        Some(Field::Json(Value::Number(n))) if n.is_i64() || n.is_u64() => n.to_string(),
        Some(Field::Json(other)) => {
            return Err(format!(
                "{name} must be a string or an integer, not {}",
                json_type(other)
            ))
        }
    };
    if text.is_empty() {
        return Err(format!("{name} is empty"));
    }
    if text.len() > MAX_ID_BYTES {
        return Err(format!(
            "{name} is {} bytes long; at most {MAX_ID_BYTES} are allowed",
            text.len()
        ));
    }
    if text.contains('\0') {
        return Err(format!("{name} contains a NUL character"));
    }
    Ok(Some(text))
}

fn weight(field: Field<'_>) -> Result<f32, String> {
    let value = match field {
        Field::Text(t) => t
            .trim()
            .parse::<f64>()
            .map_err(|_| format!("weight {:?} is not a number", shorten(t)))?,
        Field::Json(Value::Number(n)) => n.as_f64().ok_or("weight is not a number")?,
        Field::Json(Value::Null) => return Ok(1.0),
        Field::Json(other) => {
            return Err(format!("weight must be a number, not {}", json_type(other)))
        }
    };
    let single = value as f32;
    if !single.is_finite() || single <= 0.0 {
        return Err(format!("weight {value} is not a finite number above 0"));
    }
    Ok(single)
}

/// RFC 3339 text, or seconds since 1970 (text or a JSON number), years 1 to 9999.
fn time(field: Field<'_>) -> Result<DateTime<Utc>, String> {
    match field {
        Field::Text(t) => text_time(t),
        Field::Json(Value::String(s)) => text_time(s),
        Field::Json(Value::Number(n)) => {
            seconds_time(n.as_f64().ok_or("occurred_at is not a number")?)
        }
        Field::Json(other) => Err(format!(
            "occurred_at must be a string or a number, not {}",
            json_type(other)
        )),
    }
}

fn text_time(text: &str) -> Result<DateTime<Utc>, String> {
    let text = text.trim();
    match text.parse::<f64>() {
        Ok(seconds) => seconds_time(seconds),
        Err(_) => DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| {
                format!(
                    "occurred_at {:?} is not RFC 3339 or seconds since 1970: {e}",
                    shorten(text)
                )
            }),
    }
}

fn seconds_time(seconds: f64) -> Result<DateTime<Utc>, String> {
    // Years 1 to 9999: what chrono and PostgreSQL both hold, and RFC 3339 can write.
    const MIN: f64 = -62_135_596_800.0;
    const MAX: f64 = 253_402_300_799.0;
    if !seconds.is_finite() || !(MIN..=MAX).contains(&seconds) {
        return Err(format!(
            "occurred_at {seconds} seconds since 1970 is outside the years 1 to 9999"
        ));
    }
    let whole = seconds.floor();
    let nanos = ((seconds - whole) * 1e9) as u32;
    Utc.timestamp_opt(whole as i64, nanos.min(999_999_999))
        .single()
        .ok_or_else(|| format!("occurred_at {seconds} is not a time"))
}

pub(crate) fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A value quoted in a reason, cut to 64 characters.
pub(crate) fn shorten(s: &str) -> String {
    s.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000, 0).single().expect("time")
    }

    fn text<'a>(
        user: &'a str,
        item: &'a str,
        weight: Option<&'a str>,
        time: Option<&'a str>,
    ) -> Fields<'a> {
        Fields {
            user_id: Some(Field::Text(user)),
            item_id: Some(Field::Text(item)),
            weight: weight.map(Field::Text),
            occurred_at: time.map(Field::Text),
            event_id: None,
        }
    }

    #[test]
    fn a_text_record_becomes_an_event_with_an_id_derived_from_its_origin() {
        let e = Event::from_fields(
            &text("u1", "i1", Some("2.5"), Some("1703391198")),
            "s3://b/k#1",
            now(),
        )
        .expect("valid");
        assert_eq!(
            (e.user_id.as_str(), e.item_id.as_str(), e.weight),
            ("u1", "i1", 2.5)
        );
        assert_eq!(e.occurred_at.timestamp(), 1_703_391_198);
        assert_eq!(e.event_id, derived_id("s3://b/k#1"));
        assert_eq!(e.event_id.len(), 35);
        assert_ne!(derived_id("s3://b/k#1"), derived_id("s3://b/k#2"));
        assert_ne!(derived_id("s3://b/k#1"), derived_id("s3://b/j#1"));
        let again = Event::from_fields(&text("u1", "i1", None, None), "x", now()).expect("valid");
        assert_eq!((again.weight, again.occurred_at), (1.0, now()));
    }

    #[test]
    fn derived_ids_of_one_stream_sort_in_read_order() {
        let ids: Vec<String> = [9u64, 10, 11, 123_456_789_012]
            .iter()
            .map(|n| derived_id(&format!("s3://b/day.csv:{n}")))
            .collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
        assert!(ids[0].ends_with(":000000000009"), "{}", ids[0]);
        let same_stream = |id: &str| id[..22].to_owned();
        assert_eq!(same_stream(&ids[0]), same_stream(&ids[3]));
        assert!(derived_id("no number").ends_with(":000000000000"));
    }

    #[test]
    fn json_fields_take_integers_as_ids_and_rfc3339_or_seconds_as_times() {
        let (u, i, id, t) = (
            json!(42),
            json!("i9"),
            json!("e-1"),
            json!("2026-12-01T10:00:00.5+01:00"),
        );
        let f = Fields {
            user_id: Some(Field::Json(&u)),
            item_id: Some(Field::Json(&i)),
            event_id: Some(Field::Json(&id)),
            occurred_at: Some(Field::Json(&t)),
            weight: None,
        };
        let e = Event::from_fields(&f, "o", now()).expect("valid");
        assert_eq!((e.user_id.as_str(), e.event_id.as_str()), ("42", "e-1"));
        assert_eq!(e.occurred_at.to_rfc3339(), "2026-12-01T09:00:00.500+00:00");
        let secs = json!(1.25);
        let f = Fields {
            occurred_at: Some(Field::Json(&secs)),
            ..f
        };
        assert_eq!(
            Event::from_fields(&f, "o", now())
                .expect("valid")
                .occurred_at
                .timestamp_millis(),
            1250
        );
    }

    #[test]
    fn every_bad_field_has_its_reason() {
        let long = "x".repeat(513);
        let cases: Vec<(Fields<'_>, &str)> = vec![
            (
                Fields {
                    user_id: None,
                    ..text("u", "i", None, None)
                },
                "no user_id",
            ),
            (text("", "i", None, None), "user_id is empty"),
            (text(&long, "i", None, None), "user_id is 513 bytes long"),
            (text("u\0", "i", None, None), "user_id contains a NUL"),
            (
                text("u", "i", Some("NaN"), None),
                "weight NaN is not a finite number above 0",
            ),
            (
                text("u", "i", Some("-1"), None),
                "weight -1 is not a finite number above 0",
            ),
            (text("u", "i", Some("1e39"), None), "not a finite number"),
            (
                text("u", "i", Some("heavy"), None),
                "weight \"heavy\" is not a number",
            ),
            (
                text("u", "i", None, Some("1e13")),
                "outside the years 1 to 9999",
            ),
            (text("u", "i", None, Some("yesterday")), "not RFC 3339"),
            (
                text("u", "i", None, Some("2026-13-01T00:00:00Z")),
                "not RFC 3339",
            ),
        ];
        for (fields, reason) in cases {
            let err = Event::from_fields(&fields, "o", now()).expect_err(reason);
            assert!(err.contains(reason), "{err:?} should say {reason:?}");
        }
        let (t, obj, arr) = (json!(true), json!({"a": 1}), json!([1]));
        for (v, why) in [
            (&t, "user_id must be a string or an integer, not a boolean"),
            (&obj, "not an object"),
        ] {
            let f = Fields {
                user_id: Some(Field::Json(v)),
                ..text("u", "i", None, None)
            };
            let err = Event::from_fields(&f, "o", now()).expect_err(why);
            assert!(err.contains(why.trim_start_matches("not ")), "{err}");
        }
        let f = Fields {
            weight: Some(Field::Json(&arr)),
            ..text("u", "i", None, None)
        };
        assert!(Event::from_fields(&f, "o", now())
            .expect_err("array")
            .contains("weight must be a number, not an array"));
    }
}
