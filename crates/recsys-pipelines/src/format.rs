// SPDX-License-Identifier: Apache-2.0
//! What objects and files hold: CSV or TSV with a header line, or JSON Lines; plain, gzip or
//! zstd; or Parquet (`crate::parquet`). One record per line (or row), so a record's position
//! is its line number, which is also what names it in a dead letter and, for an event without
//! an id, what its id derives from.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};

use serde_json::{Map, Value};

use crate::catalogue::{CatalogueItem, Destination, Entry, Reading, AVAILABLE_NAMES};
use crate::event::{Event, Field, Fields};
use crate::parquet::ParquetRecords;

/// A longer line is a dead letter, read past without holding it: a hostile object cannot make
/// the pipeline allocate more than this per record.
pub const MAX_LINE_BYTES: usize = 1 << 20;
/// How much of a bad record a dead letter keeps.
pub const MAX_PAYLOAD_BYTES: usize = 1000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Csv,
    Tsv,
    Jsonl,
    Parquet,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

/// The format and compression of an object, from its name (`events.csv.gz`, `day.jsonl.zst`,
/// `part.tsv`); `forced` names the format of objects whose names do not say it. `None`: not
/// an object of events (skipped, not a dead letter: prefixes hold manifests and markers).
pub fn layout(key: &str, forced: Option<Format>) -> Option<(Format, Compression)> {
    let name = key.rsplit('/').next().unwrap_or(key).to_ascii_lowercase();
    let (stem, compression) = if let Some(stem) = name.strip_suffix(".gz") {
        (stem, Compression::Gzip)
    } else if let Some(stem) = name.strip_suffix(".zst") {
        (stem, Compression::Zstd)
    } else {
        (name.as_str(), Compression::None)
    };
    let named = match stem.rsplit('.').next() {
        Some("csv") => Some(Format::Csv),
        Some("tsv" | "inter") => Some(Format::Tsv),
        Some("jsonl" | "ndjson") => Some(Format::Jsonl),
        Some("parquet") => Some(Format::Parquet),
        _ => None,
    };
    Some((forced.or(named)?, compression))
}

/// One line of an object: an entry, or why it is not one.
#[derive(Debug)]
pub struct Record {
    pub line: u64,
    pub entry: Result<Entry, String>,
    /// The line as read (cut to MAX_PAYLOAD_BYTES), kept for a dead letter.
    pub payload: String,
}

/// Columns of a CSV or TSV header, or of a Parquet schema, by role.
#[derive(Clone, Debug, Default)]
pub struct Columns {
    destination: Destination,
    event_id: Option<usize>,
    user_id: Option<usize>,
    item_id: Option<usize>,
    weight: Option<usize>,
    occurred_at: Option<usize>,
    available: Option<usize>,
    /// Items: every other column, by its name as the header spells it.
    attributes: Vec<(usize, String)>,
}

