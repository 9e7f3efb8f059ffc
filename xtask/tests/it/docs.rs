//! Docs that cannot drift from the code: every message quoted in docs/vault-troubleshooting.md still exists in
//! the tools' source (placeholders such as `{path}` stand for the parts a format string fills in), the page
//! is linked from the README and the docs index, and every command, subcommand, flag and flag value that the docs,
//! the systemd units (as written and as deploy renders them) and the scripts run our tools with exists in that
//! command line's `--help`.

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

/// Where a tool is run in a doc, unit or script: the place and the words after the tool's name.
#[derive(Debug)]
struct Invocation {
    place: String,
    tool: &'static str,
    args: Vec<String>,
}

/// The tool a program word names: its base name (`@BIN_DIR@/vault-backup`, `"$repo/target/debug/vault-env"`), or
/// `cargo xtask` (the deployment command, `vault-toolkit` installed) for `cargo` followed by `xtask`.
fn tool_named(word: &str) -> Option<&'static str> {
    let base = word.rsplit('/').next().unwrap_or(word);
    crate::INSTALLED.iter().copied().find(|name| *name == base)
}

/// Splits shell text into simple commands (at `|`, `&&`, `;`, `(`, `` ` ``, `$(`, new lines), each a list of
/// words with quotes removed; comments and redirections are dropped. Words inside `sh -c '…'` are split again.
fn shell_commands(text: &str) -> Vec<Vec<String>> {
    let mut commands = Vec::new();
    let mut words: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = text.chars().peekable();
    let end_word = |word: &mut String, in_word: &mut bool, words: &mut Vec<String>| {
        if *in_word {
            words.push(std::mem::take(word));
            *in_word = false;
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'\n') => {
                chars.next();
            }
            '\\' => {
                if let Some(next) = chars.next() {
                    word.push(next);
                    in_word = true;
                }
            }
            '\'' => {
                in_word = true;
                for q in chars.by_ref() {
                    if q == '\'' {
                        break;
                    }
                    word.push(q);
                }
            }
            '"' => {
                in_word = true;
                while let Some(q) = chars.next() {
                    match q {
                        '"' => break,
                        '\\' => word.extend(chars.next()),
                        _ => word.push(q),
                    }
                }
            }
            '#' if !in_word => {
                while chars.peek().is_some_and(|c| *c != '\n') {
                    chars.next();
                }
            }
            ' ' | '\t' => end_word(&mut word, &mut in_word, &mut words),
            '$' if chars.peek() == Some(&'(') => {
                chars.next();
                end_word(&mut word, &mut in_word, &mut words);
                commands.push(std::mem::take(&mut words));
            }
            '\n' | '|' | '&' | ';' | '(' | ')' | '`' => {
                end_word(&mut word, &mut in_word, &mut words);
                commands.push(std::mem::take(&mut words));
            }
            _ => {
                word.push(c);
                in_word = true;
            }
        }
    }
    end_word(&mut word, &mut in_word, &mut words);
    commands.push(words);
    let mut out = Vec::new();
    for mut command in commands {
        // Redirections (`>/dev/null`, `2>&1`, `> FILE`, `<<<"…"`) are not arguments.
        let mut i = 0;
        while i < command.len() {
            let w = command[i].trim_start_matches(|c: char| c.is_ascii_digit());
            if w.starts_with('>') || w.starts_with('<') {
                let alone = w.trim_start_matches(['>', '<', '&']).is_empty();
                command.drain(i..(i + if alone { 2 } else { 1 }).min(command.len()));
            } else {
                i += 1;
            }
        }
        if let Some(at) = command.iter().position(|w| w == "-c")
            && at > 0
            && ["sh", "bash", "/bin/sh", "/bin/bash"].contains(&command[at - 1].as_str())
            && let Some(script) = command.get(at + 1)
        {
            out.extend(shell_commands(script));
        }
        if !command.is_empty() {
            out.push(command);
        }
    }
    out
}

