//! Context: where a match sits can say that it is not a live credential even when its shape says it is.
//!
//! Real repositories are full of credentials that are not secrets: keys in test fixtures (`testdata/`, `test_*.py`,
//! `__snapshots__/`), values in documentation (`README.md` of a Helm chart, `docs/`, an Ansible module's `EXAMPLES`
//! block), values a comment just above marks as an example, password hashes, and names of Kubernetes objects
//! assigned to `…Secret` keys. Dropping them would hide the rare real leak in such a place, so a finding there is
//! kept at `low` confidence with the reason, and the default `--min-confidence medium` leaves it out of the report;
//! `--min-confidence low` shows every finding with its reason.

/// Why a finding's confidence was lowered, if it was: the finding's `reason` field.
pub(crate) fn reason(path: &str, data: &[u8], line_start: usize, start: usize, end: usize) -> Option<&'static str> {
    if let Some(reason) = path_reason(path) {
        return Some(reason);
    }
    let value = &data[start..end];
    if password_hash(value) {
        return Some("a password hash, not a password");
    }
    if marked_as_example(data, line_start) {
        return Some("marked as an example by the text around it");
    }
    if in_examples_block(data, line_start) {
        return Some("inside an EXAMPLES documentation block");
    }
    if in_code_fence(path, data, line_start) {
        return Some("inside a fenced code example in a docstring or comment");
    }
    None
}

/// Why a generic assignment's value is probably not a secret although it passed the filters: a lowercase name made
/// of words, digits, dots and dashes (`grafana.local-tls`, `etcd-cluster-k8s`) names an object (a Kubernetes
/// Secret, a cluster, an algorithm) far more often than it is a password.
pub(crate) fn generic_value_reason(value: &[u8]) -> Option<&'static str> {
    resource_name(value).then_some("a lowercase resource name, not password-like")
}

/// Test fixtures and documentation, judged by the path relative to the scanned repository or folder.
fn path_reason(path: &str) -> Option<&'static str> {
    let lower = path.to_ascii_lowercase();
    let mut parts: Vec<&str> = lower.split('/').collect();
    let file = parts.pop().unwrap_or("");
    const TEST_DIRS: [&str; 17] = [
        "test",
        "tests",
        "testdata",
        "test-data",
        "test_data",
        "testing",
        "fixtures",
        "fixture",
        "__tests__",
        "__snapshots__",
        "__mocks__",
        "spec",
        "e2e",
        "testutil",
        "testutils",
        "testhelpers",
        "integration",
    ];
    const DOC_DIRS: [&str; 7] = ["docs", "doc", "documentation", "examples", "example", "samples", "sample"];
    if parts.iter().any(|p| TEST_DIRS.contains(p)) || test_file(file) {
        return Some("in a test fixture (test path)");
    }
    if parts.iter().any(|p| DOC_DIRS.contains(p)) {
        return Some("in documentation or examples (docs path)");
    }
    let doc_extension = [".md", ".markdown", ".rst", ".adoc", ".asciidoc", ".mdx"].iter().any(|e| file.ends_with(e));
    if doc_extension || file.starts_with("readme") {
        return Some("in documentation (Markdown or README)");
    }
    None
}

/// Test files by their names: `test_x.py`, `x_test.go`, `x.test.ts`, `x.spec.js`, `XTest.java`, `x_spec.rb`,
/// `conftest.py`, snapshots.
fn test_file(file: &str) -> bool {
    let stem = file.split('.').next().unwrap_or(file);
    file.starts_with("test_")
        || file.starts_with("fake_")
        || file.starts_with("mock_")
        || stem.ends_with("_test")
        || stem.ends_with("_tests")
        || stem.ends_with("_spec")
        || ((stem.ends_with("test") || stem.ends_with("tests")) && (file.ends_with(".java") || file.ends_with(".cs")))
        || file.contains(".test.")
        || file.contains(".spec.")
        || file == "conftest.py"
        || file.ends_with(".snap")
}

/// Crypt-style and bcrypt/argon2 hashes (`$2y$10$…`, `$6$…`, `$apr1$…`, `$argon2id$…`), also after `user:` as in
/// an htpasswd line.
fn password_hash(value: &[u8]) -> bool {
    const MARKERS: [&[u8]; 8] = [b"$2a$", b"$2b$", b"$2y$", b"$apr1$", b"$argon2", b"$5$", b"$6$", b"$pbkdf2"];
    MARKERS.iter().any(|m| memchr::memmem::find(value, m).is_some())
}

/// Whether the finding's line or one of the five lines above it (a key line and the comment block above it) says
/// the value is an example.
fn marked_as_example(data: &[u8], line_start: usize) -> bool {
    const MARKERS: [&[u8]; 8] = [
        b"example",
        b"e.g.",
        b"sample",
        b"dummy",
        b"for testing",
        b"test only",
        b"do not use in production",
        b"not a real",
    ];
    let line_end = memchr::memchr(b'\n', &data[line_start..]).map_or(data.len(), |i| line_start + i);
    let mut from = line_start;
    for _ in 0..5 {
        if from == 0 {
            break;
        }
        from = memchr::memrchr(b'\n', &data[..from - 1]).map_or(0, |i| i + 1);
    }
    let window = data[from..line_end].to_ascii_lowercase();
    MARKERS.iter().any(|m| memchr::memmem::find(&window, m).is_some())
}

