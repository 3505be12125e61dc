//! The location, kept in the URL hash (`#/roles/3?q=forum`) so that every screen and selection
//! can be bookmarked and reloaded, and the app works from static files with no server rewrite.

use leptos::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;

/// A parsed location: path segments and query parameters.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Loc {
    /// `["roles", "3"]` for `#/roles/3`.
    pub path: Vec<String>,
    /// Query parameters in order.
    pub query: Vec<(String, String)>,
}

impl Loc {
    /// Parses a hash such as `#/roles/3?tab=assign`.
    pub fn parse(hash: &str) -> Loc {
        let h = hash.trim_start_matches('#').trim_start_matches('/');
        let (p, q) = h.split_once('?').unwrap_or((h, ""));
        Loc {
            path: p.split('/').filter(|s| !s.is_empty()).map(decode).collect(),
            query: q
                .split('&')
                .filter(|s| !s.is_empty())
                .map(|kv| {
                    let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                    (decode(k), decode(v))
                })
                .collect(),
        }
    }

    /// The path segment at `i`.
    pub fn seg(&self, i: usize) -> Option<&str> {
        self.path.get(i).map(String::as_str)
    }

    /// A query parameter.
    pub fn param(&self, key: &str) -> Option<String> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    }

    /// A numeric query parameter.
    pub fn num(&self, key: &str) -> Option<u32> {
        self.param(key).and_then(|v| v.parse().ok())
    }

    /// This location with `key` set (or removed when `value` is empty), as a hash.
    pub fn with(&self, key: &str, value: &str) -> String {
        let mut l = self.clone();
        l.query.retain(|(k, _)| k != key);
        if !value.is_empty() {
            l.query.push((key.to_string(), value.to_string()));
        }
        l.to_hash()
    }

    /// The hash for this location.
    pub fn to_hash(&self) -> String {
        let mut s = String::from("#/");
        s.push_str(
            &self
                .path
                .iter()
                .map(|p| encode(p))
                .collect::<Vec<_>>()
                .join("/"),
        );
        if !self.query.is_empty() {
            s.push('?');
            s.push_str(
                &self
                    .query
                    .iter()
                    .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
                    .collect::<Vec<_>>()
                    .join("&"),
            );
        }
        s
    }
}

fn encode(s: &str) -> String {
    js_sys::encode_uri_component(s)
        .as_string()
        .unwrap_or_default()
}

fn decode(s: &str) -> String {
    js_sys::decode_uri_component(&s.replace('+', " "))
        .ok()
        .and_then(|v| v.as_string())
        .unwrap_or_else(|| s.to_string())
}

/// The current location, shared through context.
#[derive(Clone, Copy)]
pub struct Router {
    /// The location; read it to track it.
    pub loc: RwSignal<Loc>,
}

fn current_hash() -> String {
    window().location().hash().unwrap_or_default()
}

impl Router {
    /// Starts following the URL hash.
    pub fn install() -> Router {
        let loc = RwSignal::new(Loc::parse(&current_hash()));
        let on_change = Closure::<dyn Fn()>::new(move || loc.set(Loc::parse(&current_hash())));
        let _ = window()
            .add_event_listener_with_callback("hashchange", on_change.as_ref().unchecked_ref());
        // The listener lives as long as the page.
        on_change.forget();
        Router { loc }
    }

    /// Goes to a hash (a new history entry).
    pub fn go(&self, hash: &str) {
        let _ = window().location().set_hash(hash);
        self.loc.set(Loc::parse(hash));
    }

    /// Replaces the current hash (no new history entry): for filters typed into a box.
    pub fn replace(&self, hash: &str) {
        if let Ok(history) = window().history() {
            let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(hash));
        }
        self.loc.set(Loc::parse(hash));
    }

    /// Sets one query parameter of the current location, replacing the history entry.
    pub fn set_param(&self, key: &str, value: &str) {
        let h = self.loc.with_untracked(|l| l.with(key, value));
        self.replace(&h);
    }

    /// Sets one query parameter of the current location as a new history entry.
    pub fn push_param(&self, key: &str, value: &str) {
        let h = self.loc.with_untracked(|l| l.with(key, value));
        self.go(&h);
    }
}

/// The router from context.
pub fn use_router() -> Router {
    expect_context::<Router>()
}

#[cfg(test)]
mod tests {
    use super::Loc;

    #[test]
    fn parses_path_and_query() {
        let l = Loc {
            path: vec!["contexts".into(), "12".into()],
            query: vec![("tab".into(), "check".into())],
        };
        assert_eq!(l.seg(0), Some("contexts"));
        assert_eq!(l.param("tab").as_deref(), Some("check"));
        assert_eq!(l.param("none"), None);
    }
}
