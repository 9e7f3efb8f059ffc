//! The offline matcher against the server: random small policies (with `+`, `*`, deny, patterns shared between
//! policies) and random paths, compared with what `sys/capabilities` answers for a token carrying exactly them.
//!
//! Set `POLICY_GEN_SEED` to replay a run; `POLICY_GEN_SETS` to try more policy sets.

use policy_gen::live::Server;
use policy_gen::model::{AccessPolicy, Capability, PolicyRule};
use policy_gen::{Acl, write};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::util::{dev_server, root_client};

const WORDS: [&str; 5] = ["a", "b", "ab", "ba", "c"];
const PATHS_PER_SET: usize = 50;

fn word(rng: &mut StdRng) -> &'static str {
    WORDS[rng.random_range(0..WORDS.len())]
}

fn pattern(rng: &mut StdRng) -> String {
    if rng.random_bool(0.04) {
        return ["*", "+", "+/*"][rng.random_range(0..3)].to_owned();
    }
    let depth = rng.random_range(1..=4);
    let mut parts: Vec<String> =
        (0..depth).map(|_| if rng.random_bool(0.25) { "+".to_owned() } else { word(rng).to_owned() }).collect();
    match rng.random_range(0..3) {
        // A glob glued to the last segment, unless that would make the forbidden `+*`.
        0 if parts.last().is_some_and(|p| p != "+") => parts.last_mut().unwrap().push('*'),
        0 | 1 => parts.push("*".to_owned()),
        _ => {}
    }
    let joined = parts.join("/");
    if rng.random_bool(0.05) { format!("/{joined}") } else { joined }
}

fn capabilities(rng: &mut StdRng) -> Vec<Capability> {
    use Capability::*;
    if rng.random_bool(0.12) {
        return vec![Deny];
    }
    let all = [Create, Read, Update, Patch, Delete, List, Sudo];
    (0..rng.random_range(1..=3)).map(|_| all[rng.random_range(0..all.len())]).collect()
}

/// A path: mostly a pattern filled in (so it hits), sometimes random; sometimes with a trailing `/`.
fn path(rng: &mut StdRng, patterns: &[String]) -> String {
    let mut path = if rng.random_bool(0.6) && !patterns.is_empty() {
        let p = patterns[rng.random_range(0..patterns.len())].trim_start_matches('/');
        let filled: Vec<String> = p
            .split('/')
            .map(|s| {
                if s == "+" {
                    if rng.random_bool(0.05) { String::new() } else { word(rng).to_owned() }
                } else {
                    s.to_owned()
                }
            })
            .collect();
        let mut filled = filled.join("/");
        if let Some(stem) = filled.strip_suffix('*') {
            filled = match rng.random_range(0..3) {
                0 => stem.to_owned(),
                1 => format!("{stem}{}", word(rng)),
                _ => format!("{stem}{}/{}", word(rng), word(rng)),
            };
        }
        filled
    } else {
        (0..rng.random_range(1..=5)).map(|_| word(rng)).collect::<Vec<_>>().join("/")
    };
    if rng.random_bool(0.15) {
        path.push('/');
    }
    if path.is_empty() { "a".to_owned() } else { path }
}

#[tokio::test]
async fn offline_answers_match_the_server() {
    let seed: u64 = std::env::var("POLICY_GEN_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(20261128);
    let sets: usize = std::env::var("POLICY_GEN_SETS").ok().and_then(|s| s.parse().ok()).unwrap_or(40);
    let mut rng = StdRng::seed_from_u64(seed);
    let server = dev_server().await;
    let admin = Server::new(root_client(&server));
    let mut disagreements = Vec::new();
    let mut compared = 0;
    for set in 0..sets {
        let mut used: Vec<String> = Vec::new();
        let mut policies = Vec::new();
        for p in 0..rng.random_range(1..=3) {
            let mut policy = AccessPolicy::new(format!("agree-{set}-{p}"));
            for _ in 0..rng.random_range(1..=5) {
                // Reusing a pattern from another policy exercises merging.
                let pat = if !used.is_empty() && rng.random_bool(0.3) {
                    used[rng.random_range(0..used.len())].clone()
                } else {
                    pattern(&mut rng)
                };
                used.push(pat.clone());
                policy.rules.push(PolicyRule::new(pat, capabilities(&mut rng)));
            }
            admin.write_policy(&policy.name, &write::to_hcl(&policy)).await.unwrap();
            policies.push(policy);
        }
        let names: Vec<String> = policies.iter().map(|p| p.name.clone()).collect();
        let token = admin.create_token(&names).await.unwrap();
        let mut paths: Vec<String> = (0..PATHS_PER_SET).map(|_| path(&mut rng, &used)).collect();
        paths.sort();
        paths.dedup();
        let answers = admin.capabilities(&token, &paths).await.unwrap();
        let acl = Acl::new(&policies).unwrap();
        for path in &paths {
            compared += 1;
            let offline: Vec<&str> = acl.capabilities(path).names();
            let live = &answers[path];
            if live.iter().map(String::as_str).ne(offline.iter().copied()) {
                let hcl: Vec<String> = policies.iter().map(write::to_hcl).collect();
                disagreements.push(format!(
                    "seed {seed} set {set}: {path:?}: server {live:?}, offline {offline:?}\n{}",
                    hcl.join("\n")
                ));
            }
        }
        admin.revoke(&token).await.unwrap();
        for name in &names {
            admin.delete_policy(name).await.unwrap();
        }
    }
    assert!(compared >= sets * PATHS_PER_SET / 2, "compared {compared} paths");
    assert!(
        disagreements.is_empty(),
        "{} of {compared} disagree:\n{}",
        disagreements.len(),
        disagreements.iter().take(5).cloned().collect::<Vec<_>>().join("\n---\n")
    );
}
