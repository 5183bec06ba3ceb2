//! The pages and the widget script, and the security headers every response carries.
//!
//! - Every response: `X-Content-Type-Options: nosniff` and `Referrer-Policy: no-referrer`
//!   (a chat's address holds its session id; no other site needs to see it).
//! - /chat and /agent: a Content-Security-Policy with `default-src 'self'`. Their inline
//!   `<script>` and `<style>` blocks are allowed by their SHA-256 hashes, computed here from the
//!   very text served, so a page can be edited without touching this file and a script injected
//!   into it can never run.
//! - /chat may be framed by frontline itself and by `[web] allowed_origins` (the widget);
//!   /agent may not be framed at all.
//! - /widget.js: the script a site embeds; it opens /chat in a frame.

use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::config::Config;

pub const CHAT_HTML: &str = include_str!("../../../static/chat.html");
pub const AGENT_HTML: &str = include_str!("../../../static/agent.html");
pub const WIDGET_JS: &str = include_str!("../../../static/widget.js");

/// A page and the headers it is served with.
#[derive(Clone)]
pub struct Page {
    html: &'static str,
    csp: HeaderValue,
    /// For browsers that predate `frame-ancestors`.
    frame_options: Option<HeaderValue>,
}

impl Page {
    /// /chat: framable by frontline and the allowed origins.
    pub fn chat(config: &Config) -> Self {
        let mut ancestors = vec!["'self'".to_string()];
        ancestors.extend(config.web.allowed_origins.iter().cloned());
        Self::new(CHAT_HTML, &ancestors.join(" "), None)
    }

    /// /agent: never framed (nobody may overlay the console to trick an agent into a click).
    pub fn agent() -> Self {
        Self::new(AGENT_HTML, "'none'", Some(HeaderValue::from_static("DENY")))
    }

    fn new(html: &'static str, frame_ancestors: &str, frame_options: Option<HeaderValue>) -> Self {
        let scripts = hashes(html, "script");
        // Style attributes cannot be allowed by hash; a page that has them keeps inline styles
        // (styles cannot run code; scripts stay locked down either way).
        let styles = if html.contains(" style=\"") {
            "'unsafe-inline'".to_string()
        } else {
            hashes(html, "style")
        };
        let csp = format!(
            "default-src 'self'; script-src 'self' {scripts}; style-src 'self' {styles}; \
             img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
             form-action 'self'; frame-ancestors {frame_ancestors}"
        );
        Self {
            html,
            // Origins were checked by `Config::validate`; one that still cannot be a header
            // value leaves the policy at its strictest rather than failing the page.
            csp: HeaderValue::from_str(&csp).unwrap_or_else(|_| {
                HeaderValue::from_static("default-src 'self'; frame-ancestors 'none'")
            }),
            frame_options,
        }
    }

    pub fn csp(&self) -> &HeaderValue {
        &self.csp
    }
}

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        let mut response = axum::response::Html(self.html).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_SECURITY_POLICY, self.csp);
        if let Some(value) = self.frame_options {
            headers.insert(header::X_FRAME_OPTIONS, value);
        }
        response
    }
}

/// `GET /widget.js`
pub async fn widget() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            // Sites load it on every page view: let browsers keep it a while.
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        WIDGET_JS,
    )
        .into_response()
}

/// Adds the headers every response carries.
pub async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// The CSP sources (`'sha256-...'`) of every inline `<tag>...</tag>` block of `html`.
fn hashes(html: &str, tag: &str) -> String {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let mut sources = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find(&open) {
        let body = &rest[start + open.len()..];
        let Some(end) = body.find(&close) else { break };
        let digest = Sha256::digest(&body.as_bytes()[..end]);
        sources.push(format!("'sha256-{}'", base64(&digest)));
        rest = &body[end + close.len()..];
    }
    sources.join(" ")
}

/// Standard base64 with padding, as CSP hash sources are written.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_rfc_4648_vectors() {
        for (input, want) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), want);
        }
    }

    #[test]
    fn inline_blocks_are_hashed_as_served() {
        // sha256("alert(1)") in base64, as browsers report it for `<script>alert(1)</script>`.
        assert_eq!(
            hashes("<p><script>alert(1)</script></p>", "script"),
            "'sha256-bhHHL3z2vDgxUt0W3dWQOrprscmda2Y5pLsLg4GF+pI='"
        );
        assert_eq!(hashes("<p>none</p>", "script"), "");
    }

    #[test]
    fn every_page_has_its_scripts_hashed_and_the_agent_console_is_not_framable() {
        let mut config = Config::default();
        config.web.allowed_origins = vec!["https://shop.example.com".into()];
        let chat = Page::chat(&config);
        let csp = chat.csp().to_str().unwrap();
        assert!(csp.starts_with("default-src 'self';"), "{csp}");
        assert!(csp.contains("script-src 'self' 'sha256-"), "{csp}");
        assert!(
            csp.ends_with("frame-ancestors 'self' https://shop.example.com"),
            "{csp}"
        );
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        let agent = Page::agent();
        let csp = agent.csp().to_str().unwrap();
        assert!(csp.contains("script-src 'self' 'sha256-"), "{csp}");
        assert!(csp.ends_with("frame-ancestors 'none'"), "{csp}");
        assert!(!csp.contains("script-src 'self' 'unsafe"), "{csp}");
    }
}
