//! # capstan-moodle
//!
//! Reads a real Moodle 4.x (or Totara) site into a Capstan site: its contexts with their names,
//! capabilities, roles with their Moodle display names, permission rows and overrides, role
//! assignments, users, settings and locked contexts.
//!
//! Two sources implement [`DbSource`]: a live PostgreSQL database ([`pg::PgSource`], read in one
//! `REPEATABLE READ READ ONLY` transaction so the snapshot is consistent) and a plain or gzipped
//! `pg_dump` file ([`dump::DumpSource`]). [`import`] maps either one; what it cannot map is
//! listed in the [`ImportReport`] and the import goes on.
//!
//! ```no_run
//! use capstan_moodle::{ImportOptions, dump::DumpSource, import};
//! let mut source = DumpSource::open("moodle.sql.gz".as_ref())?;
//! let imported = import(&mut source, &ImportOptions::default())?;
//! println!("{} contexts", imported.site.contexts.len());
//! # Ok::<(), capstan_moodle::ImportError>(())
//! ```

pub mod dump;
mod map;
#[cfg(feature = "postgres")]
pub mod pg;

pub use map::{
    Counts, ImportOptions, ImportReport, Imported, Note, NoteCode, SkipCode, Skipped, import,
};

use serde::Serialize;

/// A database of Moodle tables, read as text (PostgreSQL's text form of each value).
pub trait DbSource {
    /// Every table name (with its prefix) in the schema read.
    fn tables(&mut self) -> Result<Vec<String>, ImportError>;
    /// The column names of a table, in table order.
    fn columns(&mut self, table: &str) -> Result<Vec<String>, ImportError>;
    /// Says which tables will be read next, so that a source that reads in passes (a dump
    /// file) can read them together. The default does nothing.
    fn prepare(&mut self, tables: &[String]) -> Result<(), ImportError> {
        let _ = tables;
        Ok(())
    }
    /// The rows of a table, with only the columns asked for, in that order; `None` is SQL NULL.
    fn rows(
        &mut self,
        table: &str,
        columns: &[&str],
    ) -> Result<Vec<Vec<Option<String>>>, ImportError>;
}

/// The stable code of an import failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The database URL is not a PostgreSQL URL.
    BadUrl,
    /// The database could not be reached or refused the login.
    ConnectFailed,
    /// A query failed.
    QueryFailed,
    /// The table prefix is not letters, digits and `_`.
    BadPrefix,
    /// No Moodle table has that prefix.
    NoMoodleTables,
    /// A table the import needs is missing.
    MissingTable,
    /// A column the import needs is missing.
    MissingColumn,
    /// A Moodle version this importer does not know.
    UnknownMoodleVersion,
    /// A value that cannot be read (a non-numeric id, …) where the import cannot go on.
    BadValue,
    /// The dump file cannot be read.
    MalformedDump,
}

impl ErrorCode {
    /// The code as text (`missing_table`, …).
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadUrl => "bad_url",
            ErrorCode::ConnectFailed => "connect_failed",
            ErrorCode::QueryFailed => "query_failed",
            ErrorCode::BadPrefix => "bad_prefix",
            ErrorCode::NoMoodleTables => "no_moodle_tables",
            ErrorCode::MissingTable => "missing_table",
            ErrorCode::MissingColumn => "missing_column",
            ErrorCode::UnknownMoodleVersion => "unknown_moodle_version",
            ErrorCode::BadValue => "bad_value",
            ErrorCode::MalformedDump => "malformed_dump",
        }
    }
}

/// Why an import stopped: a stable code and a message for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{message}")]
pub struct ImportError {
    /// The stable code.
    pub code: ErrorCode,
    /// What went wrong, naming the table, column or value.
    pub message: String,
}

impl ImportError {
    /// An error with that code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ImportError {
            code,
            message: message.into(),
        }
    }
}

/// Where each of `wanted` is among a table's columns `have`; `missing_column` for one that is
/// not there.
pub(crate) fn column_positions(
    table: &str,
    have: &[String],
    wanted: &[&str],
) -> Result<Vec<usize>, ImportError> {
    wanted
        .iter()
        .map(|c| {
            have.iter().position(|x| x == c).ok_or_else(|| {
                ImportError::new(
                    ErrorCode::MissingColumn,
                    format!("table `{table}` has no column `{c}`"),
                )
            })
        })
        .collect()
}
