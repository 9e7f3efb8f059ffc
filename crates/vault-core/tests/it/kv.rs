//! KV v2: versions, check-and-set, patch, lists, metadata, delete/undelete/destroy, path forms and mounts.

use reqwest::Method;
use serde_json::json;
use vault_core::kv::MetadataUpdate;
use vault_core::{Error, KvPath};

use crate::{dev, map};

#[tokio::test]
async fn write_read_versions_and_cas() {
    let (_server, client) = dev().await;
    let path = KvPath::parse("secret/app/db").unwrap();

    let v1 = client.kv_write(&path, &map(&[("user", "etl"), ("password", "first")]), Some(0)).await.unwrap();
    assert_eq!(v1.version, 1);
    let err = client.kv_write(&path, &map(&[("password", "racing")]), Some(0)).await.unwrap_err();
    assert!(matches!(err, Error::CasConflict { .. }), "create-only on an existing secret: {err:?}");

    let v2 = client.kv_write(&path, &map(&[("user", "etl"), ("password", "second")]), Some(1)).await.unwrap();
    assert_eq!(v2.version, 2);
    let err = client.kv_write(&path, &map(&[("password", "stale")]), Some(1)).await.unwrap_err();
    assert!(matches!(err, Error::CasConflict { .. }), "stale CAS: {err:?}");
    assert_eq!(err.exit(), vault_core::Exit::Failed);

    let latest = client.kv_read(&path, None).await.unwrap();
    assert_eq!(latest.metadata.version, 2);
    assert_eq!(latest.data["password"].expose(), "second");
    let first = client.kv_read(&path, Some(1)).await.unwrap();
    assert_eq!(first.data["password"].expose(), "first");

    // The API's path form names the same secret.
    let api_form = KvPath::parse("secret/data/app/db").unwrap();
    assert_eq!(client.kv_read(&api_form, None).await.unwrap().metadata.version, 2);
    let resolved = client.kv_path("secret/app/db").await.unwrap();
    assert_eq!(resolved, path);
}

#[tokio::test]
async fn patch_merges_and_keeps_siblings() {
    let (_server, client) = dev().await;
    let path = KvPath::parse("secret/app/api").unwrap();
    client.kv_write(&path, &map(&[("a", "1"), ("b", "2")]), None).await.unwrap();
    let patched = client.kv_patch(&path, &map(&[("b", "20"), ("c", "30")]), Some(1)).await.unwrap();
    assert_eq!(patched.version, 2);
    let secret = client.kv_read(&path, None).await.unwrap();
    let values: Vec<(&str, &str)> = secret.data.iter().map(|(k, v)| (k.as_str(), v.expose())).collect();
    assert_eq!(values, [("a", "1"), ("b", "20"), ("c", "30")]);

    let err = client.kv_patch(&path, &map(&[("b", "x")]), Some(1)).await.unwrap_err();
    assert!(matches!(err, Error::CasConflict { .. }), "{err:?}");
    let missing = KvPath::parse("secret/app/nothing-here").unwrap();
    let err = client.kv_patch(&missing, &map(&[("a", "1")]), None).await.unwrap_err();
    assert!(err.is_not_found(), "patching a missing secret: {err:?}");
}

#[tokio::test]
async fn lists_and_recursive_walk() {
    let (_server, client) = dev().await;
    for p in ["team/a/one", "team/a/two", "team/b/deep/three", "team/four", "other/x"] {
        client.kv_write(&KvPath::new("secret", p).unwrap(), &map(&[("k", "v")]), None).await.unwrap();
    }
    let team = KvPath::parse("secret/team/").unwrap();
    assert_eq!(client.kv_list(&team).await.unwrap(), ["a/", "b/", "four"]);
    assert_eq!(client.kv_list_recursive(&team).await.unwrap(), ["a/one", "a/two", "b/deep/three", "four"]);
    let root = KvPath::parse("secret").unwrap();
    assert_eq!(client.kv_list_recursive(&root).await.unwrap().len(), 5);
    let empty = KvPath::parse("secret/nothing/").unwrap();
    assert!(client.kv_list(&empty).await.unwrap().is_empty());
}

