//! Seeded, bounded robustness checks every tool's test suite shares: byte mutations of real-looking inputs for the
//! parsers, mutated command lines for the binaries, and a stdout whose reader has already gone.
//!
//! Nightly and cargo-fuzz are not available in CI, so these are plain `#[test]`s: a fixed seed makes every
//! failure reproducible (the failing input is printed), and a round budget keeps each one to a few seconds.
//! What they assert is the promise "no input makes any tool panic": no exit 101, no `panicked at` on stderr.

use std::ffi::OsString;
use std::io::Read;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub use rand::Rng;
use rand::SeedableRng;
pub use rand::rngs::StdRng;

/// A seeded RNG, so a failure can be replayed.
pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

/// Pieces that break parsers: structure, quoting, escapes, numbers at the edges, Unicode edge cases, NUL.
const PIECES: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    "\"",
    "'",
    "`",
    ":",
    ",",
    "=",
    "\\",
    "\\u",
    "\\ud800",
    "\\x",
    "$",
    "${",
    "${X",
    "$(",
    "#",
    "//",
    "/*",
    "*/",
    "\n",
    "\r\n",
    "\r",
    "\t",
    " ",
    "null",
    "true",
    "-",
    "--",
    "1e999",
    "-0",
    "18446744073709551616",
    "-9223372036854775809",
    "0x",
    "é",
    "\u{202e}",
    "\u{feff}",
    "\0",
    "*",
    "+",
    "**",
    "..",
    "../",
    "/",
    "<<EOF",
    "%",
    "path \"",
    "capabilities = [",
    "[[",
    "]]",
    "=\"\"\"",
    "'''",
];

/// Mutates `input` one to three times: truncation, bit flips, random bytes, inserted structure, a long run of one
/// byte (up to `max_run`), duplication of the whole. Inputs grow at most to a few times `max_run`.
pub fn mutate(rng: &mut StdRng, input: &[u8], max_run: usize) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..rng.random_range(1..4) {
        match rng.random_range(0..8) {
            0 if !out.is_empty() => {
                let at = rng.random_range(0..out.len());
                out.truncate(at);
            }
            1 if !out.is_empty() => {
                let at = rng.random_range(0..out.len());
                out[at] ^= 1 << rng.random_range(0..8);
            }
            2 if !out.is_empty() => {
                let at = rng.random_range(0..out.len());
                out[at] = rng.random();
            }
            3 => {
                let at = rng.random_range(0..=out.len());
                let junk: Vec<u8> = (0..rng.random_range(1..64)).map(|_| rng.random()).collect();
                out.splice(at..at, junk);
            }
            4 | 5 => {
                let at = rng.random_range(0..=out.len());
                let piece = PIECES[rng.random_range(0..PIECES.len())];
                out.splice(at..at, piece.bytes());
            }
            6 => {
                let at = rng.random_range(0..=out.len());
                let byte = [b'[', b'{', b'a', b'"', b'\\', b'\n', b'=', b'0'][rng.random_range(0..8)];
                out.splice(at..at, std::iter::repeat_n(byte, rng.random_range(1..=max_run.max(1))));
            }
            _ if out.len() < max_run => {
                let at = rng.random_range(0..=out.len());
                let copy = out.clone();
                out.splice(at..at, copy);
            }
            _ => {}
        }
    }
    out
}

/// Runs `rounds` mutations of the seeds (cycling through them) through `check`, which must not panic. The input
/// that made it panic is printed (lossily) before the panic goes on.
pub fn each_mutation(seed: u64, seeds: &[&[u8]], rounds: usize, max_run: usize, mut check: impl FnMut(&[u8])) {
    let mut rng = rng(seed);
    for round in 0..rounds {
        let input = mutate(&mut rng, seeds[round % seeds.len()], max_run);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&input)));
        if let Err(panic) = result {
            let shown = String::from_utf8_lossy(&input[..input.len().min(2000)]).into_owned();
            eprintln!("round {round} (seed {seed:#x}) panicked on input ({} bytes): {shown:?}", input.len());
            std::panic::resume_unwind(panic);
        }
    }
}