impl Columns {
    /// Finds each role among column names; an object without a user or an item column holds
    /// no events, one without an item column no items.
    pub fn find<'a>(
        names: impl IntoIterator<Item = &'a str>,
        destination: Destination,
    ) -> Result<Columns, ObjectError> {
        let spelt: Vec<&str> = names.into_iter().map(str::trim).collect();
        let names: Vec<String> = spelt.iter().map(|n| normalise(n)).collect();
        let find = |wanted: &[&str]| names.iter().position(|n| wanted.contains(&n.as_str()));
        let mut columns = Columns {
            destination,
            item_id: find(ITEM_NAMES),
            ..Columns::default()
        };
        match destination {
            Destination::Interactions => {
                columns.event_id = find(EVENT_NAMES);
                columns.user_id = find(USER_NAMES);
                columns.weight = find(WEIGHT_NAMES);
                columns.occurred_at = find(TIME_NAMES);
                if columns.user_id.is_none() || columns.item_id.is_none() {
                    return Err(ObjectError::Content(format!(
                        "the header names no user or no item column (expected one of {USER_NAMES:?} and one of {ITEM_NAMES:?})"
                    )));
                }
            }
            Destination::Items => {
                columns.available = find(AVAILABLE_NAMES);
                if columns.item_id.is_none() {
                    return Err(ObjectError::Content(format!(
                        "the header names no item column (expected one of {ITEM_NAMES:?})"
                    )));
                }
                columns.attributes = spelt
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| Some(*i) != columns.item_id && Some(*i) != columns.available)
                    .map(|(i, name)| (i, (*name).to_owned()))
                    .collect();
            }
        }
        Ok(columns)
    }

    /// The entry of one record, `cell` giving the value of a column; `origin` names it.
    pub fn entry<'a>(
        &self,
        cell: impl Fn(usize) -> Option<Field<'a>>,
        origin: &str,
        reading: &Reading,
    ) -> Result<Entry, String> {
        let get = |c: Option<usize>| c.and_then(&cell);
        match self.destination {
            Destination::Interactions => {
                let fields = Fields {
                    event_id: get(self.event_id),
                    user_id: get(self.user_id),
                    item_id: get(self.item_id),
                    weight: get(self.weight),
                    occurred_at: get(self.occurred_at),
                };
                Event::from_fields(&fields, origin, reading.now).map(Entry::Event)
            }
            Destination::Items => CatalogueItem::from_parts(
                get(self.item_id),
                get(self.available),
                self.attributes
                    .iter()
                    .filter_map(|(i, name)| Some((name.as_str(), cell(*i)?))),
            )
            .map(Entry::Item),
        }
    }
}

/// Names accepted for each role, compared after dropping a `:type` suffix (RecBole's
/// `user_id:token`) and lowercasing: the CLI's names, and the table's.
const EVENT_NAMES: &[&str] = &["event_id", "eventid"];
const USER_NAMES: &[&str] = &["user_id", "user", "userid"];
const ITEM_NAMES: &[&str] = &["item_id", "item", "itemid"];
const WEIGHT_NAMES: &[&str] = &["weight"];
const TIME_NAMES: &[&str] = &["occurred_at", "timestamp", "time", "ts"];

fn normalise(header: &str) -> String {
    header
        .split(':')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// The records of an object of any format.
#[derive(Debug)]
pub enum ObjectRecords {
    Lines(Records),
    Parquet(ParquetRecords),
}

impl ObjectRecords {
    /// Starts reading an object; `origin` names it (`s3://bucket/key`, a file's path).
    pub fn open(
        file: File,
        layout: (Format, Compression),
        origin: String,
        destination: Destination,
    ) -> Result<ObjectRecords, ObjectError> {
        let reading = Reading::new(destination);
        match layout {
            (Format::Parquet, Compression::None) => {
                ParquetRecords::open(file, origin, reading).map(ObjectRecords::Parquet)
            }
            (Format::Parquet, _) => Err(ObjectError::Content(
                "Parquet compresses inside the file: a .gz or .zst around it is not read".into(),
            )),
            _ => Records::open(Box::new(file), layout, origin, reading).map(ObjectRecords::Lines),
        }
    }

    pub fn origin(&self) -> &str {
        match self {
            ObjectRecords::Lines(r) => r.origin(),
            ObjectRecords::Parquet(r) => r.origin(),
        }
    }

    /// Reads past the first `line` records.
    pub fn skip_to(&mut self, line: u64) -> Result<(), ObjectError> {
        match self {
            ObjectRecords::Lines(r) => r.skip_to(line),
            ObjectRecords::Parquet(r) => r.skip_to(line),
        }
    }

    /// The next record, `None` at the end of the object.
    pub fn next_record(&mut self) -> Result<Option<Record>, ObjectError> {
        match self {
            ObjectRecords::Lines(r) => r.next_record(),
            ObjectRecords::Parquet(r) => r.next_record(),
        }
    }
}

/// The records of one object of lines (CSV, TSV, JSON Lines), read as a stream.
pub struct Records {
    reader: Box<dyn BufRead + Send>,
    format: Format,
    columns: Columns,
    origin: String,
    line: u64,
    buf: Vec<u8>,
    reading: Reading,
}

impl std::fmt::Debug for Records {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Records")
            .field("origin", &self.origin)
            .field("line", &self.line)
            .finish()
    }
}

