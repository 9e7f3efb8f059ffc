//! The S3 store: objects go in and come out with SigV4-signed requests, unsigned or badly signed ones are refused,
//! and two stores run side by side.
//!
//! The requests are signed by hand (AWS Signature Version 4, single chunk, signed payload) rather than with
//! aws-sdk-s3: the SDK is a heavy build, and only the tool that does backups needs it.

use chrono::Utc;
use hmac::{Hmac, Mac};
use reqwest::{Method, RequestBuilder, StatusCode};
use sha2::{Digest, Sha256};
use vault_testkit::S3Server;

use crate::http;

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// A path-style request for `key` in the server's bucket, signed with `secret_key`.
fn signed(server: &S3Server, method: Method, key: &str, body: &[u8], secret_key: &str) -> RequestBuilder {
    let host = server.endpoint().trim_start_matches("http://");
    let path = format!("/{}/{key}", server.bucket());
    let now = Utc::now();
    let (date, timestamp) = (now.format("%Y%m%d").to_string(), now.format("%Y%m%dT%H%M%SZ").to_string());
    let payload_hash = hex::encode(Sha256::digest(body));
    let signed_headers = "host;x-amz-content-sha256;x-amz-date";
    // Method, path, (empty) query, the signed headers in order, their names, and the payload's hash.
    let canonical_request = [
        method.as_str(),
        &path,
        "",
        &format!("host:{host}"),
        &format!("x-amz-content-sha256:{payload_hash}"),
        &format!("x-amz-date:{timestamp}"),
        "",
        signed_headers,
        &payload_hash,
    ]
    .join("\n");
    let scope = format!("{date}/{}/s3/aws4_request", server.region());
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{timestamp}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    );
    let date_key = hmac(format!("AWS4{secret_key}").as_bytes(), &date);
    let signing_key = hmac(&hmac(&hmac(&date_key, server.region()), "s3"), "aws4_request");
    let signature = hex::encode(hmac(&signing_key, &string_to_sign));
    http()
        .request(method, format!("{}{path}", server.endpoint()))
        .header("x-amz-date", timestamp)
        .header("x-amz-content-sha256", payload_hash)
        .header(
            "authorization",
            format!(
                "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
                server.access_key()
            ),
        )
        .body(body.to_vec())
}

#[tokio::test]
async fn s3_stores_signed_objects_and_refuses_unsigned_requests() {
    let server = S3Server::start().await.expect("start an S3 server");
    let healthz = http().get(format!("{}/healthz", server.endpoint())).send().await.expect("GET /healthz");
    assert_eq!(healthz.status(), StatusCode::OK);

    let body = b"snapshot bytes \x00\x01\x02";
    let put = signed(&server, Method::PUT, "daily/snapshot.tar.gz", body, server.secret_key())
        .send()
        .await
        .expect("signed PUT");
    assert_eq!(put.status(), StatusCode::OK, "{}\nlog:\n{}", put.text().await.unwrap_or_default(), server.log());
    let get = signed(&server, Method::GET, "daily/snapshot.tar.gz", b"", server.secret_key())
        .send()
        .await
        .expect("signed GET");
    assert_eq!(get.status(), StatusCode::OK);
    assert_eq!(get.bytes().await.expect("the object's bytes").as_ref(), body);

    let unsigned = http()
        .put(format!("{}/{}/unsigned.txt", server.endpoint(), server.bucket()))
        .body("no signature")
        .send()
        .await
        .expect("unsigned PUT");
    assert_eq!(unsigned.status(), StatusCode::FORBIDDEN);
    let forged =
        signed(&server, Method::PUT, "forged.txt", b"x", "not-the-secret-key").send().await.expect("forged PUT");
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);

    let env = server.env();
    assert!(env.contains(&("AWS_ENDPOINT_URL".to_owned(), server.endpoint().to_owned())));
    assert!(env.contains(&("AWS_ACCESS_KEY_ID".to_owned(), server.access_key().to_owned())));
    assert!(env.contains(&("AWS_REGION".to_owned(), "us-east-1".to_owned())));
}

#[tokio::test]
async fn parallel_s3_servers_have_their_own_ports_credentials_and_objects() {
    let (first, second) = tokio::join!(S3Server::start(), S3Server::start());
    let (first, second) = (first.expect("start the first S3 server"), second.expect("start the second S3 server"));
    assert_ne!(first.endpoint(), second.endpoint());
    assert_ne!(first.access_key(), second.access_key());

    let put =
        signed(&first, Method::PUT, "only-in-first", b"1", first.secret_key()).send().await.expect("PUT to the first");
    assert_eq!(put.status(), StatusCode::OK);
    let get = signed(&second, Method::GET, "only-in-first", b"", second.secret_key())
        .send()
        .await
        .expect("GET from the second");
    assert_eq!(get.status(), StatusCode::NOT_FOUND, "the second store sees the first one's object");
}
