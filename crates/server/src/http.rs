//! The HTTP layer around the router: the accept loop (a connection cap, a time limit on
//! reading request headers), a time limit on every request, the security headers on every
//! answer, and the app's static files.

use crate::error::ApiError;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use capstan_api::codes;
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;

/// Connections served at once; more wait in the kernel's backlog until one ends.
pub const MAX_CONNECTIONS: usize = 1024;
/// A client has this long to send a request's headers (also between requests on a kept-alive
/// connection), or the connection is closed.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// A request (its body read and its answer made) may take this long, else `408 timeout`.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// The longest request path served (a longer one is `404 not_found`).
pub const MAX_PATH: usize = 2048;
/// The longest path segment served.
pub const MAX_SEGMENT: usize = 255;

/// Serves `app` on `listener` until `shutdown` resolves: HTTP/1.1, at most
/// [`MAX_CONNECTIONS`] connections at once, [`HEADER_READ_TIMEOUT`] to send headers. Each
/// request carries its peer's address (`ConnectInfo<SocketAddr>`).
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            s = slots.clone().acquire_owned() => s.map_err(std::io::Error::other)?,
            () = &mut shutdown => return Ok(()),
        };
        let (stream, addr) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little, go on.
                    eprintln!("capstan-server: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => return Ok(()),
        };
        let app = app.clone();
        tokio::spawn(async move {
            connection(stream, addr, app).await;
            drop(slot);
        });
    }
}

async fn connection(stream: tokio::net::TcpStream, addr: SocketAddr, app: axum::Router) {
    let service = hyper::service::service_fn(move |mut req: Request<hyper::body::Incoming>| {
        req.extensions_mut()
            .insert(axum::extract::ConnectInfo(addr));
        app.clone().oneshot(req)
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
    // A client that goes away mid-answer is no error of ours.
    let _ = conn.await;
}

/// The Content-Security-Policy of every answer: scripts only from the server itself and the
/// inline start-up scripts of the app's `index.html`, by hash (no `unsafe-inline`);
/// WebAssembly compiled from those scripts; nothing framed, nothing posted elsewhere.
pub fn content_security_policy(index_html: &Path) -> Arc<str> {
    let html = std::fs::read_to_string(index_html).unwrap_or_default();
    let hashes: Vec<String> = inline_scripts(&html)
        .into_iter()
        .map(|body| {
            use base64::Engine as _;
            let digest = Sha256::digest(body.as_bytes());
            format!(
                "'sha256-{}'",
                base64::engine::general_purpose::STANDARD.encode(digest)
            )
        })
        .collect();
    Arc::from(format!(
        "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'{}{}; style-src 'self'; \
         img-src 'self' data: blob:; connect-src 'self'; font-src 'self'; manifest-src 'self'; \
         worker-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        if hashes.is_empty() { "" } else { " " },
        hashes.join(" ")
    ))
}

/// The bodies of the `<script>` elements without `src` in a page.
fn inline_scripts(html: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find("<script") {
        let Some(open_end) = rest.get(start..).and_then(|r| r.find('>')) else {
            break;
        };
        let tag = rest.get(start..start + open_end).unwrap_or("");
        let body_start = start + open_end + 1;
        let Some(close) = rest.get(body_start..).and_then(|r| r.find("</script>")) else {
            break;
        };
        if !tag.contains(" src=") {
            out.extend(rest.get(body_start..body_start + close));
        }
        rest = rest.get(body_start + close..).unwrap_or("");
    }
    out
}

/// Time limit and security headers for every answer; `Cache-Control: no-store` for the API
/// (its answers are personal: nothing may keep them).
pub async fn headers(csp: Arc<str>, req: Request, next: Next) -> Response {
    let api = req.uri().path().starts_with("/api/");
    let mut resp = match tokio::time::timeout(REQUEST_TIMEOUT, next.run(req)).await {
        Ok(r) => r,
        Err(_) => ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            codes::TIMEOUT,
            format!(
                "the request took longer than {} s",
                REQUEST_TIMEOUT.as_secs()
            ),
        )
        .into_response(),
    };
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    if api {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

/// Checks an allowed origin as `--allow-origin` takes it: `http(s)://host[:port]`, exactly as
/// a browser sends it in `Origin` (no path, no trailing slash, no wildcard, lower case).
pub fn check_origin(origin: &str) -> Result<(), String> {
    let rest = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    let ok = match rest {
        Some(host) => {
            !host.is_empty()
                && host
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-.:[]".contains(c))
        }
        None => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{origin}` is not an origin: write it as a browser sends it, \
             `https://lms.example` or `http://127.0.0.1:3000` (lower case, no path, no wildcard)"
        ))
    }
}

/// Cross-origin access to the API for the pages of `origins` (CORS), so that an LMS's pages
/// can use the npm package's live client against this server: bearer tokens only (no cookies,
/// so no credentials mode), the headers the client reads (`ETag`, `X-Capstan-Revision`,
/// `Retry-After`) exposed, preflights cached for ten minutes. `None` without origins.
pub fn cors(origins: &[String]) -> Option<tower_http::cors::CorsLayer> {
    use axum::http::Method;
    use tower_http::cors::{AllowOrigin, CorsLayer};
    if origins.is_empty() {
        return None;
    }
    let list: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(list))
            .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                header::ACCEPT,
                header::IF_NONE_MATCH,
            ])
            .expose_headers([
                header::ETAG,
                header::RETRY_AFTER,
                header::HeaderName::from_static("x-capstan-revision"),
            ])
            .max_age(Duration::from_secs(600)),
    )
}

/// The app's files (`index.html` for any path that is not a file, so that the app's routes
/// reload). Paths too long for a file system are `404 not_found`, never an I/O error.
#[derive(Clone)]
pub struct StaticFiles(tower_http::services::ServeDir<tower_http::services::ServeFile>);

impl StaticFiles {
    /// Serves `dir`.
    pub fn new(dir: tower_http::services::ServeDir<tower_http::services::ServeFile>) -> Self {
        StaticFiles(dir)
    }
}

impl tower::Service<Request> for StaticFiles {
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Response, std::convert::Infallible>> + Send>,
    >;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let path = req.uri().path();
        let too_long = path.len() > MAX_PATH || path.split('/').any(|s| s.len() > MAX_SEGMENT);
        let dir = self.0.clone();
        Box::pin(async move {
            if too_long {
                return Ok(ApiError::not_found(codes::NOT_FOUND, "no such file").into_response());
            }
            let resp = match dir.oneshot(req).await {
                Ok(r) => r.map(axum::body::Body::new),
                Err(never) => match never {},
            };
            if resp.status().is_server_error() {
                return Ok(ApiError::not_found(codes::NOT_FOUND, "no such file").into_response());
            }
            Ok(resp)
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn inline_scripts_are_found_and_external_ones_skipped() {
        let html = r#"<head><script type="module">import init from '/a.js';init('/a.wasm');</script>
            <script src="/b.js"></script><script>x()</script></head>"#;
        assert_eq!(
            inline_scripts(html),
            vec!["import init from '/a.js';init('/a.wasm');", "x()"]
        );
    }
}