/// The invocations of our tools in shell text: a command whose program (after variable assignments, `sudo`,
/// `exec`, `env`, `if`, `!`, …) is one of the tools, or `cargo xtask`. `bin_var` names a variable the text runs a
/// tool through (`"$bin" save …` in a script whose binary is found into `bin`).
fn invocations(place: &str, text: &str, bin_var: Option<(&str, &'static str)>) -> Vec<Invocation> {
    let mut out = Vec::new();
    for command in shell_commands(text) {
        let mut i = 0;
        while i < command.len() {
            let w = command[i].as_str();
            let assignment = w.split_once('=').is_some_and(|(name, _)| {
                !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            });
            if assignment
                || ["exec", "env", "time", "nohup", "if", "then", "else", "elif", "do", "!", "while"].contains(&w)
            {
                i += 1;
            } else if w == "sudo" || w == "runuser" {
                i += 1;
                while i < command.len() && command[i].starts_with('-') {
                    i += if ["-u", "-g"].contains(&command[i].as_str()) { 2 } else { 1 };
                }
            } else {
                break;
            }
        }
        let Some(program) = command.get(i) else { continue };
        let (tool, args) = if program == "cargo" && command.get(i + 1).is_some_and(|w| w == "xtask") {
            ("vault-toolkit", &command[i + 2..])
        } else if let Some(tool) = tool_named(program) {
            (tool, &command[i + 1..])
        } else if let Some((var, tool)) = bin_var
            && (program == &format!("${var}") || program == &format!("${{{var}}}"))
        {
            (tool, &command[i + 1..])
        } else {
            continue;
        };
        out.push(Invocation { place: place.to_owned(), tool, args: args.to_vec() });
    }
    out
}

/// Shell text as logical lines (a trailing `\` joins the next line), each with the number of its first line.
fn logical_lines(text: &str, first: usize) -> Vec<(usize, String)> {
    let mut out: Vec<(usize, String)> = Vec::new();
    let mut open = false;
    for (n, line) in text.lines().enumerate() {
        match out.last_mut() {
            Some((_, joined)) if open => joined.push_str(line),
            _ => out.push((first + n, line.to_owned())),
        }
        open = line.ends_with('\\');
        if open {
            out.last_mut().unwrap().1.pop();
        }
    }
    out
}

/// The invocations in a Markdown file: in shell code blocks (untagged, `sh`, `bash`, `console`; a `$ ` prompt is
/// dropped), units (`ini`: their `Exec*=` lines), CI jobs (`yaml`: `run:` and list items that start with a
/// tool) and in inline code that starts with a tool (`` `vault-env get --field password …` ``).
fn markdown_invocations(file: &str, markdown: &str) -> Vec<Invocation> {
    let mut out = Vec::new();
    let mut block: Option<(String, usize, String)> = None;
    for (n, line) in markdown.lines().enumerate() {
        let place = format!("{file}:{}", n + 1);
        if let Some(fence) = line.trim_start().strip_prefix("```") {
            block = match block.take() {
                Some((lang, start, text)) => {
                    match lang.as_str() {
                        "" | "sh" | "bash" | "shell" | "console" => {
                            for (line, text) in logical_lines(&text, start + 1) {
                                out.extend(invocations(&format!("{file}:{line}"), &text, None));
                            }
                        }
                        "ini" => out.extend(unit_invocations(file, &text, start + 1)),
                        "yaml" => {
                            for (i, line) in text.lines().enumerate() {
                                let item = line.trim().trim_start_matches("- ").trim_start_matches("run:").trim();
                                let place = format!("{file}:{}", start + 1 + i);
                                out.extend(inline_invocations(&place, &format!("`{item}`")));
                            }
                        }
                        _ => {}
                    }
                    None
                }
                None => Some((fence.trim().to_owned(), n + 1, String::new())),
            };
            continue;
        }
        if let Some((_, _, text)) = &mut block {
            text.push_str(line.trim_start().strip_prefix("$ ").unwrap_or(line));
            text.push('\n');
            continue;
        }
        out.extend(inline_invocations(&place, line));
    }
    out
}

/// Inline code (`` `…` ``) in a line of prose that runs a tool (not a link `vault-env -> vault-toolkit`).
fn inline_invocations(place: &str, line: &str) -> Vec<Invocation> {
    line.split('`')
        .skip(1)
        .step_by(2)
        .filter(|span| !span.contains(" -> "))
        .flat_map(|span| {
            let first = span.split_whitespace().find(|w| *w != "sudo").unwrap_or("");
            if tool_named(first).is_some() || first == "cargo" { invocations(place, span, None) } else { Vec::new() }
        })
        .collect()
}

/// The invocations in a systemd unit's `Exec*=` lines (the `-@:+!` prefixes dropped); `first` is the number of
/// the unit's first line in `file`.
fn unit_invocations(file: &str, unit: &str, first: usize) -> Vec<Invocation> {
    let mut out = Vec::new();
    for (line, text) in logical_lines(unit, first) {
        if let Some((key, value)) = text.split_once('=')
            && key.trim().starts_with("Exec")
        {
            let value = value.trim().trim_start_matches(['-', '@', ':', '+', '!']);
            out.extend(invocations(&format!("{file}:{line}"), value, None));
        }
    }
    out
}

/// The invocations in a shell script: its commands (a tool run through `"$bin"` when the script finds exactly
/// one tool with `command -v TOOL`), and inline code in its comments and here-documents (usage texts).
fn script_invocations(file: &str, script: &str) -> Vec<Invocation> {
    let found: Vec<&'static str> = script
        .lines()
        .filter_map(|l| l.split("command -v ").nth(1))
        .filter_map(|rest| {
            let word = rest.split_whitespace().next().unwrap_or("");
            tool_named(word.trim_end_matches(|c: char| !c.is_ascii_alphanumeric()))
        })
        .collect();
    let bin_var = match found.as_slice() {
        [first, rest @ ..] if rest.iter().all(|t| t == first) => Some(("bin", *first)),
        _ => None,
    };
    let mut out = Vec::new();
    let mut heredoc: Option<String> = None;
    for (line, text) in logical_lines(script, 1) {
        let place = format!("{file}:{line}");
        if let Some(end) = &heredoc {
            if text.trim() == end {
                heredoc = None;
            } else {
                out.extend(inline_invocations(&place, &text));
            }
            continue;
        }
        if let Some(comment) = text.trim_start().strip_prefix('#') {
            out.extend(inline_invocations(&place, comment));
            continue;
        }
        // `cat <<'USAGE'` … `USAGE`: prose, not commands (`<<<` is a here-string).
        if let Some((_, marker)) = text.split_once("<<").filter(|(_, m)| !m.starts_with('<')) {
            let marker = marker.trim_start_matches('-').split_whitespace().next().unwrap_or("");
            heredoc = Some(marker.trim_matches(['\'', '"']).to_owned());
        }
        out.extend(invocations(&place, &text, bin_var));
    }
    out
}

/// A word that stands for something (`PATH`, `<file>`, `$DIR`, `…`): nothing to check it against.
fn placeholder(word: &str) -> bool {
    word.contains(['$', '<', '>', '{', '@', '%', '…', '*'])
        || word.contains("...")
        || word.chars().any(|c| c.is_ascii_uppercase())
}

/// What is wrong with running `tool args…` against the command lines' `--help`: unknown subcommands, flags or
/// flag values.
fn check_invocation(helps: &[crate::cli::Help], tool: &str, args: &[String]) -> Vec<String> {
    let mut path = vec![tool.to_owned()];
    let mut problems = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let Some(help) = helps.iter().find(|h| h.path == path) else { break };
        // `[--dry-run]` and `--to DIR,` in prose: the flag without the brackets and punctuation around it.
        let raw = args[i].trim_start_matches(['[', '(']);
        let word = if raw.starts_with('-') {
            raw.trim_end_matches([']', ',', ')']).to_owned()
        } else {
            raw.trim_end_matches([']', ',', '.', ')', ':']).to_owned()
        };
        i += 1;
        if word == "--" {
            break;
        }
        let value_of = |flag: &crate::cli::Flag, inline: Option<&str>, i: &mut usize| -> Option<String> {
            if !flag.takes_value {
                return None;
            }
            if let Some(v) = inline {
                return Some(v.to_owned());
            }
            if flag.optional_value {
                return None;
            }
            let v = args.get(*i).cloned();
            *i += 1;
            v
        };
        let check_value = |flag: &crate::cli::Flag, value: Option<String>, problems: &mut Vec<String>| {
            if let Some(value) = value
                && !flag.values.is_empty()
                && !placeholder(&value)
                && !value.is_empty()
            {
                for one in value.trim_matches(['[', ']']).split('|') {
                    if !flag.values.iter().any(|v| v == one) {
                        let name =
                            flag.long.clone().map_or_else(|| format!("-{}", flag.short.unwrap()), |l| format!("--{l}"));
                        problems.push(format!(
                            "`{}`: {name} does not take {one:?} ({})",
                            path.join(" "),
                            flag.values.join(", ")
                        ));
                    }
                }
            }
        };
        if let Some(long) = word.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (long, None),
            };
            if placeholder(name) || name.is_empty() {
                continue;
            }
            match help.flag(Some(name), None) {
                Some(flag) => {
                    let value = value_of(flag, inline, &mut i);
                    check_value(flag, value, &mut problems);
                }
                None => problems.push(format!("`{}` has no flag --{name}", path.join(" "))),
            }
        } else if let Some(shorts) = word.strip_prefix('-').filter(|s| !s.is_empty()) {
            if placeholder(shorts) && !shorts.chars().all(|c| c.is_ascii_alphanumeric()) {
                continue;
            }
            for (at, c) in shorts.char_indices() {
                match help.flag(None, Some(c)) {
                    Some(flag) if flag.takes_value => {
                        let rest = &shorts[at + c.len_utf8()..];
                        let rest = rest.strip_prefix('=').unwrap_or(rest);
                        let value = value_of(flag, (!rest.is_empty()).then_some(rest), &mut i);
                        check_value(flag, value, &mut problems);
                        break;
                    }
                    Some(_) => {}
                    None => {
                        problems.push(format!("`{}` has no flag -{c}", path.join(" ")));
                        break;
                    }
                }
            }
        } else if help.has_subcommand(&word) {
            path.push(word);
        } else if !help.subcommands.is_empty() && !help.positionals {
            if !placeholder(&word) && !word.is_empty() {
                problems.push(format!("`{}` has no subcommand {word:?}", path.join(" ")));
            }
            // Past an unknown subcommand there is nothing to check against.
            break;
        }
    }
    problems
}

