//! A live PostgreSQL database as a [`DbSource`], read in one `REPEATABLE READ READ ONLY`
//! transaction: every table is read from the same snapshot, and nothing can be written.

use crate::{DbSource, ErrorCode, ImportError};
use postgres::{Client, NoTls, SimpleQueryMessage};
use std::time::Duration;

/// A connection to a Moodle database with its read-only transaction open.
pub struct PgSource {
    client: Client,
}

/// The text of a client error, with the server's message when there is one.
fn describe(e: &postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{}: {}", db.severity(), db.message());
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn query_failed(what: &str, e: &postgres::Error) -> ImportError {
    ImportError::new(ErrorCode::QueryFailed, format!("{what}: {}", describe(e)))
}

/// The URL with its password (if any) replaced by `***`, for messages.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

/// `"name"` with inner quotes doubled.
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

impl PgSource {
    /// Connects to `postgres://USER[:PASSWORD]@HOST[:PORT]/DB` (or `postgresql://`; a
    /// `?host=/path` names a Unix socket folder) and opens the read-only transaction. Without a
    /// password in the URL, `PGPASSWORD` is used when set (as psql does). Messages never show
    /// the password.
    pub fn connect(url: &str) -> Result<PgSource, ImportError> {
        let shown = redact(url);
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(ImportError::new(
                ErrorCode::BadUrl,
                format!("`{shown}` is not a PostgreSQL URL (postgres://USER@HOST:PORT/DB)"),
            ));
        }
        let mut config: postgres::Config = url.parse().map_err(|e: postgres::Error| {
            ImportError::new(
                ErrorCode::BadUrl,
                format!("`{shown}` is not a valid PostgreSQL URL: {}", describe(&e)),
            )
        })?;
        if config.get_password().is_none()
            && let Some(p) = std::env::var_os("PGPASSWORD")
        {
            config.password(p.as_encoded_bytes());
        }
        config.connect_timeout(Duration::from_secs(10));
        config.application_name("capstan import moodle");
        let mut client = config.connect(NoTls).map_err(|e| {
            ImportError::new(
                ErrorCode::ConnectFailed,
                format!("cannot connect to the database: {}", describe(&e)),
            )
        })?;
        client
            .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .map_err(|e| query_failed("cannot start a read-only transaction", &e))?;
        Ok(PgSource { client })
    }

    fn text_rows(&mut self, sql: &str) -> Result<Vec<Vec<Option<String>>>, ImportError> {
        let messages = self
            .client
            .simple_query(sql)
            .map_err(|e| query_failed(sql, &e))?;
        Ok(messages
            .into_iter()
            .filter_map(|m| match m {
                SimpleQueryMessage::Row(row) => Some(
                    (0..row.len())
                        .map(|i| row.get(i).map(str::to_string))
                        .collect(),
                ),
                _ => None,
            })
            .collect())
    }
}

impl Drop for PgSource {
    fn drop(&mut self) {
        // Read only: nothing to keep; ending the transaction releases its snapshot at once.
        let _ = self.client.batch_execute("ROLLBACK");
    }
}

impl DbSource for PgSource {
    fn tables(&mut self) -> Result<Vec<String>, ImportError> {
        let rows = self.text_rows(
            "SELECT table_name FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY 1",
        )?;
        Ok(rows
            .into_iter()
            .filter_map(|r| r.into_iter().next().flatten())
            .collect())
    }

    fn columns(&mut self, table: &str) -> Result<Vec<String>, ImportError> {
        let rows = self
            .client
            .query(
                "SELECT column_name::text FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name = $1 \
                 ORDER BY ordinal_position",
                &[&table],
            )
            .map_err(|e| query_failed(&format!("columns of `{table}`"), &e))?;
        let columns: Vec<String> = rows
            .iter()
            .filter_map(|r| r.try_get::<_, String>(0).ok())
            .collect();
        if columns.is_empty() {
            return Err(ImportError::new(
                ErrorCode::MissingTable,
                format!("no table `{table}`"),
            ));
        }
        Ok(columns)
    }

    fn rows(
        &mut self,
        table: &str,
        columns: &[&str],
    ) -> Result<Vec<Vec<Option<String>>>, ImportError> {
        let have = self.columns(table)?;
        crate::column_positions(table, &have, columns)?;
        let list = columns
            .iter()
            .map(|c| format!("{}::text", ident(c)))
            .collect::<Vec<_>>()
            .join(", ");
        self.text_rows(&format!("SELECT {list} FROM {}", ident(table)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show_in_messages() {
        assert_eq!(
            redact("postgres://moodle:s3cret@db.example:5432/moodle?sslmode=disable"),
            "postgres://moodle:***@db.example:5432/moodle?sslmode=disable"
        );
        assert_eq!(
            redact("postgres://moodle@db/moodle"),
            "postgres://moodle@db/moodle"
        );
        assert_eq!(redact("not a url"), "not a url");
        let Err(e) = PgSource::connect("postgres://u:s3cret@host:notaport/db") else {
            panic!("a bad port connected");
        };
        assert_eq!(e.code, ErrorCode::BadUrl);
        assert!(!e.message.contains("s3cret"), "{}", e.message);
        let Err(e) = PgSource::connect("mysql://u:s3cret@host/db") else {
            panic!("mysql connected");
        };
        assert!(!e.message.contains("s3cret"), "{}", e.message);
    }
}
