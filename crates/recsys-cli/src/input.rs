// SPDX-License-Identifier: Apache-2.0
//! Reading interaction files: CSV or TSV with a header naming the user, item and optional
//! weight and timestamp columns. A malformed line is reported with its line number.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use recsys_core::data::InteractionsBuilder;
use recsys_core::{Interactions, RawInteraction};

use crate::error::CliError;

/// Which columns to read.
#[derive(Clone, Debug, Default)]
pub struct Columns {
    /// Column whose values are the weights; `None` reads a column named `weight` if present,
    /// otherwise every interaction weighs 1.
    pub weight: Option<String>,
}

/// Header names accepted for each role, compared after dropping a `:type` suffix
/// (`user_id:token` as in RecBole's `.inter` files) and lowercasing.
const USER_NAMES: &[&str] = &["user", "user_id", "userid"];
const ITEM_NAMES: &[&str] = &["item", "item_id", "itemid"];
const TIME_NAMES: &[&str] = &["timestamp", "time", "ts"];

fn normalise(header: &str) -> String {
    header
        .split(':')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

fn find(headers: &[String], names: &[&str]) -> Option<usize> {
    headers.iter().position(|h| names.contains(&h.as_str()))
}

/// One parsed line, borrowing from the reader's line buffer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Row<'a> {
    pub user: &'a str,
    pub item: &'a str,
    pub weight: f32,
    pub timestamp: i64,
}

/// Reads the interactions of `path` into training data, interning ids as they arrive: the
/// file is never held in memory as rows of strings. Without `timestamps` only their range is
/// kept, not one per interaction.
pub fn read_interactions(
    path: &Path,
    columns: &Columns,
    timestamps: bool,
    on_line: impl FnMut(u64),
) -> Result<Interactions, CliError> {
    let mut builder = if timestamps {
        InteractionsBuilder::new()
    } else {
        InteractionsBuilder::without_timestamps()
    };
    read_rows(path, columns, on_line, |r| {
        builder
            .push(r.user, r.item, r.weight, r.timestamp)
            .map_err(|e| e.to_string())
    })?;
    Ok(builder.build()?)
}

/// Reads every interaction of `path` as owned rows, for the few callers that need the file's
/// own rows rather than the merged matrix.
pub fn read_raw(
    path: &Path,
    columns: &Columns,
    on_line: impl FnMut(u64),
) -> Result<Vec<RawInteraction>, CliError> {
    let mut out = Vec::new();
    read_rows(path, columns, on_line, |r| {
        out.push(RawInteraction {
            user: r.user.to_string(),
            item: r.item.to_string(),
            weight: r.weight,
            timestamp: r.timestamp,
        });
        Ok(())
    })?;
    Ok(out)
}

/// Parses `path` (`-` for standard input) and hands each row to `sink`; an error from the
/// sink is reported with the line number. Returns the number of rows.
pub fn read_rows(
    path: &Path,
    columns: &Columns,
    mut on_line: impl FnMut(u64),
    mut sink: impl FnMut(Row<'_>) -> Result<(), String>,
) -> Result<u64, CliError> {
    let display = path.display().to_string();
    let source: Box<dyn Read> = if path.as_os_str() == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(
            File::open(path).map_err(|e| CliError::Input(format!("cannot open {display}: {e}")))?,
        )
    };
    // Large enough that reads are few, small enough not to show in the peak heap of small files.
    let mut reader = BufReader::with_capacity(256 << 10, source);
    let bad = |line: u64, why: String| CliError::Input(format!("{display}:{line}: {why}"));

    let mut header = String::new();
    reader
        .read_line(&mut header)
        .map_err(|e| bad(1, format!("cannot read: {e}")))?;
    let header = header.trim_end_matches(['\n', '\r']);
    if header.is_empty() {
        return Err(bad(
            1,
            "the file is empty; expected a header line such as \"user\\titem\"".into(),
        ));
    }
    let delimiter = if header.contains('\t') { '\t' } else { ',' };
    let headers: Vec<String> = header.split(delimiter).map(normalise).collect();
    let user_col = find(&headers, USER_NAMES).ok_or_else(|| {
        bad(
            1,
            format!("no user column in the header (expected one of {USER_NAMES:?})"),
        )
    })?;
    let item_col = find(&headers, ITEM_NAMES).ok_or_else(|| {
        bad(
            1,
            format!("no item column in the header (expected one of {ITEM_NAMES:?})"),
        )
    })?;
    let weight_col = match &columns.weight {
        Some(name) => Some(
            find(&headers, &[normalise(name).as_str()])
                .ok_or_else(|| bad(1, format!("no column named \"{name}\" for weights")))?,
        ),
        None => find(&headers, &["weight"]),
    };
    let time_col = find(&headers, TIME_NAMES);

    let mut rows = 0u64;
    let mut line = String::new();
    let mut number = 1u64;
    loop {
        line.clear();
        number += 1;
        let n = reader
            .read_line(&mut line)
            .map_err(|e| bad(number, format!("cannot read (is the file UTF-8?): {e}")))?;
        if n == 0 {
            break;
        }
        let text = line.trim_end_matches(['\n', '\r']);
        if text.is_empty() {
            continue;
        }
        let (mut user, mut item, mut weight_text, mut time_text) = ("", "", None, None);
        let mut fields = 0;
        for (c, field) in text.split(delimiter).enumerate() {
            if c == user_col {
                user = field.trim();
            } else if c == item_col {
                item = field.trim();
            }
            if Some(c) == weight_col {
                weight_text = Some(field);
            }
            if Some(c) == time_col {
                time_text = Some(field);
            }
            fields += 1;
        }
        if fields != headers.len() {
            return Err(bad(
                number,
                format!("expected {} fields, found {fields}", headers.len()),
            ));
        }
        if user.is_empty() || item.is_empty() {
            return Err(bad(number, "empty user or item".into()));
        }
        let weight = match weight_text {
            None => 1.0,
            Some(text) => {
                let w: f32 = text
                    .trim()
                    .parse()
                    .map_err(|_| bad(number, format!("weight \"{text}\" is not a number")))?;
                if !w.is_finite() || w <= 0.0 {
                    return Err(bad(
                        number,
                        format!("weight {w} must be a finite number > 0"),
                    ));
                }
                w
            }
        };
        let timestamp = match time_text {
            None => 0,
            Some(text) => parse_timestamp(text.trim()).ok_or_else(|| {
                bad(
                    number,
                    format!("timestamp \"{text}\" is not a number of seconds"),
                )
            })?,
        };
        if let Err(e) =
            recsys_core::data::validate_id(user).and(recsys_core::data::validate_id(item))
        {
            return Err(bad(number, e.to_string()));
        }
        sink(Row {
            user,
            item,
            weight,
            timestamp,
        })
        .map_err(|why| bad(number, why))?;
        rows += 1;
        if number.is_multiple_of(100_000) {
            on_line(number);
        }
    }
    if rows == 0 {
        return Err(CliError::Input(format!(
            "{display}: no interactions after the header"
        )));
    }
    Ok(rows)
}

