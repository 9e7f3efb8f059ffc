//! A lossless `.env` parser that reads values exactly as python-dotenv 1.x does (the loader Dagster uses), and
//! remembers where every statement and value sits so `strip` can rewrite a file without disturbing anything else.
//!
//! The grammar follows python-dotenv's `parser.py` statement by statement: optional `export `, a bare or
//! single-quoted key, `=`, then a single-quoted, double-quoted (escapes decoded, may span lines) or bare value
//! (ends at the line end; ` #…` starts a comment), an optional trailing comment and the line end. Where
//! python-dotenv only warns about a line it cannot parse, this parser stops with the file and line: a migration
//! must not silently drop a variable. Deliberate differences, each because python-dotenv's behaviour would mangle a
//! value: a UTF-8 byte-order mark is skipped (python-dotenv makes it part of the first key).
//!
//! Interpolation ([`resolve`]) follows python-dotenv's `dotenv_values`: only `${NAME}` and `${NAME:-default}` are
//! expanded, in every kind of value, from the variables defined earlier in the file, then the process environment;
//! `$NAME` without braces stays literal. A file that a compose file names in `env_file:` is what a container
//! receives, so it is resolved with docker compose's rules instead ([`Dialect::Compose`]: `$NAME`, the `-` `:-`
//! `+` `:+` `?` `:?` modifiers, `$$`, nothing inside single quotes). Quoting and escapes are read the python-dotenv
//! way for both; the two agree on the common cases (compose also decodes escapes in double quotes only).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use vault_core::SecretString;

/// Files larger than this are refused: an env file is a few kilobytes, so a huge one is a mistake.
pub const MAX_FILE_SIZE: u64 = 1024 * 1024;

/// Why a file could not be read as an env file.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// The file could not be read.
    #[error("{path}: cannot read: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is too large to be an env file.
    #[error("{path}: refusing a {size}-byte file: env files are small (limit {limit} bytes)")]
    TooLarge {
        /// The file.
        path: String,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The file is not text.
    #[error("{path}: refusing a binary file ({why})")]
    Binary {
        /// The file.
        path: String,
        /// What gave it away.
        why: &'static str,
    },
    /// A path that was found but could not be read as an env file (a FIFO, a symlink leading outside the tree or
    /// in a loop, an unreadable folder, a path too long).
    #[error("{path}: {why}")]
    Skipped {
        /// The path.
        path: String,
        /// What it is and why it was not read.
        why: String,
    },
    /// A statement that is not `KEY=value`.
    #[error("{path}:{line}: cannot parse: {why}")]
    Syntax {
        /// The file.
        path: String,
        /// 1-based line.
        line: usize,
        /// What was expected.
        why: String,
    },
}

/// How a value was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Quote {
    /// Bare.
    None,
    /// `'…'`: only `\\` and `\'` are escapes.
    Single,
    /// `"…"`: backslash escapes are decoded and the value may span lines.
    Double,
}

/// One `KEY=value` statement (or a bare `KEY`) with its place in the file.
#[derive(Clone)]
pub struct Entry {
    /// The variable's name.
    pub key: String,
    /// The value as written, quotes removed and escapes decoded, before interpolation. `None` for a bare `KEY`.
    pub raw: Option<SecretString>,
    /// 1-based line of the key.
    pub line: usize,
    /// Byte range of the whole statement, from `export`/the key to the end of its last line (newline excluded).
    pub span: (usize, usize),
    /// Byte range of the value as written (with its quotes); empty at the `=` for `KEY=`.
    pub value_span: Option<(usize, usize)>,
    /// How the value was quoted.
    pub quote: Quote,
    /// Whether the statement started with `export`.
    pub export: bool,
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entry")
            .field("key", &self.key)
            .field("line", &self.line)
            .field("span", &self.span)
            .field("value_span", &self.value_span)
            .field("quote", &self.quote)
            .finish_non_exhaustive()
    }
}

