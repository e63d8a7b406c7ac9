//! Rendered link pages for anonymous visitors, kept a few seconds. A shared link can bring a
//! burst of visitors who all see the same page: the first render is reused until the TTL passes
//! or any work changes. Signed-in visitors and buyers with a remembered card get their own
//! render. The page's checkout nonce is never shared: the cache keeps the page split around it
//! and every visitor gets a fresh one spliced in.

use std::{sync::Arc, time::Duration};

use bytes::Bytes;

pub struct CachedPage {
    /// The page split where its checkout nonce was; one part when it has no checkout form.
    parts: Vec<Bytes>,
}

impl CachedPage {
    /// Keeps `html` with its checkout nonce cut out.
    pub fn from_rendered(html: &[u8]) -> CachedPage {
        const FIELD: &[u8] = b"name=\"checkout_key\" value=\"";
        let nonce = find(html, FIELD).and_then(|at| {
            let value = &html[at + FIELD.len()..];
            let end = value.iter().position(|&b| b == b'"')?;
            let value = &value[..end];
            // One-click and wallet forms add a suffix to the same nonce.
            let value = value.strip_suffix(b"-1").or_else(|| value.strip_suffix(b"-w")).unwrap_or(value);
            (value.len() >= 16).then_some(value)
        });
        let parts = match nonce {
            None => vec![Bytes::copy_from_slice(html)],
            Some(nonce) => {
                let mut parts = Vec::new();
                let mut rest = html;
                while let Some(at) = find(rest, nonce) {
                    parts.push(Bytes::copy_from_slice(&rest[..at]));
                    rest = &rest[at + nonce.len()..];
                }
                parts.push(Bytes::copy_from_slice(rest));
                parts
            }
        };
        CachedPage { parts }
    }

    /// The page for one visitor, with `nonce` as its checkout nonce.
    pub fn render(&self, nonce: &str) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.parts.iter().map(Bytes::len).sum::<usize>() + 2 * nonce.len());
        for (i, part) in self.parts.iter().enumerate() {
            if i > 0 {
                out.extend_from_slice(nonce.as_bytes());
            }
            out.extend_from_slice(part);
        }
        out
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[derive(Clone)]
pub struct PageCache {
    pages: moka::sync::Cache<String, Arc<CachedPage>>,
}

impl PageCache {
    pub fn new(ttl: Duration) -> Self {
        PageCache { pages: moka::sync::Cache::builder().max_capacity(10_000).time_to_live(ttl).build() }
    }

    pub fn get(&self, key: &str) -> Option<Arc<CachedPage>> {
        self.pages.get(key)
    }

    pub fn insert(&self, key: String, page: CachedPage) {
        self.pages.insert(key, Arc::new(page));
    }

    /// Called on any change to a work: the next visitor gets a fresh render. (Other app
    /// servers notice within their TTL.)
    pub fn invalidate_all(&self) {
        self.pages.invalidate_all();
    }
}

impl Default for PageCache {
    fn default() -> Self {
        PageCache::new(Duration::from_secs(30))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_visitor_gets_a_fresh_nonce() {
        let html = br#"<form><input type="hidden" name="checkout_key" value="0123456789abcdef0123456789abcdef"/></form><p>0123456789abcdef0123456789abcdef</p>"#;
        let page = CachedPage::from_rendered(html);
        let a = String::from_utf8(page.render("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")).unwrap();
        assert_eq!(a, r#"<form><input type="hidden" name="checkout_key" value="aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"/></form><p>aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa</p>"#);
        assert!(!a.contains("0123456789abcdef"));
    }

    #[test]
    fn pages_without_a_checkout_form_are_kept_whole() {
        let html = b"<p>Buy it with a Clink wallet</p>";
        assert_eq!(CachedPage::from_rendered(html).render("x"), html);
    }
}
