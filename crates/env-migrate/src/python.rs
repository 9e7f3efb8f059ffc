//! Python code that reads migrated variables, found with a real parser, and the edits that make Dagster assets and
//! ops read them through `VaultSecretsResource` instead.
//!
//! The parser is tree-sitter with its Python grammar (`tree-sitter`, `tree-sitter-python`, both maintained by the
//! tree-sitter project). It was chosen over the alternatives for three reasons: it gives a concrete syntax tree
//! with byte offsets for every node, so an edit replaces exactly the bytes of one expression and the comments and
//! formatting around it stay as they were (the diff stays minimal); it recovers from syntax errors instead of
//! giving up, so one broken file does not hide the reads in the rest; and it is a small C library plus one
//! generated parser, which builds in well under a minute on two cores, where the published Rust ports of CPython's
//! grammar pull in large generated Rust parsers and big-integer crates and are no longer maintained. A file
//! that has syntax errors is still searched, but nothing in it is rewritten.
//!
//! What counts as a read: `os.getenv("X"[, default])`, `getenv` imported from `os`, `os.environ["X"]`,
//! `os.environ.get("X"[, default])` (also through `from os import environ`), and Dagster's `EnvVar("X")`. Aliases
//! (`import os as o`, `import dagster as dg`) are followed.
//!
//! A read is rewritten only where a resource is at hand when it runs: in the body of a function decorated with
//! Dagster's `@asset`, `@multi_asset`, `@op`, `@asset_check` or `@multi_asset_check` (nested functions and lambdas
//! included), and in a `ConfigurableResource` class defined and built in the same file: reads in its methods, and
//! `EnvVar("X")` given to its fields (such a field becomes a property), go through a nested
//! `vault: VaultSecretsResource` field. Anything else is listed with the reason (see [`Why`]).

use std::collections::{BTreeMap, BTreeSet};

use tree_sitter::{Node, Parser, Tree};

use crate::plan::Target;

/// Decorators whose functions run inside a Dagster run and may take resources as parameters.
const RUN_TIME_DECORATORS: &[&str] = &["asset", "multi_asset", "op", "asset_check", "multi_asset_check"];
/// Decorators whose bodies run when the definitions load (they wire ops together; they cannot take resources).
const LOAD_TIME_DECORATORS: &[&str] = &["graph", "graph_asset", "graph_multi_asset", "job"];
/// Base classes of Dagster resources.
const RESOURCE_BASES: &[&str] = &["ConfigurableResource", "ConfigurableIOManager", "ConfigurableIOManagerFactory"];
/// The resource class and where it comes from.
const RESOURCE_CLASS: &str = "VaultSecretsResource";
const RESOURCE_MODULE: &str = "vault_dagster";
/// The parameter (and resource key) added to an asset that lacks one.
pub const DEFAULT_RESOURCE_KEY: &str = "vault";

/// How the Definitions' resource is configured: from the environment, as integrations/dagster/README.md shows.
const RESOURCE_FIELDS: &[(&str, &str)] = &[
    ("vault_addr", "VAULT_ADDR"),
    ("ca_cert", "VAULT_CACERT"),
    ("role_id_file", "VAULT_ROLE_ID_FILE"),
    ("secret_id_file", "VAULT_SECRET_ID_FILE"),
    ("vault_env_bin", "VAULT_ENV_BIN"),
];

/// Where each migrated variable went, from the plan: one target, or several (then no rewrite can choose).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Planned {
    /// The plan puts the variable in one place.
    One(Target),
    /// The plan puts it in several places (e.g. `.env` and `.env.production`).
    Many(Vec<Target>),
}

/// Options of the rewrite.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// Keep `os.getenv("X", default)`'s default as the value used when the key is missing in Vault.
    pub keep_defaults: bool,
}

/// Why a read is not rewritten.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Why {
    /// At module level: it runs when the module is imported, before any resource exists.
    ModuleLevel,
    /// In a class body (not a method): also at import time.
    ClassBody(String),
    /// In a decorator's arguments or a parameter's default: evaluated when the definition is made.
    DefinitionTime(String),
    /// In a plain function (not an asset/op): no resource is passed to it.
    Helper(String),
    /// In a graph/job body, which runs when the definitions load.
    GraphBody(String),
    /// In a resource class or its configuration.
    Resource(String),
    /// `EnvVar(...)` outside an asset body: Dagster resolves it from the environment.
    EnvVarConfig,
    /// The name is computed.
    Dynamic,
    /// The variable is not in the plan.
    NotPlanned,
    /// The plan sends it to several places.
    Ambiguous(Vec<String>),
    /// The asset has a parameter of that name which is not the Vault resource.
    NameTaken(String),
    /// The file has syntax errors.
    SyntaxError,
    /// `--patch` was not asked for, or there is no plan.
    NoPatch,
}

impl std::fmt::Display for Why {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Why::ModuleLevel => {
                write!(f, "module-level read: it runs at import time, before any Dagster resource exists")
            }
            Why::ClassBody(c) => write!(f, "in the body of class {c}: it runs at import time"),
            Why::DefinitionTime(func) => write!(
                f,
                "in a decorator or parameter default of {func}: it runs when the module is imported, not in a run"
            ),
            Why::Helper(func) => write!(
                f,
                "in {func}(), which is not a Dagster asset or op: no resource is passed to it (pass the value in from the asset, or run the program under vault-env)"
            ),
            Why::GraphBody(func) => {
                write!(f, "in the body of graph {func}, which runs when the definitions load: it cannot take resources")
            }
            Why::Resource(c) => write!(
                f,
                "in resource class {c}, which is not built in this file (or in a static method or at class level): give it a `vault: VaultSecretsResource` field and read with self.vault.get_secret(...), or run the process under vault-env"
            ),
            Why::EnvVarConfig => write!(
                f,
                "EnvVar in resource configuration: Dagster reads it from the environment when the run starts (rewritten only for a resource class defined and built in this file, given by EnvVar everywhere); run the Dagster process under vault-env, or have the resource read the secret through VaultSecretsResource"
            ),
            Why::Dynamic => write!(f, "the variable's name is computed at run time: it cannot be matched to the plan"),
            Why::NotPlanned => write!(f, "not in the plan"),
            Why::Ambiguous(paths) => write!(f, "the plan puts it in several places ({}): choose one", paths.join(", ")),
            Why::NameTaken(p) => {
                write!(f, "the function already has a parameter `{p}` that is not a VaultSecretsResource")
            }
            Why::SyntaxError => write!(f, "the file has syntax errors: nothing in it is rewritten"),
            Why::NoPatch => write!(f, "listed only (add --patch with --plan for a rewrite)"),
        }
    }
}

impl Why {
    /// Whether the program that does this read can be run under `vault-env run` instead (the read happens in the
    /// process's own environment).
    pub fn wants_vault_env(&self) -> bool {
        matches!(
            self,
            Why::ModuleLevel
                | Why::ClassBody(_)
                | Why::DefinitionTime(_)
                | Why::Helper(_)
                | Why::GraphBody(_)
                | Why::Resource(_)
                | Why::EnvVarConfig
        )
    }
}

/// One read found in a Python file.
#[derive(Clone, Debug)]
pub struct Read {
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub column: usize,
    /// The variable; `None` when the name is computed.
    pub key: Option<String>,
    /// `python` (os.getenv, os.environ) or `dagster` (EnvVar).
    pub kind: &'static str,
    /// Where it is: `asset orders`, `op load`, `function helper`, `class Config`, `module`.
    pub context: String,
    /// Whether it has a fallback default (`os.getenv("X", "fallback")`).
    pub has_default: bool,
    /// The target it was rewritten to, or why not.
    pub outcome: Result<Target, Why>,
}

/// A replacement of the bytes `start..end` by `text`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Edit {
    /// First byte replaced.
    pub start: usize,
    /// One past the last byte replaced (`start` for an insertion).
    pub end: usize,
    /// The new text.
    pub text: String,
}

/// Applies non-overlapping edits to a text.
pub fn apply_edits(text: &str, edits: &[Edit]) -> String {
    let mut sorted: Vec<&Edit> = edits.iter().collect();
    // Stable: two insertions at one place keep the order they were made in.
    sorted.sort_by_key(|e| (e.start, e.end));
    let mut out = String::with_capacity(text.len() + 256);
    let mut at = 0;
    for e in sorted {
        if e.start < at {
            continue;
        }
        out.push_str(&text[at..e.start]);
        out.push_str(&e.text);
        at = e.end;
    }
    out.push_str(&text[at..]);
    out
}

/// The names a module binds to `os`, `os.getenv`, `os.environ`, `dagster` and Dagster's names.
#[derive(Default, Debug)]
struct Bindings {
    os: BTreeSet<String>,
    getenv: BTreeSet<String>,
    environ: BTreeSet<String>,
    dagster: BTreeSet<String>,
    /// Local name → Dagster's name, for `from dagster import asset as a`.
    from_dagster: BTreeMap<String, String>,
    dagster_wildcard: bool,
    /// Local names bound to `VaultSecretsResource`.
    vault_class: BTreeSet<String>,
    /// `vault_dagster` imported as a module (`import vault_dagster as vd`).
    vault_module: BTreeSet<String>,
    /// The `from dagster import …` statement to extend, and the end of its last name.
    dagster_from_end: Option<usize>,
    vault_from_end: Option<usize>,
    /// Where a new import line goes.
    import_line_at: usize,
}

/// A parsed Python file.
#[allow(missing_debug_implementations, reason = "holds a tree-sitter tree, which has no useful Debug")]
pub struct Source<'a> {
    text: &'a str,
    tree: Tree,
    bind: Bindings,
}

fn parser() -> Parser {
    let mut p = Parser::new();
    p.set_language(&tree_sitter_python::LANGUAGE.into()).expect("the Python grammar matches the tree-sitter version");
    p
}