/// What a tool's command line is made of, for [`fuzz_argv`]: real command lines to start from, and the flags and
/// values to splice in.
#[derive(Debug, Clone, Default)]
pub struct ArgvSpace {
    /// Real, valid command lines (without the program name).
    pub seeds: Vec<Vec<String>>,
    /// Flags and subcommand names the tool knows, spliced in at random.
    pub words: Vec<String>,
    /// Values worth trying: files that exist, bad ones, paths, numbers. Nasty generic values are added.
    pub values: Vec<String>,
}

/// Generic hostile argument values: empty, dashes, huge numbers, control characters, a long path, globs. No
/// existing absolute folder (`/`, `/etc`): a mutated command may drop `--dry-run` and must not touch the system.
fn nasty(rng: &mut StdRng) -> OsString {
    let long = "a".repeat(rng.random_range(256..70_000));
    let choices: [OsString; 20] = [
        "".into(),
        "-".into(),
        "--".into(),
        "-1".into(),
        "0".into(),
        "18446744073709551616".into(),
        "1e999".into(),
        "nan".into(),
        "a\nb".into(),
        "\x01\x7f".into(),
        "secret/../sys".into(),
        "/nonexistent-vault-toolkit-fuzz/x".into(),
        "./".into(),
        "*".into(),
        "[".into(),
        "{x".into(),
        long.clone().into(),
        format!("/tmp/{long}").into(),
        OsString::from_vec(vec![0xff, 0xfe, b'x']),
        "é\u{202e}".into(),
    ];
    choices[rng.random_range(0..choices.len())].clone()
}

fn mutate_argv(rng: &mut StdRng, space: &ArgvSpace) -> Vec<OsString> {
    let seed = &space.seeds[rng.random_range(0..space.seeds.len())];
    let mut argv: Vec<OsString> = seed.iter().map(OsString::from).collect();
    for _ in 0..rng.random_range(1..4) {
        let at = rng.random_range(0..=argv.len());
        match rng.random_range(0..7) {
            0 if !argv.is_empty() => {
                argv.remove(at.min(argv.len() - 1));
            }
            1 if !space.words.is_empty() => {
                argv.insert(at, space.words[rng.random_range(0..space.words.len())].clone().into());
            }
            2 if !space.values.is_empty() => {
                argv.insert(at, space.values[rng.random_range(0..space.values.len())].clone().into());
            }
            3 if !argv.is_empty() => {
                // Replace an argument's value (or the argument) with a hostile one.
                let i = at.min(argv.len() - 1);
                argv[i] = nasty(rng);
            }
            4 if !argv.is_empty() => {
                // Mangle one argument's bytes.
                let i = at.min(argv.len() - 1);
                let bytes = mutate(rng, argv[i].as_bytes(), 64);
                argv[i] = OsString::from_vec(bytes.into_iter().filter(|&b| b != 0).collect());
            }
            5 if argv.len() >= 2 => {
                let (i, j) = (at.min(argv.len() - 1), rng.random_range(0..argv.len()));
                argv.swap(i, j);
            }
            _ => argv.insert(at, nasty(rng)),
        }
    }
    argv
}

/// Shows an argv for a failure message: lossy, with long arguments shortened.
pub fn show_argv(argv: &[OsString]) -> String {
    let shown: Vec<String> = argv
        .iter()
        .map(|a| {
            let s = a.to_string_lossy();
            if s.len() > 80 { format!("{}…({} bytes)", &s[..s.floor_char_boundary(80)], s.len()) } else { s.into() }
        })
        .collect();
    format!("{shown:?}")
}

/// The outcome of one run of a binary.
#[derive(Debug)]
pub struct Run {
    /// Exit code; `None` when killed (by a signal or for running past its deadline).
    pub code: Option<i32>,
    /// Whether it was killed for running past its deadline.
    pub timed_out: bool,
    /// Its stderr (at most the first 64 KiB).
    pub stderr: String,
}

