//! Work descriptions: Markdown rendered to safe HTML. Raw HTML in the source is shown as text,
//! never interpreted, and the output is sanitised (no scripts, no `javascript:` links).

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

pub fn to_safe_html(markdown: &str) -> String {
    let options = Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TABLES | Options::ENABLE_TASKLISTS;
    let events = Parser::new_ext(markdown, options).map(|event| match event {
        Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
        other => other,
    });
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, events);
    ammonia::Builder::default()
        .link_rel(Some("nofollow noopener ugc"))
        .url_schemes(["http", "https", "mailto"].into_iter().collect())
        .clean(&html)
        .to_string()
}

/// The description as plain text, for `og:description` and search snippets.
pub fn plain_excerpt(markdown: &str, max_chars: usize) -> String {
    let mut text = String::new();
    for event in Parser::new(markdown) {
        match event {
            Event::Text(t) | Event::Code(t) => text.push_str(&t),
            Event::SoftBreak | Event::HardBreak | Event::End(TagEnd::Paragraph | TagEnd::Heading(_) | TagEnd::Item) => text.push(' '),
            Event::Start(Tag::Item) => {}
            _ => {}
        }
    }
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if collapsed.chars().count() <= max_chars {
        collapsed
    } else {
        format!("{}…", collapsed.chars().take(max_chars - 1).collect::<String>().trim_end())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_renders() {
        let html = to_safe_html("# Hi\n\n**bold** and [link](https://example.com)");
        assert!(html.contains("<h1>Hi</h1>"));
        assert!(html.contains("<strong>bold</strong>"));
        assert!(html.contains(r#"href="https://example.com""#));
        assert!(html.contains("nofollow"));
    }

    #[test]
    fn raw_html_and_script_links_are_neutralised() {
        let html = to_safe_html("<script>alert(1)</script>\n\n<img src=x onerror=alert(1)>\n\n[x](javascript:alert(1))");
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains("javascript:"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "raw HTML is shown as text: {html}");
    }

    #[test]
    fn excerpts_are_plain_and_short() {
        assert_eq!(plain_excerpt("# Title\n\nSome *emphasis* here.", 100), "Title Some emphasis here.");
        assert_eq!(plain_excerpt(&"word ".repeat(100), 20).chars().count(), 20);
    }
}
