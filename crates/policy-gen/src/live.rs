//! Talking to a server: reading, writing and deleting ACL policies, minting a token that carries exactly a
//! set of policies, asking `sys/capabilities` about it, and sending real requests with it.
//!
//! Everything goes through `vault_core::Client`'s typed methods (ACL policies, tokens, capabilities, and
//! [`vault_core::Client::try_operation`] for the real requests). Because the client looks its token up before
//! first use, the token used for real requests carries one extra policy granting only `auth/token/lookup-self`
//! (see [`Minted`]).

use std::collections::BTreeMap;

use vault_core::config::AuthConfig;
use vault_core::sys::acl;
use vault_core::token::{TokenRequest, paths};
use vault_core::{Client, Config, Error as VaultError, SecretString};

use crate::cases::{Case, Expect};
use crate::matcher::{Operation, requires_sudo};

/// Policies the server creates and refuses to delete; `apply --prune` never touches them.
pub const BUILTIN_POLICIES: &[&str] = &["root", "default"];

/// The server side of policy-gen.
#[derive(Clone, Debug)]
pub struct Server {
    client: Client,
}

/// Tokens minted for a set of policies.
#[derive(Debug)]
pub struct Minted {
    /// Carries exactly the policies (no `default`): what `sys/capabilities` is asked about.
    pub exact: SecretString,
    /// Carries the policies plus a helper granting only `auth/token/lookup-self`, which the client needs before
    /// its first request; used for real requests to every other path.
    pub probe: SecretString,
}

/// What a real request showed.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Probe {
    /// Whether the ACL let it through (any answer but 403).
    pub allowed: bool,
    /// What the server answered, in words.
    pub answer: String,
}

impl Server {
    /// A server reached through `client` (which needs a token allowed to manage policies and create tokens).
    pub fn new(client: Client) -> Self {
        Server { client }
    }

    /// The client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The names of every ACL policy on the server.
    pub async fn list_policies(&self) -> Result<Vec<String>, VaultError> {
        self.client.policy_list().await
    }

    /// The text of a policy, or `None` when there is no such policy.
    pub async fn read_policy(&self, name: &str) -> Result<Option<String>, VaultError> {
        self.client.policy_read(name).await
    }

    /// Creates or replaces a policy.
    pub async fn write_policy(&self, name: &str, text: &str) -> Result<(), VaultError> {
        self.client.policy_write(name, text).await
    }

    /// Deletes a policy.
    pub async fn delete_policy(&self, name: &str) -> Result<(), VaultError> {
        self.client.policy_delete(name).await
    }

    /// Mints tokens carrying `policies` (already on the server). `helper` names a policy this call writes,
    /// granting only `auth/token/lookup-self`, for the probing token; delete it when done.
    pub async fn mint(&self, policies: &[String], helper: &str) -> Result<Minted, VaultError> {
        let text = format!("path \"{}\" {{\n  capabilities = [\"read\"]\n}}\n", paths::LOOKUP_SELF);
        self.write_policy(helper, &text).await?;
        let exact = self.create_token(policies).await?;
        let mut with_helper = policies.to_vec();
        with_helper.push(helper.to_owned());
        let probe = self.create_token(&with_helper).await?;
        Ok(Minted { exact, probe })
    }

    /// Creates a 15-minute token carrying exactly `policies` (not even `default`).
    pub async fn create_token(&self, policies: &[String]) -> Result<SecretString, VaultError> {
        self.client
            .token_create(&TokenRequest {
                policies: policies.to_vec(),
                no_default_policy: true,
                ttl: "15m".into(),
                renewable: false,
                display_name: "policy-gen-test".into(),
            })
            .await
    }

    /// Revokes a token (errors are ignored by callers cleaning up).
    pub async fn revoke(&self, token: &SecretString) -> Result<(), VaultError> {
        self.client.token_revoke(token).await
    }

    /// What `sys/capabilities` answers for `token` on each path, in one request.
    pub async fn capabilities(
        &self,
        token: &SecretString,
        paths: &[String],
    ) -> Result<BTreeMap<String, Vec<String>>, VaultError> {
        self.client.capabilities(token, paths).await
    }

    /// Sends the request `op` on `path` with `token` and reports whether the ACL let it through.
    pub async fn probe(&self, token: &SecretString, op: Operation, path: &str) -> Result<Option<Probe>, VaultError> {
        let config = Config {
            auth: AuthConfig::Token { token: token.clone(), source: "policy-gen test".into() },
            max_retries: 0,
            ..self.client.config().clone()
        };
        send(&Client::new(config)?, op, path).await
    }
}

/// Sends the request `op` on `path` with `client`'s token and reports whether the ACL let it through. Writes send
/// an empty body, which the ACL judges before any handler validates it.
async fn send(client: &Client, op: Operation, path: &str) -> Result<Option<Probe>, VaultError> {
    let operation = match op {
        Operation::Read => acl::Operation::Read,
        Operation::List => acl::Operation::List,
        Operation::Create | Operation::Update => acl::Operation::Write,
        Operation::Delete => acl::Operation::Delete,
        Operation::Patch | Operation::Scan => return Ok(None),
    };
    let outcome = match client.try_operation(operation, path).await {
        Ok(()) => Probe { allowed: true, answer: "success".into() },
        Err(VaultError::PermissionDenied { .. }) => Probe { allowed: false, answer: "403 permission denied".into() },
        // The server could not judge (unreachable, no active node, sealed, …): never read that as "allowed".
        Err(e) if e.exit() == vault_core::Exit::Unavailable => return Err(e),
        Err(other) => Probe { allowed: true, answer: format!("past the ACL: {other}") },
    };
    Ok(Some(outcome))
}

