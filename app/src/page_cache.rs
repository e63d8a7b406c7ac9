//! Rendered link pages for anonymous visitors, kept a few seconds. A shared link can bring a
//! burst of visitors who all see the same page: the first render is reused until the TTL passes
//! or any work changes. Signed-in visitors and buyers with a remembered card get their own
//! render. The page's checkout nonce is never shared: the cache keeps the page split around it
//! and every visitor gets a fresh one spliced in.

use std::{sync::Arc, time::Duration};

use bytes::Bytes;

pub struct CachedPage {
    /// The page cut where the per-visitor values were, each cut saying which goes there.
    parts: Vec<(Bytes, Option<Hole>)>,
}

/// A per-visitor value in a cached page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hole {
    /// The checkout form's nonce (one order per Buy click).
    Checkout,
    /// The Content-Security-Policy nonce on the inline scripts Leptos writes: it must be the
    /// nonce of the response's own header, or the browser refuses those scripts.
    Csp,
}

impl CachedPage {
    /// Keeps `html` with its checkout nonce and `csp_nonce` (the render's) cut out.
    pub fn from_rendered(html: &[u8], csp_nonce: &str) -> CachedPage {
        const FIELD: &[u8] = b"name=\"checkout_key\" value=\"";
        let checkout = find(html, FIELD).and_then(|at| {
            let value = &html[at + FIELD.len()..];
            let end = value.iter().position(|&b| b == b'"')?;
            let value = &value[..end];
            // One-click and wallet forms add a suffix to the same nonce.
            let value = value.strip_suffix(b"-1").or_else(|| value.strip_suffix(b"-w")).unwrap_or(value);
            (value.len() >= 16).then_some(value)
        });
        let mut needles: Vec<(&[u8], Hole)> = Vec::new();
        if let Some(value) = checkout {
            needles.push((value, Hole::Checkout));
        }
        if csp_nonce.len() >= 16 {
            needles.push((csp_nonce.as_bytes(), Hole::Csp));
        }
        let mut parts = Vec::new();
        let mut rest = html;
        loop {
            let next = needles
                .iter()
                .filter_map(|(needle, hole)| find(rest, needle).map(|at| (at, needle.len(), *hole)))
                .min_by_key(|(at, _, _)| *at);
            match next {
                Some((at, len, hole)) => {
                    parts.push((Bytes::copy_from_slice(&rest[..at]), Some(hole)));
                    rest = &rest[at + len..];
                }
                None => {
                    parts.push((Bytes::copy_from_slice(rest), None));
                    break;
                }
            }
        }
        CachedPage { parts }
    }

    /// The page for one visitor, with `checkout_nonce` and `csp_nonce` in their places.
    pub fn render(&self, checkout_nonce: &str, csp_nonce: &str) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.parts.iter().map(|(p, _)| p.len() + 40).sum::<usize>());
        for (part, hole) in &self.parts {
            out.extend_from_slice(part);
            match hole {
                Some(Hole::Checkout) => out.extend_from_slice(checkout_nonce.as_bytes()),
                Some(Hole::Csp) => out.extend_from_slice(csp_nonce.as_bytes()),
                None => {}
            }
        }
        out
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The rendered pages of this server. With several app servers on one PostgreSQL, a change on
/// one of them is announced to all (see [`crate::cluster`]), so that every server drops its
/// pages within moments; the TTL only bounds how long a lost announcement could matter.
#[derive(Clone)]
pub struct PageCache {
    pages: moka::sync::Cache<String, Arc<CachedPage>>,
    peers: Option<Peers>,
}

/// The other servers on the same PostgreSQL schema. Announcements carry the schema's name:
/// `NOTIFY` reaches every connection to the database, and several Clinks (or test runs) may
/// share one database in different schemas.
#[derive(Clone)]
struct Peers {
    pool: sqlx::PgPool,
    schema: Arc<str>,
}

/// The PostgreSQL channel that carries "link pages changed" between app servers.
const CHANNEL: &str = "clink_pages_changed";

/// How long a page is kept, at most.
pub const KEPT_FOR: Duration = Duration::from_secs(30);

impl PageCache {
    pub fn new(ttl: Duration) -> Self {
        PageCache { pages: moka::sync::Cache::builder().max_capacity(10_000).time_to_live(ttl).build(), peers: None }
    }

    /// The cache of a server on `db`: on PostgreSQL it tells, and hears from, the other servers.
    pub async fn for_db(db: &crate::db::Db) -> Result<Self, sqlx::Error> {
        let mut cache = PageCache::new(KEPT_FOR);
        if let crate::db::Db::Postgres(pool) = db {
            let schema: String = sqlx::query_scalar("select current_schema()").fetch_one(pool).await?;
            cache.peers = Some(Peers { pool: pool.clone(), schema: schema.into() });
        }
        Ok(cache)
    }

    pub fn get(&self, key: &str) -> Option<Arc<CachedPage>> {
        self.pages.get(key)
    }

    pub fn insert(&self, key: String, page: CachedPage) {
        self.pages.insert(key, Arc::new(page));
    }

    /// Called after any change to what a link page shows (a work, a price, a profile): the
    /// next visitor of any server gets a fresh render. A failed announcement is logged, not
    /// returned: the change itself is saved, and the other servers' TTL still ends their copies.
    pub async fn invalidate_all(&self) {
        self.pages.invalidate_all();
        if let Some(peers) = &self.peers
            && let Err(err) = crate::cluster::announce(&peers.pool, CHANNEL, &peers.schema).await
        {
            tracing::warn!(error = %err, "could not tell the other servers that link pages changed");
        }
    }

    /// Drops this server's pages whenever another server announces a change (PostgreSQL only;
    /// returns at once on SQLite).
    pub async fn follow_other_servers(self) {
        let Some(peers) = self.peers.clone() else { return };
        crate::cluster::follow(peers.pool.clone(), CHANNEL, |heard| match heard {
            crate::cluster::Heard::Note(schema) if schema != &*peers.schema => {}
            _ => self.pages.invalidate_all(),
        })
        .await
    }
}

impl Default for PageCache {
    fn default() -> Self {
        PageCache::new(KEPT_FOR)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_visitor_gets_a_fresh_nonce() {
        let html = br#"<form><input type="hidden" name="checkout_key" value="0123456789abcdef0123456789abcdef"/></form><p>0123456789abcdef0123456789abcdef</p>"#;
        let page = CachedPage::from_rendered(html, "");
        let a = String::from_utf8(page.render("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "n")).unwrap();
        assert_eq!(
            a,
            r#"<form><input type="hidden" name="checkout_key" value="aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"/></form><p>aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa</p>"#
        );
        assert!(!a.contains("0123456789abcdef"));
    }

    #[test]
    fn pages_without_a_checkout_form_are_kept_whole() {
        let html = b"<p>Buy it with a Clink wallet</p>";
        assert_eq!(CachedPage::from_rendered(html, "NONCEnonceNONCE12345").render("x", "y"), html);
    }

    #[test]
    fn every_visitor_gets_the_csp_nonce_of_their_own_response() {
        let html = br#"<script nonce="FIRSTRENDERnonce_0123">x</script><input name="checkout_key" value="0123456789abcdef0123456789abcdef"/><script nonce="FIRSTRENDERnonce_0123">y</script>"#;
        let page = CachedPage::from_rendered(html, "FIRSTRENDERnonce_0123");
        let out = String::from_utf8(page.render("kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk", "SECOND")).unwrap();
        assert_eq!(
            out,
            r#"<script nonce="SECOND">x</script><input name="checkout_key" value="kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"/><script nonce="SECOND">y</script>"#
        );
    }
}