fn txt<'a>(n: Node<'_>, text: &'a str) -> &'a str {
    &text[n.byte_range()]
}

fn named_children<'t>(n: Node<'t>) -> Vec<Node<'t>> {
    let mut c = n.walk();
    n.named_children(&mut c).collect()
}

fn children<'t>(n: Node<'t>) -> Vec<Node<'t>> {
    let mut c = n.walk();
    n.children(&mut c).collect()
}

/// The value of a plain string literal (no f-string, no escapes, no concatenation).
fn string_literal(n: Node<'_>, text: &str) -> Option<String> {
    if n.kind() != "string" {
        return None;
    }
    let mut content = String::new();
    for c in children(n) {
        match c.kind() {
            "string_start" => {
                let s = txt(c, text).to_ascii_lowercase();
                if s.contains('f') || s.contains('b') {
                    return None;
                }
            }
            "string_content" => content.push_str(txt(c, text)),
            "string_end" => {}
            _ => return None,
        }
    }
    if content.contains('\\') { None } else { Some(content) }
}

/// The quote a string literal opens with (to write new literals alike).
fn quote_of(n: Node<'_>, text: &str) -> char {
    let s = txt(n, text);
    if s.trim_start_matches(|c: char| c.is_ascii_alphabetic()).starts_with('\'') { '\'' } else { '"' }
}

fn line_start(text: &str, at: usize) -> usize {
    text[..at].rfind('\n').map_or(0, |i| i + 1)
}

fn indent_at(text: &str, at: usize) -> String {
    let start = line_start(text, at);
    text[start..].chars().take_while(|c| *c == ' ' || *c == '\t').collect()
}

impl<'a> Source<'a> {
    /// Parses a file.
    pub fn parse(text: &'a str) -> Self {
        let tree = parser().parse(text, None).expect("parsing is not cancelled");
        let mut s = Self { text, tree, bind: Bindings::default() };
        s.bind = s.bindings();
        s
    }

    /// Whether the file has syntax errors.
    pub fn has_errors(&self) -> bool {
        self.tree.root_node().has_error()
    }

    fn bindings(&self) -> Bindings {
        let text = self.text;
        let mut b = Bindings::default();
        let root = self.tree.root_node();
        let mut stack = vec![root];
        let mut last_top_import: Option<Node<'_>> = None;
        let mut first_def = None;
        for c in named_children(root) {
            match c.kind() {
                "import_statement" | "import_from_statement" | "future_import_statement" if first_def.is_none() => {
                    last_top_import = Some(c);
                }
                "function_definition" | "class_definition" | "decorated_definition" => {
                    first_def.get_or_insert(c.start_byte());
                }
                _ => {}
            }
        }
        b.import_line_at = match last_top_import {
            Some(n) => text[n.end_byte()..].find('\n').map_or(text.len(), |i| n.end_byte() + i + 1),
            None => {
                // After a leading docstring, else at the top.
                let first = named_children(root).into_iter().find(|c| c.kind() != "comment");
                match first {
                    Some(n)
                        if n.kind() == "expression_statement"
                            && named_children(n).first().is_some_and(|s| s.kind() == "string") =>
                    {
                        text[n.end_byte()..].find('\n').map_or(text.len(), |i| n.end_byte() + i + 1)
                    }
                    _ => 0,
                }
            }
        };
        while let Some(n) = stack.pop() {
            match n.kind() {
                "import_statement" => {
                    for name in named_children(n) {
                        let (module, alias) = match name.kind() {
                            "aliased_import" => (
                                name.child_by_field_name("name").map(|m| txt(m, text)).unwrap_or_default(),
                                name.child_by_field_name("alias").map(|a| txt(a, text).to_owned()),
                            ),
                            _ => (txt(name, text), None),
                        };
                        let top = module.split('.').next().unwrap_or_default().to_owned();
                        let bound = alias.clone().unwrap_or_else(|| top.clone());
                        match (module, alias.is_some()) {
                            ("os", _) => {
                                b.os.insert(bound);
                            }
                            (m, false) if m.starts_with("os.") => {
                                b.os.insert(bound);
                            }
                            ("dagster", _) => {
                                b.dagster.insert(bound);
                            }
                            ("vault_dagster", _) => {
                                b.vault_module.insert(bound);
                            }
                            _ => {}
                        }
                    }
                }
                "import_from_statement" => {
                    let module = n.child_by_field_name("module_name").map(|m| txt(m, text)).unwrap_or_default();
                    let mut c = n.walk();
                    let names: Vec<Node<'_>> = n.children_by_field_name("name", &mut c).collect();
                    let wildcard = named_children(n).iter().any(|x| x.kind() == "wildcard_import");
                    if module == "dagster" && wildcard {
                        b.dagster_wildcard = true;
                    }
                    let top = n.parent().is_some_and(|p| p.kind() == "module");
                    if top && !names.is_empty() && !wildcard {
                        let end = names.last().map(|l| l.end_byte());
                        match module {
                            "dagster" if b.dagster_from_end.is_none() => b.dagster_from_end = end,
                            "vault_dagster" if b.vault_from_end.is_none() => b.vault_from_end = end,
                            _ => {}
                        }
                    }
                    for name in names {
                        let (orig, local) = match name.kind() {
                            "aliased_import" => (
                                name.child_by_field_name("name").map(|m| txt(m, text)).unwrap_or_default(),
                                name.child_by_field_name("alias").map(|a| txt(a, text)).unwrap_or_default(),
                            ),
                            _ => (txt(name, text), txt(name, text)),
                        };
                        match (module, orig) {
                            ("os", "getenv") => {
                                b.getenv.insert(local.to_owned());
                            }
                            ("os", "environ") => {
                                b.environ.insert(local.to_owned());
                            }
                            ("dagster", _) => {
                                b.from_dagster.insert(local.to_owned(), orig.to_owned());
                            }
                            (m, "VaultSecretsResource") if m == RESOURCE_MODULE || m.starts_with("vault_dagster.") => {
                                b.vault_class.insert(local.to_owned());
                            }
                            _ => {}
                        }
                    }
                }
                _ => stack.extend(named_children(n)),
            }
        }
        b
    }

    /// The Dagster name an expression stands for (`asset`, `dg.asset`, `asset(...)` → `asset`).
    fn dagster_name(&self, n: Node<'_>) -> Option<String> {
        let n = if n.kind() == "call" { n.child_by_field_name("function")? } else { n };
        match n.kind() {
            "identifier" => {
                let name = txt(n, self.text);
                match self.bind.from_dagster.get(name) {
                    Some(orig) => Some(orig.clone()),
                    None if self.bind.dagster_wildcard => Some(name.to_owned()),
                    None => None,
                }
            }
            "attribute" => {
                let obj = n.child_by_field_name("object")?;
                let attr = n.child_by_field_name("attribute")?;
                self.bind.dagster.contains(txt(obj, self.text)).then(|| txt(attr, self.text).to_owned())
            }
            _ => None,
        }
    }

    fn is_os(&self, n: Node<'_>) -> bool {
        n.kind() == "identifier" && self.bind.os.contains(txt(n, self.text))
    }

    /// `os.environ` or a name bound to it.
    fn is_environ(&self, n: Node<'_>) -> bool {
        match n.kind() {
            "identifier" => self.bind.environ.contains(txt(n, self.text)),
            "attribute" => {
                n.child_by_field_name("object").is_some_and(|o| self.is_os(o))
                    && n.child_by_field_name("attribute").is_some_and(|a| txt(a, self.text) == "environ")
            }
            _ => false,
        }
    }

    fn is_resource_annotation(&self, n: Node<'_>) -> bool {
        let t = txt(n, self.text);
        self.bind.vault_class.contains(t)
            || t.rsplit_once('.').is_some_and(|(m, c)| c == RESOURCE_CLASS && self.bind.vault_module.contains(m))
    }
}

/// A read expression found in the tree, before its context is judged.
struct Found<'t> {
    /// The expression to replace.
    node: Node<'t>,
    key: Option<(String, char)>,
    kind: &'static str,
    default: Option<Node<'t>>,
    envvar: bool,
}

fn find_reads<'t>(src: &Source<'_>, root: Node<'t>) -> Vec<Found<'t>> {
    let text = src.text;
    let mut out = Vec::new();
    let mut stack = vec![root];
    while let Some(n) = stack.pop() {
        stack.extend(named_children(n).into_iter().rev());
        match n.kind() {
            "call" => {
                let Some(func) = n.child_by_field_name("function") else { continue };
                let args = n.child_by_field_name("arguments");
                let arg_nodes: Vec<Node<'_>> = args.map(named_children).unwrap_or_default();
                let positional: Vec<Node<'_>> =
                    arg_nodes.iter().copied().filter(|a| a.kind() != "keyword_argument").collect();
                let keyword = |name: &str| {
                    arg_nodes.iter().copied().find_map(|a| {
                        (a.kind() == "keyword_argument"
                            && a.child_by_field_name("name").is_some_and(|k| txt(k, text) == name))
                        .then(|| a.child_by_field_name("value"))
                        .flatten()
                    })
                };
                let getenv = match func.kind() {
                    "identifier" => src.bind.getenv.contains(txt(func, text)),
                    "attribute" => {
                        func.child_by_field_name("attribute").is_some_and(|a| txt(a, text) == "getenv")
                            && func.child_by_field_name("object").is_some_and(|o| src.is_os(o))
                    }
                    _ => false,
                };
                let environ_get = func.kind() == "attribute"
                    && func.child_by_field_name("attribute").is_some_and(|a| txt(a, text) == "get")
                    && func.child_by_field_name("object").is_some_and(|o| src.is_environ(o));
                let envvar = src.dagster_name(func).is_some_and(|d| d == "EnvVar");
                if getenv || environ_get || envvar {
                    let name_node = positional.first().copied().or_else(|| keyword("key")).or_else(|| keyword("name"));
                    let key = name_node.and_then(|k| string_literal(k, text).map(|s| (s, quote_of(k, text))));
                    let default = if envvar { None } else { positional.get(1).copied().or_else(|| keyword("default")) };
                    if name_node.is_none() {
                        continue;
                    }
                    out.push(Found { node: n, key, kind: if envvar { "dagster" } else { "python" }, default, envvar });
                }
            }
            "subscript" => {
                let Some(value) = n.child_by_field_name("value") else { continue };
                if !src.is_environ(value) {
                    continue;
                }
                // A write or a delete is not a read.
                if let Some(p) = n.parent() {
                    let target = matches!(p.kind(), "assignment" | "augmented_assignment")
                        && p.child_by_field_name("left").is_some_and(|l| l.id() == n.id());
                    if target || p.kind() == "delete_statement" {
                        continue;
                    }
                }
                let mut c = n.walk();
                let subs: Vec<Node<'_>> = n.children_by_field_name("subscript", &mut c).collect();
                let key = match subs.as_slice() {
                    [one] => string_literal(*one, text).map(|s| (s, quote_of(*one, text))),
                    _ => None,
                };
                out.push(Found { node: n, key, kind: "python", default: None, envvar: false });
            }
            _ => {}
        }
    }
    out
}