/// Whether capabilities from the server let `op` on `path` through, by the same rule as
/// [`crate::matcher::Decision::allowed`].
pub fn allowed_by(caps: &[String], op: Operation, path: &str) -> bool {
    let has = |c: &str| caps.iter().any(|x| x == c);
    !has("deny") && (has("root") || (has(op.as_str()) && (!requires_sudo(path) || has("sudo"))))
}

/// One case judged live.
#[derive(Clone, Debug, serde::Serialize)]
pub struct LiveVerdict {
    /// What `sys/capabilities` answered.
    pub capabilities: Vec<String>,
    /// Whether those capabilities let the operation through.
    pub allowed: bool,
    /// The real request, when the case asked for one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<Probe>,
}

/// Writes `policies` (name, text) under names unique to this run, mints tokens, asks the server about every
/// case, and cleans up whatever happens.
pub async fn judge(
    server: &Server,
    policies: &[(String, String)],
    cases: &[Case],
) -> Result<Vec<LiveVerdict>, VaultError> {
    let run = run_id();
    let mut written = Vec::new();
    let helper = format!("{run}-lookup-self");
    let result = async {
        for (name, text) in policies {
            let server_name = format!("{run}-{name}");
            server.write_policy(&server_name, text).await?;
            written.push(server_name);
        }
        let minted = server.mint(&written, &helper).await?;
        let outcome = judge_with(server, &minted, cases).await;
        let _ = server.revoke(&minted.exact).await;
        let _ = server.revoke(&minted.probe).await;
        outcome
    }
    .await;
    for name in written.iter().chain([&helper]) {
        let _ = server.delete_policy(name).await;
    }
    result
}

async fn judge_with(server: &Server, minted: &Minted, cases: &[Case]) -> Result<Vec<LiveVerdict>, VaultError> {
    let mut paths: Vec<String> = cases.iter().map(|c| c.path.clone()).collect();
    paths.sort();
    paths.dedup();
    let answers = server.capabilities(&minted.exact, &paths).await?;
    let mut out = Vec::new();
    for case in cases {
        let capabilities = answers.get(&case.path).cloned().unwrap_or_default();
        let allowed = allowed_by(&capabilities, case.operation, &case.path);
        // The probing token can always look itself up (the helper policy), so that one path is not probed.
        let probe = case.request && case.path.trim_start_matches('/') != paths::LOOKUP_SELF;
        let request = if probe { server.probe(&minted.probe, case.operation, &case.path).await? } else { None };
        out.push(LiveVerdict { capabilities, allowed, request });
    }
    Ok(out)
}

/// Judges `cases` with the caller's OWN token instead of minted ones: `sys/capabilities-self` for every path and
/// real requests sent with that token. This is how a deployed identity proves, with the token its AppRole login
/// gives it (its own policy; deploy's roles leave `default` off), that it can do its job and nothing more. It
/// needs no rights of its own beyond `sys/capabilities-self`, which every shipped policy grants (spec word
/// `capabilities`) and the `default` policy grants too.
///
/// `auth/token/revoke-self` is never probed: the request would end the very token being tested.
pub async fn judge_self(client: &Client, cases: &[Case]) -> Result<Vec<LiveVerdict>, VaultError> {
    let mut paths: Vec<&str> = cases.iter().map(|c| c.path.as_str()).collect();
    paths.sort_unstable();
    paths.dedup();
    let answers = client.capabilities_self(&paths).await?;
    let prober = Client::new(Config { max_retries: 0, ..client.config().clone() })?;
    let mut out = Vec::new();
    for case in cases {
        let capabilities = answers.get(&case.path).cloned().unwrap_or_default();
        let allowed = allowed_by(&capabilities, case.operation, &case.path);
        let path = case.path.trim_start_matches('/');
        let probe = case.request && path != paths::REVOKE_SELF;
        let request = if probe { send(&prober, case.operation, path).await? } else { None };
        out.push(LiveVerdict { capabilities, allowed, request });
    }
    // Hand back the login the probes made, so a test run leaves no live token behind.
    if matches!(prober.config().auth, AuthConfig::AppRole(_)) {
        let _ = prober.revoke_self().await;
    }
    Ok(out)
}

/// A name prefix unique to one run, so runs against a shared server never collide.
pub fn run_id() -> String {
    use rand::Rng;
    let suffix: String = rand::rng().sample_iter(rand::distr::Alphanumeric).take(10).map(char::from).collect();
    format!("policy-gen-test-{}", suffix.to_ascii_lowercase())
}

/// Whether a live verdict meets an expectation.
pub fn meets(live: &LiveVerdict, expect: Expect) -> bool {
    Expect::from_allowed(live.allowed) == expect
        && live.request.as_ref().is_none_or(|p| Expect::from_allowed(p.allowed) == expect)
}