/// Runs `cmd` with stdin empty, stdout discarded, stderr captured, and kills it after `deadline`.
pub fn run_bounded(mut cmd: Command, deadline: Duration) -> Run {
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("the binary starts");
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = (&mut stderr).take(64 * 1024).read_to_end(&mut buf);
        // Drain the rest so the child never blocks on a full pipe.
        let _ = std::io::copy(&mut stderr, &mut std::io::sink());
        buf
    });
    let start = Instant::now();
    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for the child") {
            break status;
        }
        if start.elapsed() > deadline {
            timed_out = true;
            let _ = child.kill();
            break child.wait().expect("waiting for the killed child");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let stderr = String::from_utf8_lossy(&reader.join().unwrap_or_default()).into_owned();
    Run { code: status.code(), timed_out, stderr }
}

/// Runs `rounds` mutated command lines through the binary `make()` returns (with its environment and working
/// folder set by the caller) and fails on the first panic: exit 101 or `panicked at` on stderr. Runs past
/// `deadline` are killed and counted, not failed (a mutated argv may legitimately wait, e.g. on a live log).
/// Returns how many runs exited with each code, for the caller to check the mutations reached the tool's logic.
pub fn fuzz_argv(
    seed: u64,
    space: &ArgvSpace,
    rounds: usize,
    deadline: Duration,
    make: impl Fn() -> Command,
) -> std::collections::BTreeMap<i32, usize> {
    let mut rng = rng(seed);
    let mut codes = std::collections::BTreeMap::new();
    for round in 0..rounds {
        let argv = mutate_argv(&mut rng, space);
        let mut cmd = make();
        cmd.args(&argv);
        let run = run_bounded(cmd, deadline);
        let shown = show_argv(&argv);
        assert!(
            run.code != Some(101) && !run.stderr.contains("panicked at"),
            "round {round} (seed {seed:#x}) panicked with argv {shown}:\n{}",
            run.stderr
        );
        assert!(run.code.is_some() || run.timed_out, "round {round}: killed by a signal with argv {shown}");
        *codes.entry(run.code.unwrap_or(-1)).or_insert(0) += 1;
    }
    codes
}

/// Runs `cmd` with stdout a pipe whose reader is already closed, so its first write fails with `EPIPE`, and
/// returns (exit code, stderr). Deterministic: the reader is gone before the child starts.
pub fn run_with_closed_stdout(mut cmd: Command) -> (Option<i32>, String) {
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let output =
        cmd.stdin(Stdio::null()).stdout(Stdio::from(writer)).stderr(Stdio::piped()).output().expect("the binary runs");
    (output.status.code(), String::from_utf8_lossy(&output.stderr).into_owned())
}

/// Runs `cmd` with stdout a pipe that is read for `keep` bytes and then closed while the tool is still writing.
pub fn run_with_early_close(mut cmd: Command, keep: usize) -> (Option<i32>, String) {
    let mut child =
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("the binary starts");
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let mut head = vec![0u8; keep];
    let _ = stdout.read_exact(&mut head);
    drop(stdout);
    let output = child.wait_with_output().expect("the binary runs");
    (output.status.code(), String::from_utf8_lossy(&output.stderr).into_owned())
}

/// Checks the broken-pipe promise for one command line: run normally it writes something to stdout (so the test
/// can fail), and with stdout's reader gone it exits 0 without a word on stderr about the pipe or a panic.
/// `make` builds the command (environment, folder) fresh for each run.
pub fn assert_broken_pipe_exits_0(make: impl Fn() -> Command, label: &str) {
    let normal = make().stdin(Stdio::null()).output().expect("the binary runs");
    assert!(
        !normal.stdout.is_empty(),
        "{label}: writes nothing to stdout (exit {:?}), so a broken pipe cannot be tested: {}",
        normal.status.code(),
        String::from_utf8_lossy(&normal.stderr)
    );
    let (code, stderr) = run_with_closed_stdout(make());
    assert_eq!(code, Some(0), "{label}: exit code with stdout's reader gone; stderr: {stderr}");
    for bad in ["panicked", "Broken pipe", "os error 32", "error:"] {
        assert!(!stderr.contains(bad), "{label}: stderr mentions {bad:?} with stdout's reader gone: {stderr}");
    }
}

/// Writes `bytes` to `dir/name` and returns the path as a string, for argv spaces and seeds.
pub fn file(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("the fixture folder");
    }
    std::fs::write(&path, bytes).expect("the fixture file");
    path.to_string_lossy().into_owned()
}
