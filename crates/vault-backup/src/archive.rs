//! Offline inspection of a raft snapshot: the gzip'd tar Vault and OpenBao stream from
//! `sys/storage/raft/snapshot`, holding `meta.json`, `state.bin`, `SHA256SUMS` and `SHA256SUMS.sealed`.
//!
//! [`inspect`] reads the archive once, in bounded memory, hashing every member as it passes, then checks
//! `SHA256SUMS` against `meta.json` and `state.bin` and reads the raft index and term from `meta.json`. gzip's own
//! CRC-32 and length trailer, tar's header checksums and the per-member SHA-256 sums together catch truncation and
//! bit flips anywhere in the archive. `SHA256SUMS.sealed` is a signature only the unsealed cluster can check; the
//! backup's outer SHA-256 (in the manifest) covers it.

use std::io::{self, BufRead, BufReader, Read};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The members a raft snapshot must hold.
pub const REQUIRED_MEMBERS: [&str; 3] = ["meta.json", "state.bin", "SHA256SUMS"];
/// The members `SHA256SUMS` must cover.
const SUMMED_MEMBERS: [&str; 2] = ["meta.json", "state.bin"];
/// Small members are kept in memory to be parsed; a larger one is not a real `meta.json` or `SHA256SUMS`.
const SMALL_MEMBER_LIMIT: u64 = 1 << 20;

/// Why a snapshot archive is not sound.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The gzip or tar layer is broken: truncated, flipped bits, not a snapshot at all.
    #[error("the archive is damaged or truncated: {0}")]
    Damaged(#[source] io::Error),
    /// A member the snapshot must have is missing.
    #[error("the archive has no {0} member")]
    Missing(&'static str),
    /// A member does not match its line in `SHA256SUMS`.
    #[error("{member} does not match SHA256SUMS (expected {expected}, found {actual})")]
    Mismatch { member: String, expected: String, actual: String },
    /// `SHA256SUMS` lacks a line for a member.
    #[error("SHA256SUMS has no line for {0}")]
    NotSummed(&'static str),
    /// `SHA256SUMS` or `meta.json` cannot be read.
    #[error("{member} is malformed: {detail}")]
    Malformed { member: &'static str, detail: String },
    /// Bytes follow the end of the gzip stream.
    #[error("{0} bytes of unexpected data follow the end of the archive")]
    Trailing(u64),
}

/// One member of the archive.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// Its name, e.g. `state.bin`.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its SHA-256, hex.
    pub sha256: String,
}

/// What `meta.json` says about the snapshot.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RaftMeta {
    /// The raft index the snapshot was taken at.
    pub index: u64,
    /// The raft term.
    pub term: u64,
    /// The snapshot's id.
    #[serde(default)]
    pub snapshot_id: String,
    /// The snapshot format version.
    #[serde(default)]
    pub version: u64,
}

/// The result of a sound archive.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveReport {
    /// Raft position from `meta.json`.
    pub raft: RaftMeta,
    /// Every member, in archive order.
    pub members: Vec<Member>,
    /// Size of the uncompressed tar.
    pub uncompressed_size: u64,
}

/// Reads a snapshot archive to its end and checks it; see the module documentation.
pub fn inspect<R: Read>(reader: R) -> Result<ArchiveReport, ArchiveError> {
    let gzip = flate2::bufread::GzDecoder::new(BufReader::with_capacity(64 * 1024, reader));
    let mut counted = CountingReader { inner: gzip, count: 0 };
    let mut members = Vec::new();
    let mut meta_json = None;
    let mut sums_text = None;
    {
        let mut archive = tar::Archive::new(&mut counted);
        for entry in archive.entries().map_err(ArchiveError::Damaged)? {
            let mut entry = entry.map_err(ArchiveError::Damaged)?;
            let name = entry.path().map_err(ArchiveError::Damaged)?.to_string_lossy().into_owned();
            let keep = matches!(name.as_str(), "meta.json" | "SHA256SUMS") && entry.size() <= SMALL_MEMBER_LIMIT;
            let mut hasher = Sha256::new();
            let mut kept = Vec::new();
            let mut buf = vec![0u8; 64 * 1024];
            let mut size = 0u64;
            loop {
                let n = entry.read(&mut buf).map_err(ArchiveError::Damaged)?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                size += n as u64;
                if keep {
                    kept.extend_from_slice(&buf[..n]);
                }
            }
            match name.as_str() {
                "meta.json" if keep => meta_json = Some(kept),
                "SHA256SUMS" if keep => sums_text = Some(kept),
                _ => {}
            }
            members.push(Member { name, size, sha256: hex::encode(hasher.finalize()) });
        }
    }
    // Read what is left of the gzip stream (tar padding) so its CRC-32 and length trailer are checked.
    io::copy(&mut counted, &mut io::sink()).map_err(ArchiveError::Damaged)?;
    let uncompressed_size = counted.count;
    let mut rest = counted.inner.into_inner();
    let trailing = drain(&mut rest).map_err(ArchiveError::Damaged)?;
    if trailing > 0 {
        return Err(ArchiveError::Trailing(trailing));
    }

    for required in REQUIRED_MEMBERS {
        if !members.iter().any(|m| m.name == required) {
            return Err(ArchiveError::Missing(required));
        }
    }
    let sums = parse_sums(
        sums_text
            .as_deref()
            .ok_or(ArchiveError::Malformed { member: "SHA256SUMS", detail: "larger than 1 MiB".into() })?,
    )?;
    for summed in SUMMED_MEMBERS {
        let expected = sums.iter().find(|(_, name)| name == summed).ok_or(ArchiveError::NotSummed(summed))?;
        let member = members.iter().find(|m| m.name == summed).ok_or(ArchiveError::Missing(summed))?;
        if !expected.0.eq_ignore_ascii_case(&member.sha256) {
            return Err(ArchiveError::Mismatch {
                member: summed.to_owned(),
                expected: expected.0.clone(),
                actual: member.sha256.clone(),
            });
        }
    }
    let raft = parse_meta(
        meta_json
            .as_deref()
            .ok_or(ArchiveError::Malformed { member: "meta.json", detail: "larger than 1 MiB".into() })?,
    )?;
    Ok(ArchiveReport { raft, members, uncompressed_size })
}

