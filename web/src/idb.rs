//! IndexedDB, for what does not fit local storage: the text of the base snapshot (a server's
//! site is megabytes; local storage holds about five). One database `capstan`, one object store
//! `kv` of strings by key.

use leptos::prelude::window;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{IdbDatabase, IdbRequest, IdbTransactionMode};

const DB: &str = "capstan";
const STORE: &str = "kv";

/// A promise settled by a request's `success` (with its result) or `error`.
fn settled(req: &IdbRequest) -> js_sys::Promise {
    let req = req.clone();
    js_sys::Promise::new(&mut |resolve, reject| {
        let done = req.clone();
        let ok = Closure::once_into_js(move || {
            let _ = resolve.call1(&JsValue::NULL, &done.result().unwrap_or(JsValue::UNDEFINED));
        });
        let failed = Closure::once_into_js(move || {
            let _ = reject.call0(&JsValue::NULL);
        });
        req.set_onsuccess(Some(ok.unchecked_ref()));
        req.set_onerror(Some(failed.unchecked_ref()));
    })
}

async fn open() -> Result<IdbDatabase, String> {
    let factory = window()
        .indexed_db()
        .ok()
        .flatten()
        .ok_or("this browser has no IndexedDB")?;
    let req = factory
        .open_with_u32(DB, 1)
        .map_err(|_| "cannot open the browser's database")?;
    let upgrade = {
        let req = req.clone();
        Closure::once_into_js(move || {
            if let Ok(db) = req.result() {
                let _ = db
                    .unchecked_into::<IdbDatabase>()
                    .create_object_store(STORE);
            }
        })
    };
    req.set_onupgradeneeded(Some(upgrade.unchecked_ref()));
    let db = JsFuture::from(settled(&req))
        .await
        .map_err(|_| "cannot open the browser's database")?;
    Ok(db.unchecked_into())
}

/// The text stored under `key`.
pub async fn get(key: &str) -> Result<Option<String>, String> {
    let db = open().await?;
    let req = db
        .transaction_with_str(STORE)
        .and_then(|tx| tx.object_store(STORE))
        .and_then(|s| s.get(&JsValue::from_str(key)))
        .map_err(|_| "cannot read the browser's database")?;
    let value = JsFuture::from(settled(&req))
        .await
        .map_err(|_| "cannot read the browser's database")?;
    db.close();
    Ok(value.as_string())
}

/// Stores `value` under `key` (none: deletes it).
pub async fn put(key: &str, value: Option<&str>) -> Result<(), String> {
    let db = open().await?;
    let store = db
        .transaction_with_str_and_mode(STORE, IdbTransactionMode::Readwrite)
        .and_then(|tx| tx.object_store(STORE))
        .map_err(|_| "cannot write the browser's database")?;
    let req = match value {
        Some(v) => store.put_with_key(&JsValue::from_str(v), &JsValue::from_str(key)),
        None => store.delete(&JsValue::from_str(key)),
    }
    .map_err(|_| "cannot write the browser's database")?;
    JsFuture::from(settled(&req))
        .await
        .map_err(|_| "the browser's database refused the site (is the disk full?)")?;
    db.close();
    Ok(())
}