/// Where a read sits.
enum Place<'t> {
    /// In the body of a run-time function: the function definition node and its description.
    RunTime {
        func: Node<'t>,
        what: String,
    },
    Other(Why, String),
}

fn decorators<'t>(func: Node<'t>) -> Vec<Node<'t>> {
    match func.parent() {
        Some(p) if p.kind() == "decorated_definition" => {
            named_children(p).into_iter().filter(|d| d.kind() == "decorator").collect()
        }
        _ => vec![],
    }
}

fn place<'t>(src: &Source<'_>, node: Node<'t>) -> Place<'t> {
    let text = src.text;
    let mut child = node;
    let mut cur = node.parent();
    // Functions passed on the way up (nested ones), innermost first.
    while let Some(n) = cur {
        match n.kind() {
            "function_definition" => {
                let name = n.child_by_field_name("name").map(|x| txt(x, text)).unwrap_or("?").to_owned();
                let in_body = n.child_by_field_name("body").is_some_and(|b| b.id() == child.id());
                if !in_body {
                    // A parameter default or annotation: evaluated when the def runs.
                    return enclosing_def_time(src, n, &name);
                }
                let kinds: Vec<String> = decorators(n)
                    .into_iter()
                    .filter_map(|d| named_children(d).into_iter().next().and_then(|e| src.dagster_name(e)))
                    .collect();
                if let Some(k) = kinds.iter().find(|k| RUN_TIME_DECORATORS.contains(&k.as_str())) {
                    return Place::RunTime { func: n, what: format!("{k} {name}") };
                }
                if let Some(k) = kinds.iter().find(|k| LOAD_TIME_DECORATORS.contains(&k.as_str())) {
                    return Place::Other(Why::GraphBody(name.clone()), format!("{k} {name}"));
                }
                // A nested function inside an asset still runs in the asset (a closure sees its parameters).
                if let Place::RunTime { func, what } = place(src, n) {
                    return Place::RunTime { func, what };
                }
                if let Some(class) = enclosing_class(n) {
                    let cname = class.child_by_field_name("name").map(|x| txt(x, text)).unwrap_or("?").to_owned();
                    if is_resource_class(src, class) {
                        return Place::Other(Why::Resource(cname.clone()), format!("resource {cname}.{name}"));
                    }
                    return Place::Other(Why::Helper(format!("{cname}.{name}")), format!("method {cname}.{name}"));
                }
                return Place::Other(Why::Helper(name.clone()), format!("function {name}"));
            }
            "decorator" => {
                let def = n.parent().and_then(|p| p.child_by_field_name("definition"));
                let name = def
                    .and_then(|d| d.child_by_field_name("name"))
                    .map(|x| txt(x, text).to_owned())
                    .unwrap_or_else(|| "?".into());
                return match def {
                    Some(d) if d.kind() == "function_definition" => enclosing_def_time(src, d, &name),
                    _ => Place::Other(Why::DefinitionTime(name.clone()), format!("decorator of {name}")),
                };
            }
            "class_definition" => {
                let cname = n.child_by_field_name("name").map(|x| txt(x, text)).unwrap_or("?").to_owned();
                if is_resource_class(src, n) {
                    return Place::Other(Why::Resource(cname.clone()), format!("resource {cname}"));
                }
                return Place::Other(Why::ClassBody(cname.clone()), format!("class {cname}"));
            }
            "call" if resource_constructor(src, n) => {
                let callee = n.child_by_field_name("function").map(|f| txt(f, text)).unwrap_or("?").to_owned();
                return Place::Other(Why::EnvVarConfig, format!("resource config {callee}(...)"));
            }
            _ => {}
        }
        child = n;
        cur = n.parent();
    }
    Place::Other(Why::ModuleLevel, "module".into())
}

/// A read in a function's defaults or decorators: it runs where the `def` itself runs.
fn enclosing_def_time<'t>(src: &Source<'_>, func: Node<'t>, name: &str) -> Place<'t> {
    match place(src, func) {
        Place::RunTime { func, what } => Place::RunTime { func, what },
        Place::Other(Why::ModuleLevel, _) => {
            Place::Other(Why::DefinitionTime(name.to_owned()), format!("definition of {name}"))
        }
        other => other,
    }
}