fn drain<R: BufRead>(reader: &mut R) -> io::Result<u64> {
    io::copy(reader, &mut io::sink())
}

/// `SHA256SUMS` lines: `<64 hex digits>  <name>` (sha256sum's format; a `*` before the name marks binary mode).
fn parse_sums(text: &[u8]) -> Result<Vec<(String, String)>, ArchiveError> {
    let malformed = |detail: String| ArchiveError::Malformed { member: "SHA256SUMS", detail };
    let text = std::str::from_utf8(text).map_err(|_| malformed("not UTF-8".into()))?;
    let mut sums = Vec::new();
    for (number, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let (hash, name) = line
            .split_once(char::is_whitespace)
            .ok_or_else(|| malformed(format!("line {} has no file name", number + 1)))?;
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(malformed(format!("line {} does not start with a SHA-256", number + 1)));
        }
        let name = name.trim_start().trim_start_matches('*').trim_end();
        sums.push((hash.to_owned(), name.to_owned()));
    }
    Ok(sums)
}

fn parse_meta(text: &[u8]) -> Result<RaftMeta, ArchiveError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Meta {
        index: u64,
        term: u64,
        #[serde(default, rename = "ID")]
        id: String,
        #[serde(default)]
        version: u64,
    }
    let meta: Meta = serde_json::from_slice(text)
        .map_err(|e| ArchiveError::Malformed { member: "meta.json", detail: e.to_string() })?;
    Ok(RaftMeta { index: meta.index, term: meta.term, snapshot_id: meta.id, version: meta.version })
}

struct CountingReader<R> {
    inner: R,
    count: u64,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Write;

    /// A snapshot-shaped archive with the given members, as Vault lays it out.
    pub(crate) fn archive(members: &[(&str, &[u8])]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (name, data) in members {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o600);
            header.set_cksum();
            builder.append_data(&mut header, name, *data).unwrap();
        }
        let tar = builder.into_inner().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).unwrap();
        gz.finish().unwrap()
    }

    pub(crate) fn snapshot(state: &[u8]) -> Vec<u8> {
        let meta = br#"{"Version":1,"ID":"2-17-1","Index":17,"Term":2,"Peers":"","Size":3}"#;
        let sums = format!(
            "{}  meta.json\n{}  state.bin\n",
            hex::encode(Sha256::digest(meta)),
            hex::encode(Sha256::digest(state))
        );
        archive(&[
            ("meta.json", meta),
            ("state.bin", state),
            ("SHA256SUMS", sums.as_bytes()),
            ("SHA256SUMS.sealed", b"sig"),
        ])
    }

    #[test]
    fn a_sound_snapshot_reports_index_and_term() {
        let report = inspect(&snapshot(b"state")[..]).unwrap();
        assert_eq!(report.raft.index, 17);
        assert_eq!(report.raft.term, 2);
        assert_eq!(report.raft.snapshot_id, "2-17-1");
        assert_eq!(report.members.len(), 4);
    }

    #[test]
    fn every_truncation_is_detected() {
        let good = snapshot(&[7u8; 5000]);
        for cut in 0..good.len() {
            assert!(inspect(&good[..cut]).is_err(), "truncation at {cut} of {} not detected", good.len());
        }
    }

    #[test]
    fn a_member_that_differs_from_its_sum_is_detected() {
        let meta = br#"{"Index":1,"Term":1}"#;
        let sums = format!("{}  meta.json\n{}  state.bin\n", hex::encode(Sha256::digest(meta)), "0".repeat(64));
        let bad = archive(&[("meta.json", meta), ("state.bin", b"x"), ("SHA256SUMS", sums.as_bytes())]);
        assert!(matches!(inspect(&bad[..]), Err(ArchiveError::Mismatch { member, .. }) if member == "state.bin"));
    }

    #[test]
    fn missing_members_and_trailing_bytes_are_detected() {
        let no_sums = archive(&[("meta.json", b"{}"), ("state.bin", b"x")]);
        assert!(matches!(inspect(&no_sums[..]), Err(ArchiveError::Missing("SHA256SUMS"))));
        let mut trailing = snapshot(b"s");
        trailing.extend_from_slice(b"junk");
        assert!(matches!(inspect(&trailing[..]), Err(ArchiveError::Trailing(4))));
    }
}
