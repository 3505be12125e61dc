//! A `pg_dump` file (plain SQL, optionally gzipped) as a [`DbSource`]: its `COPY … FROM stdin`
//! blocks are the tables. Nothing is executed; only the data blocks are read.

use crate::{DbSource, ErrorCode, ImportError};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

/// The tables of a dump, each with its columns and the raw lines of its `COPY` block.
#[derive(Debug, Default)]
pub struct DumpSource {
    tables: BTreeMap<String, Table>,
}

#[derive(Debug, Default)]
struct Table {
    columns: Vec<String>,
    lines: Vec<String>,
}

impl DumpSource {
    /// Reads a dump file; gzip is recognised by its magic bytes.
    pub fn open(path: &Path) -> Result<DumpSource, ImportError> {
        let file = std::fs::File::open(path).map_err(|e| {
            ImportError::new(
                ErrorCode::MalformedDump,
                format!("cannot open dump `{}`: {e}", path.display()),
            )
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
        DumpSource::read(BufReader::new(input)).map_err(|e| ImportError {
            code: e.code,
            message: format!("dump `{}`: {}", path.display(), e.message),
        })
    }

    /// Reads a dump from text.
    pub fn from_text(text: &str) -> Result<DumpSource, ImportError> {
        DumpSource::read(text.as_bytes())
    }

    fn read(input: impl BufRead) -> Result<DumpSource, ImportError> {
        let mut tables: BTreeMap<String, Table> = BTreeMap::new();
        let mut current: Option<(String, Table)> = None;
        for (n, line) in input.lines().enumerate() {
            let line = line.map_err(|e| {
                ImportError::new(
                    ErrorCode::MalformedDump,
                    format!("cannot read line {}: {e}", n + 1),
                )
            })?;
            if let Some((name, table)) = current.as_mut() {
                if line == "\\." {
                    if let Some((name, table)) = current.take() {
                        tables.insert(name, table);
                    }
                } else {
                    if line.split('\t').count() != table.columns.len() {
                        return Err(ImportError::new(
                            ErrorCode::MalformedDump,
                            format!(
                                "line {}: a row of `{name}` has {} fields, its COPY header names {}",
                                n + 1,
                                line.split('\t').count(),
                                table.columns.len()
                            ),
                        ));
                    }
                    table.lines.push(line);
                }
                continue;
            }
            if let Some(rest) = line.strip_prefix("COPY ") {
                let (name, columns) = parse_copy_header(rest).ok_or_else(|| {
                    ImportError::new(
                        ErrorCode::MalformedDump,
                        format!("line {}: a COPY header that cannot be read", n + 1),
                    )
                })?;
                current = Some((
                    name,
                    Table {
                        columns,
                        lines: Vec::new(),
                    },
                ));
            }
        }
        if let Some((name, _)) = current {
            return Err(ImportError::new(
                ErrorCode::MalformedDump,
                format!("the COPY block of `{name}` does not end (no `\\.` line)"),
            ));
        }
        Ok(DumpSource { tables })
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
        Ok(self.tables.keys().cloned().collect())
    }

    fn columns(&mut self, table: &str) -> Result<Vec<String>, ImportError> {
        self.tables
            .get(table)
            .map(|t| t.columns.clone())
            .ok_or_else(|| ImportError::new(ErrorCode::MissingTable, format!("no table `{table}`")))
    }

    fn rows(
        &mut self,
        table: &str,
        columns: &[&str],
    ) -> Result<Vec<Vec<Option<String>>>, ImportError> {
        let t = self.tables.get(table).ok_or_else(|| {
            ImportError::new(ErrorCode::MissingTable, format!("no table `{table}`"))
        })?;
        let positions = columns
            .iter()
            .map(|c| {
                t.columns.iter().position(|x| x == c).ok_or_else(|| {
                    ImportError::new(
                        ErrorCode::MissingColumn,
                        format!("table `{table}` has no column `{c}`"),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(t.lines
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