#[tokio::test]
async fn metadata_and_custom_metadata() {
    let (_server, client) = dev().await;
    let path = KvPath::parse("secret/app/meta").unwrap();
    client.kv_write(&path, &map(&[("k", "v")]), None).await.unwrap();
    let custom = [("source".to_owned(), ".env:3".to_owned()), ("owner".to_owned(), "data".to_owned())].into();
    let update = MetadataUpdate { max_versions: Some(5), custom_metadata: Some(custom), ..Default::default() };
    client.kv_write_metadata(&path, &update).await.unwrap();
    let meta = client.kv_metadata(&path).await.unwrap();
    assert_eq!(meta.max_versions, 5);
    assert_eq!(meta.current_version, 1);
    assert_eq!(meta.custom_metadata["source"], ".env:3");
    assert!(meta.versions.contains_key(&1));

    let patch = [("owner".to_owned(), None), ("rotated".to_owned(), Some("2026-11-28".to_owned()))].into();
    client.kv_patch_metadata(&path, &patch).await.unwrap();
    let meta = client.kv_metadata(&path).await.unwrap();
    assert_eq!(meta.custom_metadata.keys().collect::<Vec<_>>(), ["rotated", "source"]);
    // Reads carry the custom metadata too.
    assert_eq!(client.kv_read(&path, None).await.unwrap().metadata.custom_metadata["rotated"], "2026-11-28");
}

#[tokio::test]
async fn delete_undelete_destroy() {
    let (_server, client) = dev().await;
    let path = KvPath::parse("secret/app/old").unwrap();
    client.kv_write(&path, &map(&[("v", "1")]), None).await.unwrap();
    client.kv_write(&path, &map(&[("v", "2")]), None).await.unwrap();

    client.kv_delete(&path).await.unwrap();
    let err = client.kv_read(&path, None).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { deleted: true, .. }), "soft-deleted latest: {err:?}");
    assert!(err.to_string().contains("deleted"), "{err}");
    client.kv_undelete(&path, &[2]).await.unwrap();
    assert_eq!(client.kv_read(&path, None).await.unwrap().data["v"].expose(), "2");

    client.kv_destroy(&path, &[1]).await.unwrap();
    assert!(client.kv_metadata(&path).await.unwrap().versions[&1].destroyed);
    let err = client.kv_read(&path, Some(1)).await.unwrap_err();
    assert!(err.is_not_found(), "{err:?}");

    client.kv_delete_all(&path).await.unwrap();
    let err = client.kv_read(&path, None).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { deleted: false, .. }), "{err:?}");
    assert!(client.kv_delete_versions(&path, &[]).await.is_err());
}

#[tokio::test]
async fn nested_mounts_and_kv_v1_refused() {
    let (_server, client) = dev().await;
    client
        .request(Method::POST, "sys/mounts/team/kv", Some(&json!({ "type": "kv", "options": { "version": "2" } })))
        .await
        .unwrap();
    client
        .request(Method::POST, "sys/mounts/legacy", Some(&json!({ "type": "kv", "options": { "version": "1" } })))
        .await
        .unwrap();

    let nested = client.kv_path("team/kv/app/db").await.unwrap();
    assert_eq!((nested.mount(), nested.path()), ("team/kv", "app/db"));
    let api_form = client.kv_path("team/kv/data/app/db").await.unwrap();
    assert_eq!(api_form, nested);
    client.kv_write(&nested, &map(&[("k", "v")]), None).await.unwrap();
    assert_eq!(client.kv_read(&nested, None).await.unwrap().data["k"].expose(), "v");

    let err = client.kv_path("legacy/app").await.unwrap_err();
    assert!(err.to_string().contains("KV version 1"), "{err}");
    assert_eq!(err.exit(), vault_core::Exit::Usage);
    let err = client.kv_path("sys/policy").await.unwrap_err();
    assert!(err.to_string().contains("not a KV mount"), "{err}");
}