/// Whose rules turn a file's `${…}` into the values the application sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Dialect {
    /// python-dotenv's `dotenv_values` (what Dagster and most Python apps load): only `${NAME}` and
    /// `${NAME:-default}`, inside single quotes too.
    PythonDotenv,
    /// docker compose's `env_file:` (what the container receives): `$NAME` and `${NAME}`, the `-`, `:-`, `?`,
    /// `:?`, `+` and `:+` modifiers, `$$` for a literal `$`, and nothing inside single quotes.
    Compose,
}

/// A parsed env file: its text and its statements in order (duplicates included).
#[derive(Clone, Debug)]
pub struct EnvFile {
    /// Where it was read from.
    pub path: PathBuf,
    /// Whose interpolation rules apply: compose's when a compose file beside or above it names it in `env_file:`.
    pub dialect: Dialect,
    /// The text after the byte-order mark.
    pub text: String,
    /// Whether the file started with a UTF-8 byte-order mark.
    pub bom: bool,
    /// Statements in file order.
    pub entries: Vec<Entry>,
}

/// A variable as the application sees it after interpolation.
#[derive(Clone, Debug)]
pub struct Resolved {
    /// The name.
    pub key: String,
    /// The value after `${…}` expansion; `None` for a bare `KEY`.
    pub value: Option<SecretString>,
    /// The line of the statement that wins (the last one).
    pub line: usize,
    /// Lines of earlier statements for the same key (shadowed).
    pub shadowed: Vec<usize>,
    /// Variables named in `${…}` inside the value.
    pub references: Vec<String>,
}

impl Drop for EnvFile {
    /// The text holds every value of the file: zero it.
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.text);
    }
}

impl EnvFile {
    /// Reads and parses a file, refusing binary and huge files.
    pub fn read(path: &Path) -> Result<Self, ParseError> {
        let shown = path.display().to_string();
        let io = |source| ParseError::Io { path: shown.clone(), source };
        let size = std::fs::metadata(path).map_err(io)?.len();
        if size > MAX_FILE_SIZE {
            return Err(ParseError::TooLarge { path: shown, size, limit: MAX_FILE_SIZE });
        }
        let bytes = std::fs::read(path).map_err(io)?;
        let mut file = Self::parse_bytes(path, bytes)?;
        if crate::discover::used_by_compose(path) {
            file.dialect = Dialect::Compose;
        }
        Ok(file)
    }

    /// Parses bytes read from `path` (used for error messages).
    pub fn parse_bytes(path: &Path, bytes: Vec<u8>) -> Result<Self, ParseError> {
        let shown = path.display().to_string();
        if bytes.contains(&0) {
            let mut bytes = bytes;
            zeroize::Zeroize::zeroize(&mut bytes);
            return Err(ParseError::Binary { path: shown, why: "it contains NUL bytes" });
        }
        let text = match String::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => {
                let mut bytes = e.into_bytes();
                zeroize::Zeroize::zeroize(&mut bytes);
                return Err(ParseError::Binary { path: shown, why: "it is not UTF-8 text" });
            }
        };
        let (bom, text) = match text.strip_prefix('\u{feff}') {
            Some(rest) => (true, rest.to_owned()),
            None => (false, text),
        };
        let entries = parse_text(&text).map_err(|(line, why)| ParseError::Syntax { path: shown, line, why })?;
        Ok(EnvFile { path: path.to_path_buf(), dialect: Dialect::PythonDotenv, text, bom, entries })
    }

    /// Resolves every variable as the file's [`Dialect`] does, using `environ` for names the file does not define
    /// earlier. Returns variables in first-appearance order, each once (the last statement wins).
    pub fn resolve(&self, environ: &dyn Fn(&str) -> Option<String>) -> Vec<Resolved> {
        resolve_as(&self.entries, self.dialect, environ)
    }
}

/// Expands `${…}` in each entry in order, as python-dotenv does with `interpolate=True, override=True`.
pub fn resolve(entries: &[Entry], environ: &dyn Fn(&str) -> Option<String>) -> Vec<Resolved> {
    resolve_as(entries, Dialect::PythonDotenv, environ)
}