fn enclosing_class(func: Node<'_>) -> Option<Node<'_>> {
    let mut cur = func.parent();
    while let Some(n) = cur {
        match n.kind() {
            "class_definition" => return Some(n),
            "function_definition" => return None,
            _ => cur = n.parent(),
        }
    }
    None
}

fn is_resource_class(src: &Source<'_>, class: Node<'_>) -> bool {
    class.child_by_field_name("superclasses").is_some_and(|s| {
        named_children(s).into_iter().any(|b| {
            let t = txt(b, src.text);
            RESOURCE_BASES.iter().any(|r| t == *r || t.ends_with(&format!(".{r}")))
        })
    })
}

/// Whether a call looks like building a resource for Definitions (`Something(field=EnvVar(...))`): any call that
/// is not EnvVar itself, not Definitions, holding keyword arguments; EnvVar only appears in config anyway.
fn resource_constructor(src: &Source<'_>, call: Node<'_>) -> bool {
    let Some(func) = call.child_by_field_name("function") else { return false };
    let name = txt(func, src.text);
    let last = name.rsplit('.').next().unwrap_or(name);
    last != "EnvVar" && last.chars().next().is_some_and(char::is_uppercase)
}

/// The parameter of a run-time function that holds the Vault resource: an existing one annotated
/// `VaultSecretsResource` (its name is the resource key), or `vault` to be added. `Err` when `vault` is taken.
fn resource_param(src: &Source<'_>, func: Node<'_>) -> Result<(String, bool), Why> {
    let Some(params) = func.child_by_field_name("parameters") else {
        return Ok((DEFAULT_RESOURCE_KEY.into(), false));
    };
    let mut vault_taken = false;
    for p in named_children(params) {
        let name = match p.kind() {
            "identifier" => Some(p),
            "typed_parameter" => named_children(p).into_iter().find(|c| c.kind() == "identifier"),
            "default_parameter" | "typed_default_parameter" => p.child_by_field_name("name"),
            _ => None,
        };
        let Some(name) = name else { continue };
        let annotated = p.child_by_field_name("type").is_some_and(|t| src.is_resource_annotation(t));
        if annotated {
            return Ok((txt(name, src.text).to_owned(), true));
        }
        if txt(name, src.text) == DEFAULT_RESOURCE_KEY {
            vault_taken = true;
        }
    }
    if vault_taken {
        Err(Why::NameTaken(DEFAULT_RESOURCE_KEY.into()))
    } else {
        Ok((DEFAULT_RESOURCE_KEY.into(), false))
    }
}

/// The edit that adds `vault: VaultSecretsResource` to a function's parameters.
fn add_param_edit(func: Node<'_>, class: &str) -> Option<Edit> {
    let params = func.child_by_field_name("parameters")?;
    let named = named_children(params);
    let new = format!("{DEFAULT_RESOURCE_KEY}: {class}");
    if let Some(kw) = named.iter().find(|p| {
        p.kind() == "dictionary_splat_pattern"
            || (p.kind() == "typed_parameter"
                && named_children(**p).first().is_some_and(|c| c.kind() == "dictionary_splat_pattern"))
    }) {
        return Some(Edit { start: kw.start_byte(), end: kw.start_byte(), text: format!("{new}, ") });
    }
    match named.last() {
        Some(last) => Some(Edit { start: last.end_byte(), end: last.end_byte(), text: format!(", {new}") }),
        None => {
            let open = params.start_byte() + 1;
            Some(Edit { start: open, end: open, text: new })
        }
    }
}

/// The result of looking at one Python file.
#[derive(Debug, Default)]
pub struct FileResult {
    /// Every read found.
    pub reads: Vec<Read>,
    /// The edits of the rewrite (empty without targets).
    pub edits: Vec<Edit>,
    /// Resource keys the rewritten functions now take, which `Definitions` must provide.
    pub resource_keys: BTreeSet<String>,
    /// Whether the file needs `from vault_dagster import VaultSecretsResource`.
    pub needs_class: bool,
    /// Whether the file's edits use `EnvVar` where the file does not import it.
    pub needs_envvar: bool,
}

/// Finds the reads of `wanted` (and every read with a computed name) in one Python file, and, with `targets`,
/// the edits that rewrite those in assets and ops.
pub fn analyze(
    text: &str,
    wanted: &BTreeSet<String>,
    targets: Option<&BTreeMap<String, Planned>>,
    options: Options,
) -> FileResult {
    analyze_in(text, wanted, targets, options, &BTreeSet::new())
}

/// [`analyze`] for a file of a project whose other files call the classes named in `elsewhere`: a resource
/// class built in another file is not rewritten (that file's construction would need the change too).
pub fn analyze_in(
    text: &str,
    wanted: &BTreeSet<String>,
    targets: Option<&BTreeMap<String, Planned>>,
    options: Options,
    elsewhere: &BTreeSet<String>,
) -> FileResult {
    let src = Source::parse(text);
    let broken = src.has_errors();
    let root = src.tree.root_node();
    let mut result = FileResult::default();
    let class_name = src.bind.vault_class.iter().next().cloned().unwrap_or_else(|| RESOURCE_CLASS.to_owned());
    // Functions that get a parameter, by node id (added once).
    let mut params_added: BTreeSet<usize> = BTreeSet::new();
    // `EnvVar("X")` values of resource constructors: rewritten after the loop, class by class.
    let mut config_reads: Vec<(usize, Node<'_>, String)> = Vec::new();
    let mut method_reads: Vec<MethodRead<'_>> = Vec::new();
    for found in find_reads(&src, root) {
        let key = found.key.as_ref().map(|(k, _)| k.clone());
        if key.as_ref().is_some_and(|k| !wanted.contains(k)) {
            continue;
        }
        let pos = found.node.start_position();
        let column = text[line_start(text, found.node.start_byte())..found.node.start_byte()].chars().count() + 1;
        let placed = place(&src, found.node);
        let context = match &placed {
            Place::RunTime { what, .. } => what.clone(),
            Place::Other(_, what) => what.clone(),
        };
        let outcome = decide(&src, &found, &placed, key.as_deref(), targets, broken);
        let outcome = match outcome {
            Ok((target, func)) => {
                match rewrite(&src, &found, func, &target, options, &class_name, &mut params_added, &mut result) {
                    Ok(()) => Ok(target),
                    Err(why) => Err(why),
                }
            }
            Err(why) => Err(why),
        };
        if let (Err(Why::EnvVarConfig), Some(k), Some(_), false) = (&outcome, &key, targets, broken) {
            config_reads.push((result.reads.len(), found.node, k.clone()));
        }
        let in_method = matches!((&outcome, &key, targets, broken), (Err(Why::Resource(_)), Some(_), Some(_), false));
        if let Some((method, _)) = resource_method(&src, found.node).filter(|_| in_method && !found.envvar) {
            method_reads.push(MethodRead {
                idx: result.reads.len(),
                node: found.node,
                key: key.clone().unwrap_or_default(),
                default: found.default,
                quote: found.key.as_ref().map_or('"', |(_, q)| *q),
                method,
            });
        }
        result.reads.push(Read {
            line: pos.row + 1,
            column,
            key,
            kind: found.kind,
            context,
            has_default: found.default.is_some(),
            outcome,
        });
    }
    if let Some(targets) = targets {
        resource_config(&src, &config_reads, &method_reads, targets, options, elsewhere, &class_name, &mut result);
    }
    result
}

/// How this file writes `EnvVar`: its own name for it, `dg.EnvVar`, or `EnvVar` to be imported (`true`).
fn envvar_name(src: &Source<'_>) -> (String, bool) {
    if let Some((local, _)) = src.bind.from_dagster.iter().find(|(_, o)| *o == "EnvVar") {
        (local.clone(), false)
    } else if src.bind.dagster_wildcard {
        ("EnvVar".into(), false)
    } else if let Some(m) = src.bind.dagster.iter().next() {
        (format!("{m}.EnvVar"), false)
    } else {
        ("EnvVar".into(), true)
    }
}

/// Classes of this file that are Dagster resources, by name.
fn resource_classes<'t>(src: &Source<'_>, root: Node<'t>) -> BTreeMap<String, Node<'t>> {
    let mut out = BTreeMap::new();
    for c in named_children(root) {
        let class = if c.kind() == "decorated_definition" { c.child_by_field_name("definition") } else { Some(c) };
        let class = class.filter(|n| n.kind() == "class_definition" && is_resource_class(src, *n));
        if let Some((class, name)) = class.and_then(|c| c.child_by_field_name("name").map(|n| (c, n))) {
            out.insert(txt(name, src.text).to_owned(), class);
        }
    }
    out
}

/// Every call of a class by its plain name, anywhere in the file.
fn calls_of<'t>(root: Node<'t>, text: &str, class: &str) -> Vec<Node<'t>> {
    let mut out = Vec::new();
    let mut stack = vec![root];
    while let Some(n) = stack.pop() {
        stack.extend(named_children(n));
        if n.kind() == "call"
            && n.child_by_field_name("function").is_some_and(|f| f.kind() == "identifier" && txt(f, text) == class)
        {
            out.push(n);
        }
    }
    out
}

/// The names a file calls (`Name(...)`), to know which resource classes other files construct.
pub fn called_names(text: &str) -> BTreeSet<String> {
    let src = Source::parse(text);
    let mut out = BTreeSet::new();
    let mut stack = vec![src.tree.root_node()];
    while let Some(n) = stack.pop() {
        stack.extend(named_children(n));
        let callee = (n.kind() == "call").then(|| n.child_by_field_name("function")).flatten();
        if let Some(f) = callee.filter(|f| f.kind() == "identifier") {
            out.insert(txt(f, text).to_owned());
        }
    }
    out
}

/// A field declared in a class body: the statement and its annotation.
fn class_field<'t>(class: Node<'t>, text: &str, name: &str) -> Option<(Node<'t>, Node<'t>)> {
    let body = class.child_by_field_name("body")?;
    named_children(body).into_iter().find_map(|stmt| {
        let a = named_children(stmt).into_iter().next()?;
        let ty = a.child_by_field_name("type")?;
        (stmt.kind() == "expression_statement"
            && a.kind() == "assignment"
            && a.child_by_field_name("left").is_some_and(|l| txt(l, text) == name))
        .then_some((stmt, ty))
    })
}

/// A read in a method of a resource class: the read's index, node, key, default and quote, and the method.
struct MethodRead<'t> {
    idx: usize,
    node: Node<'t>,
    key: String,
    default: Option<Node<'t>>,
    quote: char,
    method: Node<'t>,
}

/// The method a read sits in directly (in its body), when that method belongs to a resource class, with the
/// class's name; not for static or class methods.
fn resource_method<'t>(src: &Source<'_>, node: Node<'t>) -> Option<(Node<'t>, String)> {
    let mut cur = node.parent();
    while let Some(n) = cur {
        if n.kind() == "function_definition" {
            let body = n.child_by_field_name("body")?;
            if node.start_byte() < body.start_byte() {
                return None;
            }
            let class = enclosing_class(n).filter(|c| is_resource_class(src, *c))?;
            let plain = decorators(n).iter().all(|d| {
                let t = txt(*d, src.text);
                !t.contains("staticmethod") && !t.contains("classmethod")
            });
            let name = class.child_by_field_name("name").map(|x| txt(x, src.text).to_owned())?;
            return plain.then_some((n, name));
        }
        if n.kind() == "lambda" || n.kind() == "class_definition" {
            return None;
        }
        cur = n.parent();
    }
    None
}

/// The first parameter of a method (`self`).
fn self_name(method: Node<'_>, text: &str) -> Option<String> {
    let params = method.child_by_field_name("parameters")?;
    let first = named_children(params).into_iter().next()?;
    let id = match first.kind() {
        "identifier" => Some(first),
        "typed_parameter" => named_children(first).into_iter().find(|c| c.kind() == "identifier"),
        _ => None,
    }?;
    Some(txt(id, text).to_owned())
}

