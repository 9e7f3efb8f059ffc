//! Optional encryption at rest: the backup file encrypted to one or more age X25519 public keys (`age1…`), streamed.
//!
//! `state.bin` is already encrypted by the barrier, but the snapshot also reveals metadata (raft configuration,
//! sizes), and users ask for it. age's STREAM format authenticates every 64 KiB chunk, so a flipped bit or a cut
//! also fails decryption. The private key (`AGE-SECRET-KEY-1…`, as `age-keygen` writes it) is needed only to check
//! the archive inside, to restore and to drill; the outer SHA-256 in the manifest is checkable without it.

use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::str::FromStr;

use bytes::Bytes;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

pub use age::x25519::{Identity, Recipient};

use crate::store::ByteStream;

/// Parses public keys given as text (`age1…`) or in files (one per line, `#` comments allowed).
pub fn recipients(keys: &[String], files: &[PathBuf]) -> Result<Vec<Recipient>, String> {
    let mut recipients = Vec::new();
    for key in keys {
        recipients.push(Recipient::from_str(key.trim()).map_err(|e| format!("{key:?} is not an age public key: {e}"))?);
    }
    for file in files {
        let text = std::fs::read_to_string(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            recipients.push(
                Recipient::from_str(line)
                    .map_err(|e| format!("{} line {}: not an age public key ({e})", file.display(), number + 1))?,
            );
        }
    }
    Ok(recipients)
}

/// Reads private keys from identity files (`age-keygen` output: `AGE-SECRET-KEY-1…` lines, `#` comments).
/// Errors never quote the file's contents.
pub fn identities(files: &[PathBuf]) -> Result<Vec<Identity>, String> {
    let mut identities = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(file)
            .map(vault_core::SecretString::new)
            .map_err(|e| format!("cannot read the identity file {}: {e}", file.display()))?;
        for (number, line) in text.expose().lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            identities.push(Identity::from_str(line).map_err(|_| {
                format!("{} line {}: not an age private key (AGE-SECRET-KEY-1…)", file.display(), number + 1)
            })?);
        }
    }
    if identities.is_empty() && !files.is_empty() {
        return Err("the identity files hold no age private key".into());
    }
    Ok(identities)
}

/// Encrypts a stream to `recipients` on a blocking thread; the result streams the age file. An error in the input
/// ends the output with that error (and no age trailer, so the output can never pass for complete).
pub fn encrypt_stream(mut input: ByteStream, recipients: Vec<Recipient>) -> ByteStream {
    let (in_tx, mut in_rx) = mpsc::channel::<io::Result<Bytes>>(8);
    let (out_tx, out_rx) = mpsc::channel::<io::Result<Bytes>>(8);
    tokio::spawn(async move {
        while let Some(item) = input.next().await {
            let failed = item.is_err();
            if in_tx.send(item).await.is_err() || failed {
                break;
            }
        }
    });
    tokio::task::spawn_blocking(move || {
        let result = (|| -> io::Result<()> {
            let encryptor = age::Encryptor::with_recipients(recipients.iter().map(|r| r as &dyn age::Recipient))
                .map_err(io::Error::other)?;
            let mut writer = encryptor.wrap_output(ChannelWriter { tx: out_tx.clone(), buf: Vec::new() })?;
            while let Some(item) = in_rx.blocking_recv() {
                writer.write_all(&item?)?;
            }
            writer.finish()?.flush()
        })();
        if let Err(e) = result {
            let _ = out_tx.blocking_send(Err(e));
        }
    });
    Box::pin(futures_util::stream::unfold(out_rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) }))
}

/// Decrypts an age file read from `reader` with `identities`.
pub fn decrypt<R: Read>(reader: R, identities: &[Identity]) -> io::Result<impl Read> {
    let decryptor =
        age::Decryptor::new(reader).map_err(|e| io::Error::other(format!("not a readable age file: {e}")))?;
    decryptor
        .decrypt(identities.iter().map(|i| i as &dyn age::Identity))
        .map_err(|e| io::Error::other(format!("cannot decrypt: {e}")))
}

/// A reader that hashes and counts what passes through it.
#[derive(Debug)]
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    size: u64,
}

impl<R: Read> HashingReader<R> {
    /// Wraps `inner`.
    pub fn new(inner: R) -> Self {
        HashingReader { inner, hasher: Sha256::new(), size: 0 }
    }

    /// The SHA-256 (hex) and size of what was read.
    pub fn finish(self) -> (String, u64) {
        (hex::encode(self.hasher.finalize()), self.size)
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
}

/// Sends what is written, in chunks of 64 KiB, down a channel.
struct ChannelWriter {
    tx: mpsc::Sender<io::Result<Bytes>>,
    buf: Vec<u8>,
}

const CHUNK: usize = 64 * 1024;

impl ChannelWriter {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx.blocking_send(Ok(chunk)).map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread")]
    async fn a_stream_round_trips_and_damage_fails_decryption() {
        let identity = Identity::generate();
        let plain: Vec<u8> = (0..300_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let chunks: Vec<io::Result<Bytes>> = plain.chunks(10_000).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
        let stream: ByteStream = Box::pin(futures_util::stream::iter(chunks));
        let mut encrypted = Vec::new();
        let mut out = encrypt_stream(stream, vec![identity.to_public()]);
        while let Some(chunk) = out.next().await {
            encrypted.extend_from_slice(&chunk.unwrap());
        }
        let ids = vec![identity];
        let mut back = Vec::new();
        decrypt(&encrypted[..], &ids).unwrap().read_to_end(&mut back).unwrap();
        assert_eq!(back, plain);
        let mut flipped = encrypted.clone();
        let middle = flipped.len() / 2;
        flipped[middle] ^= 1;
        assert!(decrypt(&flipped[..], &ids).and_then(|mut r| r.read_to_end(&mut Vec::new())).is_err());
        let cut = &encrypted[..encrypted.len() - 100];
        assert!(decrypt(cut, &ids).and_then(|mut r| r.read_to_end(&mut Vec::new())).is_err());
        assert!(decrypt(&encrypted[..], &[Identity::generate()]).is_err());
    }

    #[test]
    fn keys_parse_from_text_and_files() {
        let identity = Identity::generate();
        let public = identity.to_public().to_string();
        assert_eq!(recipients(std::slice::from_ref(&public), &[]).unwrap().len(), 1);
        assert!(recipients(&["age1nope".into()], &[]).is_err());
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("key.txt");
        use age::secrecy::ExposeSecret;
        std::fs::write(&file, format!("# public key: {public}\n{}\n", identity.to_string().expose_secret())).unwrap();
        assert_eq!(identities(std::slice::from_ref(&file)).unwrap().len(), 1);
        std::fs::write(&file, "AGE-SECRET-KEY-1NOTAKEY\n").unwrap();
        let Err(error) = identities(&[file]) else { panic!("a bad key parsed") };
        assert!(!error.contains("NOTAKEY"), "errors never quote key material: {error}");
    }
}
