//! capstan-web: the Capstan admin app, a Leptos client-side app built by Trunk.
//!
//! It links capstan-core directly (compiled to wasm inside the app), keeps the whole site in
//! browser storage and works with no server at all; when a Capstan server is there it syncs
//! edits with it. See `app.rs` for the shell, `store.rs` for the state and `pages/` for screens.

mod app;
mod idb;
mod multilang;
mod pages;
mod route;
mod store;
mod sync;
mod ui;

fn main() {
    leptos::mount::mount_to_body(app::App);
}
