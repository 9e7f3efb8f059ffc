//! Fuzzes the audit line path end to end: line splitting with a small length limit, record parsing, the
//! summary a line becomes, and the request/response joiner. Any panic is a bug.
#![no_main]

use std::io::BufReader;

use audit_parse::input::{Line, LineReader};
use audit_parse::operation::{Entry, Joiner, Location};
use audit_parse::record::AuditRecord;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut reader = LineReader::new(BufReader::with_capacity(64, data), 4096);
    let mut joiner = Joiner::new(4);
    let mut sink = |op: audit_parse::AuditOperation| {
        let _ = (op.identity(), op.short_error(), op.secret_path());
        Ok::<(), ()>(())
    };
    while let Ok(Some((n, line))) = reader.next_line() {
        let Line::Text(text) = line else { continue };
        if let Ok(record) = AuditRecord::parse(text) {
            let _ = debug_len(&record);
            let entry = Entry::from_record(&record, Location { file: "fuzz".into(), line: n }, false);
            let _ = joiner.push(entry, &mut sink);
        }
    }
    let _ = joiner.finish(&mut sink);
});

fn debug_len(record: &AuditRecord<'_>) -> usize {
    // Formatting walks every field, kept unknown ones included; the length is used so it is not optimised away.
    format!("{record:?}").len()
}
