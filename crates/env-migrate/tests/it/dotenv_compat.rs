//! The parser against the reference: python-dotenv's `dotenv_values()` on tricky files must give exactly the
//! values env-migrate resolves (same keys, same order, same values, bare keys as null).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use env_migrate::parse::EnvFile;

use crate::util::dotenv_python;

const CASES: &[(&str, &str)] = &[
    ("basic.env", "A=1\nB = spaced value  \nexport C=exported\n  D=indented\n\n# comment\nE=\nF\n"),
    (
        "comments.env",
        "A=value # trailing\nB=value#not-a-comment\nC='quoted' # c\nD=\"dq\" # c\nE= #starts-with-hash\nF=a  #  b # c\nG=x\t# tab comment\n",
    ),
    (
        "quotes.env",
        "A='single $A \\n \\' \\\\ end'\nB=\"double \\n \\t \\\" \\\\ \\$ \\x end\"\nC=\"it's\"\nD='say \"hi\"'\nE=`backtick value`\nF=\"\"\nG=''\nH=\"a\\bb\\ff\\vv\\aa\\rr\"\n",
    ),
    (
        "multiline.env",
        "KEY=\"line one\nline two\n  line three\"\nNEXT=after\nSQ='multi\nsingle'\nCERT=\"-----BEGIN-----\\nabc\\n-----END-----\"\n",
    ),
    ("crlf.env", "A=1\r\nB=\"two\r\nlines\"\r\nC='x' # c\r\n\r\nD=end"),
    (
        "interp.env",
        "BASE=/opt\nPATH_A=${BASE}/bin\nPATH_B=\"${BASE}/lib\"\nPATH_C='${BASE}/single'\nDEF=${UNSET_VAR:-fallback}\nDEF2=${UNSET_VAR:-}\nENV_USE=${FROM_ENV}\nENV_EMPTY=${EMPTY_ENV:-d}\nOVERRIDE=${FROM_ENV}\nFROM_ENV=file\nAFTER=${FROM_ENV}\nDOLLAR=$BASE and ${BASE\nNESTED=${BASE:-${OTHER}}\nBARE_REF=${F_BARE}\nLATER=${DEFINED_LATER}\nDEFINED_LATER=x\nCOLON=${A:=b}\n",
    ),
    ("dups.env", "A=first\nB=1\nA=second\nA=${A}-third\n"),
    ("keys.env", "'quoted key'=1\nkey.with.dots=2\nkey-with-dash=3\nexport=4\nexportX=5\nUNI=héllo wörld ✓\n"),
    ("escaped.env", "A=\"ends with backslash\\\\\"\nB=\"esc \\\"quote\\\" inside\"\nC='it\\'s'\n"),
    ("trailing.env", "A=1\nB=2   \n   \n\n"),
    ("noeol.env", "A=no newline at end"),
    ("hash.env", "A= # only a comment\nB=#value\nC=\"x\\\\\"\nD='a\\\\'\nE=\"tab\there\" \t # c\n"),
];

fn python_values(python: &Path, file: &Path) -> Vec<(String, Option<String>)> {
    let script = "import json,sys\nfrom dotenv import dotenv_values\nprint(json.dumps(list(dotenv_values(sys.argv[1]).items())))";
    let out = Command::new(python)
        .env_clear()
        .env("FROM_ENV", "outer")
        .env("EMPTY_ENV", "")
        .env("LC_ALL", "C.UTF-8")
        .args(["-c", script])
        .arg(file)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "python-dotenv failed on {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "python-dotenv warned on {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("python prints JSON")
}

#[test]
fn values_match_python_dotenv() {
    let python = dotenv_python();
    let dir = tempfile::tempdir().unwrap();
    let environ: BTreeMap<&str, &str> = [("FROM_ENV", "outer"), ("EMPTY_ENV", ""), ("LC_ALL", "C.UTF-8")].into();
    let mut failures = Vec::new();
    for (name, text) in CASES {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let expected = python_values(&python, &path);
        let file = EnvFile::read(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        let got: Vec<(String, Option<String>)> = file
            .resolve(&|k| environ.get(k).map(|v| (*v).to_owned()))
            .into_iter()
            .map(|r| (r.key, r.value.map(|v| v.expose().to_owned())))
            .collect();
        // python-dotenv keeps first-appearance order for duplicates (a dict), as we do.
        if got != expected {
            failures.push(format!("{name}:\n  python-dotenv: {expected:?}\n  env-migrate:   {got:?}"));
        }
    }
    assert!(failures.is_empty(), "differences from python-dotenv:\n{}", failures.join("\n"));
}