/// Expands each entry in order with `dialect`'s rules; names defined earlier in the file win over `environ`.
pub fn resolve_as(entries: &[Entry], dialect: Dialect, environ: &dyn Fn(&str) -> Option<String>) -> Vec<Resolved> {
    let mut known: BTreeMap<String, Option<SecretString>> = BTreeMap::new();
    let mut order: Vec<Resolved> = Vec::new();
    for entry in entries {
        let mut references = Vec::new();
        let value = entry.raw.as_ref().map(|raw| {
            let lookup = |name: &str| -> Option<Option<String>> {
                match known.get(name) {
                    Some(v) => Some(v.as_ref().map(|s| s.expose().to_owned())),
                    None => environ(name).map(Some),
                }
            };
            SecretString::new(match dialect {
                Dialect::PythonDotenv => interpolate(raw.expose(), &lookup, &mut references),
                Dialect::Compose if entry.quote == Quote::Single => raw.expose().to_owned(),
                Dialect::Compose => interpolate_compose(raw.expose(), &lookup, &mut references),
            })
        });
        known.insert(entry.key.clone(), value.clone());
        match order.iter_mut().find(|r| r.key == entry.key) {
            Some(existing) => {
                existing.shadowed.push(existing.line);
                existing.line = entry.line;
                existing.value = value;
                existing.references = references;
            }
            None => {
                order.push(Resolved { key: entry.key.clone(), value, line: entry.line, shadowed: vec![], references });
            }
        }
    }
    order
}

/// python-dotenv's `${name}` / `${name:-default}` expansion: the name is anything but `}` and `:`; a variable that
/// is set (even to an empty string) wins over the default; a bare `KEY` (no value) counts as empty.
fn interpolate(value: &str, lookup: &dyn Fn(&str) -> Option<Option<String>>, refs: &mut Vec<String>) -> String {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let name_len = after.find(['}', ':']).unwrap_or(after.len());
        let name = &after[..name_len];
        let tail = &after[name_len..];
        let (default, consumed) = if tail.starts_with('}') {
            (None, name_len + 1)
        } else if let Some(d) = tail.strip_prefix(":-") {
            match d.find('}') {
                Some(end) => (Some(&d[..end]), name_len + 2 + end + 1),
                None => {
                    out.push_str(&rest[..start + 2]);
                    rest = after;
                    continue;
                }
            }
        } else {
            // Not a variable: python's regex moves on one character.
            out.push_str(&rest[..start + 1]);
            rest = &rest[start + 1..];
            continue;
        };
        out.push_str(&rest[..start]);
        if !refs.iter().any(|r| r == name) {
            refs.push(name.to_owned());
        }
        match lookup(name) {
            Some(Some(v)) => out.push_str(&v),
            Some(None) => {}
            None => out.push_str(default.unwrap_or("")),
        }
        rest = &after[consumed..];
    }
    out.push_str(rest);
    out
}

