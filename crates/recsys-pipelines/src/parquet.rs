// SPDX-License-Identifier: Apache-2.0
//! Parquet objects (Spark's, pandas', a warehouse export's): one record per row, numbered from
//! 1 like lines, so a position, a dead letter's origin and a derived event id name a row as
//! they name a line. Rows are decoded a batch of columns at a time (Arrow arrays: a row-by-row
//! reader builds every row's column names anew, which made Parquet slower than CSV). Columns
//! are found once, by the names CSV headers use; strings are read as CSV cells are, other
//! cells as JSON values are, timestamps and dates counting as seconds since 1970.

use std::fs::File;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Date64Type, Decimal128Type, Float32Type, Float64Type, Int16Type, Int32Type,
    Int64Type, Int8Type, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType, UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, TimeUnit};
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use serde_json::{Map, Value};

use crate::catalogue::Reading;
use crate::event;
use crate::format::{payload, Columns, ObjectError, Record};

/// Rows decoded at a time.
const BATCH_ROWS: usize = 8192;

pub struct ParquetRecords {
    batches: ParquetRecordBatchReader,
    batch: Option<RecordBatch>,
    /// The next row of `batch`.
    row: usize,
    names: Vec<String>,
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

/// One cell: a string as it is, anything else as JSON.
enum Cell<'a> {
    Text(&'a str),
    Json(Value),
}

impl ParquetRecords {
    pub fn open(
        file: File,
        origin: String,
        reading: Reading,
    ) -> Result<ParquetRecords, ObjectError> {
        let not_parquet =
            |e: &dyn std::fmt::Display| ObjectError::Content(format!("not Parquet: {e}"));
        let builder =
            ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| not_parquet(&e))?;
        let schema = builder.schema().clone();
        for field in schema.fields() {
            if !readable(field.data_type()) {
                return Err(ObjectError::Content(format!(
                    "column {} has the Parquet type {}, which is not read (strings, numbers, \
                     booleans, timestamps, dates, decimals, and lists and structs of them are)",
                    field.name(),
                    field.data_type()
                )));
            }
        }
        let names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
        let columns = Columns::find(names.iter().map(String::as_str), reading.destination)?;
        let batches = builder
            .with_batch_size(BATCH_ROWS)
            .build()
            .map_err(|e| not_parquet(&e))?;
        Ok(ParquetRecords {
            batches,
            batch: None,
            row: 0,
            names,
            columns,
            origin,
            line: 0,
            reading,
        })
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Moves to the next row, decoding the next batch when this one is done; false at the end.
    fn advance(&mut self) -> Result<bool, ObjectError> {
        while self.batch.as_ref().is_none_or(|b| self.row >= b.num_rows()) {
            match self.batches.next() {
                None => return Ok(false),
                Some(Err(e)) => {
                    return Err(ObjectError::Content(format!("row {}: {e}", self.line + 1)))
                }
                Some(Ok(batch)) => {
                    self.batch = Some(batch);
                    self.row = 0;
                }
            }
        }
        self.line += 1;
        self.row += 1;
        Ok(true)
    }

    /// Reads past the first `line` rows (a resumed object's committed part).
    pub fn skip_to(&mut self, line: u64) -> Result<(), ObjectError> {
        while self.line < line {
            // Whole batches at once: a row skipped is never decoded into cells.
            let left = self.batch.as_ref().map_or(0, |b| b.num_rows() - self.row) as u64;
            if left > 0 {
                let step = left.min(line - self.line);
                self.row += step as usize;
                self.line += step;
            } else if !self.advance()? {
                break;
            }
        }
        Ok(())
    }

