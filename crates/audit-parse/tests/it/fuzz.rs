//! No input makes the parser panic: thousands of mutations of real-looking lines (truncations, byte flips,
//! random bytes, inserted structure, huge lines), fed through the line reader, the full record model and the lean
//! view (which must agree), the summary and the joiner. The mutator and its seeded RNG are the kit's (`vault_testkit::fuzz`), so any failure is reproducible. (The cargo-fuzz target in `fuzz/` does the same
//! with coverage guidance when nightly and cargo-fuzz are installed.)

use std::io::BufReader;

use audit_parse::input::{Line, LineReader};
use audit_parse::operation::{Entry, Joiner, Location};
use audit_parse::record::{AuditRecord, RecordView};
use vault_testkit::fuzz::{Rng, mutate, rng};

const SEEDS: [&str; 3] = [
    r#"{"time":"2026-11-28T13:02:34.789848404Z","type":"request","auth":{"client_token":"hmac-sha256:b5","accessor":"hmac-sha256:58","display_name":"token","policies":["default","narrow"],"metadata":{"role_name":"etl"},"policy_results":{"allowed":false,"granting_policies":[{"name":"root","namespace_id":"root","type":"acl"}]},"token_type":"service","token_ttl":2764800},"request":{"id":"ffd4","operation":"read","mount_point":"secret/","mount_type":"kv","namespace":{"id":"root"},"path":"secret/data/dagster/db","remote_address":"127.0.0.1","remote_port":55044,"data":{"a":"hmac-sha256:00"}},"error":"1 error occurred:\n\t* permission denied\n\n"}"#,
    r#"{"time":"2026-11-28T13:02:34.789899941Z","type":"response","auth":{"display_name":"t\u00e9st"},"request":{"id":"ffd4","path":"p"},"response":{"auth":{"metadata":{"role_name":"etl"}},"mount_point":"secret/","data":{"error":"hmac-sha256:e4"},"wrap_info":{"token":"hmac-sha256:1","ttl":60}}}"#,
    r#"{"time":"2026-11-28T13:02:33Z","type":"request","auth":{"token_type":"default"},"request":{"id":"f058","operation":"update","namespace":{"id":"root"},"path":"sys/audit/test"}}"#,
];

#[test]
fn mutated_lines_never_panic() {
    let mut rng = rng(0x5eed_a0d1);
    let mut joiner = Joiner::new(16);
    let mut emitted = 0usize;
    let mut parsed = 0usize;
    for round in 0..6000u64 {
        let seed = SEEDS[(round % 3) as usize].as_bytes();
        // Runs of one byte up to 200 000 long: longer than the reader's line limit.
        let mut input = mutate(&mut rng, seed, 200_000);
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