/// docker compose's interpolation (compose-go's template rules): `$$` is a literal `$`; `$NAME` and `${NAME}`
/// expand (names are letters, digits and `_`, not starting with a digit); `${NAME-x}` uses `x` when NAME is unset,
/// `${NAME:-x}` when it is unset or empty; `${NAME+x}` / `${NAME:+x}` use `x` when it is set (and not empty);
/// `${NAME?e}` / `${NAME:?e}` are errors for compose when unset (or empty): the container never starts, so the value
/// here is empty. A `$` that starts nothing stays as it is.
fn interpolate_compose(value: &str, lookup: &dyn Fn(&str) -> Option<Option<String>>, refs: &mut Vec<String>) -> String {
    let is_name_start = |c: char| c.is_ascii_alphabetic() || c == '_';
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(start) = rest.find('$') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
            continue;
        }
        let mut note = |name: &str| {
            if !refs.iter().any(|r| r == name) {
                refs.push(name.to_owned());
            }
        };
        if let Some(inner) = after.strip_prefix('{') {
            let Some(close) = inner.find('}') else {
                out.push('$');
                rest = after;
                continue;
            };
            let body = &inner[..close];
            let name_len = body.find(|c: char| !is_name(c)).unwrap_or(body.len());
            let (name, modifier) = body.split_at(name_len);
            if name.is_empty() || !name.starts_with(is_name_start) {
                out.push('$');
                rest = after;
                continue;
            }
            note(name);
            let current = lookup(name).map(|v| v.unwrap_or_default());
            let set = current.is_some();
            let nonempty = current.as_deref().is_some_and(|v| !v.is_empty());
            let expanded = match modifier
                .split_at(modifier.find(|c: char| !matches!(c, ':' | '-' | '+' | '?')).unwrap_or(modifier.len()))
            {
                ("", _) => current.unwrap_or_default(),
                ("-", alt) => {
                    if set {
                        current.unwrap_or_default()
                    } else {
                        alt.to_owned()
                    }
                }
                (":-", alt) => {
                    if nonempty {
                        current.unwrap_or_default()
                    } else {
                        alt.to_owned()
                    }
                }
                ("+", alt) => {
                    if set {
                        alt.to_owned()
                    } else {
                        String::new()
                    }
                }
                (":+", alt) => {
                    if nonempty {
                        alt.to_owned()
                    } else {
                        String::new()
                    }
                }
                ("?" | ":?", _) => current.unwrap_or_default(),
                _ => current.unwrap_or_default(),
            };
            out.push_str(&expanded);
            rest = &inner[close + 1..];
        } else if after.starts_with(is_name_start) {
            let name_len = after.find(|c: char| !is_name(c)).unwrap_or(after.len());
            let name = &after[..name_len];
            note(name);
            out.push_str(&lookup(name).map(|v| v.unwrap_or_default()).unwrap_or_default());
            rest = &after[name_len..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// Python's `str.isspace()` / regex `\s` for `str` patterns.
fn is_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

fn is_hspace(c: char) -> bool {
    is_space(c) && c != '\r' && c != '\n'
}

struct Reader<'a> {
    text: &'a str,
    pos: usize,
}

impl Reader<'_> {
    fn peek(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }

    fn skip_while(&mut self, f: impl Fn(char) -> bool) -> (usize, usize) {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if !f(c) {
                break;
            }
            self.pos += c.len_utf8();
        }
        (start, self.pos)
    }

    fn line_of(&self, pos: usize) -> usize {
        line_number(self.text, pos)
    }
}

