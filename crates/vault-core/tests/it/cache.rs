//! The read cache: hits, misses, invalidation by the client's own writes, expiry, and other writers.

use std::time::Duration;

use vault_core::{Client, KvPath};

use crate::{dev, dev_config, map};

#[tokio::test]
async fn hits_misses_and_invalidation() {
    let (server, writer) = dev().await;
    let client = Client::builder(dev_config(&server)).cache(Duration::from_secs(60)).build().unwrap();
    let path = KvPath::parse("secret/pipeline/warehouse").unwrap();
    client.kv_write(&path, &map(&[("password", "one")]), None).await.unwrap();

    assert_eq!(client.kv_read(&path, None).await.unwrap().data["password"].expose(), "one");
    for _ in 0..9 {
        client.kv_read(&path, None).await.unwrap();
    }
    let stats = client.cache().unwrap().stats();
    assert_eq!((stats.hits, stats.misses), (9, 1));

    // Another writer's change is not seen until the entry expires: that is what a cache is.
    writer.kv_write(&path, &map(&[("password", "two")]), None).await.unwrap();
    assert_eq!(client.kv_read(&path, None).await.unwrap().data["password"].expose(), "one");

    // The client's own write invalidates its entry.
    client.kv_patch(&path, &map(&[("password", "three")]), None).await.unwrap();
    assert_eq!(client.kv_read(&path, None).await.unwrap().data["password"].expose(), "three");
    // Versions are cached apart from the latest.
    assert_eq!(client.kv_read(&path, Some(1)).await.unwrap().data["password"].expose(), "one");
    let stats = client.cache().unwrap().stats();
    assert_eq!(stats.misses, 3);

    // A client without the cache always sees the truth.
    assert!(writer.cache().is_none());
}

#[tokio::test]
async fn entries_expire() {
    let (server, writer) = dev().await;
    let client = Client::builder(dev_config(&server)).cache(Duration::from_millis(300)).build().unwrap();
    let path = KvPath::parse("secret/pipeline/short").unwrap();
    writer.kv_write(&path, &map(&[("v", "old")]), None).await.unwrap();
    assert_eq!(client.kv_read(&path, None).await.unwrap().data["v"].expose(), "old");
    writer.kv_write(&path, &map(&[("v", "new")]), None).await.unwrap();
    assert_eq!(client.kv_read(&path, None).await.unwrap().data["v"].expose(), "old");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(client.kv_read(&path, None).await.unwrap().data["v"].expose(), "new");
}
