//! wasm-bindgen tests in Node.
#![cfg(target_arch = "wasm32")]
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use wasm_bindgen_test::wasm_bindgen_test;

mod common;

#[wasm_bindgen_test]
fn answers_questions() {
    common::answers_questions();
}

#[wasm_bindgen_test]
fn errors_carry_codes() {
    common::errors_carry_codes();
}