/// 1-based line of a byte offset, counting `\r\n`, `\r` and `\n` as line ends (Python's universal newlines).
pub fn line_number(text: &str, pos: usize) -> usize {
    let bytes = &text.as_bytes()[..pos];
    let mut line = 1;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => line += 1,
            b'\r' => {
                line += 1;
                if bytes.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    line
}

type Failure = (usize, String);

fn parse_text(text: &str) -> Result<Vec<Entry>, Failure> {
    let mut r = Reader { text, pos: 0 };
    let mut entries = Vec::new();
    loop {
        r.skip_while(is_space);
        if r.pos >= text.len() {
            return Ok(entries);
        }
        let start = r.pos;
        let line = r.line_of(start);
        let fail = |why: &str| -> Failure { (line, why.to_owned()) };
        // `export` followed by horizontal space (python-dotenv's `(?:export[^\S\r\n]+)?`).
        let mut export = false;
        if text[r.pos..].starts_with("export") {
            let after = r.pos + "export".len();
            let spaces = text[after..].chars().take_while(|c| is_hspace(*c)).map(char::len_utf8).sum::<usize>();
            if spaces > 0 {
                export = true;
                r.pos = after + spaces;
            }
        }
        let key = match r.peek() {
            Some('#') => None,
            Some('\'') => {
                let rest = &text[r.pos + 1..];
                match rest.find('\'') {
                    Some(n) if n > 0 => {
                        let key = rest[..n].to_owned();
                        r.pos += n + 2;
                        Some(key)
                    }
                    _ => return Err(fail("a quoted key must be '…' with at least one character")),
                }
            }
            _ => {
                let (a, b) = r.skip_while(|c| c != '=' && c != '#' && !is_space(c));
                if a == b {
                    return Err(fail("expected a variable name before `=`"));
                }
                Some(text[a..b].to_owned())
            }
        };
        let mut value = None;
        let mut value_span = None;
        let mut quote = Quote::None;
        if key.is_some() {
            r.skip_while(is_hspace);
            if r.peek() == Some('=') {
                r.pos += 1;
                let (sa, sb) = r.skip_while(is_hspace);
                let vstart = r.pos;
                match r.peek() {
                    // python-dotenv 1.2: `KEY= # comment` is an empty value and a comment (`KEY=#x` is the value `#x`).
                    Some('#') if sb > sa => {
                        value = Some(SecretString::new(String::new()));
                        value_span = Some((vstart, vstart));
                    }
                    Some(q @ ('\'' | '"')) => {
                        let body_start = r.pos + 1;
                        let end = quoted_end(&text[body_start..], q)
                            .ok_or_else(|| fail(&format!("the value's opening {q} is never closed")))?;
                        let body = &text[body_start..body_start + end];
                        let normalized = normalize_newlines(body);
                        let decoded = if q == '"' {
                            decode_escapes(&normalized, true)
                        } else {
                            decode_escapes(&normalized, false)
                        };
                        value = Some(SecretString::new(decoded));
                        quote = if q == '"' { Quote::Double } else { Quote::Single };
                        r.pos = body_start + end + 1;
                        value_span = Some((vstart, r.pos));
                    }
                    None | Some('\r' | '\n') => {
                        value = Some(SecretString::new(String::new()));
                        value_span = Some((vstart, vstart));
                    }
                    _ => {
                        let (a, b) = r.skip_while(|c| c != '\r' && c != '\n');
                        let part = &text[a..b];
                        let cut = comment_start(part).unwrap_or(part.len());
                        let kept = part[..cut].trim_end_matches(is_space);
                        value = Some(SecretString::new(kept.to_owned()));
                        value_span = Some((a, a + kept.len()));
                    }
                }
            }
        }
        // Optional trailing comment, then the end of the line.
        let save = r.pos;
        r.skip_while(is_hspace);
        if r.peek() == Some('#') {
            r.skip_while(|c| c != '\r' && c != '\n');
        } else {
            r.pos = save;
        }
        r.skip_while(is_hspace);
        let end = r.pos;
        match r.peek() {
            None => {}
            Some('\r') => {
                r.pos += 1;
                if r.peek() == Some('\n') {
                    r.pos += 1;
                }
            }
            Some('\n') => r.pos += 1,
            Some(_) => {
                let why = if key.is_some() && value.is_none() {
                    "expected `=` after the variable name"
                } else {
                    "unexpected text after the value (quote values that contain spaces and quotes)"
                };
                return Err((r.line_of(r.pos), why.to_owned()));
            }
        }
        if let Some(key) = key {
            entries.push(Entry { key, raw: value, line, span: (start, end), value_span, quote, export });
        }
    }
}

/// Where python-dotenv's regex `q((?:\\.|[^q\\])*)q` closes a quoted value: a backslash and the character
/// after it are always taken together, so `\\` and an escaped quote never end the value.
fn quoted_end(body: &str, q: char) -> Option<usize> {
    let bytes = body.as_bytes();
    let qb = q as u8;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            // A backslash with nothing after it cannot close the value.
            i += 2;
        } else if bytes[i] == qb {
            return Some(i);
        } else {
            i += 1;
        }
    }
    None
}

/// Python reads files with universal newlines: `\r\n` and `\r` become `\n` inside values too.
fn normalize_newlines(text: &str) -> String {
    if text.contains('\r') { text.replace("\r\n", "\n").replace('\r', "\n") } else { text.to_owned() }
}

