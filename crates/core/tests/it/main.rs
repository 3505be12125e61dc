//! Integration tests of capstan-core: one binary, several modules.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod bundles;
mod conformance;
mod edits;
mod moodle;
mod reference;
mod robustness;
