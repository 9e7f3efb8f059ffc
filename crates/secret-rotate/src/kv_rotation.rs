//! The KV v2 rotation state machine (`generate` and `command` strategies), its recovery after a crash, and the
//! manual `rollback`.
//!
//! For a KV v2 secret (`generate` and `command`):
//!
//! 1. record `rotation_result = pending` with the version we are about to write (`rotation_pending_version`) and
//!    the current one (`rotation_previous_version`), and a `started` history line;
//! 2. write the new value as a new version with check-and-set on the current version (so a concurrent writer
//!    makes us fail rather than lose their change); the previous version stays readable;
//! 3. verify it (the policy's command, given the new value on stdin);
//! 4. passed: record `success` and the next due time, then run the hooks;
//!    failed: write the previous version's data back as a new version (check-and-set on ours), record
//!    `rolled_back`, run the hooks so consumers that picked up the failed value reload the working one.
//!
//! A run that dies between 1 and 4 leaves `pending` behind. The next run finds it and looks at the secret's
//! current version: still the previous one → nothing was written, the attempt is cleared (`aborted`); the pending
//! one → verify it again and finish or roll back; newer → either our rollback landed (its data equals the
//! previous version's) or someone else wrote, and either way the pending state is cleared. Rollback writes data
//! back instead of deleting the failed version because deleting a KV v2 secret's latest version makes the secret
//! read as missing, which would leave consumers with nothing.

use chrono::Utc;
use vault_core::{KvPath, SecretMap};

use crate::due::DueStatus;
use crate::exec;
use crate::generate;
use crate::history::{Event, HistoryRecord};
use crate::policy::{SecretRotationPolicy, Strategy};
use crate::rotate::{Action, Outcome, RotateError, Rotator, add, stdin_bytes};
use crate::state::{Patch, RotationResult, RotationState, VersionStatus, Versions, keys, stamp};
use crate::targets::Resolved;

/// The secret's data as a JSON object, for a command's stdin. The caller zeroes the bytes.
fn data_json(data: &SecretMap) -> serde_json::Map<String, serde_json::Value> {
    vault_core::secret::revealed_json(data.iter().map(|(k, v)| (k.as_str(), v)))
}

