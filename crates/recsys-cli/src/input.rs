// SPDX-License-Identifier: Apache-2.0
//! Reading interaction files: CSV or TSV with a header naming the user, item and optional
//! weight and timestamp columns. A malformed line is reported with its line number.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use recsys_core::RawInteraction;

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

/// Reads every interaction of `path` (`-` for standard input).
pub fn read_interactions(
    path: &Path,
    columns: &Columns,
    mut on_line: impl FnMut(u64),
) -> Result<Vec<RawInteraction>, CliError> {
    let display = path.display().to_string();
    let source: Box<dyn Read> = if path.as_os_str() == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(
            File::open(path).map_err(|e| CliError::Input(format!("cannot open {display}: {e}")))?,
        )
    };
    let mut reader = BufReader::with_capacity(1 << 20, source);
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

    let mut out = Vec::new();
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
        let fields: Vec<&str> = text.split(delimiter).collect();
        if fields.len() != headers.len() {
            return Err(bad(
                number,
                format!("expected {} fields, found {}", headers.len(), fields.len()),
            ));
        }
        let user = fields[user_col].trim();
        let item = fields[item_col].trim();
        if user.is_empty() || item.is_empty() {
            return Err(bad(number, "empty user or item".into()));
        }
        let weight = match weight_col {
            None => 1.0,
            Some(c) => {
                let w: f32 = fields[c].trim().parse().map_err(|_| {
                    bad(number, format!("weight \"{}\" is not a number", fields[c]))
                })?;
                if !w.is_finite() || w <= 0.0 {
                    return Err(bad(
                        number,
                        format!("weight {w} must be a finite number > 0"),
                    ));
                }
                w
            }
        };
        let timestamp = match time_col {
            None => 0,
            Some(c) => parse_timestamp(fields[c].trim()).ok_or_else(|| {
                bad(
                    number,
                    format!("timestamp \"{}\" is not a number of seconds", fields[c]),
                )
            })?,
        };
        if let Err(e) =
            recsys_core::data::validate_id(user).and(recsys_core::data::validate_id(item))
        {
            return Err(bad(number, e.to_string()));
        }
        out.push(RawInteraction {
            user: user.to_string(),
            item: item.to_string(),
            weight,
            timestamp,
        });
        if number.is_multiple_of(100_000) {
            on_line(number);
        }
    }
    if out.is_empty() {
        return Err(CliError::Input(format!(
            "{display}: no interactions after the header"
        )));
    }
    Ok(out)
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

    fn read(text: &str, columns: &Columns) -> Result<Vec<RawInteraction>, CliError> {
        let path = std::env::temp_dir().join(format!(
            "recsys-input-{}-{}.txt",
            std::process::id(),
            text.len()
        ));
        std::fs::write(&path, text).unwrap();
        let r = read_interactions(&path, columns, |_| {});
        std::fs::remove_file(&path).unwrap();
        r
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
