//! capstan-server's tests: a real server on a free port (in this process, with an injected
//! clock) or the real binary, a real SQLite file, requests over HTTP.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

mod api;
mod common;
mod concurrency;
mod conformance;
mod crash;
mod matrix;
mod openapi;
mod publication;
mod security;
mod seed_moodle;
mod support;
