//! S3-compatible object storage (Hetzner Object Storage, SeaweedFS, MinIO, AWS) through `aws-sdk-s3`.
//!
//! Path-style addressing, an explicit endpoint and region, and checksums only where the protocol requires them,
//! which is what S3-compatible stores accept. Credentials come from a file given with `--s3-credentials-file`, else
//! the standard `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/`AWS_SESSION_TOKEN` variables, else the shared
//! credentials file (`AWS_SHARED_CREDENTIALS_FILE` or `~/.aws/credentials`, profile `AWS_PROFILE` or `default`).
//!
//! Large data goes up as a multipart upload: parts of [`S3Settings::part_size`] (at least 5 MiB, S3's minimum),
//! two in flight while the next one fills. Data smaller than one part is put in one request at commit.

use std::path::PathBuf;
use std::time::Duration;

use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::error::{DisplayErrorContext, SdkError};
use aws_sdk_s3::primitives::ByteStream as S3Body;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use bytes::{Bytes, BytesMut};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::store::{ByteStream, Entry, StoreError};

/// S3's smallest part (except the last).
pub const MIN_PART_SIZE: usize = 5 * 1024 * 1024;
/// The default part size.
pub const DEFAULT_PART_SIZE: usize = 8 * 1024 * 1024;
/// Parts uploading at once while the next one fills.
const PARTS_IN_FLIGHT: usize = 2;

/// How to reach the store; unset fields fall back to the standard AWS variables.
#[derive(Clone, Debug, Default)]
pub struct S3Settings {
    /// Endpoint URL, e.g. `https://fsn1.your-objectstorage.com` [env: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL].
    pub endpoint: Option<String>,
    /// Region to sign for [env: AWS_REGION, AWS_DEFAULT_REGION] [default: us-east-1].
    pub region: Option<String>,
    /// A credentials file: the AWS shared-credentials INI format, or `AWS_ACCESS_KEY_ID=…` lines.
    pub credentials_file: Option<PathBuf>,
    /// Multipart part size in bytes (0: the default).
    pub part_size: usize,
}

impl S3Settings {
    fn effective_part_size(&self) -> usize {
        if self.part_size == 0 { DEFAULT_PART_SIZE } else { self.part_size.max(MIN_PART_SIZE) }
    }
}

