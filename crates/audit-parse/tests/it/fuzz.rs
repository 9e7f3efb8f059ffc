//! No input makes the parser panic: thousands of mutations of real-looking lines (truncations, byte flips,
//! random bytes, inserted structure, huge lines), fed through the line reader, the full record model and the lean
//! view (which must agree), the summary and the joiner. A seeded RNG makes any failure reproducible. (The cargo-fuzz target in `fuzz/` does the same
//! with coverage guidance when nightly and cargo-fuzz are installed.)

use std::io::BufReader;

use audit_parse::input::{Line, LineReader};
use audit_parse::operation::{Entry, Joiner, Location};
use audit_parse::record::{AuditRecord, RecordView};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const SEEDS: [&str; 3] = [
    r#"{"time":"2026-11-28T13:02:34.789848404Z","type":"request","auth":{"client_token":"hmac-sha256:b5","accessor":"hmac-sha256:58","display_name":"token","policies":["default","narrow"],"metadata":{"role_name":"etl"},"policy_results":{"allowed":false,"granting_policies":[{"name":"root","namespace_id":"root","type":"acl"}]},"token_type":"service","token_ttl":2764800},"request":{"id":"ffd4","operation":"read","mount_point":"secret/","mount_type":"kv","namespace":{"id":"root"},"path":"secret/data/dagster/db","remote_address":"127.0.0.1","remote_port":55044,"data":{"a":"hmac-sha256:00"}},"error":"1 error occurred:\n\t* permission denied\n\n"}"#,
    r#"{"time":"2026-11-28T13:02:34.789899941Z","type":"response","auth":{"display_name":"t\u00e9st"},"request":{"id":"ffd4","path":"p"},"response":{"auth":{"metadata":{"role_name":"etl"}},"mount_point":"secret/","data":{"error":"hmac-sha256:e4"},"wrap_info":{"token":"hmac-sha256:1","ttl":60}}}"#,
    r#"{"time":"2026-11-28T13:02:33Z","type":"request","auth":{"token_type":"default"},"request":{"id":"f058","operation":"update","namespace":{"id":"root"},"path":"sys/audit/test"}}"#,
];

fn mutate(rng: &mut StdRng, line: &[u8]) -> Vec<u8> {
    let mut out = line.to_vec();
    for _ in 0..rng.random_range(1..4) {
        match rng.random_range(0..7) {
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
            4 => {
                let at = rng.random_range(0..=out.len());
                let piece = ["{", "}", "[", "]", "\"", ":", ",", "null", "\\u", "\\ud800", "1e999", "-", "\n"];
                out.splice(at..at, piece[rng.random_range(0..piece.len())].bytes());
            }
            5 => {
                let at = rng.random_range(0..=out.len());
                let big = vec![b'['; rng.random_range(1..200_000)];
                out.splice(at..at, big);
            }
            _ => {
                let at = rng.random_range(0..=out.len());
                let copy = out.clone();
                out.splice(at..at, copy);
            }
        }
    }
    out
}

#[test]
fn mutated_lines_never_panic() {
    let mut rng = StdRng::seed_from_u64(0x5eed_a0d1);
    let mut joiner = Joiner::new(16);
    let mut emitted = 0usize;
    let mut parsed = 0usize;
    for round in 0..6000u64 {
        let seed = SEEDS[(round % 3) as usize].as_bytes();
        let mut input = mutate(&mut rng, seed);
        input.push(b'\n');
        input.extend_from_slice(seed);
        let mut reader = LineReader::new(BufReader::with_capacity(rng.random_range(1..4096), &input[..]), 100_000);
        while let Some((n, line)) = reader.next_line().expect("reading from memory") {
            let Line::Text(text) = line else { continue };
            let view = RecordView::parse(text);
            if let Ok(record) = AuditRecord::parse(text) {
                parsed += 1;
                // The lean view the scans use accepts whatever the full model accepts, and sees the same facts.
                let view = view.expect("the view parses what the full model parses");
                let here = Location { file: "fuzz".into(), line: n };
                assert_eq!(Entry::from_view(&view, here.clone(), false), Entry::from_record(&record, here, false));
                let _ = record.role_name();
                let _ = record.is_denied();
                let _ = serde_json::to_vec(&record).expect("a parsed record serialises");
                let entry = Entry::from_record(&record, Location { file: "fuzz".into(), line: n }, false);
                joiner
                    .push(entry, &mut |op: audit_parse::AuditOperation| {
                        emitted += 1;
                        let _ = (op.short_error(), op.secret_path(), op.identity());
                        Ok::<(), ()>(())
                    })
                    .unwrap();
            }
        }
    }
    assert!(parsed >= 6000, "at least the intact copy of each seed parses ({parsed})");
    assert!(emitted > 0);
}
