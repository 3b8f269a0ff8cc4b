// SPDX-License-Identifier: Apache-2.0
//! Parquet objects (Spark's, pandas', a warehouse export's): one record per row, numbered from
//! 1 like lines, so a position, a dead letter's origin and a derived event id name a row as
//! they name a line. Columns are found once, by the names CSV headers use; strings are read
//! as CSV cells are, other cells as JSON values are, timestamps and dates counting as seconds
//! since 1970.

use std::fs::File;

use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::reader::RowIter;
use parquet::record::Field;
use serde_json::Value;

use crate::catalogue::Reading;
use crate::event;
use crate::format::{payload, Columns, ObjectError, Record};

pub struct ParquetRecords {
    rows: RowIter<'static>,
    columns: Columns,
    origin: String,
    line: u64,
    reading: Reading,
}

impl std::fmt::Debug for ParquetRecords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParquetRecords")
            .field("origin", &self.origin)
            .field("line", &self.line)
            .finish()
    }
}

impl ParquetRecords {
    pub fn open(
        file: File,
        origin: String,
        reading: Reading,
    ) -> Result<ParquetRecords, ObjectError> {
        let reader = SerializedFileReader::new(file)
            .map_err(|e| ObjectError::Content(format!("not Parquet: {e}")))?;
        let schema = reader.metadata().file_metadata().schema_descr();
        let names = schema.root_schema().get_fields().iter().map(|f| f.name());
        let columns = Columns::find(names, reading.destination)?;
        Ok(ParquetRecords {
            rows: reader.into_iter(),
            columns,
            origin,
            line: 0,
            reading,
        })
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    fn next_row(&mut self) -> Result<Option<parquet::record::Row>, ObjectError> {
        match self.rows.next() {
            None => Ok(None),
            Some(Err(e)) => Err(ObjectError::Content(format!("row {}: {e}", self.line + 1))),
            Some(Ok(row)) => {
                self.line += 1;
                Ok(Some(row))
            }
        }
    }

    /// Reads past the first `line` rows (a resumed object's committed part).
    pub fn skip_to(&mut self, line: u64) -> Result<(), ObjectError> {
        while self.line < line {
            if self.next_row()?.is_none() {
                break;
            }
        }
        Ok(())
    }

    pub fn next_record(&mut self) -> Result<Option<Record>, ObjectError> {
        let Some(row) = self.next_row()? else {
            return Ok(None);
        };
        let cells: Vec<&Field> = row.get_column_iter().map(|(_, field)| field).collect();
        // Cells other than strings as JSON, made before the fields borrow them.
        let json: Vec<Option<Value>> = cells
            .iter()
            .map(|f| (!matches!(f, Field::Str(_))).then(|| value(f)))
            .collect();
        let origin = format!("{}:{}", self.origin, self.line);
        let cell = |i: usize| match cells.get(i)? {
            Field::Str(s) => Some(event::Field::Text(s)),
            _ => json.get(i)?.as_ref().map(event::Field::Json),
        };
        let entry = self.columns.entry(cell, &origin, &self.reading);
        let payload = match entry {
            Ok(_) => String::new(),
            Err(_) => payload(&row.to_json_value().to_string()),
        };
        Ok(Some(Record {
            line: self.line,
            entry,
            payload,
        }))
    }
}

/// A cell other than a string as JSON: numbers as numbers (a NaN as text, which no field accepts), times and dates
/// as seconds since 1970.
fn value(field: &Field) -> Value {
    match field {
        Field::Float(x) => number(f64::from(*x)),
        Field::Double(x) => number(*x),
        Field::TimestampMillis(ms) => number(*ms as f64 / 1e3),
        Field::TimestampMicros(us) => number(*us as f64 / 1e6),
        Field::Date(days) => number(f64::from(*days) * 86_400.0),
        other => other.to_json_value(),
    }
}

fn number(x: f64) -> Value {
    serde_json::Number::from_f64(x)
        .map(Value::Number)
        .unwrap_or_else(|| Value::String(x.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_become_json_numbers_times_as_seconds() {
        assert_eq!(value(&Field::Long(42)), Value::from(42));
        assert_eq!(value(&Field::Str("u1".into())), Value::from("u1"));
        assert_eq!(value(&Field::TimestampMillis(1_500)), Value::from(1.5));
        assert_eq!(value(&Field::TimestampMicros(2_000_000)), Value::from(2.0));
        assert_eq!(value(&Field::Date(1)), Value::from(86_400.0));
        assert_eq!(value(&Field::Float(f32::NAN)), Value::from("NaN"));
        assert_eq!(value(&Field::Null), Value::Null);
    }
}
