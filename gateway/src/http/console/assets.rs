//! The console's static files, compiled into the binary: htmx (vendored from its npm package,
//! `assets/htmx-2.0.11.min.js`, licence beside it), and the console's own script and styles.
//!
//! Each URL names a version (htmx) or a hash of the content (ours), so a file can be cached for
//! a year: a changed file gets a new URL.

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

const HTMX: &[u8] = include_bytes!("../../../assets/htmx-2.0.11.min.js");
const HTMX_NAME: &str = "htmx-2.0.11.min.js";
const JS: &[u8] = include_bytes!("../../../assets/console.js");
const CSS: &[u8] = include_bytes!("../../../assets/console.css");

struct Names {
    js: String,
    css: String,
}

fn short_hash(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn names() -> &'static Names {
    static NAMES: OnceLock<Names> = OnceLock::new();
    NAMES.get_or_init(|| Names {
        js: format!("console-{}.js", short_hash(JS)),
        css: format!("console-{}.css", short_hash(CSS)),
    })
}

pub fn htmx_url() -> String {
    format!("/app/assets/{HTMX_NAME}")
}

pub fn js_url() -> String {
    format!("/app/assets/{}", names().js)
}

pub fn css_url() -> String {
    format!("/app/assets/{}", names().css)
}

/// `GET /app/assets/{file}`: one of the files above, cached for a year.
pub async fn asset(Path(file): Path<String>) -> Response {
    let names = names();
    let (bytes, kind) = if file == HTMX_NAME {
        (HTMX, "text/javascript; charset=utf-8")
    } else if file == names.js {
        (JS, "text/javascript; charset=utf-8")
    } else if file == names.css {
        (CSS, "text/css; charset=utf-8")
    } else {
        return StatusCode::NOT_FOUND.into_response();
    };
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(kind)),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        bytes,
    )
        .into_response()
}
