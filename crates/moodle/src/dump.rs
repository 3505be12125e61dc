//! A `pg_dump` file (plain SQL, optionally gzipped) as a [`DbSource`]: its `COPY … FROM stdin`
//! blocks are the tables. Nothing is executed; only the data blocks are read.
//!
//! Memory stays with what the import reads, not with the dump: opening reads only the `COPY`
//! headers; [`DbSource::prepare`] then keeps the rows of the tables asked for in one more pass
//! (a site's log and file tables are passed over), and a table asked for unprepared costs a pass
//! of its own.

use crate::{DbSource, ErrorCode, ImportError};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// The tables of a dump: each one's columns, and the rows of those read so far.
#[derive(Debug)]
pub struct DumpSource {
    origin: Origin,
    columns: BTreeMap<String, Vec<String>>,
    rows: HashMap<String, Vec<String>>,
}

#[derive(Debug)]
enum Origin {
    File(PathBuf),
    Text(String),
}

fn malformed(message: String) -> ImportError {
    ImportError::new(ErrorCode::MalformedDump, message)
}

/// Reads a dump, calling `header` for each COPY block's table and columns, and `row` for each
/// line of the tables for which `header` returned true.
fn scan(
    input: impl BufRead,
    mut header: impl FnMut(&str, Vec<String>) -> bool,
    mut row: impl FnMut(&str, String),
) -> Result<(), ImportError> {
    // (table, number of columns, keep its rows)
    let mut current: Option<(String, usize, bool)> = None;
    for (n, line) in input.lines().enumerate() {
        let line = line.map_err(|e| malformed(format!("cannot read line {}: {e}", n + 1)))?;
        if let Some((name, width, keep)) = current.as_ref() {
            if line == "\\." {
                current = None;
                continue;
            }
            let fields = line.split('\t').count();
            if fields != *width {
                return Err(malformed(format!(
                    "line {}: a row of `{name}` has {fields} fields, its COPY header names {width}",
                    n + 1
                )));
            }
            if *keep {
                row(name, line);
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix("COPY ") {
            let (name, columns) = parse_copy_header(rest).ok_or_else(|| {
                malformed(format!("line {}: a COPY header that cannot be read", n + 1))
            })?;
            let width = columns.len();
            let keep = header(&name, columns);
            current = Some((name, width, keep));
        }
    }
    if let Some((name, _, _)) = current {
        return Err(malformed(format!(
            "the COPY block of `{name}` does not end (no `\\.` line)"
        )));
    }
    Ok(())
}

impl DumpSource {
    /// Opens a dump file (gzip is recognised by its magic bytes) and reads its table headers.
    pub fn open(path: &Path) -> Result<DumpSource, ImportError> {
        DumpSource::with_headers(Origin::File(path.to_path_buf()))
    }

    /// A dump given as text.
    pub fn from_text(text: &str) -> Result<DumpSource, ImportError> {
        DumpSource::with_headers(Origin::Text(text.to_string()))
    }

    /// A source over `origin` with its table headers read (one pass, no rows kept).
    fn with_headers(origin: Origin) -> Result<DumpSource, ImportError> {
        let mut d = DumpSource {
            origin,
            columns: BTreeMap::new(),
            rows: HashMap::new(),
        };
        let mut columns = BTreeMap::new();
        d.pass(
            |name, cols| {
                columns.insert(name.to_string(), cols);
                false
            },
            |_, _| {},
        )?;
        d.columns = columns;
        Ok(d)
    }

    /// One pass over the dump.
    fn pass(
        &self,
        header: impl FnMut(&str, Vec<String>) -> bool,
        row: impl FnMut(&str, String),
    ) -> Result<(), ImportError> {
        match &self.origin {
            Origin::Text(t) => scan(t.as_bytes(), header, row),
            Origin::File(path) => {
                let context = |e: ImportError| ImportError {
                    code: e.code,
                    message: format!("dump `{}`: {}", path.display(), e.message),
                };
                let file = std::fs::File::open(path).map_err(|e| {
                    malformed(format!("cannot open dump `{}`: {e}", path.display()))
                })?;
                let mut reader = BufReader::new(file);
                let gz = reader
                    .fill_buf()
                    .map(|b| b.starts_with(&[0x1f, 0x8b]))
                    .unwrap_or(false);
                let input: Box<dyn Read> = if gz {
                    Box::new(flate2::read::MultiGzDecoder::new(reader))
                } else {
                    Box::new(reader)
                };
                scan(BufReader::new(input), header, row).map_err(context)
            }
        }
    }

    /// Keeps the rows of these tables (those not kept yet) in one pass.
    fn load(&mut self, tables: &[String]) -> Result<(), ImportError> {
        let wanted: HashSet<&str> = tables
            .iter()
            .map(String::as_str)
            .filter(|t| self.columns.contains_key(*t) && !self.rows.contains_key(*t))
            .collect();
        if wanted.is_empty() {
            return Ok(());
        }
        let mut got: HashMap<String, Vec<String>> =
            wanted.iter().map(|t| (t.to_string(), Vec::new())).collect();
        self.pass(
            |name, _| wanted.contains(name),
            |name, line| {
                if let Some(v) = got.get_mut(name) {
                    v.push(line);
                }
            },
        )?;
        self.rows.extend(got);
        Ok(())
    }
}

/// `public.mdl_role (id, name, …) FROM stdin;` → (`mdl_role`, [`id`, `name`, …]).
fn parse_copy_header(rest: &str) -> Option<(String, Vec<String>)> {
    let (target, tail) = rest.split_once(" (")?;
    let (cols, tail) = tail.split_once(')')?;
    if tail.trim() != "FROM stdin;" {
        return None;
    }
    let name = target.rsplit('.').next()?.trim_matches('"').to_string();
    let columns = cols
        .split(',')
        .map(|c| c.trim().trim_matches('"').to_string())
        .collect::<Vec<_>>();
    if name.is_empty() || columns.iter().any(String::is_empty) {
        return None;
    }
    Some((name, columns))
}

/// One field of PostgreSQL's COPY text format: `\N` is NULL, backslash escapes are decoded.
fn unescape(field: &str) -> Option<String> {
    if field == "\\N" {
        return None;
    }
    if !field.contains('\\') {
        return Some(field.to_string());
    }
    let mut bytes = Vec::with_capacity(field.len());
    let raw = field.as_bytes();
    let mut i = 0;
    while let Some(&b) = raw.get(i) {
        if b != b'\\' {
            bytes.push(b);
            i += 1;
            continue;
        }
        let Some(&next) = raw.get(i + 1) else {
            bytes.push(b'\\');
            break;
        };
        i += 2;
        match next {
            b'b' => bytes.push(8),
            b'f' => bytes.push(12),
            b'n' => bytes.push(b'\n'),
            b'r' => bytes.push(b'\r'),
            b't' => bytes.push(b'\t'),
            b'v' => bytes.push(11),
            b'0'..=b'7' => {
                let mut v = u32::from(next - b'0');
                for _ in 0..2 {
                    match raw.get(i) {
                        Some(&d @ b'0'..=b'7') => {
                            v = v * 8 + u32::from(d - b'0');
                            i += 1;
                        }
                        _ => break,
                    }
                }
                bytes.push((v & 0xff) as u8);
            }
            b'x' => {
                let mut v = 0u32;
                let mut digits = 0;
                while digits < 2 {
                    match raw.get(i).and_then(|d| (*d as char).to_digit(16)) {
                        Some(d) => {
                            v = v * 16 + d;
                            i += 1;
                            digits += 1;
                        }
                        None => break,
                    }
                }
                if digits == 0 {
                    bytes.push(b'x');
                } else {
                    bytes.push(v as u8);
                }
            }
            other => bytes.push(other),
        }
    }
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

impl DbSource for DumpSource {
    fn tables(&mut self) -> Result<Vec<String>, ImportError> {
        Ok(self.columns.keys().cloned().collect())
    }

    fn columns(&mut self, table: &str) -> Result<Vec<String>, ImportError> {
        self.columns
            .get(table)
            .cloned()
            .ok_or_else(|| ImportError::new(ErrorCode::MissingTable, format!("no table `{table}`")))
    }

    fn prepare(&mut self, tables: &[String]) -> Result<(), ImportError> {
        self.load(tables)
    }

    fn rows(
        &mut self,
        table: &str,
        columns: &[&str],
    ) -> Result<Vec<Vec<Option<String>>>, ImportError> {
        let have = self.columns(table)?;
        let positions = crate::column_positions(table, &have, columns)?;
        self.load(&[table.to_string()])?;
        let lines = self.rows.get(table).map_or(&[][..], Vec::as_slice);
        Ok(lines
            .iter()
            .map(|line| {
                let fields: Vec<&str> = line.split('\t').collect();
                positions
                    .iter()
                    .map(|&p| fields.get(p).and_then(|f| unescape(f)))
                    .collect()
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_blocks_are_tables_and_fields_are_unescaped() {
        let text = "\\restrict abc\nCREATE TABLE x;\nCOPY public.mdl_role (id, name, \"desc\") FROM stdin;\n\
                    1\t\tA\\tB\\\\C\\nD\n2\t\\N\t\\101\\x42\n\\.\n";
        let mut d = DumpSource::from_text(text).unwrap();
        assert_eq!(d.tables().unwrap(), vec!["mdl_role".to_string()]);
        assert_eq!(d.columns("mdl_role").unwrap(), ["id", "name", "desc"]);
        let rows = d.rows("mdl_role", &["desc", "name"]).unwrap();
        assert_eq!(rows[0], [Some("A\tB\\C\nD".into()), Some(String::new())]);
        assert_eq!(rows[1], [Some("AB".into()), None]);
        assert_eq!(
            d.rows("mdl_role", &["nope"]).unwrap_err().code,
            ErrorCode::MissingColumn
        );
        assert_eq!(
            d.rows("mdl_user", &["id"]).unwrap_err().code,
            ErrorCode::MissingTable
        );
    }

    #[test]
    fn only_the_tables_asked_for_are_kept() {
        let text = "COPY public.mdl_a (id) FROM stdin;\n1\n\\.\nCOPY public.mdl_log (id) FROM stdin;\n1\n2\n\\.\n";
        let mut d = DumpSource::from_text(text).unwrap();
        assert!(d.rows.is_empty());
        d.prepare(&["mdl_a".to_string(), "mdl_nosuch".to_string()])
            .unwrap();
        assert_eq!(d.rows.keys().collect::<Vec<_>>(), ["mdl_a"]);
        assert_eq!(d.rows("mdl_log", &["id"]).unwrap().len(), 2);
        assert_eq!(d.rows.len(), 2);
    }

    #[test]
    fn broken_dumps_are_refused_with_a_code() {
        for text in [
            "COPY public.mdl_role (id, name) FROM stdin;\n1\tx\n",
            "COPY public.mdl_role (id, name) FROM stdin;\n1\n\\.\n",
            "COPY public.mdl_role id FROM stdin;\n\\.\n",
        ] {
            assert_eq!(
                DumpSource::from_text(text).unwrap_err().code,
                ErrorCode::MalformedDump,
                "{text}"
            );
        }
    }
}