/// Ansible modules document their use in a string assigned to `EXAMPLES`: the match lies after such a line and no
/// closing triple quote comes between.
fn in_examples_block(data: &[u8], line_start: usize) -> bool {
    let before = &data[..line_start];
    let Some(at) = memchr::memmem::rfind(before, b"\nEXAMPLES") else { return false };
    let Some(opened) = memchr::memchr(b'\n', &before[at + 1..]).map(|i| at + 1 + i) else { return false };
    let header = &before[at + 1..opened];
    let quote: &[u8] = if memchr::memmem::find(header, b"\"\"\"").is_some() {
        b"\"\"\""
    } else if memchr::memmem::find(header, b"'''").is_some() {
        b"'''"
    } else {
        return false;
    };
    memchr::memmem::find(&before[opened..], quote).is_none()
}

/// Source files document usage in Markdown fences (```) inside docstrings and comments: a match after an odd
/// number of fence lines is inside one. Markdown files are documentation already (see [`path_reason`]).
fn in_code_fence(path: &str, data: &[u8], line_start: usize) -> bool {
    if path.ends_with(".md") {
        return false;
    }
    memchr::memmem::find_iter(&data[..line_start], b"```").count() % 2 == 1
}

/// `grafana.local-tls`, `etcd-cluster-k8s`, `hmac-sha256`: lowercase letters and digits in at least two parts
/// joined by `.`, `-` or `_`, beginning with a letter.
fn resource_name(value: &[u8]) -> bool {
    // A fully qualified DNS name ends with a dot.
    let value = value.strip_suffix(b".").unwrap_or(value);
    value.first().is_some_and(u8::is_ascii_lowercase)
        && value.iter().all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-' || b == b'_')
        && value.split(|&b| b == b'.' || b == b'-' || b == b'_').filter(|p| !p.is_empty()).count() >= 2
        && value.split(|&b| b == b'.' || b == b'-' || b == b'_').all(|p| !p.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_and_doc_paths() {
        for path in [
            "test/units/x.py",
            "scrape/testdata/ca.key",
            "pkg/auth_test.go",
            "src/pages/__snapshots__/Flags.test.tsx.snap",
            "tests/test_login.py",
            "web/login.spec.ts",
            "src/test/java/AuthTest.java",
        ] {
            assert_eq!(path_reason(path), Some("in a test fixture (test path)"), "{path}");
        }
        for path in ["bitnami/mariadb/README.md", "docs/setup.txt", "documentation/examples/p.yml"] {
            assert!(path_reason(path).is_some_and(|r| r.contains("documentation")), "{path}");
        }
        for path in ["src/settings.py", "deploy/values.yaml", ".env", "config/application.properties", "latest.py"] {
            assert_eq!(path_reason(path), None, "{path}");
        }
    }

    #[test]
    fn example_comments_and_blocks() {
        let text = b"## Example value taken from upstream\n##\nkey: |-\n  -----BEGIN\n";
        let at = text.iter().rposition(|&b| b == b'-').unwrap();
        let line_start = text[..at].iter().rposition(|&b| b == b'\n').unwrap() + 1;
        assert!(marked_as_example(text, line_start));
        let text = b"# one\n# two\n# three\n# four\nexample\n\n\n\n\n\nkey = v\n";
        assert!(!marked_as_example(text, text.len() - 8));
        let text = b"DOC = 1\nEXAMPLES = r\"\"\"\n- x:\n    password: abc\n\"\"\"\nreal = 1\n";
        let inside = 29;
        assert!(in_examples_block(text, inside));
        assert!(!in_examples_block(text, text.len() - 9));
        let text = b"def f():\n    \"\"\"\n    ```python\n    f(password=\"x\")\n    ```\n    \"\"\"\nafter = 1\n";
        assert!(in_code_fence("a.py", text, 31));
        assert!(!in_code_fence("a.py", text, text.len() - 10));
    }

    #[test]
    fn hashes_and_names() {
        assert!(password_hash(b"user:$2y$10$9L4Tc0DJbFFMB6RdSC"));
        assert!(!password_hash(b"x6uX9MGE2sNVbYAbBH"));
        for name in ["ns.boulder.invalid.", "grafana.local-tls", "etcd-cluster-k8s", "hmac-sha256"] {
            assert!(resource_name(name.as_bytes()), "{name}");
        }
        for value in ["x6uX9MGE2sNVbYAbBH", "Tr0ub4dor&3", "abcdef", "s3cr3t-Pa55"] {
            assert!(!resource_name(value.as_bytes()), "{value}");
        }
    }
}
