//! The layering rule, checked over the source (`cargo test -p app --features ssr --lib`).
//!
//! Clink's domain areas are ordered, lowest first:
//!
//! ledger < mail < accounts < catalog < delivery < earnings < checkout < wallet
//!
//! An area's core (its service, store, domain and the rest) may use the areas below it, never
//! one above: so no two areas import each other, and a change to a high area can't break a
//! low one. Two kinds of file are exempt, because they compose areas rather than belong to
//! one: an area's web edge (`api.rs`, server functions, and `pages.rs`, components), which may
//! show anything a page needs; and the top-level modules above every area (`payments`, which
//! routes provider events to checkout or wallet, `verify`, which audits all the money, and
//! `mail_drain`, which composes mail from every area, `account_deletion`, which has each area
//! forget a deleted account, and `seed`, which writes development data
//! through every area's own paths).

/// The domain areas, lowest first.
const AREAS: [&str; 8] = ["ledger", "mail", "accounts", "catalog", "delivery", "earnings", "checkout", "wallet"];

/// The files of an area that are its web edge, free to use any area.
const EDGE_FILES: [&str; 2] = ["api.rs", "pages.rs"];

/// The first path segment of every `crate::…` path in `source`, including each item of a
/// `use crate::{a, b::{…}}` group.
fn crate_modules(source: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = source;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // A group: its top-level items, each up to the next comma at depth zero.
            let mut depth = 0usize;
            let mut item = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        found.push(first_segment(&item));
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                item.push(c);
            }
            found.push(first_segment(&item));
        } else {
            found.push(first_segment(rest));
        }
    }
    found.retain(|m| !m.is_empty());
    found
}

fn first_segment(path: &str) -> String {
    path.trim_start().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect()
}

/// Every `area/file.rs -> higher area` import that breaks the rule.
fn violations(src: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for (rank, area) in AREAS.iter().enumerate() {
        let dir = src.join(area);
        let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())).flatten().collect();
        files.sort_by_key(|f| f.file_name());
        for file in files {
            let name = file.file_name().to_string_lossy().into_owned();
            if !name.ends_with(".rs") || EDGE_FILES.contains(&name.as_str()) {
                continue;
            }
            let source = std::fs::read_to_string(file.path()).unwrap_or_default();
            let mut used = crate_modules(&source);
            used.sort();
            used.dedup();
            for module in used {
                if let Some(higher) = AREAS.iter().position(|a| *a == module).filter(|&r| r > rank) {
                    out.push(format!("{area}/{name} uses {}", AREAS[higher]));
                }
            }
        }
    }
    out
}

#[test]
fn no_area_imports_one_above_it() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let found = violations(&src);
    assert!(found.is_empty(), "the layering rule (app/src/layering.rs) is broken:\n{}", found.join("\n"));
}

#[test]
fn the_check_sees_plain_paths_and_use_groups() {
    let source = "use crate::{db::Db, wallet::{store, domain}, on_tx};\nfn f() { crate::checkout::store::order(); }";
    assert_eq!(crate_modules(source), ["db", "wallet", "on_tx", "checkout"]);
    // A file that breaks the rule is found.
    let dir = std::env::temp_dir().join(format!("clink-layering-{}", std::process::id()));
    for area in AREAS {
        std::fs::create_dir_all(dir.join(area)).unwrap();
    }
    std::fs::write(dir.join("ledger/service.rs"), "use crate::{money::Money, wallet::store};").unwrap();
    std::fs::write(dir.join("wallet/api.rs"), "use crate::ledger;").unwrap();
    std::fs::write(dir.join("catalog/pages.rs"), "use crate::checkout;").unwrap();
    assert_eq!(violations(&dir), ["ledger/service.rs uses wallet"]);
    std::fs::remove_dir_all(&dir).unwrap();
}
