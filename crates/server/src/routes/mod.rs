//! The handlers of `/api/v1`, one module per area.

pub mod admin;
pub mod audit;
pub mod bundle;
pub mod events;
pub mod presets;
pub mod questions;
pub mod session;
pub mod site;
pub mod support;
