//! S3 trouble in the middle of an upload: a clear error, nothing listed as a backup, the multipart upload aborted.

use std::time::Duration;

use bytes::Bytes;
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;
use vault_backup::catalog;
use vault_backup::s3::S3Settings;
use vault_backup::save::{SaveError, SourceInfo, save_stream};
use vault_backup::store::{ByteStream, Destination, Store};
use vault_testkit::S3Server;

/// A sound snapshot-shaped archive of about 16 MiB (incompressible state), i.e. several 5 MiB parts.
fn big_snapshot() -> Vec<u8> {
    use std::io::Write;
    let mut state = vec![0u8; 16 * 1024 * 1024];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for chunk in state.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
    let meta = br#"{"Version":1,"ID":"3-99-1","Index":99,"Term":3}"#;
    let sums = format!(
        "{}  meta.json\n{}  state.bin\n",
        hex::encode(Sha256::digest(meta)),
        hex::encode(Sha256::digest(&state))
    );
    let mut builder = tar::Builder::new(Vec::new());
    for (name, data) in [("meta.json", &meta[..]), ("state.bin", &state[..]), ("SHA256SUMS", sums.as_bytes())] {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o600);
        header.set_cksum();
        builder.append_data(&mut header, name, data).unwrap();
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&builder.into_inner().unwrap()).unwrap();
    gz.finish().unwrap()
}

/// Streams `data` in 1 MiB chunks; after `pause_after` bytes it tells `paused` and waits for `resume`, then either
/// goes on or breaks off with an error.
fn paused_stream(
    data: &[u8],
    pause_after: usize,
    paused: oneshot::Sender<()>,
    resume: oneshot::Receiver<bool>,
) -> ByteStream {
    let chunks: Vec<Bytes> = data.chunks(1024 * 1024).map(Bytes::copy_from_slice).collect();
    let state = (chunks.into_iter(), 0usize, Some(paused), Some(resume));
    Box::pin(futures_util::stream::unfold(state, move |(mut chunks, sent, mut paused, mut resume)| async move {
        if sent >= pause_after
            && let Some(tell) = paused.take()
        {
            let _ = tell.send(());
            let go_on = resume.take().unwrap().await.unwrap_or(false);
            if !go_on {
                return Some((Err(std::io::Error::other("the source went away")), (chunks, sent, None, None)));
            }
        }
        let chunk = chunks.next()?;
        let len = chunk.len();
        Some((Ok(chunk), (chunks, sent + len, paused, resume)))
    }))
}

fn settings(s3: &S3Server) -> S3Settings {
    S3Settings {
        endpoint: Some(s3.endpoint().to_owned()),
        region: Some(s3.region().to_owned()),
        credentials_file: None,
        part_size: 5 * 1024 * 1024,
    }
}