/// A bucket and key prefix with a client.
#[derive(Clone, Debug)]
pub struct S3Store {
    client: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
    part_size: usize,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl S3Store {
    /// A client for `s3://bucket/prefix`.
    pub fn new(bucket: &str, prefix: &str, settings: &S3Settings) -> Result<Self, StoreError> {
        let credentials = credentials(settings)?;
        let region = settings
            .region
            .clone()
            .or_else(|| env("AWS_REGION"))
            .or_else(|| env("AWS_DEFAULT_REGION"))
            .unwrap_or_else(|| "us-east-1".to_owned());
        let mut config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region))
            .credentials_provider(credentials)
            .force_path_style(true)
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
            .timeout_config(
                aws_sdk_s3::config::timeout::TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(10))
                    .read_timeout(Duration::from_secs(120))
                    .build(),
            )
            .retry_config(aws_sdk_s3::config::retry::RetryConfig::standard().with_max_attempts(3));
        if let Some(endpoint) =
            settings.endpoint.clone().or_else(|| env("AWS_ENDPOINT_URL_S3")).or_else(|| env("AWS_ENDPOINT_URL"))
        {
            if !(endpoint.starts_with("https://") || endpoint.starts_with("http://")) {
                return Err(StoreError::Config(format!(
                    "S3 endpoint {endpoint:?} must start with https:// (or http:// for a local store)"
                )));
            }
            config = config.endpoint_url(endpoint);
        }
        Ok(S3Store {
            client: aws_sdk_s3::Client::from_conf(config.build()),
            bucket: bucket.to_owned(),
            prefix: prefix.trim_matches('/').to_owned(),
            part_size: settings.effective_part_size(),
        })
    }

    /// `s3://bucket/prefix`.
    pub fn location(&self) -> String {
        if self.prefix.is_empty() {
            format!("s3://{}", self.bucket)
        } else {
            format!("s3://{}/{}", self.bucket, self.prefix)
        }
    }

    /// `s3://bucket/prefix/name`.
    pub fn url_of(&self, name: &str) -> String {
        format!("s3://{}/{}", self.bucket, self.key(name))
    }

    fn key(&self, name: &str) -> String {
        if self.prefix.is_empty() { name.to_owned() } else { format!("{}/{name}", self.prefix) }
    }

    fn error<E, R>(&self, name: &str, action: &str, e: &SdkError<E, R>) -> StoreError
    where
        E: std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug,
    {
        let location = if name.is_empty() { self.location() } else { self.url_of(name) };
        let detail = format!("cannot {action}: {}", DisplayErrorContext(e));
        match e {
            SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => StoreError::Unreachable { location, detail },
            SdkError::ServiceError(service) => {
                let text = format!("{:?}", service.err());
                if text.contains("NoSuchKey") || text.contains("NotFound") {
                    StoreError::NotFound { location }
                } else {
                    StoreError::Failed { location, detail }
                }
            }
            _ => StoreError::Failed { location, detail },
        }
    }

    /// The objects directly under the prefix.
    pub async fn list(&self) -> Result<Vec<Entry>, StoreError> {
        let prefix = if self.prefix.is_empty() { String::new() } else { format!("{}/", self.prefix) };
        let mut entries = Vec::new();
        let mut token = None;
        loop {
            let answer = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(&prefix)
                .delimiter("/")
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(|e| self.error("", "list", &e))?;
            for object in answer.contents() {
                let Some(name) = object.key().and_then(|k| k.strip_prefix(&prefix)) else { continue };
                let modified =
                    object.last_modified().and_then(|t| chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos()));
                entries.push(Entry { name: name.to_owned(), size: object.size().unwrap_or(0).max(0) as u64, modified });
            }
            match answer.next_continuation_token() {
                Some(next) if answer.is_truncated() == Some(true) => token = Some(next.to_owned()),
                _ => break,
            }
        }
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(entries)
    }

    /// Asks for an object: its body, still to be read.
    async fn get(&self, name: &str) -> Result<S3Body, StoreError> {
        let answer = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(self.key(name))
            .send()
            .await
            .map_err(|e| self.error(name, "read", &e))?;
        Ok(answer.body)
    }

    /// Reads an object whole.
    pub async fn read_small(&self, name: &str) -> Result<Vec<u8>, StoreError> {
        let data = self.get(name).await?.collect().await.map_err(|e| StoreError::Failed {
            location: self.url_of(name),
            detail: format!("cannot read: {}", DisplayErrorContext(&e)),
        })?;
        Ok(data.into_bytes().to_vec())
    }

    /// Streams an object.
    pub async fn open_read(&self, name: &str) -> Result<ByteStream, StoreError> {
        let body = self.get(name).await?;
        Ok(Box::pin(futures_util::stream::try_unfold(body, |mut body| async move {
            match body.try_next().await {
                Ok(Some(chunk)) => Ok(Some((chunk, body))),
                Ok(None) => Ok(None),
                Err(e) => Err(std::io::Error::other(DisplayErrorContext(&e).to_string())),
            }
        })))
    }

    /// Puts a small object in one request.
    pub async fn put(&self, name: &str, data: Bytes) -> Result<(), StoreError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(self.key(name))
            .body(S3Body::from(data))
            .send()
            .await
            .map_err(|e| self.error(name, "write", &e))?;
        Ok(())
    }

    /// Deletes an object.
    pub async fn delete(&self, name: &str) -> Result<(), StoreError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(self.key(name))
            .send()
            .await
            .map_err(|e| self.error(name, "delete", &e))?;
        Ok(())
    }

    /// Multipart uploads that were started and never completed or aborted, as `(key, upload id)`.
    pub async fn unfinished_uploads(&self) -> Result<Vec<(String, String)>, StoreError> {
        let answer = self
            .client
            .list_multipart_uploads()
            .bucket(&self.bucket)
            .prefix(&self.prefix)
            .send()
            .await
            .map_err(|e| self.error("", "list multipart uploads", &e))?;
        Ok(answer
            .uploads()
            .iter()
            .map(|u| (u.key().unwrap_or_default().to_owned(), u.upload_id().unwrap_or_default().to_owned()))
            .collect())
    }

    /// Consumes the chunks on `rx` (see [`crate::store::Store::begin_upload`]). On an error the multipart upload
    /// is aborted before returning.
    pub async fn upload(&self, name: &str, mut rx: mpsc::Receiver<Bytes>) -> Result<PendingUpload, StoreError> {
        let mut buffer = BytesMut::with_capacity(self.part_size);
        let mut multipart: Option<Multipart> = None;
        let mut size = 0u64;
        while let Some(chunk) = rx.recv().await {
            size += chunk.len() as u64;
            let mut chunk = chunk;
            while !chunk.is_empty() {
                let take = (self.part_size - buffer.len()).min(chunk.len());
                buffer.extend_from_slice(&chunk.split_to(take));
                if buffer.len() == self.part_size {
                    if multipart.is_none() {
                        multipart = Some(self.start_multipart(name).await?);
                    }
                    let upload = multipart.as_mut().expect("just started");
                    // Wait for a free slot first: the part it frees becomes the next buffer, so the same few
                    // buffers go round and memory stays flat however many parts there are.
                    let next = match upload.make_room().await {
                        Ok(()) => upload.spare.pop().unwrap_or_else(|| BytesMut::with_capacity(self.part_size)),
                        Err(e) => {
                            drop(rx);
                            let _ = upload.abort_quietly().await;
                            return Err(e);
                        }
                    };
                    let part = std::mem::replace(&mut buffer, next).freeze();
                    if let Err(e) = upload.send_part(part).await {
                        drop(rx);
                        let _ = upload.abort_quietly().await;
                        return Err(e);
                    }
                }
            }
        }
        match multipart {
            None => Ok(PendingUpload {
                store: self.clone(),
                name: name.to_owned(),
                size,
                kind: Kind::Single(buffer.freeze()),
            }),
            Some(mut upload) => {
                let result = async {
                    if !buffer.is_empty() {
                        upload.send_part(buffer.freeze()).await?;
                    }
                    upload.drain().await
                }
                .await;
                match result {
                    Ok(()) => Ok(PendingUpload {
                        store: self.clone(),
                        name: name.to_owned(),
                        size,
                        kind: Kind::Multi(upload),
                    }),
                    Err(e) => {
                        let _ = upload.abort_quietly().await;
                        Err(e)
                    }
                }
            }
        }
    }

    async fn start_multipart(&self, name: &str) -> Result<Multipart, StoreError> {
        let answer = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(self.key(name))
            .send()
            .await
            .map_err(|e| self.error(name, "start a multipart upload", &e))?;
        let upload_id = answer.upload_id().unwrap_or_default().to_owned();
        if upload_id.is_empty() {
            return Err(StoreError::Failed {
                location: self.url_of(name),
                detail: "the store started a multipart upload without an upload id".into(),
            });
        }
        Ok(Multipart {
            store: self.clone(),
            name: name.to_owned(),
            upload_id,
            next: 1,
            in_flight: Vec::new(),
            done: Vec::new(),
            spare: Vec::new(),
        })
    }
}