/// Decodes `\\ \' \" \a \b \f \n \r \t \v` (double quotes) or `\\ \'` (single quotes); others stay literal.
fn decode_escapes(text: &str, double: bool) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let decoded = match chars.peek() {
            Some('\\') => Some('\\'),
            Some('\'') => Some('\''),
            Some('"') if double => Some('"'),
            Some('a') if double => Some('\u{7}'),
            Some('b') if double => Some('\u{8}'),
            Some('f') if double => Some('\u{c}'),
            Some('n') if double => Some('\n'),
            Some('r') if double => Some('\r'),
            Some('t') if double => Some('\t'),
            Some('v') if double => Some('\u{b}'),
            _ => None,
        };
        match decoded {
            Some(d) => {
                out.push(d);
                chars.next();
            }
            None => out.push('\\'),
        }
    }
    out
}

/// Start of python-dotenv's `\s+#.*` in a bare value: the whitespace run before the first `#` that follows
/// whitespace.
fn comment_start(part: &str) -> Option<usize> {
    let mut prev_space_start: Option<usize> = None;
    for (i, c) in part.char_indices() {
        if c == '#'
            && let Some(s) = prev_space_start
        {
            return Some(s);
        }
        if is_space(c) {
            prev_space_start.get_or_insert(i);
        } else {
            prev_space_start = None;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    #[test]
    fn compose_interpolation() {
        use super::{Dialect, parse_text, resolve_as};
        let text = "BASE=db\nEMPTY=\nA=$BASE:5432\nB=${BASE}-x\nC=${MISSING-dflt}\nD=${EMPTY:-dflt}\nE=${EMPTY-kept}\nF=${BASE:+on}\nG=cost $$5\nH='$BASE'\nI=${MISSING:?required}\nJ=$1 and $ alone\n";
        let entries = parse_text(text).unwrap();
        let env = |name: &str| (name == "FROM_ENV").then(|| "e".to_owned());
        let got: Vec<(String, String)> = resolve_as(&entries, Dialect::Compose, &env)
            .into_iter()
            .map(|r| (r.key, r.value.map(|v| v.expose().to_owned()).unwrap_or_default()))
            .collect();
        let want = [
            ("BASE", "db"),
            ("EMPTY", ""),
            ("A", "db:5432"),
            ("B", "db-x"),
            ("C", "dflt"),
            ("D", "dflt"),
            ("E", ""),
            ("F", "on"),
            ("G", "cost $5"),
            ("H", "$BASE"),
            ("I", ""),
            ("J", "$1 and $ alone"),
        ];
        let want: Vec<(String, String)> = want.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        assert_eq!(got, want);
        // The same file read the python-dotenv way keeps `$BASE` and `$$` literally.
        let dotenv = super::resolve(&entries, &env);
        assert_eq!(dotenv[2].value.as_ref().unwrap().expose(), "$BASE:5432");
    }

    #[test]
    fn a_compose_env_file_is_read_with_compose_rules() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("config")).unwrap();
        std::fs::write(
            dir.path().join("docker-compose.yml"),
            "services:\n  app:\n    env_file:\n      - ./config/app.env\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("config/app.env"), "HOST=db\nURL=postgres://$HOST/x\n").unwrap();
        std::fs::write(dir.path().join("config/other.env"), "HOST=db\nURL=postgres://$HOST/x\n").unwrap();
        let compose = super::EnvFile::read(&dir.path().join("config/app.env")).unwrap();
        assert_eq!(compose.dialect, super::Dialect::Compose);
        assert_eq!(compose.resolve(&|_| None)[1].value.as_ref().unwrap().expose(), "postgres://db/x");
        let plain = super::EnvFile::read(&dir.path().join("config/other.env")).unwrap();
        assert_eq!(plain.dialect, super::Dialect::PythonDotenv);
        assert_eq!(plain.resolve(&|_| None)[1].value.as_ref().unwrap().expose(), "postgres://$HOST/x");
    }

    use super::*;

    fn values(text: &str) -> Vec<(String, Option<String>)> {
        let file = EnvFile::parse_bytes(Path::new("t.env"), text.as_bytes().to_vec()).expect("parses");
        file.resolve(&|_| None).into_iter().map(|r| (r.key, r.value.map(|v| v.expose().to_owned()))).collect()
    }

    fn one(text: &str) -> Option<String> {
        values(text).pop().expect("one variable").1
    }

    #[test]
    fn bare_quoted_and_exported_values() {
        assert_eq!(one("A=b"), Some("b".into()));
        assert_eq!(one("export A = b c  # comment"), Some("b c".into()));
        assert_eq!(one("A=b#c"), Some("b#c".into()));
        assert_eq!(one("A= #c"), Some(String::new()));
        assert_eq!(one("A=#c"), Some("#c".into()));
        assert_eq!(one("A=\"x\\\\\"\nB=\"y\\\"z\""), Some("y\"z".into()));
        assert_eq!(one("A='x\\'y' # c"), Some("x'y".into()));
        assert_eq!(one("A=\"l1\\nl2\\t\\$x\""), Some("l1\nl2\t\\$x".into()));
        assert_eq!(one("A=\"multi\r\nline\""), Some("multi\nline".into()));
        assert_eq!(one("A"), None);
        assert_eq!(one("A="), Some(String::new()));
        assert_eq!(one("'A B'=1"), Some("1".into()));
        assert_eq!(one("A=`back tick`"), Some("`back tick`".into()));
    }

    #[test]
    fn interpolation_and_duplicates() {
        let v = values("A=1\nB=${A}-${MISSING:-d}-$A\nA=2\nC=${A:-x}");
        assert_eq!(
            v,
            vec![("A".into(), Some("2".into())), ("B".into(), Some("1-d-$A".into())), ("C".into(), Some("2".into()))]
        );
    }

    #[test]
    fn spans_cover_the_value_as_written() {
        let text = "# c\nexport A=\"x y\" # t\nB=plain # t\r\nC=\n";
        let file = EnvFile::parse_bytes(Path::new("t"), text.as_bytes().to_vec()).expect("parses");
        let spans: Vec<&str> =
            file.entries.iter().map(|e| &text[e.value_span.unwrap().0..e.value_span.unwrap().1]).collect();
        assert_eq!(spans, vec!["\"x y\"", "plain", ""]);
        assert_eq!(file.entries.iter().map(|e| e.line).collect::<Vec<_>>(), vec![2, 3, 4]);
        assert_eq!(&text[file.entries[0].span.0..file.entries[0].span.1], "export A=\"x y\" # t");
    }

    #[test]
    fn errors_name_the_line() {
        let err = EnvFile::parse_bytes(Path::new("app/.env"), b"A=1\n\nB=\"open\nC=2".to_vec()).unwrap_err();
        assert_eq!(err.to_string(), "app/.env:3: cannot parse: the value's opening \" is never closed");
        let err = EnvFile::parse_bytes(Path::new(".env"), b"A=1\nNOT A LINE\n".to_vec()).unwrap_err();
        assert!(err.to_string().starts_with(".env:2: cannot parse"), "{err}");
        let err = EnvFile::parse_bytes(Path::new(".env"), b"A=1\n=2\n".to_vec()).unwrap_err();
        assert!(err.to_string().starts_with(".env:2: cannot parse"), "{err}");
        assert!(matches!(EnvFile::parse_bytes(Path::new("x"), vec![0, 1, 2]), Err(ParseError::Binary { .. })));
    }

    #[test]
    fn bom_is_skipped() {
        let file = EnvFile::parse_bytes(Path::new("x"), b"\xef\xbb\xbfA=1\n".to_vec()).expect("parses");
        assert!(file.bom);
        assert_eq!(file.entries[0].key, "A");
    }
}