/// Unix seconds, written as an integer or a float (`881250949` or `881250949.0`).
fn parse_timestamp(s: &str) -> Option<i64> {
    if let Ok(v) = s.parse::<i64>() {
        return Some(v);
    }
    let v: f64 = s.parse().ok()?;
    (v.is_finite() && v.abs() < 9.0e18).then_some(v as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_file(text: &str) -> std::path::PathBuf {
        // Tests run in parallel: every file gets its own name.
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("recsys-input-{}-{n}.txt", std::process::id()));
        std::fs::write(&path, text).unwrap();
        path
    }

    fn read(text: &str, columns: &Columns) -> Result<Vec<RawInteraction>, CliError> {
        let path = temp_file(text);
        let r = read_raw(&path, columns, |_| {});
        std::fs::remove_file(&path).unwrap();
        r
    }

    #[test]
    fn reads_into_merged_training_data() {
        let path = temp_file("item,weight,user\nx,2,b\ny,1,a\nx,0.5,b\n");
        let data = read_interactions(&path, &Columns::default(), true, |_| {}).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(data.users.ids(), ["a", "b"]);
        assert_eq!(data.items.ids(), ["x", "y"]);
        assert_eq!(data.by_user.row(1), (&[0u32][..], &[2.5f32][..]));
        assert_eq!(data.nnz(), 2);
    }

    #[test]
    fn sink_errors_carry_the_line_number() {
        let path = temp_file("user\titem\nu\ti\nv\tj\n");
        let mut seen = Vec::new();
        let err = read_rows(
            &path,
            &Columns::default(),
            |_| {},
            |r| {
                seen.push(r.user.to_string());
                if r.user == "v" {
                    Err("refused".into())
                } else {
                    Ok(())
                }
            },
        )
        .unwrap_err()
        .to_string();
        std::fs::remove_file(&path).unwrap();
        assert!(err.ends_with(":3: refused"), "{err}");
        assert_eq!(seen, ["u", "v"]);
    }

    #[test]
    fn reads_tsv_with_recbole_header() {
        let rows = read(
            "user_id:token\titem_id:token\trating:float\ttimestamp:float\n1\t10\t4\t881250949\n",
            &Columns::default(),
        )
        .unwrap();
        assert_eq!(
            rows,
            vec![RawInteraction {
                user: "1".into(),
                item: "10".into(),
                weight: 1.0,
                timestamp: 881250949
            }]
        );
        let weighted = read(
            "user\titem\trating\n1\t10\t4\n",
            &Columns {
                weight: Some("rating".into()),
            },
        )
        .unwrap();
        assert_eq!(weighted[0].weight, 4.0);
    }

    #[test]
    fn reads_csv_with_weight_column_by_default() {
        let rows = read("user,item,weight\na,x,2.5\n\nb,y,1\n", &Columns::default()).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].weight, 2.5);
    }

    #[test]
    fn reports_line_numbers() {
        let cases = [
            ("user,item\na,x\nb\n", ":3: expected 2 fields, found 1"),
            (
                "user,item,weight\na,x,1\nb,y,abc\n",
                ":3: weight \"abc\" is not a number",
            ),
            ("user,item,weight\na,x,-1\n", ":2: weight -1 must be"),
            ("user,item,timestamp\na,x,yesterday\n", ":2: timestamp"),
            ("user,item\n,x\n", ":2: empty user or item"),
            ("name,thing\na,x\n", ":1: no user column"),
            ("", ":1: the file is empty"),
            ("user,item\n", "no interactions after the header"),
        ];
        for (text, want) in cases {
            let err = read(text, &Columns::default()).unwrap_err().to_string();
            assert!(err.contains(want), "{text:?}: {err}");
        }
    }
}