type PartResult = Result<CompletedPart, StoreError>;

/// A multipart upload in progress.
#[derive(Debug)]
struct Multipart {
    store: S3Store,
    name: String,
    upload_id: String,
    next: i32,
    /// Parts uploading, each with a handle on its buffer to take back when the upload is done.
    in_flight: Vec<(JoinHandle<PartResult>, Bytes)>,
    done: Vec<CompletedPart>,
    /// Buffers of finished parts, to fill again.
    spare: Vec<BytesMut>,
}

impl Multipart {
    /// Waits for the oldest part while [`PARTS_IN_FLIGHT`] are uploading, and keeps its buffer for reuse.
    async fn make_room(&mut self) -> Result<(), StoreError> {
        while self.in_flight.len() >= PARTS_IN_FLIGHT {
            let (handle, data) = self.in_flight.remove(0);
            self.done.push(join(handle).await?);
            self.reclaim(data);
        }
        Ok(())
    }

    /// Takes a finished part's buffer back when the upload no longer holds it.
    fn reclaim(&mut self, data: Bytes) {
        if let Ok(mut buffer) = data.try_into_mut() {
            buffer.clear();
            self.spare.push(buffer);
        }
    }

    /// Starts uploading a part (after [`make_room`](Self::make_room)).
    async fn send_part(&mut self, data: Bytes) -> Result<(), StoreError> {
        self.make_room().await?;
        let store = self.store.clone();
        let (name, upload_id, number) = (self.name.clone(), self.upload_id.clone(), self.next);
        self.next += 1;
        let body = data.clone();
        let handle = tokio::spawn(async move {
            let answer = store
                .client
                .upload_part()
                .bucket(&store.bucket)
                .key(store.key(&name))
                .upload_id(upload_id)
                .part_number(number)
                .body(S3Body::from(body))
                .send()
                .await
                .map_err(|e| store.error(&name, &format!("upload part {number}"), &e))?;
            Ok(CompletedPart::builder().set_e_tag(answer.e_tag().map(str::to_owned)).part_number(number).build())
        });
        self.in_flight.push((handle, data));
        Ok(())
    }