impl Rotator<'_> {
    /// What the secret's metadata records about each version now.
    async fn versions(&self, path: &KvPath) -> Result<Versions, RotateError> {
        let metadata = self.client.kv_metadata(path).await?;
        Ok(RotationState::from_metadata(&metadata.custom_metadata).versions)
    }

    /// Before anything is written: refuses when a key the policy does not declare derived holds a copy of a
    /// rotated key's old value (it would go stale), then renders the derived keys over the new data.
    fn derive(&self, policy: &SecretRotationPolicy, old: &SecretMap, data: &mut SecretMap) -> Result<(), RotateError> {
        let derived: std::collections::BTreeSet<String> = policy.derived.keys().cloned().collect();
        let changed: std::collections::BTreeSet<String> =
            data.iter().filter(|(k, v)| old.get(*k) != Some(*v)).map(|(k, _)| k.clone()).collect();
        if let Some(key) = changed.iter().find(|k| derived.contains(*k)) {
            return Err(RotateError::Contract(format!(
                "the new values include {key}, which the policy declares derived; nothing was written"
            )));
        }
        let stale = crate::derive::stale_copies(old, &changed, &derived);
        if !stale.is_empty() {
            let list: Vec<String> = stale.iter().map(|(key, of)| format!("{key} (holds the old {of})")).collect();
            return Err(RotateError::Contract(format!(
                "refusing to rotate: {} would keep the old value; declare {} under [policy.derived] or remove the \
                 copy; nothing was written",
                list.join(", "),
                if stale.len() == 1 { "it" } else { "them" }
            )));
        }
        for (key, template) in &policy.derived {
            let value = template.render(data).map_err(|e| RotateError::Contract(format!("derived.{key}: {e}")))?;
            data.insert(key.clone(), value);
        }
        Ok(())
    }

    /// Rotates a KV v2 target; see [`Rotator::rotate`].
    pub(crate) async fn rotate_kv(&self, target: &Resolved<'_>, force: bool) -> Result<Outcome, RotateError> {
        let policy = target.policy;
        let strategy = policy.strategy.name();
        let now = Utc::now();
        let path = self.client.kv_path(&target.path).await?;
        let metadata = self.client.kv_metadata(&path).await?;
        let state = RotationState::from_metadata(&metadata.custom_metadata);
        if state.result == Some(RotationResult::Pending) {
            if self.dry_run {
                return Ok(Outcome::new(&target.path, strategy, Action::WouldRotate)
                    .detail("an interrupted rotation would be resumed or rolled back"));
            }
            return self.recover(target, &path, &state, metadata.current_version).await;
        }
        if !force {
            let item = self.assess(target, now).await;
            if !matches!(item.status, DueStatus::Due | DueStatus::Overdue) {
                let mut o = Outcome::new(&target.path, strategy, Action::Skipped).detail("not due");
                o.next_due = item.next_due;
                return Ok(o);
            }
            if !item.in_window {
                return Ok(Outcome::new(&target.path, strategy, Action::Skipped)
                    .detail(format!("due, waiting for its window ({})", item.window.unwrap_or_default())));
            }
        }
        if self.dry_run {
            let mut o = Outcome::new(&target.path, strategy, Action::WouldRotate);
            o.from_version = Some(metadata.current_version);
            return Ok(o);
        }

        let current = self.client.kv_read(&path, None).await?;
        let from = current.metadata.version;
        let mut data = current.data.clone();
        let made = match &policy.strategy {
            Strategy::Generate(g) => generate::new_value(self.client, &g.source)
                .await
                .map(|v| {
                    data.insert(g.key.clone(), v);
                })
                .map_err(RotateError::from),
            Strategy::Command(c) => self.run_command(&target.path, from, &c.run, &policy.pass_env, &mut data).await,
            Strategy::Database(_) => unreachable!("database targets go to rotate_database"),
        };
        let made = made.and_then(|()| self.derive(policy, &current.data, &mut data));
        if let Err(e) = made {
            return self.fail_before_write(target, &path, from, e).await;
        }

        let mut versions = state.versions.clone();
        versions.set_if_unknown(from, VersionStatus::Prior).set(from + 1, VersionStatus::Pending);
        let started = Patch::default()
            .versions(&versions)
            .set(keys::STRATEGY, strategy)
            .set(keys::RESULT, RotationResult::Pending.as_str())
            .set(keys::PENDING_VERSION, from + 1)
            .set(keys::PREVIOUS_VERSION, from)
            .set(keys::STARTED, stamp(now));
        let started = match &policy.owner {
            Some(owner) => started.set(keys::OWNER, owner),
            None => started,
        };
        crate::state::record_state(self.client, &path, &started).await?;
        self.log(&target.path, policy, Event::Started, (Some(from), Some(from + 1)), None)?;

        let written = match self.client.kv_write(&path, &data, Some(from)).await {
            Ok(w) => w.version,
            Err(e) => {
                // A write whose answer was lost may still have landed (and a retried one then fails its
                // check-and-set). Only a server that says our version is not there lets us clear `pending`;
                // when it cannot say, `pending` stays for the next run to sort out.
                let metadata = self.client.kv_metadata(&path).await?;
                if metadata.current_version == from + 1 {
                    let landed = self.client.kv_read(&path, Some(from + 1)).await?;
                    if landed.data == data {
                        from + 1
                    } else {
                        return self.fail_before_write(target, &path, from, e.into()).await;
                    }
                } else {
                    return self.fail_before_write(target, &path, from, e.into()).await;
                }
            }
        };
        drop(data);
        self.verify_and_finish(target, &path, from, written, false).await
    }

    /// Runs a `command` strategy's program: stdin `{"path", "version", "data"}` (the current values), stdout
    /// `{"data": {...}}` whose keys replace those in the secret (keys it leaves out are kept).
    async fn run_command(
        &self,
        shown: &str,
        version: u64,
        argv: &crate::policy::Argv,
        pass_env: &[String],
        data: &mut SecretMap,
    ) -> Result<(), RotateError> {
        let mut input = serde_json::json!({ "path": shown, "version": version, "data": data_json(data) });
        let stdin = stdin_bytes(&mut input);
        let env = [("SECRET_ROTATE_PATH", shown.to_owned()), ("SECRET_ROTATE_PHASE", "create".to_owned())];
        let out = exec::run(argv, Some(&stdin), &env, pass_env, true).await?;
        let program = &argv.argv[0];
        // The answer holds the new credential: parse without echoing it in any message.
        let mut answer: serde_json::Value = serde_json::from_slice(&out).map_err(|e| {
            RotateError::Contract(format!(
                "{program} did not print a JSON object on stdout (line {}, column {})",
                e.line(),
                e.column()
            ))
        })?;
        let result = match answer.get_mut("data").map(serde_json::Value::take) {
            Some(serde_json::Value::Object(map)) if !map.is_empty() => {
                for (k, v) in map {
                    data.insert(k, vault_core::secret::secret_from_json(v));
                }
                Ok(())
            }
            Some(mut other) => {
                vault_core::secret::zeroize_json(&mut other);
                Err(RotateError::Contract(format!("{program} printed a \"data\" that is not a non-empty object")))
            }
            None => Err(RotateError::Contract(format!("{program} printed no \"data\" object"))),
        };
        vault_core::secret::zeroize_json(&mut answer);
        result
    }

    async fn fail_before_write(
        &self,
        target: &Resolved<'_>,
        path: &KvPath,
        from: u64,
        error: RotateError,
    ) -> Result<Outcome, RotateError> {
        let now = Utc::now();
        let message = error.to_string();
        let mut versions = self.versions(path).await?;
        if versions.get(from + 1) == Some(VersionStatus::Pending) {
            versions.remove(from + 1);
        }
        let patch = Patch::default()
            .versions(&versions)
            .set(keys::STRATEGY, target.policy.strategy.name())
            .set(keys::RESULT, RotationResult::Failed.as_str())
            .set(keys::LAST_FAILURE, stamp(now))
            .set(keys::NEXT_DUE, stamp(add(now, target.policy.retry)))
            .set(keys::ERROR, &message)
            .clear(keys::PENDING_VERSION)
            .clear(keys::STARTED);
        crate::state::record_state(self.client, path, &patch).await?;
        self.log(&target.path, target.policy, Event::Failed, (Some(from), None), Some(message.clone()))?;
        let mut o = Outcome::new(&target.path, target.policy.strategy.name(), Action::Failed).detail(message);
        o.from_version = Some(from);
        o.to_version = Some(from);
        o.next_due = Some(stamp(add(now, target.policy.retry)));
        Ok(o)
    }

    /// Verifies `written` and makes it current, or writes `from`'s data back.
    async fn verify_and_finish(
        &self,
        target: &Resolved<'_>,
        path: &KvPath,
        from: u64,
        written: u64,
        recovered: bool,
    ) -> Result<Outcome, RotateError> {
        let policy = target.policy;
        let verdict = match &policy.verify {
            None => Ok(()),
            Some(argv) => {
                let new = self.client.kv_read(path, Some(written)).await?;
                let mut input = serde_json::json!({
                    "path": target.path,
                    "version": written,
                    "previous_version": from,
                    "data": data_json(&new.data),
                });
                let stdin = stdin_bytes(&mut input);
                let env = [
                    ("SECRET_ROTATE_PATH", target.path.clone()),
                    ("SECRET_ROTATE_VERSION", written.to_string()),
                    ("SECRET_ROTATE_PHASE", "verify".to_owned()),
                ];
                exec::run(argv, Some(&stdin), &env, &policy.pass_env, false).await.map(drop)
            }
        };
        let now = Utc::now();
        match verdict {
            Ok(()) => {
                let next = policy.schedule.next_due(Some(now), now);
                let mut versions = self.versions(path).await?;
                let status = if policy.verify.is_some() { VersionStatus::Verified } else { VersionStatus::Accepted };
                versions.set(written, status);
                let patch = Patch::default()
                    .versions(&versions)
                    .set(keys::STRATEGY, policy.strategy.name())
                    .set(keys::RESULT, RotationResult::Success.as_str())
                    .set(keys::LAST, stamp(now))
                    .set(keys::NEXT_DUE, stamp(next))
                    .set(keys::CURRENT_VERSION, written)
                    .set(keys::PREVIOUS_VERSION, from)
                    .clear(keys::PENDING_VERSION)
                    .clear(keys::STARTED)
                    .clear(keys::ERROR);
                crate::state::record_state(self.client, path, &patch).await?;
                let detail = recovered.then(|| "resumed after an interrupted run".to_owned());
                self.log(&target.path, policy, Event::Succeeded, (Some(from), Some(written)), detail.clone())?;
                let mut o = Outcome::new(&target.path, policy.strategy.name(), Action::Rotated);
                o.recovered = recovered;
                o.from_version = Some(from);
                o.to_version = Some(written);
                o.next_due = Some(stamp(next));
                o.detail = detail;
                self.hooks(target, written, &mut o).await?;
                Ok(o)
            }
            Err(e) => {
                let reason = format!("verification failed: {e}");
                self.roll_back(target, path, from, written, reason, recovered).await
            }
        }
    }

    async fn roll_back(
        &self,
        target: &Resolved<'_>,
        path: &KvPath,
        from: u64,
        written: u64,
        reason: String,
        recovered: bool,
    ) -> Result<Outcome, RotateError> {
        let policy = target.policy;
        let previous = self.client.kv_read(path, Some(from)).await?;
        let restored = self.client.kv_write(path, &previous.data, Some(written)).await?.version;
        let now = Utc::now();
        let next = add(now, policy.retry);
        let mut versions = self.versions(path).await?;
        versions.set(written, VersionStatus::Failed).set(restored, VersionStatus::Restored);
        let patch = Patch::default()
            .versions(&versions)
            .set(keys::RESULT, RotationResult::RolledBack.as_str())
            .set(keys::CURRENT_VERSION, restored)
            .set(keys::PREVIOUS_VERSION, written)
            .set(keys::LAST_FAILURE, stamp(now))
            .set(keys::NEXT_DUE, stamp(next))
            .set(keys::ERROR, &reason)
            .clear(keys::PENDING_VERSION)
            .clear(keys::STARTED);
        crate::state::record_state(self.client, path, &patch).await?;
        self.log(&target.path, policy, Event::RolledBack, (Some(written), Some(restored)), Some(reason.clone()))?;
        let reason = format!("{reason}; restored the data of version {from}");
        let mut o = Outcome::new(&target.path, policy.strategy.name(), Action::RolledBack).detail(reason);
        o.recovered = recovered;
        o.from_version = Some(from);
        o.to_version = Some(restored);
        o.restored_version = Some(from);
        o.next_due = Some(stamp(next));
        // Consumers that restarted while the failed value was latest must pick the working one up again.
        self.hooks(target, restored, &mut o).await?;
        Ok(o)
    }

    /// Finishes a rotation an earlier run left `pending`.
    async fn recover(
        &self,
        target: &Resolved<'_>,
        path: &KvPath,
        state: &RotationState,
        current: u64,
    ) -> Result<Outcome, RotateError> {
        let policy = target.policy;
        let strategy = policy.strategy.name();
        let (Some(pending), Some(previous)) = (state.pending_version, state.previous_version) else {
            return self
                .clear_pending(target, path, "the interrupted rotation's versions were not recorded", None)
                .await;
        };
        if current == previous {
            let mut versions = state.versions.clone();
            if versions.get(pending) == Some(VersionStatus::Pending) {
                versions.remove(pending);
                crate::state::record_state(self.client, path, &Patch::default().versions(&versions)).await?;
            }
            return self
                .clear_pending(target, path, "interrupted before the new version was written", Some(previous))
                .await;
        }
        if current == pending {
            self.log(&target.path, policy, Event::Recovered, (Some(previous), Some(pending)), None)?;
            return self.verify_and_finish(target, path, previous, pending, true).await;
        }
        // Something was written after our version: our own rollback (then the data equals the previous
        // version's), or another writer. Either way the pending version is no longer what consumers read.
        let latest = self.client.kv_read(path, None).await?;
        let before = self.client.kv_read(path, Some(previous)).await?;
        if latest.data == before.data {
            let reason = format!(
                "verification failed; the rollback finished before the run was interrupted; restored the data of version {previous}"
            );
            let now = Utc::now();
            let mut versions = state.versions.clone();
            versions.set(pending, VersionStatus::Failed).set(current, VersionStatus::Restored);
            let patch = Patch::default()
                .versions(&versions)
                .set(keys::RESULT, RotationResult::RolledBack.as_str())
                .set(keys::CURRENT_VERSION, current)
                .set(keys::PREVIOUS_VERSION, pending)
                .set(keys::LAST_FAILURE, stamp(now))
                .set(keys::NEXT_DUE, stamp(add(now, policy.retry)))
                .set(keys::ERROR, &reason)
                .clear(keys::PENDING_VERSION)
                .clear(keys::STARTED);
            crate::state::record_state(self.client, path, &patch).await?;
            self.log(&target.path, policy, Event::RolledBack, (Some(pending), Some(current)), Some(reason.clone()))?;
            let mut o = Outcome::new(&target.path, strategy, Action::RolledBack).detail(reason);
            o.recovered = true;
            o.from_version = Some(previous);
            o.to_version = Some(current);
            o.restored_version = Some(previous);
            return Ok(o);
        }
        self.clear_pending(
            target,
            path,
            &format!("superseded by version {current}, written by someone else"),
            Some(current),
        )
        .await
    }

    async fn clear_pending(
        &self,
        target: &Resolved<'_>,
        path: &KvPath,
        reason: &str,
        version: Option<u64>,
    ) -> Result<Outcome, RotateError> {
        let patch = Patch::default()
            .set(keys::RESULT, RotationResult::Failed.as_str())
            .set(keys::ERROR, reason)
            .clear(keys::PENDING_VERSION)
            .clear(keys::STARTED);
        crate::state::record_state(self.client, path, &patch).await?;
        self.log(&target.path, target.policy, Event::Aborted, (version, version), Some(reason.to_owned()))?;
        let mut o = Outcome::new(&target.path, target.policy.strategy.name(), Action::Aborted).detail(reason);
        o.recovered = true;
        o.from_version = version;
        o.to_version = version;
        Ok(o)
    }

    /// `secret-rotate rollback`: makes the newest earlier version known to be good (verified, accepted, prior
    /// or restored; never one that failed verification, is pending or was rolled back from) whose data differs
    /// from the current one current again, as a new version. Refuses, naming what it skipped, when there is none.
    pub async fn rollback(&self, shown: &str, policy: Option<&SecretRotationPolicy>) -> Result<Outcome, RotateError> {
        let path = self.client.kv_path(shown).await?;
        let metadata = self.client.kv_metadata(&path).await?;
        let state = RotationState::from_metadata(&metadata.custom_metadata);
        let current = metadata.current_version;
        let readable = |v: u64| metadata.versions.get(&v).is_some_and(|s| s.deletion_time.is_empty() && !s.destroyed);
        let latest = self.client.kv_read(&path, Some(current)).await?;
        let mut skipped = Vec::new();
        let mut chosen = None;
        for v in (1..current).rev() {
            match state.versions.get(v) {
                Some(status) if status.is_good() => {
                    if !readable(v) {
                        skipped.push(format!("{v} ({}, deleted)", status.as_str()));
                        continue;
                    }
                    let old = self.client.kv_read(&path, Some(v)).await?;
                    if old.data == latest.data {
                        skipped.push(format!("{v} ({}, same data as the current version)", status.as_str()));
                        continue;
                    }
                    chosen = Some((v, status, old));
                    break;
                }
                Some(status) => skipped.push(format!("{v} ({})", status.as_str())),
                None => {}
            }
        }
        let Some((target, status, old)) = chosen else {
            let seen = if skipped.is_empty() {
                "no earlier version has a recorded outcome".to_owned()
            } else {
                format!("skipped {}", skipped.join(", "))
            };
            return Err(RotateError::Contract(format!(
                "{path}: no earlier version is known to be good to return to ({seen}); versions that failed \
                 verification are never restored"
            )));
        };
        let strategy = policy.map_or("manual", |p| p.strategy.name());
        if self.dry_run {
            let mut o = Outcome::new(shown, strategy, Action::WouldRotate)
                .detail(format!("would restore the data of version {target} ({})", status.as_str()));
            o.from_version = Some(current);
            o.restored_version = Some(target);
            return Ok(o);
        }
        let restored = self.client.kv_write(&path, &old.data, Some(current)).await?.version;
        drop(old);
        let now = Utc::now();
        let reason = format!("manual rollback: restored the data of version {target} ({})", status.as_str());
        let mut versions = state.versions.clone();
        versions.set(current, VersionStatus::Rejected).set(restored, VersionStatus::Restored);
        let patch = Patch::default()
            .versions(&versions)
            .set(keys::RESULT, RotationResult::RolledBack.as_str())
            .set(keys::CURRENT_VERSION, restored)
            .set(keys::PREVIOUS_VERSION, current)
            .set(keys::LAST_FAILURE, stamp(now))
            .set(keys::ERROR, &reason)
            .clear(keys::PENDING_VERSION)
            .clear(keys::STARTED);
        crate::state::record_state(self.client, &path, &patch).await?;
        let record = HistoryRecord {
            time: stamp(now),
            path: crate::policy::normalize(shown),
            strategy: strategy.to_owned(),
            event: Event::ManualRollback,
            from_version: Some(current),
            to_version: Some(restored),
            detail: Some(reason.clone()),
            owner: policy.and_then(|p| p.owner.clone()),
        };
        self.history.append(&record)?;
        let mut o = Outcome::new(&crate::policy::normalize(shown), strategy, Action::RolledBack).detail(reason);
        o.from_version = Some(current);
        o.to_version = Some(restored);
        o.restored_version = Some(target);
        if let Some(policy) = policy {
            let resolved = Resolved { path: o.path.clone(), policy };
            self.hooks(&resolved, restored, &mut o).await?;
        }
        Ok(o)
    }
}
