//! A small JSON Schema validator for the tests that hold every tool's JSON Lines output to `docs/schemas/`.
//!
//! It knows the keywords those schemas use, and refuses a schema that uses any other (so a schema cannot
//! silently check less than it says): `$schema`, `$id`, `$defs`, `$ref` (`#/$defs/NAME`), `title`,
//! `description`, `type` (a name or a list), `const`, `enum`, `required`, `properties`, `additionalProperties`
//! (`true`, `false` or a schema), `items`, `minimum`, `anyOf`. The `jsonschema` crate does all of this and more,
//! but its tree is 119 crates and took 6 minutes to build on the project's busy 2-core machine (docs/output.md).

use serde_json::Value;

/// The keywords [`validate`] understands.
const KNOWN: [&str; 15] = [
    "$schema",
    "$id",
    "$defs",
    "$ref",
    "title",
    "description",
    "type",
    "const",
    "enum",
    "required",
    "properties",
    "additionalProperties",
    "items",
    "minimum",
    "anyOf",
];

/// Validates `value` against `schema` (whose `$ref`s resolve in `root`). Returns every problem, each naming the
/// JSON pointer of the value it is about.
pub fn validate(root: &Value, schema: &Value, value: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    check(root, schema, value, "", &mut problems);
    problems
}

/// The schema of one record type: `root["$defs"][kind]`.
pub fn definition<'a>(root: &'a Value, kind: &str) -> Option<&'a Value> {
    root.get("$defs")?.get(kind)
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn has_type(value: &Value, name: &str) -> bool {
    let actual = type_name(value);
    actual == name || (name == "number" && actual == "integer")
}

fn check(root: &Value, schema: &Value, value: &Value, at: &str, problems: &mut Vec<String>) {
    let Some(schema) = schema.as_object() else {
        if schema == &Value::Bool(false) {
            problems.push(format!("{at}: not allowed here"));
        }
        return;
    };
    for key in schema.keys() {
        if !KNOWN.contains(&key.as_str()) {
            problems.push(format!("{at}: the schema uses {key:?}, which this validator does not know"));
        }
    }
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        match reference.strip_prefix("#/$defs/").and_then(|name| definition(root, name)) {
            Some(target) => check(root, target, value, at, problems),
            None => problems.push(format!("{at}: unresolved $ref {reference}")),
        }
    }
    match schema.get("type") {
        Some(Value::String(name)) if !has_type(value, name) => {
            problems.push(format!("{at}: expected {name}, found {}", type_name(value)));
        }
        Some(Value::Array(names)) if !names.iter().filter_map(Value::as_str).any(|n| has_type(value, n)) => {
            problems.push(format!("{at}: expected one of {names:?}, found {}", type_name(value)));
        }
        _ => {}
    }
    if let Some(expected) = schema.get("const")
        && expected != value
    {
        problems.push(format!("{at}: expected {expected}, found {value}"));
    }
    if let Some(Value::Array(allowed)) = schema.get("enum")
        && !allowed.contains(value)
    {
        problems.push(format!("{at}: {value} is not one of {}", Value::Array(allowed.clone())));
    }
    if let (Some(minimum), Some(n)) = (schema.get("minimum").and_then(Value::as_f64), value.as_f64())
        && n < minimum
    {
        problems.push(format!("{at}: {n} is below the minimum {minimum}"));
    }
    if let Some(Value::Array(options)) = schema.get("anyOf")
        && !options.iter().any(|option| validate(root, option, value).is_empty())
    {
        problems.push(format!("{at}: matches none of the anyOf schemas"));
    }
    if let Value::Object(fields) = value {
        for name in schema.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
            if !fields.contains_key(name) {
                problems.push(format!("{at}: the required field {name:?} is missing"));
            }
        }
        let properties = schema.get("properties").and_then(Value::as_object);
        for (name, field) in fields {
            let path = format!("{at}/{name}");
            match properties.and_then(|p| p.get(name)) {
                Some(sub) => check(root, sub, field, &path, problems),
                None => match schema.get("additionalProperties") {
                    Some(Value::Bool(false)) => problems.push(format!("{path}: a field the schema does not allow")),
                    Some(sub @ Value::Object(_)) => check(root, sub, field, &path, problems),
                    _ => {}
                },
            }
        }
    }
    if let (Value::Array(items), Some(sub)) = (value, schema.get("items")) {
        for (i, item) in items.iter().enumerate() {
            check(root, sub, item, &format!("{at}/{i}"), problems);
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn finds_what_a_record_gets_wrong() {
        let root = json!({
            "$defs": {
                "count": { "type": "integer", "minimum": 0 },
                "finding": {
                    "type": "object",
                    "required": ["type", "path", "line"],
                    "properties": {
                        "type": { "const": "finding" },
                        "path": { "type": "string" },
                        "line": { "$ref": "#/$defs/count" },
                        "confidence": { "enum": ["low", "medium", "high"] },
                        "tags": { "type": "array", "items": { "type": "string" } },
                        "note": { "type": ["string", "null"] }
                    }
                }
            }
        });
        let finding = definition(&root, "finding").unwrap();
        let good = json!({"type": "finding", "path": "a", "line": 3, "confidence": "high", "tags": ["x"], "note": null, "new": 1});
        assert_eq!(validate(&root, finding, &good), Vec::<String>::new());
        let bad = json!({"type": "summary", "line": -1, "confidence": "sure", "tags": [1], "note": 2});
        let problems = validate(&root, finding, &bad);
        for needle in
            ["/type: expected", "\"path\" is missing", "/line: -1 is below", "/confidence:", "/tags/0:", "/note:"]
        {
            assert!(problems.iter().any(|p| p.contains(needle)), "{needle}: {problems:?}");
        }
        let strict = json!({"type": "object", "additionalProperties": false});
        assert_eq!(validate(&root, &strict, &json!({"x": 1})).len(), 1);
        let unknown = json!({"pattern": "^a"});
        assert!(validate(&root, &unknown, &json!("a"))[0].contains("does not know"));
    }
}
