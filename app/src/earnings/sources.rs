//! Traffic sources: where a link-page visitor or buyer came from, from the `Referer` header
//! or a `?ref=` / `utm_source` tag on the link.

/// Known Mastodon instances (Mastodon links carry no other marker in the referrer).
const MASTODON_HOSTS: &[&str] = &[
    "mastodon.social",
    "mastodon.online",
    "mstdn.social",
    "mas.to",
    "fosstodon.org",
    "hachyderm.io",
    "infosec.exchange",
    "mastodon.world",
    "mstdn.jp",
    "mastodon.art",
    "social.vivaldi.net",
    "techhub.social",
    "universeodon.com",
    "mastodon.cloud",
    "toot.community",
    "chaos.social",
    "ioc.exchange",
    "mastodon.xyz",
];

const SEARCH_HOSTS: &[&str] =
    &["google.", "bing.com", "duckduckgo.com", "search.yahoo.", "ecosia.org", "qwant.com", "kagi.com", "search.brave.com", "yandex."];

/// A campaign tag made safe to store and show: lowercase `a-z0-9_-`, at most 32 characters.
pub fn clean_tag(raw: &str) -> String {
    raw.trim()
        .to_lowercase()
        .chars()
        .map(|c| if c == ' ' { '-' } else { c })
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '_')
        .take(32)
        .collect()
}

/// The source of a visit. An explicit tag wins (`ref`, then `utm_source`); otherwise the
/// referrer's host decides; no referrer (or our own site) is "direct".
pub fn classify(referer: Option<&str>, tag: Option<&str>, own_host: &str) -> String {
    if let Some(tag) = tag.map(clean_tag).filter(|t| !t.is_empty()) {
        return tag;
    }
    let Some(host) = referer.and_then(host_of) else { return "direct".into() };
    let host = host.trim_start_matches("www.").trim_start_matches("m.").trim_start_matches("l.");
    let is = |domain: &str| host == domain || host.ends_with(&format!(".{domain}"));
    let source = if is("t.co") || is("x.com") || is("twitter.com") {
        "x"
    } else if is("facebook.com") || is("fb.me") || is("fb.com") {
        "facebook"
    } else if is("instagram.com") {
        "instagram"
    } else if is("linkedin.com") || is("lnkd.in") {
        "linkedin"
    } else if is("reddit.com") || is("redd.it") {
        "reddit"
    } else if is("bsky.app") || is("bsky.social") {
        "bluesky"
    } else if MASTODON_HOSTS.iter().any(|m| is(m)) || host.starts_with("mastodon.") || host.starts_with("mstdn.") {
        "mastodon"
    } else if is("youtube.com") || is("youtu.be") {
        "youtube"
    } else if is("tiktok.com") {
        "tiktok"
    } else if is("threads.net") {
        "threads"
    } else if SEARCH_HOSTS.iter().any(|s| host.contains(s)) {
        "search"
    } else if host == own_host.split(':').next().unwrap_or(own_host) {
        "direct"
    } else {
        "other"
    };
    source.to_string()
}

fn host_of(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let host = rest.split(['/', '?', '#']).next()?;
    let host = host.rsplit('@').next()?.split(':').next()?;
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// What a dashboard shows for a source key.
pub fn label(source: &str) -> String {
    match source {
        "x" => "X (Twitter)".into(),
        "facebook" => "Facebook".into(),
        "instagram" => "Instagram".into(),
        "linkedin" => "LinkedIn".into(),
        "reddit" => "Reddit".into(),
        "bluesky" => "Bluesky".into(),
        "mastodon" => "Mastodon".into(),
        "youtube" => "YouTube".into(),
        "tiktok" => "TikTok".into(),
        "threads" => "Threads".into(),
        "search" => "Search engines".into(),
        "direct" => "Direct".into(),
        "other" => "Other sites".into(),
        tag => format!("Campaign: {tag}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_from_referrers() {
        let c = |r: &str| classify(Some(r), None, "clink.example");
        assert_eq!(c("https://t.co/abc"), "x");
        assert_eq!(c("https://x.com/someone/status/1"), "x");
        assert_eq!(c("https://l.facebook.com/l.php?u=x"), "facebook");
        assert_eq!(c("https://m.facebook.com/"), "facebook");
        assert_eq!(c("https://l.instagram.com/?u=x"), "instagram");
        assert_eq!(c("https://www.linkedin.com/feed/"), "linkedin");
        assert_eq!(c("https://out.reddit.com/t3_x"), "reddit");
        assert_eq!(c("https://bsky.app/profile/x"), "bluesky");
        assert_eq!(c("https://mastodon.social/@ann"), "mastodon");
        assert_eq!(c("https://fosstodon.org/@ann/1"), "mastodon");
        assert_eq!(c("https://www.google.com/"), "search");
        assert_eq!(c("https://duckduckgo.com/"), "search");
        assert_eq!(c("https://blog.example.org/post"), "other");
        assert_eq!(c("https://clink.example/dashboard"), "direct");
        assert_eq!(c("not a url"), "direct");
        assert_eq!(classify(None, None, "clink.example"), "direct");
    }

    #[test]
    fn tags_win_and_are_cleaned() {
        assert_eq!(classify(Some("https://t.co/x"), Some("Newsletter"), "h"), "newsletter");
        assert_eq!(classify(None, Some("Spring Sale!<script>"), "h"), "spring-salescript");
        assert_eq!(classify(None, Some("   "), "h"), "direct");
        assert_eq!(clean_tag(&"x".repeat(50)).len(), 32);
    }
}