/// Why an object could not be read at all.
#[derive(Debug)]
pub enum ObjectError {
    /// Its content is not what its name says (a bad header, bad compression): the object is
    /// one dead letter and the pipeline goes on.
    Content(String),
    /// Reading failed (I/O): the run stops and resumes from its checkpoint.
    Io(String),
}

impl Records {
    fn open(
        raw: Box<dyn Read + Send>,
        layout: (Format, Compression),
        origin: String,
        reading: Reading,
    ) -> Result<Records, ObjectError> {
        let decoded: Box<dyn Read + Send> = match layout.1 {
            Compression::None => raw,
            // Multi-member: `cat a.gz b.gz` is a valid gzip stream of both.
            Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(raw)),
            Compression::Zstd => Box::new(
                zstd::stream::read::Decoder::new(raw)
                    .map_err(|e| ObjectError::Content(format!("not zstd: {e}")))?,
            ),
        };
        let mut records = Records {
            reader: Box::new(BufReader::with_capacity(256 << 10, decoded)),
            format: layout.0,
            columns: Columns::default(),
            origin,
            line: 0,
            buf: Vec::new(),
            reading,
        };
        if records.format != Format::Jsonl {
            records.read_header()?;
        }
        Ok(records)
    }

    fn origin(&self) -> &str {
        &self.origin
    }

    fn read_header(&mut self) -> Result<(), ObjectError> {
        let header = match self.next_line()? {
            Some(Ok(text)) => text,
            Some(Err(why)) => return Err(ObjectError::Content(format!("header line: {why}"))),
            None => {
                return Err(ObjectError::Content(
                    "empty: expected a header line such as \"user_id,item_id\"".into(),
                ))
            }
        };
        let names = split(&header, self.format);
        self.columns = Columns::find(names.iter().map(String::as_str), self.reading.destination)?;
        Ok(())
    }

    /// Reads past `lines` lines from the current one (a resumed object's committed part).
    fn skip_to(&mut self, line: u64) -> Result<(), ObjectError> {
        while self.line < line {
            if self.next_line()?.is_none() {
                break;
            }
        }
        Ok(())
    }

    fn next_record(&mut self) -> Result<Option<Record>, ObjectError> {
        loop {
            let text = match self.next_line()? {
                None => return Ok(None),
                Some(Err(why)) => {
                    let payload = payload(&String::from_utf8_lossy(&self.buf));
                    return Ok(Some(Record {
                        line: self.line,
                        entry: Err(why),
                        payload,
                    }));
                }
                Some(Ok(text)) => text,
            };
            if text.trim().is_empty() {
                continue;
            }
            let origin = format!("{}:{}", self.origin, self.line);
            let entry = match self.format {
                Format::Jsonl => json_entry(&text, &origin, &self.reading),
                Format::Csv | Format::Tsv | Format::Parquet => {
                    let cells = split(&text, self.format);
                    self.columns.entry(
                        |i| cells.get(i).map(|s| Field::Text(s.as_str())),
                        &origin,
                        &self.reading,
                    )
                }
            };
            // Only a dead letter keeps its record.
            let payload = match entry {
                Ok(_) => String::new(),
                Err(_) => payload(&text),
            };
            return Ok(Some(Record {
                line: self.line,
                entry,
                payload,
            }));
        }
    }

    /// The next line without its end: `Some(Err)` for a line too long or not UTF-8.
    fn next_line(&mut self) -> Result<Option<Result<String, String>>, ObjectError> {
        self.buf.clear();
        let mut too_long = false;
        let mut read_any = false;
        loop {
            let chunk = self
                .reader
                .fill_buf()
                .map_err(|e| read_error(&self.origin, e))?;
            if chunk.is_empty() {
                break;
            }
            read_any = true;
            let (take, end) = match chunk.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (chunk.len(), false),
            };
            if !too_long {
                if self.buf.len() + take > MAX_LINE_BYTES + 1 {
                    too_long = true;
                    let room = MAX_LINE_BYTES.saturating_sub(self.buf.len()).min(take);
                    self.buf.extend_from_slice(&chunk[..room]);
                } else {
                    self.buf.extend_from_slice(&chunk[..take]);
                }
            }
            self.reader.consume(take);
            if end {
                break;
            }
        }
        if !read_any {
            return Ok(None);
        }
        self.line += 1;
        if too_long {
            return Ok(Some(Err(format!(
                "line longer than {MAX_LINE_BYTES} bytes"
            ))));
        }
        while matches!(self.buf.last(), Some(b'\n' | b'\r')) {
            self.buf.pop();
        }
        Ok(Some(
            std::str::from_utf8(&self.buf)
                .map(str::to_owned)
                .map_err(|e| format!("not UTF-8 (byte {})", e.valid_up_to())),
        ))
    }
}

