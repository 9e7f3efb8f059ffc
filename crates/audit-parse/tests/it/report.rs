//! `report` on the real log: who read what, denials, root-token use, configuration changes, busiest paths and
//! identities, and secrets never read (from an inventory file and from Vault), with exact counts.

use serde_json::json;

use crate::util::{Fixture, of_type, records, run};

pub fn check(f: &Fixture) {
    let log = f.log.to_str().unwrap();
    let mine = "secret/data/aptest/*";
    let inventory = f.dir.join("inventory.txt");
    std::fs::write(
        &inventory,
        "# secrets the pipeline should use\nsecret/aptest/db\n/secret/data/aptest/app\n\nsecret/aptest/unused\nsecret/aptest/ghost\n",
    )
    .unwrap();
    let (code, stdout, _) =
        run(f, &["report", log, "--path", mine, "--inventory", inventory.to_str().unwrap(), "--format", "jsonl"]);
    assert_eq!(code, 0);
    let recs = records(&stdout);
    let rows = |kind: &str| -> Vec<serde_json::Value> {
        of_type(&recs, kind)
            .into_iter()
            .map(|r| {
                let mut r = r.clone();
                for volatile in ["type", "schema", "first", "last", "time", "file", "line"] {
                    r.as_object_mut().unwrap().remove(volatile);
                }
                r
            })
            .collect()
    };
    assert_eq!(
        rows("read"),
        [
            json!({"path": "secret/aptest/app", "identity": "approle/etl", "count": 2}),
            json!({"path": "secret/aptest/app", "identity": "token-ci", "count": 1}),
            json!({"path": "secret/aptest/db", "identity": "root", "count": 2}),
        ]
    );
    assert_eq!(
        rows("denied"),
        [json!({"identity": "token-ci", "path": "secret/data/aptest/db", "operation": "read", "count": 1})]
    );
    // 3 writes and 2 reads of db with the root token, by path and operation.
    let root_row = |op: &str, path: &str, count: u64| json!({"identity": "root", "operation": op, "path": path, "remote_address": "127.0.0.1", "count": count, "failed": 0});
    assert_eq!(
        rows("root_use"),
        [
            root_row("create", "secret/data/aptest/app", 1),
            root_row("create", "secret/data/aptest/db", 1),
            root_row("read", "secret/data/aptest/db", 2),
            root_row("create", "secret/data/aptest/unused", 1),
        ]
    );
    assert!(rows("change").is_empty(), "no configuration path matches the filter");
    assert_eq!(
        rows("busiest_path"),
        [
            json!({"name": "secret/data/aptest/app", "count": 4}),
            json!({"name": "secret/data/aptest/db", "count": 4}),
            json!({"name": "secret/data/aptest/unused", "count": 1}),
        ]
    );
    assert_eq!(
        rows("busiest_identity"),
        [
            json!({"name": "root", "count": 5}),
            json!({"name": "approle/etl", "count": 2}),
            json!({"name": "token-ci", "count": 2}),
        ]
    );
    assert_eq!(rows("never_read"), [json!({"path": "secret/aptest/ghost"}), json!({"path": "secret/aptest/unused"})]);
    let summary = recs.last().unwrap();
    assert_eq!(summary["operations"], 9);
    assert_eq!(summary["reads"], 5);
    assert_eq!(summary["denied"], 1);
    assert_eq!(summary["root_uses"], 5);
    assert_eq!(summary["never_read"], 2);
    assert_eq!(summary["malformed"], 0);

    // The inventory straight from Vault: what exists under the prefix and was never read.
    let (code, stdout, stderr) =
        run(f, &["report", log, "--path", mine, "--from-vault", "secret/aptest", "--format", "jsonl"]);
    assert_eq!(code, 0, "{stderr}");
    let recs = records(&stdout);
    let never: Vec<_> = of_type(&recs, "never_read").iter().map(|r| r["path"].clone()).collect();
    assert_eq!(never, [json!("secret/aptest/unused")]);

    // Configuration changes over the whole log: the KV mount, the policy, AppRole, plus the audit device's own
    // `sys/audit/test` line written when the server enabled it from its config.
    let (_, stdout, _) = run(f, &["report", log, "--format", "jsonl"]);
    let recs = records(&stdout);
    let changes: Vec<(String, String, String)> = of_type(&recs, "change")
        .iter()
        .map(|r| {
            (
                r["category"].as_str().unwrap().into(),
                r["operation"].as_str().unwrap().into(),
                r["path"].as_str().unwrap().into(),
            )
        })
        .collect();
    let expect = |c: &str, o: &str, p: &str| (c.to_owned(), o.to_owned(), p.to_owned());
    assert_eq!(
        changes,
        [
            expect("audit", "update", "sys/audit/test"),
            expect("mount", "update", "sys/mounts/secret"),
            expect("policy", "update", "sys/policies/acl/narrow"),
            expect("auth", "update", "sys/auth/approle"),
        ]
    );

    // Human and CSV carry the same rows.
    let (_, human, _) = run(f, &["report", log, "--path", mine, "--inventory", inventory.to_str().unwrap()]);
    assert!(human.contains("Secret reads by path and identity (3)"), "{human}");
    assert!(human.contains("Denied requests (1)"), "{human}");
    assert!(human.contains("Root token use (4)"), "{human}");
    assert!(human.contains("Secrets never read (2)"), "{human}");
    let (_, csv, _) = run(f, &["report", log, "--path", mine, "--format", "csv"]);
    assert_eq!(csv.lines().filter(|l| l.starts_with("read,")).count(), 3, "{csv}");
    assert_eq!(csv.lines().filter(|l| l.starts_with("root_use,")).count(), 4, "{csv}");
}