    async fn drain(&mut self) -> Result<(), StoreError> {
        for (handle, _) in std::mem::take(&mut self.in_flight) {
            self.done.push(join(handle).await?);
        }
        Ok(())
    }

    async fn abort_quietly(&mut self) -> Result<(), StoreError> {
        for (handle, _) in std::mem::take(&mut self.in_flight) {
            handle.abort();
        }
        self.store
            .client
            .abort_multipart_upload()
            .bucket(&self.store.bucket)
            .key(self.store.key(&self.name))
            .upload_id(&self.upload_id)
            .send()
            .await
            .map_err(|e| {
                let error = self.store.error(&self.name, &format!("abort multipart upload {}", self.upload_id), &e);
                tracing::warn!(
                    "{error}; the parts stay until the upload is aborted (a lifecycle rule for incomplete multipart \
                     uploads cleans them up)"
                );
                error
            })?;
        Ok(())
    }
}

async fn join(handle: JoinHandle<PartResult>) -> PartResult {
    handle.await.unwrap_or_else(|join| {
        if join.is_panic() {
            std::panic::resume_unwind(join.into_panic())
        }
        Err(StoreError::Failed { location: String::new(), detail: "the part upload was cancelled".into() })
    })
}

#[derive(Debug)]
enum Kind {
    Single(Bytes),
    Multi(Multipart),
}

/// An S3 upload with all its bytes sent, waiting for [`commit`](Self::commit) or [`abort`](Self::abort).
#[derive(Debug)]
pub struct PendingUpload {
    store: S3Store,
    name: String,
    size: u64,
    kind: Kind,
}

impl PendingUpload {
    /// Bytes sent.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Makes the object visible.
    pub async fn commit(self) -> Result<(), StoreError> {
        match self.kind {
            Kind::Single(data) => self.store.put(&self.name, data).await,
            Kind::Multi(mut upload) => {
                let mut parts = std::mem::take(&mut upload.done);
                parts.sort_by_key(|p| p.part_number());
                let result = self
                    .store
                    .client
                    .complete_multipart_upload()
                    .bucket(&self.store.bucket)
                    .key(self.store.key(&self.name))
                    .upload_id(&upload.upload_id)
                    .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
                    .send()
                    .await;
                match result {
                    Ok(_) => Ok(()),
                    Err(e) => {
                        let error = self.store.error(&self.name, "complete the multipart upload", &e);
                        let _ = upload.abort_quietly().await;
                        Err(error)
                    }
                }
            }
        }
    }

