//! How the S3 client reaches a bucket: expired credentials from the standard chain (a profile
//! with `credential_process`) and unsigned requests (`--no-sign-request`).

use super::server::{ACCESS_KEY, SECRET_KEY};
use super::{BUCKET, World, finish, manifest_is_empty, s3_command};

#[test]
fn expired_credentials_from_a_profile_stop_before_any_request() {
    let w = World::new();
    let lake = w.lake("lake");
    let config = w.dir.join("aws-config");
    let process = format!(
        "{{\"Version\":1,\"AccessKeyId\":\"{ACCESS_KEY}\",\"SecretAccessKey\":\"{SECRET_KEY}\",\
         \"SessionToken\":\"token\",\"Expiration\":\"2020-01-01T00:00:00Z\"}}"
    );
    let script = w.dir.join("credentials.sh");
    std::fs::write(&script, format!("#!/bin/sh\necho '{process}'\n")).expect("script");
    std::fs::write(
        &config,
        format!(
            "[profile audit]\ncredential_process = /bin/sh {}\n",
            script.display()
        ),
    )
    .expect("config");
    let mut cmd = s3_command(None);
    cmd.env("AWS_CONFIG_FILE", &config)
        .arg("ingest")
        .arg(format!("s3://{BUCKET}/logs"))
        .arg("--lake")
        .arg(&lake)
        .args(["--endpoint-url", &w.server.endpoint, "--profile", "audit"]);
    let r = finish(cmd);
    r.expect_code(1);
    assert!(r.stderr.contains("expired"), "{r}");
    assert!(
        r.stderr.contains("profile audit"),
        "says what was tried: {r}"
    );
    assert!(w.server.requests().is_empty(), "requests were made");
    assert!(manifest_is_empty(&lake));
}

#[test]
fn unsigned_requests_look_up_no_credentials_and_a_private_bucket_says_so() {
    let w = World::new();
    let lake = w.lake("lake");
    // No credentials anywhere: --no-sign-request must not look for them.
    let mut cmd = s3_command(None);
    cmd.arg("ingest")
        .arg(format!("s3://{BUCKET}/logs"))
        .arg("--lake")
        .arg(&lake)
        .args(["--endpoint-url", &w.server.endpoint, "--no-sign-request"]);
    let r = finish(cmd);
    // The loopback bucket is private: the first (unsigned) listing is refused, and the error
    // names that the requests were unsigned.
    r.expect_code(1);
    assert!(!r.stderr.contains("no usable AWS credentials"), "{r}");
    assert!(r.stderr.contains("unsigned requests"), "{r}");
    // Only the first level was tried (the prefix and, alongside, its `AWSLogs/`), once each.
    let requests = w.server.requests();
    let mut listed: Vec<&str> = requests
        .iter()
        .filter(|r| r.is_list())
        .map(|r| r.param("prefix").unwrap_or(""))
        .collect();
    listed.sort();
    assert_eq!(listed, ["logs/", "logs/AWSLogs/"], "{requests:?}");
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert!(manifest_is_empty(&lake));
}