/// Bad compressed data is the object's fault; anything else is the reader's.
fn read_error(origin: &str, e: std::io::Error) -> ObjectError {
    use std::io::ErrorKind::{InvalidData, InvalidInput, UnexpectedEof};
    match e.kind() {
        InvalidData | InvalidInput | UnexpectedEof => {
            ObjectError::Content(format!("cannot decode: {e}"))
        }
        _ => ObjectError::Io(format!("{origin}: {e}")),
    }
}

/// A line's cells. TSV has no quoting (as the CLI reads it); CSV follows RFC 4180 within the
/// line, the common unquoted case without the csv crate's per-reader buffers.
fn split(line: &str, format: Format) -> Vec<String> {
    let delimiter = if format == Format::Tsv { '\t' } else { ',' };
    if format == Format::Tsv || !line.contains('"') {
        return line.split(delimiter).map(str::to_owned).collect();
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(line.as_bytes());
    match reader.records().next() {
        Some(Ok(record)) => record.iter().map(str::to_owned).collect(),
        _ => line.split(delimiter).map(str::to_owned).collect(),
    }
}

/// An entry from one JSON object (a JSON Lines line, a Kafka message, a row of another
/// database).
pub fn json_entry(text: &str, origin: &str, reading: &Reading) -> Result<Entry, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let Value::Object(map) = &value else {
        return Err("not a JSON object".into());
    };
    object_entry(map, origin, reading)
}

/// An entry from the fields of an object by their names: for an item, the fields other than
/// its id and availability are its attributes.
fn object_entry(
    map: &Map<String, Value>,
    origin: &str,
    reading: &Reading,
) -> Result<Entry, String> {
    let key = |names: &'static [&'static str]| -> Option<&'static str> {
        names.iter().copied().find(|n| map.contains_key(*n))
    };
    let field =
        |names: &'static [&'static str]| key(names).and_then(|n| map.get(n)).map(Field::Json);
    match reading.destination {
        Destination::Interactions => {
            let fields = Fields {
                event_id: field(EVENT_NAMES),
                user_id: field(USER_NAMES),
                item_id: field(ITEM_NAMES),
                weight: field(WEIGHT_NAMES),
                occurred_at: field(TIME_NAMES),
            };
            Event::from_fields(&fields, origin, reading.now).map(Entry::Event)
        }
        Destination::Items => {
            let (id, available) = (key(ITEM_NAMES), key(AVAILABLE_NAMES));
            let attributes = map
                .iter()
                .filter(|(k, _)| Some(k.as_str()) != id && Some(k.as_str()) != available)
                .map(|(k, v)| (k.as_str(), Field::Json(v)));
            CatalogueItem::from_parts(field(ITEM_NAMES), field(AVAILABLE_NAMES), attributes)
                .map(Entry::Item)
        }
    }
}