/// Every place the docs, units and scripts run one of our tools.
fn every_invocation(bin: &Path) -> Vec<Invocation> {
    let root = root();
    let mut out = Vec::new();
    let mut markdown = vec![root.join("README.md")];
    for dir in ["docs", "crates", "integrations"] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "md") {
                markdown.push(path);
            } else if path.join("README.md").is_file() {
                markdown.push(path.join("README.md"));
            }
        }
    }
    let relative = |p: &Path| p.strip_prefix(&root).unwrap_or(p).display().to_string();
    for file in &markdown {
        out.extend(markdown_invocations(&relative(file), &std::fs::read_to_string(file).unwrap()));
    }
    // The unit templates, and the units deploy renders from them for a systemd host.
    let rendered = tempfile::tempdir().unwrap();
    let render =
        crate::cli::tool(bin, "vault-toolkit").args(["job", "render", "--out"]).arg(rendered.path()).output().unwrap();
    assert!(render.status.success(), "job render: {}", crate::text(&render));
    for dir in [root.join("systemd"), rendered.path().to_owned()] {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.ends_with(".service") || name.ends_with(".timer") {
                let shown = if dir.starts_with(&root) { relative(&path) } else { format!("(rendered) {name}") };
                out.extend(unit_invocations(&shown, &std::fs::read_to_string(&path).unwrap(), 1));
            }
        }
    }
    let mut stack = vec![root.join("scripts")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(text) = std::fs::read_to_string(&path) {
                out.extend(script_invocations(&relative(&path), &text));
            }
        }
    }
    out
}