    pub fn next_record(&mut self) -> Result<Option<Record>, ObjectError> {
        if !self.advance()? {
            return Ok(None);
        }
        let (batch, row) = (self.batch.as_ref().expect("advanced"), self.row - 1);
        let cells: Vec<Cell> = batch
            .columns()
            .iter()
            .map(|c| cell(c.as_ref(), row))
            .collect();
        let origin = format!("{}:{}", self.origin, self.line);
        let field = |i: usize| match cells.get(i)? {
            Cell::Text(s) => Some(event::Field::Text(s)),
            Cell::Json(v) => Some(event::Field::Json(v)),
        };
        let entry = self.columns.entry(field, &origin, &self.reading);
        let payload = match entry {
            Ok(_) => String::new(),
            Err(_) => payload(&row_json(&self.names, cells).to_string()),
        };
        Ok(Some(Record {
            line: self.line,
            entry,
            payload,
        }))
    }
}

/// The row as one JSON object, for a dead letter.
fn row_json(names: &[String], cells: Vec<Cell>) -> Value {
    let fields = names.iter().cloned().zip(cells.into_iter().map(json_of));
    Value::Object(fields.collect::<Map<_, _>>())
}

/// Whether [`cell`] reads every value of this type.
fn readable(data_type: &DataType) -> bool {
    use DataType::*;
    match data_type {
        Null | Boolean | Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 | UInt64
        | Float32 | Float64 | Utf8 | LargeUtf8 | Utf8View | Timestamp(..) | Date32 | Date64
        | Decimal128(..) => true,
        List(item) | LargeList(item) => readable(item.data_type()),
        Struct(fields) => fields.iter().all(|f| readable(f.data_type())),
        _ => false,
    }
}

/// The value at `row` of `array`, of a type [`readable`] accepts.
fn cell(array: &dyn Array, row: usize) -> Cell<'_> {
    use DataType::*;
    if array.is_null(row) {
        return Cell::Json(Value::Null);
    }
    let json = match array.data_type() {
        Utf8 => return Cell::Text(array.as_string::<i32>().value(row)),
        LargeUtf8 => return Cell::Text(array.as_string::<i64>().value(row)),
        Utf8View => return Cell::Text(array.as_string_view().value(row)),
        Boolean => Value::Bool(array.as_boolean().value(row)),
        Int8 => array.as_primitive::<Int8Type>().value(row).into(),
        Int16 => array.as_primitive::<Int16Type>().value(row).into(),
        Int32 => array.as_primitive::<Int32Type>().value(row).into(),
        Int64 => array.as_primitive::<Int64Type>().value(row).into(),
        UInt8 => array.as_primitive::<UInt8Type>().value(row).into(),
        UInt16 => array.as_primitive::<UInt16Type>().value(row).into(),
        UInt32 => array.as_primitive::<UInt32Type>().value(row).into(),
        UInt64 => array.as_primitive::<UInt64Type>().value(row).into(),
        Float32 => number(f64::from(array.as_primitive::<Float32Type>().value(row))),
        Float64 => number(array.as_primitive::<Float64Type>().value(row)),
        Timestamp(unit, _) => number(seconds(array, *unit, row)),
        Date32 => number(f64::from(array.as_primitive::<Date32Type>().value(row)) * 86_400.0),
        Date64 => number(array.as_primitive::<Date64Type>().value(row) as f64 / 1e3),
        Decimal128(_, scale) => number(
            array.as_primitive::<Decimal128Type>().value(row) as f64
                / 10f64.powi(i32::from(*scale)),
        ),
        List(_) => list(array.as_list::<i32>().value(row).as_ref()),
        LargeList(_) => list(array.as_list::<i64>().value(row).as_ref()),
        Struct(fields) => {
            let s = array.as_struct();
            let values = fields
                .iter()
                .zip(s.columns())
                .map(|(f, c)| (f.name().clone(), json_of(cell(c.as_ref(), row))));
            Value::Object(values.collect())
        }
        _ => Value::Null, // refused when the file was opened (`readable`)
    };
    Cell::Json(json)
}

fn json_of(cell: Cell) -> Value {
    match cell {
        Cell::Text(s) => Value::from(s),
        Cell::Json(v) => v,
    }
}

fn list(values: &dyn Array) -> Value {
    Value::Array(
        (0..values.len())
            .map(|i| json_of(cell(values, i)))
            .collect(),
    )
}

fn seconds(array: &dyn Array, unit: TimeUnit, row: usize) -> f64 {
    match unit {
        TimeUnit::Second => array.as_primitive::<TimestampSecondType>().value(row) as f64,
        TimeUnit::Millisecond => {
            array.as_primitive::<TimestampMillisecondType>().value(row) as f64 / 1e3
        }
        TimeUnit::Microsecond => {
            array.as_primitive::<TimestampMicrosecondType>().value(row) as f64 / 1e6
        }
        TimeUnit::Nanosecond => {
            array.as_primitive::<TimestampNanosecondType>().value(row) as f64 / 1e9
        }
    }
}

/// A number as JSON; a NaN or an infinity as text, which no field accepts as a number.
fn number(x: f64) -> Value {
    serde_json::Number::from_f64(x)
        .map(Value::Number)
        .unwrap_or_else(|| Value::String(x.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::builder::{ListBuilder, StringBuilder};
    use arrow_array::{
        Date32Array, Float32Array, Int64Array, StringArray, TimestampMicrosecondArray,
        TimestampMillisecondArray,
    };

    fn json(array: &dyn Array, row: usize) -> Value {
        json_of(cell(array, row))
    }

    #[test]
    fn cells_become_json_numbers_times_as_seconds() {
        assert_eq!(json(&Int64Array::from(vec![42]), 0), Value::from(42));
        assert_eq!(json(&StringArray::from(vec!["u1"]), 0), Value::from("u1"));
        assert_eq!(
            json(&TimestampMillisecondArray::from(vec![1_500]), 0),
            Value::from(1.5)
        );
        assert_eq!(
            json(&TimestampMicrosecondArray::from(vec![2_000_000]), 0),
            Value::from(2.0)
        );
        assert_eq!(json(&Date32Array::from(vec![1]), 0), Value::from(86_400.0));
        assert_eq!(
            json(&Float32Array::from(vec![f32::NAN]), 0),
            Value::from("NaN")
        );
        assert_eq!(json(&StringArray::from(vec![None::<&str>]), 0), Value::Null);
        let mut tags = ListBuilder::new(StringBuilder::new());
        tags.values().append_value("a");
        tags.values().append_value("b");
        tags.append(true);
        assert_eq!(json(&tags.finish(), 0), serde_json::json!(["a", "b"]));
    }

    #[test]
    fn only_types_it_reads_are_accepted() {
        assert!(readable(&DataType::Timestamp(TimeUnit::Millisecond, None)));
        assert!(readable(&DataType::List(std::sync::Arc::new(
            arrow_schema::Field::new("item", DataType::Utf8, true)
        ))));
        assert!(!readable(&DataType::Binary));
        assert!(!readable(&DataType::Float16));
    }
}
