//! Stripe's form encoding: `application/x-www-form-urlencoded` with bracket
//! syntax for nesting (`metadata[order_id]=7`, `payment_method_types[]=card`,
//! `payment_method_data[card][number]=4242…`, `expand[0]=latest_charge`).
//!
//! Parsed into a `serde_json::Value` tree whose leaves are all strings, because
//! that is what the wire carries; handlers coerce numbers and booleans where
//! Stripe would. async-stripe (serde_qs) sends indexed arrays (`a[0]=x`),
//! Stripe.js and curl users send `a[]=x`; both become JSON arrays.

use serde_json::{Map, Value};

/// Parse a form body or query string.
pub fn parse(input: &[u8]) -> Value {
    let mut root = Value::Object(Map::new());
    for (key, value) in form_urlencoded::parse(input) {
        let segments = split_key(&key);
        insert(&mut root, &segments, Value::String(value.into_owned()));
    }
    normalize_arrays(&mut root);
    root
}

/// `a[b][]` → `["a", "b", ""]`.
fn split_key(key: &str) -> Vec<String> {
    let Some(open) = key.find('[') else {
        return vec![key.to_owned()];
    };
    let mut segments = vec![key[..open].to_owned()];
    let mut rest = &key[open..];
    while let Some(stripped) = rest.strip_prefix('[') {
        let Some(close) = stripped.find(']') else {
            break;
        };
        segments.push(stripped[..close].to_owned());
        rest = &stripped[close + 1..];
    }
    segments
}

fn insert(node: &mut Value, segments: &[String], value: Value) {
    let (head, tail) = segments.split_first().expect("at least one segment");
    if head.is_empty() {
        // `a[]=x`: append. Only meaningful for leaves, which is all Stripe uses.
        if !node.is_array() {
            *node = Value::Array(Vec::new());
        }
        let arr = node.as_array_mut().expect("just made an array");
        if tail.is_empty() {
            arr.push(value);
        } else {
            let mut child = Value::Object(Map::new());
            insert(&mut child, tail, value);
            arr.push(child);
        }
        return;
    }
    if !node.is_object() {
        *node = Value::Object(Map::new());
    }
    let map = node.as_object_mut().expect("just made an object");
    if tail.is_empty() {
        map.insert(head.clone(), value);
    } else {
        let child = map.entry(head.clone()).or_insert_with(|| Value::Object(Map::new()));
        insert(child, tail, value);
    }
}

/// Objects whose keys are all integers (`a[0]`, `a[1]`) become arrays.
fn normalize_arrays(node: &mut Value) {
    match node {
        Value::Object(map) => {
            for child in map.values_mut() {
                normalize_arrays(child);
            }
            if !map.is_empty() && map.keys().all(|k| k.parse::<usize>().is_ok()) {
                let mut items: Vec<(usize, Value)> = std::mem::take(map).into_iter().map(|(k, v)| (k.parse().unwrap(), v)).collect();
                items.sort_by_key(|(i, _)| *i);
                *node = Value::Array(items.into_iter().map(|(_, v)| v).collect());
            }
        }
        Value::Array(items) => items.iter_mut().for_each(normalize_arrays),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn brackets_nest_and_arrays_normalize() {
        let v = parse(
            b"amount=2000&metadata[order_id]=42&payment_method_types[]=card\
              &expand[0]=latest_charge&expand[1]=customer\
              &payment_method_data[card][number]=4242424242424242&description=a%20b",
        );
        assert_eq!(
            v,
            json!({
                "amount": "2000",
                "metadata": {"order_id": "42"},
                "payment_method_types": ["card"],
                "expand": ["latest_charge", "customer"],
                "payment_method_data": {"card": {"number": "4242424242424242"}},
                "description": "a b",
            })
        );
    }

    #[test]
    fn percent_encoded_brackets() {
        let v = parse(b"metadata%5Bk%5D=v");
        assert_eq!(v, json!({"metadata": {"k": "v"}}));
    }
}