fn with_credentials(s3: &S3Server, dir: &std::path::Path) -> S3Settings {
    let file = dir.join("s3-credentials");
    std::fs::write(
        &file,
        format!("[default]\naws_access_key_id = {}\naws_secret_access_key = {}\n", s3.access_key(), s3.secret_key()),
    )
    .unwrap();
    S3Settings { credentials_file: Some(file), ..settings(s3) }
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_going_down_mid_upload_fails_clearly_and_the_folder_copy_stays_good() {
    let mut s3 = S3Server::start().await.expect("SeaweedFS starts");
    let dir = tempfile::tempdir().unwrap();
    let settings = with_credentials(&s3, dir.path());
    let folder = dir.path().join("local");
    let stores = vec![
        Store::open(&Destination::parse("s3://backups/vault").unwrap(), &settings).unwrap(),
        Store::open(&Destination::Local(folder.clone()), &settings).unwrap(),
    ];
    let (paused_tx, paused_rx) = oneshot::channel();
    let (resume_tx, resume_rx) = oneshot::channel();
    let stream = paused_stream(&big_snapshot(), 11 * 1024 * 1024, paused_tx, resume_rx);
    let info = SourceInfo { address: "https://vault.test:8200".into(), ..SourceInfo::default() };
    let save = tokio::spawn(async move { save_stream(stream, &stores, &info, chrono::Utc::now(), &[]).await });
    paused_rx.await.unwrap();
    // Two parts are (being) uploaded; the store goes away before the rest.
    tokio::time::sleep(Duration::from_millis(500)).await;
    s3.stop().await;
    resume_tx.send(true).unwrap();
    let outcome = tokio::time::timeout(Duration::from_secs(120), save)
        .await
        .expect("the save ends")
        .unwrap()
        .expect("the folder copy saves");
    let s3_result = &outcome.destinations[0];
    assert_eq!(s3_result.status, "failed");
    let error = s3_result.error.as_deref().unwrap();
    assert!(
        error.contains("s3://backups/vault/")
            && (error.contains("cannot reach") || error.contains("upload part") || error.contains("multipart")),
        "unclear error: {error}"
    );
    assert!(outcome.partial());
    assert_eq!(outcome.destinations[1].status, "saved");
    let local = Store::open(&Destination::Local(folder.clone()), &settings).unwrap();
    let listed = catalog::catalog(&local).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].state, catalog::State::Good);
    assert!(crate::util::files(&folder).iter().all(|f| !f.starts_with(".tmp")));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stream_that_breaks_mid_upload_leaves_no_object_and_no_open_multipart_upload() {
    let s3 = S3Server::start().await.expect("SeaweedFS starts");
    let dir = tempfile::tempdir().unwrap();
    let settings = with_credentials(&s3, dir.path());
    let store = Store::open(&Destination::parse("s3://backups/vault").unwrap(), &settings).unwrap();
    let (paused_tx, paused_rx) = oneshot::channel();
    let (resume_tx, resume_rx) = oneshot::channel();
    let stream = paused_stream(&big_snapshot(), 11 * 1024 * 1024, paused_tx, resume_rx);
    let stores = vec![store.clone()];
    let info = SourceInfo { address: "https://vault.test:8200".into(), ..SourceInfo::default() };
    let save = tokio::spawn(async move { save_stream(stream, &stores, &info, chrono::Utc::now(), &[]).await });
    paused_rx.await.unwrap();
    let Store::S3(bucket) = &store else { unreachable!() };
    // The first 5 MiB part starts the multipart upload soon after the stream pauses; wait for it, boundedly.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while bucket.unfinished_uploads().await.unwrap().is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "no multipart upload started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(bucket.unfinished_uploads().await.unwrap().len(), 1, "the multipart upload is under way");
    resume_tx.send(false).unwrap();
    let error = save.await.unwrap().expect_err("a broken stream fails the save");
    assert!(matches!(error, SaveError::Stream { .. }), "{error}");
    assert!(error.to_string().contains("broke after"), "{error}");
    assert!(store.list().await.unwrap().is_empty(), "no object under the prefix");
    assert!(bucket.unfinished_uploads().await.unwrap().is_empty(), "the multipart upload was aborted");

    // And a complete one goes up in parts and verifies from the bucket.
    let (paused_tx, _paused_rx) = oneshot::channel();
    let (resume_tx, resume_rx) = oneshot::channel();
    resume_tx.send(true).unwrap();
    let stream = paused_stream(&big_snapshot(), 0, paused_tx, resume_rx);
    let info = SourceInfo { address: "https://vault.test:8200".into(), ..SourceInfo::default() };
    let outcome = save_stream(stream, std::slice::from_ref(&store), &info, chrono::Utc::now(), &[]).await.unwrap();
    assert!(!outcome.partial());
    let report = vault_backup::verify::verify(&store, &outcome.manifest.id, &[]).await.unwrap();
    assert!(report.ok(), "{:?}", report.problems);
    assert_eq!(report.raft.unwrap().index, 99);
}