/// A dead letter's copy of a line: at most MAX_PAYLOAD_BYTES, no NUL (text cannot hold one).
pub fn payload(text: &str) -> String {
    let text = text.replace('\0', "\u{FFFD}");
    let mut end = text.len().min(MAX_PAYLOAD_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn open(
        bytes: Vec<u8>,
        layout: (Format, Compression),
        origin: &str,
    ) -> Result<Records, ObjectError> {
        let reading = Reading::new(Destination::Interactions);
        Records::open(
            Box::new(std::io::Cursor::new(bytes)),
            layout,
            origin.into(),
            reading,
        )
    }

    fn event(entry: Result<Entry, String>) -> Event {
        match entry {
            Ok(Entry::Event(e)) => e,
            other => panic!("not an event: {other:?}"),
        }
    }

    fn read_all(bytes: Vec<u8>, key: &str) -> Vec<Record> {
        let found = layout(key, None).expect("layout");
        let mut records = open(bytes, found, key).expect("open");
        let mut out = Vec::new();
        while let Some(r) = records.next_record().expect("read") {
            out.push(r);
        }
        out
    }

    #[test]
    fn names_say_format_and_compression() {
        assert_eq!(
            layout("a/b/day.csv.gz", None),
            Some((Format::Csv, Compression::Gzip))
        );
        assert_eq!(
            layout("x.JSONL.zst", None),
            Some((Format::Jsonl, Compression::Zstd))
        );
        assert_eq!(
            layout("ml.inter", None),
            Some((Format::Tsv, Compression::None))
        );
        assert_eq!(layout("_SUCCESS", None), None);
        assert_eq!(
            layout("part-0", Some(Format::Jsonl)),
            Some((Format::Jsonl, Compression::None))
        );
    }

    #[test]
    fn csv_tsv_and_json_lines_read_the_same_events_compressed_or_not() {
        let tsv = "user\titem\tweight\ttimestamp\nu1\ti1\t1\t1703391198\nu2\ti2\t2\t1703391199\n";
        let csv = "user_id,item_id,weight,timestamp\nu1,\"i1\",1,1703391198\r\nu2,i2,2,1703391199";
        let jsonl = "{\"user_id\":\"u1\",\"item_id\":\"i1\",\"timestamp\":1703391198}\n\n{\"user\":\"u2\",\"item\":\"i2\",\"weight\":2,\"ts\":1703391199}\n";
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(csv.as_bytes()).expect("gzip");
        let gz = gz.finish().expect("gzip");
        let zst = zstd::encode_all(jsonl.as_bytes(), 1).expect("zstd");
        let as_pairs = |records: Vec<Record>| -> Vec<(String, String, f32, i64, u64)> {
            records
                .into_iter()
                .map(|r| {
                    let e = event(r.entry);
                    (
                        e.user_id,
                        e.item_id,
                        e.weight,
                        e.occurred_at.timestamp(),
                        r.line,
                    )
                })
                .collect()
        };
        let expected = vec![
            ("u1".into(), "i1".into(), 1.0, 1_703_391_198, 2),
            ("u2".into(), "i2".into(), 2.0, 1_703_391_199, 3),
        ];
        assert_eq!(as_pairs(read_all(tsv.into(), "d.tsv")), expected);
        assert_eq!(as_pairs(read_all(gz, "d.csv.gz")), expected);
        let json = as_pairs(read_all(zst, "d.jsonl.zst"));
        assert_eq!(json[0].0, "u1");
        assert_eq!((json[1].4, json[1].2), (3, 2.0));
    }

    #[test]
    fn bad_lines_are_records_with_reasons_and_the_rest_still_reads() {
        let mut bytes = b"user_id,item_id,weight\nu1,i1,NaN\n".to_vec();
        bytes.extend_from_slice(b"u2,\xff\xfe,1\n");
        bytes.extend_from_slice(format!("u3,{},1\n", "x".repeat(MAX_LINE_BYTES + 10)).as_bytes());
        bytes.extend_from_slice(b"u4\n");
        bytes.extend_from_slice(b"u5,i5,1\n");
        let records = read_all(bytes, "bad.csv");
        let reasons: Vec<String> = records
            .iter()
            .map(|r| r.entry.as_ref().err().cloned().unwrap_or_default())
            .collect();
        assert!(reasons[0].contains("weight NaN"), "{reasons:?}");
        assert!(reasons[1].contains("not UTF-8"), "{reasons:?}");
        assert!(reasons[2].contains("line longer than"), "{reasons:?}");
        assert!(records[2].payload.len() <= MAX_PAYLOAD_BYTES);
        assert!(reasons[3].contains("no item_id"), "{reasons:?}");
        assert_eq!(event(records[4].entry.clone()).user_id, "u5");
        assert_eq!(
            records.iter().map(|r| r.line).collect::<Vec<_>>(),
            vec![2, 3, 4, 5, 6]
        );
    }

    #[test]
    fn json_lines_that_are_not_objects_are_dead_letters() {
        let records = read_all(b"[1]\n{\"user_id\": 1\n\"u\"\n".to_vec(), "x.jsonl");
        let reasons: Vec<String> = records
            .into_iter()
            .map(|r| r.entry.expect_err("bad"))
            .collect();
        assert_eq!(reasons[0], "not a JSON object");
        assert!(reasons[1].starts_with("not JSON"));
        assert_eq!(reasons[2], "not a JSON object");
    }

    #[test]
    fn an_object_without_a_usable_header_is_one_content_error() {
        let layout = super::layout("x.csv", None).expect("layout");
        for bytes in [&b""[..], b"a,b\n1,2\n"] {
            let err = open(bytes.to_vec(), layout, "x").expect_err("bad");
            assert!(matches!(err, ObjectError::Content(_)), "{err:?}");
        }
        let gz = super::layout("x.csv.gz", None).expect("layout");
        let err = open(b"not gzip".to_vec(), gz, "x").expect_err("bad");
        assert!(
            matches!(err, ObjectError::Content(ref why) if why.starts_with("header line") || why.starts_with("cannot decode")),
            "{err:?}"
        );
    }

    #[test]
    fn catalogue_rows_keep_every_other_column_as_an_attribute() {
        let reading = Reading::new(Destination::Items);
        let item = |entry: Result<Entry, String>| match entry {
            Ok(Entry::Item(i)) => i,
            other => panic!("not an item: {other:?}"),
        };
        let csv = b"item_id,Genre,in_stock\ni1,drama,no\ni2,comedy,yes\n,x,1\n".to_vec();
        let layout = super::layout("c.csv", None).expect("layout");
        let mut records = Records::open(
            Box::new(std::io::Cursor::new(csv)),
            layout,
            "c".into(),
            reading,
        )
        .expect("open");
        let first = item(records.next_record().expect("read").expect("row").entry);
        assert_eq!((first.item_id.as_str(), first.available), ("i1", false));
        assert_eq!(
            Value::Object(first.attributes),
            serde_json::json!({"Genre": "drama"})
        );
        assert!(item(records.next_record().expect("read").expect("row").entry).available);
        let bad = records.next_record().expect("read").expect("row").entry;
        assert_eq!(bad.expect_err("no id"), "item_id is empty");
        let json = item(json_entry(
            r#"{"item": 7, "available": false, "price": 9.5, "tags": ["a"]}"#,
            "k",
            &reading,
        ));
        assert_eq!((json.item_id.as_str(), json.available), ("7", false));
        assert_eq!(
            Value::Object(json.attributes),
            serde_json::json!({"price": 9.5, "tags": ["a"]})
        );
        let no_item = Records::open(
            Box::new(std::io::Cursor::new(b"user,genre\n".to_vec())),
            layout,
            "c".into(),
            reading,
        );
        assert!(matches!(no_item, Err(ObjectError::Content(_))));
    }

    #[test]
    fn resuming_skips_the_committed_lines() {
        let layout = super::layout("d.tsv", None).expect("layout");
        let bytes = b"user\titem\nu1\ti1\nu2\ti2\nu3\ti3\n".to_vec();
        let mut records = open(bytes, layout, "d").expect("open");
        records.skip_to(3).expect("skip");
        let next = records.next_record().expect("read").expect("a record");
        assert_eq!((next.line, event(next.entry).user_id.as_str()), (4, "u3"));
    }
}