    /// Throws the upload away.
    pub async fn abort(self) -> Result<(), StoreError> {
        match self.kind {
            Kind::Single(_) => Ok(()),
            Kind::Multi(mut upload) => upload.abort_quietly().await,
        }
    }
}

/// Credentials: `--s3-credentials-file`, else the standard variables, else the shared credentials file.
fn credentials(settings: &S3Settings) -> Result<Credentials, StoreError> {
    if let Some(file) = &settings.credentials_file {
        return credentials_from_file(file, true)?.ok_or_else(|| {
            StoreError::Config(format!(
                "{}: no aws_access_key_id and aws_secret_access_key (or AWS_ACCESS_KEY_ID=… lines) found",
                file.display()
            ))
        });
    }
    if let (Some(id), Some(secret)) = (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
        return Ok(Credentials::new(id, secret, env("AWS_SESSION_TOKEN"), None, "environment"));
    }
    let shared = env("AWS_SHARED_CREDENTIALS_FILE")
        .map(PathBuf::from)
        .or_else(|| std::env::home_dir().map(|h| h.join(".aws").join("credentials")));
    if let Some(file) = shared
        && let Some(credentials) = credentials_from_file(&file, false)?
    {
        return Ok(credentials);
    }
    Err(StoreError::Config(
        "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or pass --s3-credentials-file".into(),
    ))
}

/// Reads an INI credentials file (profile `AWS_PROFILE` or `default`) or `KEY=value` lines. A missing file is
/// `None` unless `required`.
fn credentials_from_file(file: &std::path::Path, required: bool) -> Result<Option<Credentials>, StoreError> {
    let text = match std::fs::read_to_string(file) {
        Ok(text) => vault_core::SecretString::new(text),
        Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(StoreError::Config(format!("cannot read the S3 credentials file {}: {e}", file.display())));
        }
    };
    let profile = env("AWS_PROFILE").unwrap_or_else(|| "default".to_owned());
    Ok(parse_credentials(text.expose(), &profile)
        .map(|(id, secret, token)| Credentials::new(id, secret, token, None, "credentials file")))
}

fn parse_credentials(text: &str, profile: &str) -> Option<(String, String, Option<String>)> {
    let mut section: Option<String> = None;
    let (mut id, mut secret, mut token) = (None, None, None);
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = Some(name.trim().trim_start_matches("profile ").to_owned());
            continue;
        }
        if section.as_deref().is_some_and(|s| s != profile) {
            continue;
        }
        let Some((key, value)) = line.trim_start_matches("export ").split_once('=') else { continue };
        let value = value.trim().trim_matches('"').trim_matches('\'').to_owned();
        match key.trim().to_ascii_lowercase().as_str() {
            "aws_access_key_id" => id = Some(value),
            "aws_secret_access_key" => secret = Some(value),
            "aws_session_token" => token = Some(value),
            _ => {}
        }
    }
    Some((id?, secret?, token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_files_in_both_shapes() {
        let ini = "[other]\naws_access_key_id = A\naws_secret_access_key = B\n[default]\naws_access_key_id = C\naws_secret_access_key = D\n";
        assert_eq!(parse_credentials(ini, "default"), Some(("C".into(), "D".into(), None)));
        assert_eq!(parse_credentials(ini, "other"), Some(("A".into(), "B".into(), None)));
        let env = "export AWS_ACCESS_KEY_ID=\"X\"\nAWS_SECRET_ACCESS_KEY=Y\nAWS_SESSION_TOKEN=Z\n";
        assert_eq!(parse_credentials(env, "default"), Some(("X".into(), "Y".into(), Some("Z".into()))));
        assert_eq!(parse_credentials("aws_access_key_id=only", "default"), None);
    }
}
