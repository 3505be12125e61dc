//! The screens.

pub mod audit;
pub mod contexts;
pub mod heatmap;
pub mod reports;
pub mod role_edit;
pub mod roles;
pub mod site;
pub mod support;
pub mod tenants;

use leptos::prelude::*;

/// An unknown location.
#[component]
pub fn NotFound() -> impl IntoView {
    view! {
        <h1>"Not found"</h1>
        <p>"There is no such page. " <a href="#/roles">"Go to Define roles"</a></p>
    }
}