/// Resource classes defined in this file and built only here (at least once): `EnvVar("X")` given to one of
/// their fields, and reads in their methods, become reads through a `vault: VaultSecretsResource` field the class
/// gains (an existing one is used). Each such field becomes a property that reads the secret when a run uses it,
/// so `self.token` and `resource.token` keep working; each construction passes the Vault resource instead of the
/// `EnvVar`s.
#[allow(clippy::too_many_lines, reason = "one pass over a class: fields, methods, constructions")]
#[allow(clippy::too_many_arguments, reason = "one call site; the pieces are the analysis's state")]
fn resource_config(
    src: &Source<'_>,
    config_reads: &[(usize, Node<'_>, String)],
    method_reads: &[MethodRead<'_>],
    targets: &BTreeMap<String, Planned>,
    options: Options,
    elsewhere: &BTreeSet<String>,
    class_name: &str,
    result: &mut FileResult,
) {
    let text = src.text;
    let root = src.tree.root_node();
    let classes = resource_classes(src, root);
    // class → field → (key, reads)
    let mut by_class: BTreeMap<String, BTreeMap<String, (String, Vec<usize>)>> = BTreeMap::new();
    let mut refused: BTreeSet<String> = BTreeSet::new();
    for (idx, node, key) in config_reads {
        let Some(kw) = node.parent().filter(|p| p.kind() == "keyword_argument") else { continue };
        let Some(call) = kw.parent().and_then(|a| a.parent()).filter(|c| c.kind() == "call") else { continue };
        let Some(class) = call.child_by_field_name("function").map(|f| txt(f, text).to_owned()) else { continue };
        let Some(field) = kw.child_by_field_name("name").map(|n| txt(n, text).to_owned()) else { continue };
        if !classes.contains_key(&class) || elsewhere.contains(&class) {
            continue;
        }
        let entry = by_class.entry(class.clone()).or_default().entry(field).or_insert_with(|| (key.clone(), vec![]));
        if entry.0 != *key {
            refused.insert(class);
        }
        entry.1.push(*idx);
    }
    let mut methods_by_class: BTreeMap<String, Vec<&MethodRead<'_>>> = BTreeMap::new();
    for m in method_reads {
        if let Some((_, class)) = resource_method(src, m.node) {
            methods_by_class.entry(class).or_default().push(m);
        }
    }
    let names: BTreeSet<String> = by_class.keys().chain(methods_by_class.keys()).cloned().collect();
    let (envvar, import_envvar) = envvar_name(src);
    for class in names {
        let Some(node) = classes.get(&class).copied() else { continue };
        let calls = calls_of(root, text, &class);
        if elsewhere.contains(&class) || calls.is_empty() {
            continue;
        }
        // Fields given by EnvVar: each declared, planned in one place, and given by EnvVar in every construction.
        let mut plan: Vec<(String, Target, Node<'_>, Node<'_>)> = Vec::new();
        if let Some(fields) = by_class.get(&class).filter(|_| !refused.contains(&class)) {
            let mut ok = true;
            for (field, (key, _)) in fields {
                let (Some(Planned::One(target)), Some((stmt, ty))) = (targets.get(key), class_field(node, text, field))
                else {
                    ok = false;
                    break;
                };
                ok &= calls.iter().all(|c| keyword(*c, text, field).is_some_and(|v| is_envvar_of(src, v, key)));
                plan.push((field.clone(), target.clone(), stmt, ty));
            }
            if !ok {
                plan.clear();
            }
        }
        plan.sort_by_key(|(_, _, stmt, _)| stmt.start_byte());
        // Reads in methods whose variable the plan puts in one place.
        let methods: Vec<(&MethodRead<'_>, Target, String)> = methods_by_class
            .get(&class)
            .map(|ms| {
                ms.iter()
                    .filter_map(|m| match (targets.get(&m.key), self_name(m.method, text)) {
                        (Some(Planned::One(t)), Some(me)) => Some((*m, t.clone(), me)),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        if plan.is_empty() && methods.is_empty() {
            continue;
        }
        // The field that holds the Vault resource: an existing one, or `vault` (unless that name is taken).
        let body = node.child_by_field_name("body");
        let existing = body.and_then(|b| {
            named_children(b).into_iter().find_map(|stmt| {
                let a = named_children(stmt).into_iter().next()?;
                let ty = a.child_by_field_name("type")?;
                src.is_resource_annotation(ty)
                    .then(|| a.child_by_field_name("left").map(|l| txt(l, text).to_owned()))?
            })
        });
        if existing.is_none() && class_field(node, text, DEFAULT_RESOURCE_KEY).is_some() {
            continue;
        }
        let vf = existing.clone().unwrap_or_else(|| DEFAULT_RESOURCE_KEY.to_owned());
        for (i, (field, target, stmt, ty)) in plan.iter().enumerate() {
            let indent = indent_at(text, stmt.start_byte());
            // From the start of the line, so each property has a blank line before it.
            let start = line_start(text, stmt.start_byte());
            let mut s = String::new();
            if i == 0 && existing.is_none() {
                s.push_str(&format!("{indent}{vf}: {class_name}\n"));
            }
            s.push_str(&format!(
                "\n{indent}@property\n{indent}def {field}(self) -> {}:\n{indent}    return self.{vf}.get_secret(\"{}\", \"{}\").reveal()",
                txt(*ty, text),
                target.path,
                target.key
            ));
            result.edits.push(Edit { start, end: stmt.end_byte(), text: s });
        }
        if plan.is_empty() && existing.is_none() {
            // The field goes after the class's last annotated field, else after its docstring, else first.
            let Some(body) = body else { continue };
            let stmts = named_children(body);
            let first_fn = stmts
                .iter()
                .position(|x| x.kind() == "function_definition" || x.kind() == "decorated_definition")
                .unwrap_or(stmts.len());
            let after = stmts[..first_fn].iter().rfind(|st| {
                st.kind() == "expression_statement"
                    && named_children(**st).first().is_some_and(|a| {
                        (a.kind() == "assignment" && a.child_by_field_name("type").is_some()) || a.kind() == "string"
                    })
            });
            let first = stmts.first().copied();
            let Some(anchor) = after.copied().or(first) else { continue };
            let indent = indent_at(text, anchor.start_byte());
            let edit = match after {
                Some(st) => {
                    let at = text[st.end_byte()..].find('\n').map_or(text.len(), |i| st.end_byte() + i + 1);
                    Edit { start: at, end: at, text: format!("{indent}{vf}: {class_name}\n") }
                }
                None => {
                    let at = line_start(text, anchor.start_byte());
                    Edit { start: at, end: at, text: format!("{indent}{vf}: {class_name}\n\n") }
                }
            };
            result.edits.push(edit);
        }
        for (m, target, me) in &methods {
            let q = m.quote;
            let expr = match (m.default, options.keep_defaults) {
                (Some(d), true) => format!(
                    "(lambda s: {} if s is None else s.reveal())({me}.{vf}.get_secret({q}{}{q}).get({q}{}{q}))",
                    txt(d, text),
                    target.path,
                    target.key
                ),
                _ => format!("{me}.{vf}.get_secret({q}{}{q}, {q}{}{q}).reveal()", target.path, target.key),
            };
            result.edits.push(Edit { start: m.node.start_byte(), end: m.node.end_byte(), text: expr });
            result.reads[m.idx].outcome = Ok(target.clone());
        }
        for call in &calls {
            let passes_vault = keyword(*call, text, &vf).is_some();
            let mut given = passes_vault;
            for (field, ..) in &plan {
                let Some(value) = keyword(*call, text, field) else { continue };
                let Some(kw) = value.parent() else { continue };
                if !given {
                    let indent = indent_at(text, kw.start_byte());
                    let resource = resource_call(class_name, &envvar, &indent);
                    result.edits.push(Edit {
                        start: kw.start_byte(),
                        end: kw.end_byte(),
                        text: format!("{vf}={resource}"),
                    });
                    given = true;
                } else {
                    result.edits.push(delete_argument(kw));
                }
            }
            if let Some(args) = call.child_by_field_name("arguments").filter(|_| !given) {
                let items = named_children(args);
                let indent = match items.last() {
                    Some(last) if last.start_position().row > args.start_position().row => {
                        indent_at(text, last.start_byte())
                    }
                    _ => indent_at(text, call.start_byte()),
                };
                let resource = resource_call(class_name, &envvar, &indent);
                result.edits.extend(insert_argument(text, args, &format!("{vf}={resource}")));
            }
            result.needs_envvar |= import_envvar && !passes_vault;
        }
        result.needs_class = true;
        for (field, target, ..) in &plan {
            for idx in &by_class[&class][field].1 {
                result.reads[*idx].outcome = Ok(target.clone());
            }
        }
    }
}

/// A keyword argument's value in a call.
fn keyword<'t>(call: Node<'t>, text: &str, name: &str) -> Option<Node<'t>> {
    let args = call.child_by_field_name("arguments")?;
    named_children(args).into_iter().find_map(|a| {
        (a.kind() == "keyword_argument" && a.child_by_field_name("name").is_some_and(|k| txt(k, text) == name))
            .then(|| a.child_by_field_name("value"))
            .flatten()
    })
}

fn is_envvar_of(src: &Source<'_>, value: Node<'_>, key: &str) -> bool {
    value.kind() == "call"
        && value.child_by_field_name("function").and_then(|f| src.dagster_name(f)).as_deref() == Some("EnvVar")
        && value
            .child_by_field_name("arguments")
            .and_then(|a| named_children(a).into_iter().next())
            .and_then(|k| string_literal(k, src.text))
            .is_some_and(|k| k == key)
}

/// Removes an argument with the comma that follows it (or, for the last one, the comma before it).
fn delete_argument(arg: Node<'_>) -> Edit {
    match arg.next_named_sibling() {
        Some(next) => Edit { start: arg.start_byte(), end: next.start_byte(), text: String::new() },
        None => match arg.prev_named_sibling() {
            Some(prev) => Edit { start: prev.end_byte(), end: arg.end_byte(), text: String::new() },
            None => Edit { start: arg.start_byte(), end: arg.end_byte(), text: String::new() },
        },
    }
}

fn decide<'t>(
    src: &Source<'_>,
    found: &Found<'t>,
    placed: &Place<'t>,
    key: Option<&str>,
    targets: Option<&BTreeMap<String, Planned>>,
    broken: bool,
) -> Result<(Target, Node<'t>), Why> {
    let Some(key) = key else { return Err(Why::Dynamic) };
    let func = match placed {
        Place::RunTime { func, .. } => *func,
        Place::Other(why, _) => return Err(why.clone()),
    };
    if found.envvar {
        // `EnvVar("X")` in an asset body is an object; only `EnvVar("X").get_value()` is a read of the value.
        let getvalue = found.node.parent().is_some_and(|p| {
            p.kind() == "attribute"
                && p.child_by_field_name("attribute").is_some_and(|a| txt(a, src.text) == "get_value")
                && p.parent().is_some_and(|c| c.kind() == "call")
        });
        if !getvalue {
            return Err(Why::EnvVarConfig);
        }
    }
    let Some(targets) = targets else { return Err(Why::NoPatch) };
    if broken {
        return Err(Why::SyntaxError);
    }
    match targets.get(key) {
        None => Err(Why::NotPlanned),
        Some(Planned::Many(all)) => Err(Why::Ambiguous(all.iter().map(|t| format!("{}#{}", t.path, t.key)).collect())),
        Some(Planned::One(t)) => Ok((t.clone(), func)),
    }
}

#[allow(clippy::too_many_arguments, reason = "one call site; the pieces are the rewrite's state")]
fn rewrite(
    src: &Source<'_>,
    found: &Found<'_>,
    func: Node<'_>,
    target: &Target,
    options: Options,
    class_name: &str,
    params_added: &mut BTreeSet<usize>,
    result: &mut FileResult,
) -> Result<(), Why> {
    let (param, present) = resource_param(src, func)?;
    let q = found.key.as_ref().map_or('"', |(_, q)| *q);
    let lit = |s: &str| format!("{q}{s}{q}");
    // What is replaced: the read itself, or `EnvVar("X").get_value()` as a whole.
    let node =
        if found.envvar { found.node.parent().and_then(|a| a.parent()).unwrap_or(found.node) } else { found.node };
    let expr = match (found.default, options.keep_defaults) {
        (Some(d), true) => format!(
            "(lambda s: {} if s is None else s.reveal())({param}.get_secret({}).get({}))",
            txt(d, src.text),
            lit(&target.path),
            lit(&target.key)
        ),
        _ => format!("{param}.get_secret({}, {}).reveal()", lit(&target.path), lit(&target.key)),
    };
    result.edits.push(Edit { start: node.start_byte(), end: node.end_byte(), text: expr });
    result.resource_keys.insert(param);
    if !present && params_added.insert(func.id()) {
        if let Some(e) = add_param_edit(func, class_name) {
            result.edits.push(e);
        }
        result.needs_class = true;
    }
    Ok(())
}

/// The edits that give every `Definitions(...)` in the file the resources `keys` it lacks, plus the imports the
/// file then needs (`needs_class` says the file's own rewrites need the class too). Returns the edits and notes
/// on Definitions that could not be edited.
pub fn definitions_edits(
    text: &str,
    keys: &BTreeSet<String>,
    needs_class: bool,
    needs_envvar: bool,
) -> (Vec<Edit>, Vec<String>) {
    let src = Source::parse(text);
    let mut edits = Vec::new();
    let mut notes = Vec::new();
    if src.has_errors() {
        if !keys.is_empty() && text.contains("Definitions") {
            notes.push("the file has syntax errors: its Definitions were not given the Vault resource".to_owned());
        }
        return (edits, notes);
    }
    let mut uses_class = needs_class;
    let class_name = src.bind.vault_class.iter().next().cloned().unwrap_or_else(|| RESOURCE_CLASS.to_owned());
    let (envvar, needs_envvar_import) = envvar_name(&src);
    let mut any_defs = false;
    if !keys.is_empty() {
        let mut stack = vec![src.tree.root_node()];
        while let Some(n) = stack.pop() {
            stack.extend(named_children(n));
            if n.kind() != "call" {
                continue;
            }
            let Some(func) = n.child_by_field_name("function") else { continue };
            if src.dagster_name(func).as_deref() != Some("Definitions") {
                continue;
            }
            any_defs = true;
            let Some(args) = n.child_by_field_name("arguments") else { continue };
            let resources = named_children(args).into_iter().find(|a| {
                a.kind() == "keyword_argument"
                    && a.child_by_field_name("name").is_some_and(|k| txt(k, text) == "resources")
            });
            let line = n.start_position().row + 1;
            match resources.and_then(|r| r.child_by_field_name("value")) {
                None => {
                    let items = named_children(args);
                    let indent = match items.last() {
                        Some(last) if last.start_position().row > args.start_position().row => {
                            indent_at(text, last.start_byte())
                        }
                        _ => indent_at(text, args.start_byte()),
                    };
                    let pairs = resource_pairs(keys, &class_name, &envvar, &indent);
                    edits.extend(insert_argument(text, args, &format!("resources={{{pairs}}}")));
                    uses_class = true;
                }
                Some(value) => {
                    let dict = match value.kind() {
                        "dictionary" => Some(value),
                        "identifier" => module_dict(&src, txt(value, text)),
                        _ => None,
                    };
                    let Some(dict) = dict else {
                        notes.push(format!(
                            "line {line}: Definitions' resources is not a dict literal: add {} to it",
                            keys.iter().map(|k| format!("\"{k}\": {class_name}(...)")).collect::<Vec<_>>().join(", ")
                        ));
                        continue;
                    };
                    let present: BTreeSet<String> = named_children(dict)
                        .into_iter()
                        .filter(|p| p.kind() == "pair")
                        .filter_map(|p| p.child_by_field_name("key").and_then(|k| string_literal(k, text)))
                        .collect();
                    let missing: BTreeSet<String> = keys.difference(&present).cloned().collect();
                    if missing.is_empty() {
                        continue;
                    }
                    edits.extend(insert_pairs(text, dict, &missing, &class_name, &envvar));
                    uses_class = true;
                }
            }
        }
    }
    let _ = any_defs;
    if uses_class && !src.bind.vault_class.contains(&class_name) {
        edits.push(import_edit(text, &src.bind, RESOURCE_MODULE, RESOURCE_CLASS, src.bind.vault_from_end));
    }
    if needs_envvar_import && (needs_envvar || edits.iter().any(|e| e.text.contains("EnvVar("))) {
        edits.push(import_edit(text, &src.bind, "dagster", "EnvVar", src.bind.dagster_from_end));
    }
    // Two insertions at the same place (both imports on a new line): keep their order stable.
    (merge_same_place(edits), notes)
}

/// Whether the text holds a `Definitions(...)` call (to tell the user when no file does).
pub fn has_definitions(text: &str) -> bool {
    let src = Source::parse(text);
    let mut stack = vec![src.tree.root_node()];
    while let Some(n) = stack.pop() {
        stack.extend(named_children(n));
        if n.kind() == "call"
            && n.child_by_field_name("function").and_then(|f| src.dagster_name(f)).as_deref() == Some("Definitions")
        {
            return true;
        }
    }
    false
}

fn merge_same_place(mut edits: Vec<Edit>) -> Vec<Edit> {
    edits.sort_by_key(|e| (e.start, e.end));
    let mut out: Vec<Edit> = Vec::new();
    for e in edits {
        match out.last_mut() {
            Some(last) if last.start == e.start && last.end == e.end && last.start == last.end => {
                last.text.push_str(&e.text);
            }
            _ => out.push(e),
        }
    }
    out
}

fn import_edit(text: &str, bind: &Bindings, module: &str, name: &str, from_end: Option<usize>) -> Edit {
    match from_end {
        Some(end) => Edit { start: end, end, text: format!(", {name}") },
        None => {
            let at = bind.import_line_at;
            let lead = if at > 0 && !text[..at].ends_with('\n') { "\n" } else { "" };
            Edit { start: at, end: at, text: format!("{lead}from {module} import {name}\n") }
        }
    }
}

fn module_dict<'t>(src: &'t Source<'_>, name: &str) -> Option<Node<'t>> {
    named_children(src.tree.root_node()).into_iter().find_map(|stmt| {
        let a = named_children(stmt).into_iter().next()?;
        (stmt.kind() == "expression_statement"
            && a.kind() == "assignment"
            && a.child_by_field_name("left").is_some_and(|l| txt(l, src.text) == name))
        .then(|| a.child_by_field_name("right"))
        .flatten()
        .filter(|r| r.kind() == "dictionary")
    })
}

fn resource_call(class: &str, envvar: &str, indent: &str) -> String {
    let mut s = format!("{class}(\n");
    for (field, var) in RESOURCE_FIELDS {
        s.push_str(&format!("{indent}    {field}={envvar}(\"{var}\"),\n"));
    }
    s.push_str(indent);
    s.push(')');
    s
}

fn resource_pairs(keys: &BTreeSet<String>, class: &str, envvar: &str, indent: &str) -> String {
    keys.iter().map(|k| format!("\"{k}\": {}", resource_call(class, envvar, indent))).collect::<Vec<_>>().join(", ")
}

/// Inserts pairs into a dict literal, on new lines when the dict already spans lines.
fn insert_pairs(text: &str, dict: Node<'_>, keys: &BTreeSet<String>, class: &str, envvar: &str) -> Vec<Edit> {
    let items: Vec<Node<'_>> = named_children(dict).into_iter().filter(|c| c.kind() != "comment").collect();
    let multiline = dict.start_position().row != dict.end_position().row;
    let close = dict.end_byte() - 1;
    match items.last() {
        None => {
            let indent = indent_at(text, dict.start_byte());
            vec![Edit { start: close, end: close, text: resource_pairs(keys, class, envvar, &indent) }]
        }
        Some(last) => {
            // After the last item and its trailing comma, if any.
            let after = &text[last.end_byte()..close];
            let comma = after.find(',').filter(|i| after[..*i].trim().is_empty());
            let at = comma.map_or(last.end_byte(), |i| last.end_byte() + i + 1);
            if multiline && last.start_position().row > dict.start_position().row {
                let mut edits = Vec::new();
                if comma.is_none() {
                    edits.push(Edit { start: at, end: at, text: ",".into() });
                }
                let at = past_line_comment(text, at);
                let indent = indent_at(text, last.start_byte());
                let mut s = String::new();
                for k in keys {
                    s.push_str(&format!("\n{indent}\"{k}\": {},", resource_call(class, envvar, &indent)));
                }
                edits.push(Edit { start: at, end: at, text: s });
                edits
            } else {
                let indent = indent_at(text, dict.start_byte());
                let lead = if comma.is_some() { " " } else { ", " };
                vec![Edit {
                    start: at,
                    end: at,
                    text: format!("{lead}{}", resource_pairs(keys, class, envvar, &indent)),
                }]
            }
        }
    }
}

/// The end of the line at `at` when only blanks and a comment follow on it (a new item goes after the comment
/// that belongs to the last one), else `at`.
fn past_line_comment(text: &str, at: usize) -> usize {
    let end = text[at..].find('\n').map_or(text.len(), |i| at + i);
    let rest = text[at..end].trim();
    if rest.is_empty() || rest.starts_with('#') { end } else { at }
}

/// Adds a keyword argument to a call's argument list, on its own line when the arguments already are.
fn insert_argument(text: &str, args: Node<'_>, arg: &str) -> Vec<Edit> {
    let items: Vec<Node<'_>> = named_children(args).into_iter().filter(|c| c.kind() != "comment").collect();
    let close = args.end_byte() - 1;
    match items.last() {
        None => vec![Edit { start: close, end: close, text: arg.to_owned() }],
        Some(last) => {
            let after = &text[last.end_byte()..close];
            let comma = after.find(',').filter(|i| after[..*i].trim().is_empty());
            let at = comma.map_or(last.end_byte(), |i| last.end_byte() + i + 1);
            if last.start_position().row > args.start_position().row {
                let mut edits = Vec::new();
                if comma.is_none() {
                    edits.push(Edit { start: at, end: at, text: ",".into() });
                }
                let at = past_line_comment(text, at);
                let indent = indent_at(text, last.start_byte());
                edits.push(Edit { start: at, end: at, text: format!("\n{indent}{arg},") });
                edits
            } else {
                let lead = if comma.is_some() { " " } else { ", " };
                vec![Edit { start: at, end: at, text: format!("{lead}{arg}") }]
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn targets() -> BTreeMap<String, Planned> {
        let t = |p: &str, k: &str| Planned::One(Target { path: p.into(), key: k.into() });
        BTreeMap::from([
            ("DB_PASSWORD".to_owned(), t("secret/app/db", "DB_PASSWORD")),
            ("API_TOKEN".to_owned(), t("secret/app/api", "API_TOKEN")),
            (
                "SPLIT".to_owned(),
                Planned::Many(vec![
                    Target { path: "secret/a".into(), key: "SPLIT".into() },
                    Target { path: "secret/b".into(), key: "SPLIT".into() },
                ]),
            ),
        ])
    }

    fn wanted() -> BTreeSet<String> {
        ["DB_PASSWORD", "API_TOKEN", "SPLIT"].iter().map(|s| (*s).to_owned()).collect()
    }

    /// Rewrites one file as `refs --patch` would (its own Definitions included) and checks the result parses.
    fn rewrite_with(text: &str, options: Options) -> (String, Vec<Read>) {
        let t = targets();
        let mut r = analyze(text, &wanted(), Some(&t), options);
        let (more, _) = definitions_edits(text, &r.resource_keys, r.needs_class, r.needs_envvar);
        r.edits.extend(more);
        let new = apply_edits(text, &r.edits);
        assert!(!Source::parse(&new).has_errors(), "the rewrite parses:\n{new}");
        (new, r.reads)
    }

    fn rewrite(text: &str) -> (String, Vec<Read>) {
        rewrite_with(text, Options::default())
    }

    fn why(reads: &[Read], line: usize) -> Why {
        reads
            .iter()
            .find(|r| r.line == line)
            .unwrap_or_else(|| panic!("a read on line {line}"))
            .outcome
            .clone()
            .unwrap_err()
    }

    #[test]
    fn getenv_in_an_asset_with_comments_kept() {
        let src = "import os\nfrom dagster import asset\n\n\n@asset\ndef orders(context):\n    # the database\n    pw = os.getenv('DB_PASSWORD')  # note\n    return pw\n";
        let (new, reads) = rewrite(src);
        assert_eq!(
            new,
            "import os\nfrom dagster import asset\nfrom vault_dagster import VaultSecretsResource\n\n\n@asset\ndef orders(context, vault: VaultSecretsResource):\n    # the database\n    pw = vault.get_secret('secret/app/db', 'DB_PASSWORD').reveal()  # note\n    return pw\n"
        );
        assert_eq!(reads.len(), 1);
        assert_eq!(reads[0].context, "asset orders");
        assert_eq!((reads[0].line, reads[0].column), (8, 10));
    }

    #[test]
    fn every_read_form_and_alias() {
        let src = "import os as o\nfrom os import getenv, environ as env\nfrom dagster import asset as a, op, multi_asset\n\n@a(group_name='x')\ndef one():\n    return o.environ['DB_PASSWORD'], o.environ.get('API_TOKEN'), getenv(\"DB_PASSWORD\"), env.get('API_TOKEN'), env['DB_PASSWORD']\n\n@op\ndef two(context, **kwargs):\n    return o.getenv(key='API_TOKEN')\n\n@multi_asset(outs={})\ndef three():\n    pass\n";
        let (new, reads) = rewrite(src);
        assert_eq!(reads.len(), 6, "{reads:?}");
        assert!(reads.iter().all(|r| r.outcome.is_ok()), "{reads:?}");
        assert!(new.contains("def one(vault: VaultSecretsResource):"), "{new}");
        assert!(new.contains("def two(context, vault: VaultSecretsResource, **kwargs):"), "{new}");
        assert!(new.contains("def three():"), "untouched: {new}");
        assert_eq!(new.matches(".reveal()").count(), 6);
        assert!(!new.contains("environ") || new.contains("environ as env"), "{new}");
    }

    #[test]
    fn defaults_are_dropped_or_kept() {
        let src = "import os\nfrom dagster import asset\n\n@asset\ndef a():\n    return os.getenv('API_TOKEN', 'fallback'), os.environ.get('DB_PASSWORD', default=None)\n";
        let (new, reads) = rewrite(src);
        assert!(reads.iter().all(|r| r.has_default));
        assert!(!new.contains("fallback"), "{new}");
        let (kept, _) = rewrite_with(src, Options { keep_defaults: true });
        assert!(
            kept.contains("(lambda s: 'fallback' if s is None else s.reveal())(vault.get_secret('secret/app/api').get('API_TOKEN'))"),
            "{kept}"
        );
        assert!(kept.contains("(lambda s: None if s is None"), "{kept}");
    }

    #[test]
    fn an_existing_resource_parameter_is_used() {
        let src = "import os\nfrom dagster import asset\nfrom vault_dagster import VaultSecretsResource\n\n@asset\ndef a(secrets: VaultSecretsResource):\n    return os.environ['API_TOKEN']\n";
        let t = targets();
        let r = analyze(src, &wanted(), Some(&t), Options::default());
        assert_eq!(r.resource_keys, BTreeSet::from(["secrets".to_owned()]));
        let new = apply_edits(src, &r.edits);
        assert!(new.contains("return secrets.get_secret('secret/app/api', 'API_TOKEN').reveal()"), "{new}");
        assert!(new.contains("def a(secrets: VaultSecretsResource):"), "{new}");
        assert_eq!(new.matches("import VaultSecretsResource").count(), 1);
    }

    #[test]
    fn a_taken_name_is_not_overwritten() {
        let src = "import os\nfrom dagster import asset\n\n@asset\ndef a(vault):\n    return os.environ['API_TOKEN']\n";
        let (new, reads) = rewrite(src);
        assert_eq!(new, src);
        assert_eq!(why(&reads, 6), Why::NameTaken("vault".into()));
    }

    #[test]
    fn unsafe_places_are_listed_with_their_reason() {
        let src = "import os\nfrom dagster import asset, graph_asset, ConfigurableResource, Definitions, EnvVar\n\nTOKEN = os.environ['API_TOKEN']\n\nclass Settings:\n    pw = os.getenv('DB_PASSWORD')\n\ndef helper():\n    return os.getenv('DB_PASSWORD')\n\n@asset(description=os.getenv('API_TOKEN'))\ndef a(x=os.getenv('DB_PASSWORD')):\n    name = 'API_' + 'TOKEN'\n    return os.environ[name], os.getenv(f'{name}')\n\n@graph_asset\ndef g():\n    return os.getenv('API_TOKEN')\n\nclass Api(ConfigurableResource):\n    token: str\n    def client(self):\n        return os.getenv('API_TOKEN')\n\ndefs = Definitions(assets=[a], resources={'x': External(token=EnvVar('API_TOKEN'))})\n\n@asset\ndef split():\n    return os.getenv('SPLIT')\n\n@asset\ndef other():\n    return os.getenv('NOT_PLANNED')\n";
        let (new, reads) = rewrite(src);
        assert_eq!(new, src, "nothing here is safe to rewrite");
        assert_eq!(why(&reads, 4), Why::ModuleLevel);
        assert_eq!(why(&reads, 7), Why::ClassBody("Settings".into()));
        assert_eq!(why(&reads, 10), Why::Helper("helper".into()));
        assert_eq!(why(&reads, 12), Why::DefinitionTime("a".into()));
        assert_eq!(why(&reads, 13), Why::DefinitionTime("a".into()));
        let dynamic: Vec<&Read> = reads.iter().filter(|r| r.line == 15).collect();
        assert_eq!(dynamic.len(), 2);
        assert!(dynamic.iter().all(|r| r.key.is_none() && r.outcome == Err(Why::Dynamic)));
        assert_eq!(why(&reads, 19), Why::GraphBody("g".into()));
        assert_eq!(why(&reads, 24), Why::Resource("Api".into()));
        assert_eq!(why(&reads, 26), Why::EnvVarConfig);
        assert!(matches!(why(&reads, 30), Why::Ambiguous(p) if p.len() == 2));
        assert!(reads.iter().all(|r| r.line != 34), "a variable that is not wanted is not a read of interest");
        assert!(why(&reads, 4).wants_vault_env() && !Why::Dynamic.wants_vault_env());
    }

    #[test]
    fn writes_and_deletes_are_not_reads() {
        let src =
            "import os\nos.environ['API_TOKEN'] = 'x'\ndel os.environ['DB_PASSWORD']\nos.environ['API_TOKEN'] += 'y'\n";
        let (_, reads) = rewrite(src);
        assert!(reads.is_empty(), "{reads:?}");
    }

    #[test]
    fn nested_functions_and_envvar_get_value_in_an_asset() {
        let src = "import os\nimport dagster as dg\n\n@dg.asset\ndef a(context: dg.AssetExecutionContext):\n    def inner():\n        return os.getenv('DB_PASSWORD')\n    f = lambda: dg.EnvVar('API_TOKEN').get_value()\n    return inner(), f()\n\ndefs = dg.Definitions(assets=[a])\n";
        let (new, reads) = rewrite(src);
        assert!(reads.iter().all(|r| r.outcome.is_ok()), "{reads:?}");
        assert!(new.contains("lambda: vault.get_secret('secret/app/api', 'API_TOKEN').reveal()\n"), "{new}");
        assert!(new.contains("def a(context: dg.AssetExecutionContext, vault: VaultSecretsResource):"), "{new}");
        assert!(new.contains("vault_addr=dg.EnvVar(\"VAULT_ADDR\")"), "the dagster alias is used: {new}");
        assert!(new.contains("defs = dg.Definitions(assets=[a], resources={\"vault\": VaultSecretsResource("), "{new}");
        assert!(!new.contains("from dagster import EnvVar"), "{new}");
    }

    #[test]
    fn definitions_gain_the_resource_once() {
        let head = "import os\nfrom dagster import Definitions, asset, EnvVar\nfrom vault_dagster import VaultSecretsResource\n\n@asset\ndef a():\n    return os.getenv('API_TOKEN')\n\n";
        // A multi-line resources dict gains a pair on its own line.
        let src = format!(
            "{head}defs = Definitions(\n    assets=[a],\n    resources={{\n        \"io\": make_io(),  # comment\n    }},\n)\n"
        );
        let (new, _) = rewrite(&src);
        assert!(new.contains("        \"io\": make_io(),  # comment\n        \"vault\": VaultSecretsResource(\n            vault_addr=EnvVar(\"VAULT_ADDR\"),"), "{new}");
        assert_eq!(new.matches("import VaultSecretsResource").count(), 1, "{new}");
        assert_eq!(new.matches("import").count(), 3, "no import added twice: {new}");
        // No trailing comma, and a comment after the last item.
        let src = format!("{head}defs = Definitions(\n    assets=[a]  # the assets\n)\n");
        let (new, _) = rewrite(&src);
        assert!(
            new.contains("    assets=[a],  # the assets\n    resources={\"vault\": VaultSecretsResource(\n"),
            "{new}"
        );
        let src = format!("{head}defs = Definitions(\n    assets=[a]\n)\n");
        let (new, _) = rewrite(&src);
        assert!(new.contains("    assets=[a],\n    resources={\"vault\": VaultSecretsResource(\n"), "{new}");
        // A dict that has the key already is left alone.
        let src = format!("{head}defs = Definitions(assets=[a], resources={{'vault': VaultSecretsResource()}})\n");
        let (new, _) = rewrite(&src);
        assert!(new.ends_with("resources={'vault': VaultSecretsResource()})\n"), "{new}");
        // A dict bound to a module-level name is extended there.
        let src = format!("{head}RESOURCES = {{\"io\": 1}}\ndefs = Definitions(assets=[a], resources=RESOURCES)\n");
        let (new, _) = rewrite(&src);
        assert!(new.contains("RESOURCES = {\"io\": 1, \"vault\": VaultSecretsResource("), "{new}");
    }

    #[test]
    fn a_file_without_imports_or_with_syntax_errors() {
        let (new, _) = rewrite("\"\"\"Doc.\"\"\"\n");
        assert_eq!(new, "\"\"\"Doc.\"\"\"\n");
        let src = "import os\nfrom dagster import asset\n\n@asset\ndef a(:\n    return os.getenv('API_TOKEN')\n";
        let t = targets();
        let r = analyze(src, &wanted(), Some(&t), Options::default());
        assert!(r.edits.is_empty());
        assert!(r.reads.iter().all(|x| x.outcome.is_err()), "{:?}", r.reads);
    }

    #[test]
    fn without_targets_reads_are_listed_only() {
        let src = "import os\nfrom dagster import asset\n\n@asset\ndef a():\n    return os.getenv('API_TOKEN')\n";
        let r = analyze(src, &wanted(), None, Options::default());
        assert!(r.edits.is_empty());
        assert_eq!(r.reads[0].outcome, Err(Why::NoPatch));
    }

    #[test]
    fn envvar_in_resource_config_becomes_a_property_reading_vault() {
        let src = "import dagster as dg\n\n\nclass Slack(dg.ConfigurableResource):\n    \"\"\"Posts to Slack.\"\"\"\n\n    channel: str\n    token: str  # the bot token\n    api_key: str = \"\"\n\n    def post(self):\n        return self.token\n\n\ndefs = dg.Definitions(\n    resources={\"slack\": Slack(channel=\"#etl\", token=dg.EnvVar(\"API_TOKEN\"), api_key=dg.EnvVar(\"DB_PASSWORD\"))},\n)\n";
        let (new, reads) = rewrite(src);
        assert!(reads.iter().all(|r| r.outcome.is_ok()), "{reads:?}");
        assert!(
            new.contains("    channel: str\n    vault: VaultSecretsResource\n\n    @property\n    def token(self) -> str:\n        return self.vault.get_secret(\"secret/app/api\", \"API_TOKEN\").reveal()  # the bot token\n\n    @property\n    def api_key(self) -> str:\n"),
            "{new}"
        );
        assert!(new.contains("Slack(channel=\"#etl\", vault=VaultSecretsResource(\n"), "{new}");
        assert!(new.contains("vault_env_bin=dg.EnvVar(\"VAULT_ENV_BIN\"),\n    ))},"), "{new}");
        assert!(!new.contains("dg.EnvVar(\"API_TOKEN\")") && !new.contains("EnvVar(\"DB_PASSWORD\")"), "{new}");
        assert!(new.starts_with("import dagster as dg\nfrom vault_dagster import VaultSecretsResource\n"), "{new}");
        // Built in another file too: left alone (that construction would need the change as well).
        let t = targets();
        let r = analyze_in(src, &wanted(), Some(&t), Options::default(), &BTreeSet::from(["Slack".to_owned()]));
        assert!(r.edits.is_empty());
        assert!(r.reads.iter().all(|x| x.outcome == Err(Why::EnvVarConfig)));
        // A construction that gives the field another way: left alone.
        let other = src.replace("defs = ", "x = Slack(channel=\"a\", token=\"literal\", api_key=\"b\")\ndefs = ");
        let (new, _) = rewrite(&other);
        assert_eq!(new, other);
    }

    #[test]
    fn reads_in_resource_methods_go_through_a_vault_field() {
        let src = "import os\nfrom dagster import ConfigurableResource, Definitions, EnvVar\n\n\nclass Warehouse(ConfigurableResource):\n    \"\"\"The warehouse.\"\"\"\n\n    host: str\n\n    def connect(self):\n        return (self.host, os.getenv(\"DB_PASSWORD\", \"dev\"))\n\n    @staticmethod\n    def probe():\n        return os.getenv(\"DB_PASSWORD\")\n\n\ndefs = Definitions(resources={\"warehouse\": Warehouse(host=\"db\")})\n";
        let (new, reads) = rewrite(src);
        assert!(new.contains("    host: str\n    vault: VaultSecretsResource\n\n    def connect(self):\n        return (self.host, self.vault.get_secret(\"secret/app/db\", \"DB_PASSWORD\").reveal())"), "{new}");
        assert!(
            new.contains("Warehouse(host=\"db\", vault=VaultSecretsResource(\n    vault_addr=EnvVar(\"VAULT_ADDR\"),"),
            "{new}"
        );
        assert!(
            new.contains("    def probe():\n        return os.getenv(\"DB_PASSWORD\")"),
            "a static method has no self: {new}"
        );
        assert!(reads[0].outcome.is_ok() && reads[0].has_default);
        assert_eq!(reads[1].outcome, Err(Why::Resource("Warehouse".into())));
        // A class without fields or docstring gets the field first.
        let bare = "import os\nfrom dagster import ConfigurableResource\n\nclass Api(ConfigurableResource):\n    def token(self):\n        return os.environ['API_TOKEN']\n\nAPI = Api()\n";
        let (new, _) = rewrite(bare);
        assert!(new.contains("class Api(ConfigurableResource):\n    vault: VaultSecretsResource\n\n    def token(self):\n        return self.vault.get_secret('secret/app/api', 'API_TOKEN').reveal()"), "{new}");
        assert!(new.contains("API = Api(vault=VaultSecretsResource(\n"), "{new}");
        assert!(new.contains("from dagster import ConfigurableResource, EnvVar\n"), "{new}");
    }

    /// Every prefix and a few byte-level cuts of the samples above: never a panic, and a rewrite only of what parses.
    #[test]
    fn truncated_and_mangled_files_never_panic() {
        let samples = [
            "import os\nimport dagster as dg\nfrom vault_dagster import VaultSecretsResource\n\nclass S(dg.ConfigurableResource):\n    token: str\n    def f(self):\n        return os.getenv('DB_PASSWORD', 'x')\n\n@dg.asset\ndef a(context, **kw):\n    return os.environ['API_TOKEN'], dg.EnvVar('API_TOKEN').get_value()\n\ndefs = dg.Definitions(\n    assets=[a],  # c\n    resources={'s': S(token=dg.EnvVar('API_TOKEN'))},\n)\n",
            "\u{e9}t\u{e9} = 1\nfrom os import getenv as g\nfrom dagster import asset, Definitions\n@asset\ndef \u{e9}(x=g('API_TOKEN')):\n    return g(\"DB_PASSWORD\") + '\u{1f600}'\nD = {}\ndefs = Definitions(assets=[\u{e9}], resources=D)\n",
        ];
        for sample in samples {
            let cuts = sample.char_indices().map(|(i, _)| i).chain([sample.len()]);
            for cut in cuts {
                for text in [&sample[..cut], &format!("{}){}", &sample[..cut], &sample[cut..])] {
                    let (new, _) = {
                        let t = targets();
                        let mut r = analyze(text, &wanted(), Some(&t), Options { keep_defaults: cut % 2 == 0 });
                        let (more, _) = definitions_edits(text, &r.resource_keys, r.needs_class, r.needs_envvar);
                        r.edits.extend(more);
                        (apply_edits(text, &r.edits), r.reads)
                    };
                    if !Source::parse(text).has_errors() {
                        assert!(!Source::parse(&new).has_errors(), "a clean file stays clean:\n{text}\n---\n{new}");
                    }
                }
            }
        }
    }
}
