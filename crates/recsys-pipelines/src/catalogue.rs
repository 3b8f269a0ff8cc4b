// SPDX-License-Identifier: Apache-2.0
//! Catalogue items as `recsys.items` stores them (`--into items`): an id, whether the item may
//! be recommended, and its attributes, a JSON object of every other field. Checked on this side
//! of the wire like events, so a bad row is a dead letter and not a failed batch.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::event::{self, Event, Field};

/// What a run writes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Destination {
    /// Events into `recsys.interactions`, each once.
    #[default]
    Interactions,
    /// Catalogue items into `recsys.items`, each written as its latest record says.
    Items,
}

#[derive(Clone, Debug, PartialEq)]
pub struct CatalogueItem {
    pub item_id: String,
    pub available: bool,
    pub attributes: Map<String, Value>,
}

/// One record of a source, checked for its destination.
#[derive(Clone, Debug, PartialEq)]
pub enum Entry {
    Event(Event),
    Item(CatalogueItem),
}

/// Names of the availability field, compared like the other roles' (`format::normalise`).
pub const AVAILABLE_NAMES: &[&str] = &["available", "in_stock"];

/// How a source's records become entries: its destination, and the time that stands for an
/// event's missing one.
#[derive(Clone, Copy, Debug)]
pub struct Reading {
    pub destination: Destination,
    pub now: DateTime<Utc>,
}

impl Reading {
    pub fn new(destination: Destination) -> Reading {
        Reading {
            destination,
            now: Utc::now(),
        }
    }
}

impl CatalogueItem {
    /// An item from its id field, its availability field if any, and the other fields by name
    /// as its attributes.
    pub fn from_parts<'a>(
        item_id: Option<Field<'a>>,
        available: Option<Field<'a>>,
        attributes: impl IntoIterator<Item = (&'a str, Field<'a>)>,
    ) -> Result<CatalogueItem, String> {
        let item_id = event::id(item_id, "item_id")?.ok_or("no item_id")?;
        let available = match available {
            None | Some(Field::Json(Value::Null)) => true,
            Some(f) => availability(f)?,
        };
        let attributes = attributes
            .into_iter()
            .map(|(name, f)| {
                let value = match f {
                    Field::Text(t) => Value::String(t.to_owned()),
                    Field::Json(v) => v.clone(),
                };
                (name.to_owned(), value)
            })
            .collect();
        Ok(CatalogueItem {
            item_id,
            available,
            attributes,
        })
    }
}

fn availability(field: Field<'_>) -> Result<bool, String> {
    match field {
        Field::Json(Value::Bool(b)) => Ok(*b),
        Field::Json(Value::Number(n)) if n.as_i64() == Some(0) => Ok(false),
        Field::Json(Value::Number(n)) if n.as_i64() == Some(1) => Ok(true),
        Field::Json(Value::String(s)) => text_availability(s),
        Field::Text(t) => text_availability(t),
        Field::Json(other) => Err(format!(
            "available must be true or false, not {}",
            event::json_type(other)
        )),
    }
}

fn text_availability(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "t" | "yes" | "y" | "1" => Ok(true),
        "false" | "f" | "no" | "n" | "0" => Ok(false),
        _ => Err(format!(
            "available {:?} is not true or false",
            event::shorten(text)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn other_fields_are_attributes_and_availability_defaults_to_true() {
        let (id, colour, price) = (json!("i1"), json!("red"), json!(9.5));
        let item = CatalogueItem::from_parts(
            Some(Field::Json(&id)),
            None,
            [
                ("colour", Field::Json(&colour)),
                ("price", Field::Json(&price)),
            ],
        )
        .expect("an item");
        assert_eq!(item.item_id, "i1");
        assert!(item.available);
        assert_eq!(
            Value::Object(item.attributes),
            json!({"colour": "red", "price": 9.5})
        );
        let text = CatalogueItem::from_parts(
            Some(Field::Text("i2")),
            Some(Field::Text("no")),
            [("price", Field::Text("3"))],
        )
        .expect("an item");
        assert!(!text.available);
        assert_eq!(text.attributes["price"], json!("3"));
    }

    #[test]
    fn bad_ids_and_availability_are_reasons() {
        let cases = [
            (None, None, "no item_id"),
            (Some(Field::Text("")), None, "item_id is empty"),
            (
                Some(Field::Text("i")),
                Some(Field::Text("maybe")),
                "available \"maybe\" is not true or false",
            ),
            (
                Some(Field::Text("i")),
                Some(Field::Json(&Value::Array(vec![]))),
                "available must be true or false, not an array",
            ),
        ];
        for (id, available, why) in cases {
            let err = CatalogueItem::from_parts(id, available, []).expect_err(why);
            assert_eq!(err, why);
        }
    }
}
