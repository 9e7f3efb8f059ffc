//! Docs that cannot drift from the code: every message quoted in docs/vault-troubleshooting.md still exists in
//! the tools' source (placeholders such as `{path}` stand for the parts a format string fills in), and the page
//! is linked from the README and the docs index.

use std::path::Path;

use crate::root;

/// The Rust source of the tools and the xtask, with string continuations joined and escapes undone, so a message
/// split over lines in the code reads as the user sees it.
fn source_text() -> String {
    let mut text = String::new();
    let mut folders: Vec<_> = std::fs::read_dir(root().join("crates"))
        .unwrap()
        .map(|entry| entry.unwrap().path().join("src"))
        .filter(|dir| dir.is_dir())
        .collect();
    folders.push(root().join("xtask/src"));
    let mut stack = folders;
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                text.push_str(&normalise(&std::fs::read_to_string(&path).unwrap()));
                text.push('\n');
            }
        }
    }
    text
}

/// Joins `"…\` + newline + indentation continuations and undoes `\"`, `{{` and `}}`.
fn normalise(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    let mut chars = code.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, chars.peek()) {
            ('\\', Some('\n')) => {
                chars.next();
                while chars.peek().is_some_and(|c| c.is_whitespace()) {
                    chars.next();
                }
            }
            ('\\', Some('"')) => {
                out.push('"');
                chars.next();
            }
            ('{', Some('{')) | ('}', Some('}')) => {
                out.push(c);
                chars.next();
            }
            _ => out.push(c),
        }
    }
    out
}

/// The literal parts of a quoted message: the text between `{placeholders}`.
fn fragments(message: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut rest = message;
    while let Some(open) = rest.find('{') {
        parts.push(&rest[..open]);
        let close = rest[open..].find('}').map_or(rest.len(), |c| open + c + 1);
        rest = &rest[close..];
    }
    parts.push(rest);
    parts.into_iter().filter(|p| p.trim().len() >= 3).collect()
}

/// Whether `fragment` is in the code as it stands, or is text that ends where a format string inserts a
/// placeholder, then the placeholder's value (one word, or nothing), then text that is itself found: a message
/// made of an error's template around a value and an inner message (`authentication failed ({method}): {detail}`
/// printing `authentication failed (token): the token from …`).
fn found(code: &str, fragment: &str) -> bool {
    if code.contains(fragment) {
        return true;
    }
    let bounds: Vec<usize> = (1..fragment.len()).filter(|&i| fragment.is_char_boundary(i)).collect();
    bounds.iter().any(|&i| {
        code.contains(&format!("{}{{", &fragment[..i]))
            && bounds
                .iter()
                // A value (one word) only after text long enough to mean something: a bare `): ` before `{`
                // is everywhere, and skipping a word after it would let any word through.
                .filter(|&&j| j >= i && !fragment[i..j].contains(char::is_whitespace))
                .filter(|&&j| j == i || fragment[..i].trim().len() >= 3)
                .any(|&j| fragment[j..].trim().len() >= 3 && found(code, &fragment[j..]))
    })
}

/// The ```text blocks of a Markdown file, each one quoted message.
fn quoted_messages(markdown: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut block: Option<Vec<&str>> = None;
    for line in markdown.lines() {
        match (&mut block, line.trim_end()) {
            (None, "```text") => block = Some(Vec::new()),
            (Some(lines), "```") => {
                out.push(lines.join("\n"));
                block = None;
            }
            (Some(lines), text) => lines.push(text),
            (None, _) => {}
        }
    }
    out
}

#[test]
fn every_troubleshooting_message_exists_in_the_code() {
    let doc = std::fs::read_to_string(root().join("docs/vault-troubleshooting.md")).unwrap();
    let messages = quoted_messages(&doc);
    assert!(messages.len() >= 25, "only {} messages are quoted", messages.len());
    let code = source_text();
    let mut missing = Vec::new();
    for message in &messages {
        assert!(!message.contains('\n'), "one message per block: {message}");
        let parts = fragments(message);
        assert!(!parts.is_empty(), "the message has no literal text to check: {message}");
        for part in parts {
            if !found(&code, part) {
                missing.push(format!("{part:?} (in {message:?})"));
            }
        }
    }
    assert!(missing.is_empty(), "quoted in docs/vault-troubleshooting.md but not in the code:\n{}", missing.join("\n"));
}

#[test]
fn the_check_notices_a_message_that_is_not_in_the_code() {
    let code = normalise("let m = format!(\"cannot reach {address}: \\\n    {detail} (is it \\\"up\\\"?)\");");
    assert!(code.contains("cannot reach {address}: {detail} (is it \"up\"?)"), "{code}");
    let good = fragments("cannot reach {addr}: {why} (is it \"up\"?)");
    assert!(good.iter().all(|p| code.contains(p)), "{good:?}");
    let bad = fragments("cannot reach {addr}: {why} (is it down?)");
    assert!(!bad.iter().all(|p| found(&code, p)), "{bad:?}");
    // A template around an inner message reads as one message.
    let code = normalise(
        "#[error(\"authentication failed ({method}): {detail}\")]\nformat!(\"the token from {source} was refused\")",
    );
    assert!(found(&code, "authentication failed (token): the token from "));
    assert!(!found(&code, "authentication failed (token): the key from "));
}

#[test]
fn troubleshooting_is_linked_from_the_readme_and_the_docs_index() {
    for (file, link) in [("README.md", "docs/vault-troubleshooting.md"), ("docs/README.md", "vault-troubleshooting.md")]
    {
        let text = std::fs::read_to_string(root().join(file)).unwrap();
        assert!(text.contains(&format!("]({link})")), "{file} does not link {link}");
    }
    // The index names every page in docs/.
    let index = std::fs::read_to_string(root().join("docs/README.md")).unwrap();
    for entry in std::fs::read_dir(root().join("docs")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.ends_with(".md") && name != "README.md" {
            assert!(index.contains(&format!("]({name})")), "docs/README.md does not link {name}");
        }
    }
    assert!(Path::new(&root().join(".env.example")).is_file());
}

#[test]
fn env_example_names_only_variables_the_tools_read() {
    let example = std::fs::read_to_string(root().join(".env.example")).unwrap();
    let config = std::fs::read_to_string(root().join("crates/vault-core/src/config.rs")).unwrap();
    let names: Vec<&str> = example
        .lines()
        .map(|l| l.trim_start_matches("# ").trim())
        .filter_map(|l| l.split_once('=').map(|(name, _)| name))
        .filter(|name| name.starts_with("VAULT_") && !name.contains(' '))
        .collect();
    for wanted in
        ["VAULT_ADDR", "VAULT_CACERT", "VAULT_ROLE_ID", "VAULT_ROLE_ID_FILE", "VAULT_SECRET_ID", "VAULT_SECRET_ID_FILE"]
    {
        assert!(names.contains(&wanted), ".env.example does not name {wanted}: {names:?}");
    }
    for name in names {
        // vault-core reads VAULT_X (and BAO_X) through var("X") or path_var("X").
        let short = name.trim_start_matches("VAULT_");
        assert!(
            config.contains(&format!("var(\"{short}\")")),
            "{name} is in .env.example but vault-core does not read it"
        );
    }
}