/// Every command, subcommand, flag and flag value the docs (README, docs/, each crate's and integration's README), the systemd units
/// (templates and as deploy renders them) and the scripts name for our tools exists: checked against each command
/// line's own `--help`, not against the source.
#[test]
fn every_command_and_flag_the_docs_units_and_scripts_name_exists() {
    let (_dir, bin) = crate::cli::bin();
    let helps = crate::cli::commands(&bin);
    let found = every_invocation(&bin);
    assert!(found.len() > 150, "only {} invocations found: is the parser broken?", found.len());
    for tool in crate::INSTALLED {
        assert!(found.iter().any(|i| i.tool == tool), "no doc, unit or script runs {tool}");
    }
    let mut wrong = Vec::new();
    for invocation in &found {
        for problem in check_invocation(&helps, invocation.tool, &invocation.args) {
            wrong.push(format!(
                "{}: {problem}  (in `{} {}`)",
                invocation.place,
                invocation.tool,
                invocation.args.join(" ")
            ));
        }
    }
    assert!(wrong.is_empty(), "commands that do not exist:\n{}", wrong.join("\n"));
}

#[test]
fn the_command_check_catches_a_made_up_flag() {
    let (_dir, bin) = crate::cli::bin();
    let helps = crate::cli::commands(&bin);
    let check = |md: &str| -> Vec<String> {
        markdown_invocations("t.md", md).iter().flat_map(|i| check_invocation(&helps, i.tool, &i.args)).collect()
    };
    // True lines pass, in blocks, inline, after sudo and variables, in pipelines and with `=` values.
    let good = "```sh\n$ VAULT_ADDR=x vault-env get --field password secret/app \\\n    | head -1\nsudo cargo xtask deploy --local /tmp/x && secret-scan -f=sarif .\npolicy-gen -f jsonl check policies/\n```\nRun `vault-health --format nagios`.\n";
    let found = markdown_invocations("t.md", good);
    assert_eq!(found.len(), 5, "{found:#?}");
    assert_eq!(check(good), Vec::<String>::new());
    // A made-up flag, subcommand, short flag or value is caught, wherever it stands.
    for bad in [
        "```sh\nvault-env get --made-up-flag secret/app\n```",
        "```\nvault-backup sav --to /tmp\n```",
        "Run `secret-scan scan -Z .`.",
        "```sh\ncat x | vault-health --format nagioss\n```",
        "```sh\ncargo xtask deploy --made-up\n```",
        "```sh\nsecret-scan baseline crate x .\n```",
    ] {
        assert_eq!(check(bad).len(), 1, "{bad}: {:?}", check(bad));
    }
    // Units and scripts: Exec lines, and a tool run through the variable its path was found into.
    let unit = "[Service]\nExecStart=-@BIN_DIR@/vault-backup save --made-up\n";
    let found = unit_invocations("u", unit, 1);
    assert_eq!(
        (found[0].place.as_str(), &found[0].args[..]),
        ("u:2", &["save".to_owned(), "--made-up".to_owned()][..])
    );
    assert_eq!(check_invocation(&helps, found[0].tool, &found[0].args).len(), 1);
    let script =
        "bin=$(command -v audit-parse)\nexec \"$bin\" filter \"$dir\" --made-up 1h\n# see `audit-parse report`\n";
    let found = script_invocations("s", script);
    assert_eq!(found.len(), 2, "{found:#?}");
    assert_eq!(check_invocation(&helps, found[0].tool, &found[0].args).len(), 1, "{found:#?}");
}
