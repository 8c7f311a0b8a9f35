//! Granted vs used (issue 5), end to end through the CLI: the seed case. A vendor role holds
//! `kms:Decrypt`, `kms:CreateGrant` and `ec2:StopInstances` on `*` (plus an S3 read and
//! `iam:PassRole` from a managed policy); in the logs its sessions only decrypt with two keys,
//! try one denied call, and make calls that prove nothing.

use std::path::Path;

use serde_json::{Value, json};

use crate::util::{delivery, ingest_with, run, tempdir, write};

const OWN: &str = "111122223333";
const VENDOR: &str = "444455556666";
const ROLE: &str = "arn:aws:iam::111122223333:role/VendorRole";
const KEY1: &str = "arn:aws:kms:eu-west-1:111122223333:key/k1";
const KEY2: &str = "arn:aws:kms:eu-west-1:111122223333:key/k2";

fn snapshot() -> Value {
    json!({
        "RoleDetailList": [{
            "Path": "/", "RoleName": "VendorRole", "RoleId": "AROAVENDORROLE0000001", "Arn": ROLE,
            "CreateDate": "2024-01-01T00:00:00Z",
            "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{VENDOR}:root")},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"sts:ExternalId": "vendor-external-id-1"}}}]},
            "RolePolicyList": [{"PolicyName": "vendor-ops", "PolicyDocument": {"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": ["kms:Decrypt", "kms:CreateGrant"], "Resource": "*"},
                {"Effect": "Allow", "Action": "ec2:StopInstances", "Resource": "*"}]}}],
            "AttachedManagedPolicies": [{"PolicyName": "VendorRead", "PolicyArn": "arn:aws:iam::111122223333:policy/VendorRead"}],
            "Tags": []
        }],
        "Policies": [{
            "PolicyName": "VendorRead", "Arn": "arn:aws:iam::111122223333:policy/VendorRead",
            "DefaultVersionId": "v1", "Path": "/",
            "PolicyVersionList": [{"VersionId": "v1", "IsDefaultVersion": true, "Document": {
                "Version": "2012-10-17", "Statement": [
                    {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::reports/*"},
                    {"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*"}]}}]
        }],
        "UserDetailList": [], "GroupDetailList": [], "IsTruncated": false
    })
}

fn session_identity() -> Value {
    json!({
        "type": "AssumedRole",
        "principalId": "AROAVENDORROLE0000001:vendor-job",
        "arn": "arn:aws:sts::111122223333:assumed-role/VendorRole/vendor-job",
        "accountId": OWN,
        "accessKeyId": "ASIAVENDORSESSION001",
        "sessionContext": {
            "sessionIssuer": {"type": "Role", "principalId": "AROAVENDORROLE0000001", "arn": ROLE,
                              "accountId": OWN, "userName": "VendorRole"},
            "attributes": {"creationDate": "2024-03-01T10:00:00Z", "mfaAuthenticated": "false"}
        }
    })
}

fn base(id: &str, time: &str, source: &str, name: &str) -> Value {
    json!({
        "eventVersion": "1.08", "eventTime": time, "eventSource": source, "eventName": name,
        "awsRegion": "eu-west-1", "sourceIPAddress": "198.51.100.7", "userAgent": "vendor-agent/1.0",
        "requestID": format!("req-{id}"), "eventID": id, "eventType": "AwsApiCall",
        "managementEvent": true, "eventCategory": "Management", "recipientAccountId": OWN,
        "readOnly": false
    })
}

fn action(id: &str, time: &str, source: &str, name: &str, extra: Value) -> Value {
    let mut r = base(id, time, source, name);
    r["userIdentity"] = session_identity();
    if let (Value::Object(r), Value::Object(extra)) = (&mut r, extra) {
        r.extend(extra);
    }
    r
}

fn logs() -> Vec<Value> {
    let mut assume = base(
        "assume-1",
        "2024-03-01T10:00:00Z",
        "sts.amazonaws.com",
        "AssumeRole",
    );
    assume["userIdentity"] =
        json!({"type": "AWSAccount", "principalId": "AIDAVENDORCALLER", "accountId": VENDOR});
    assume["requestParameters"] = json!({"roleArn": ROLE, "roleSessionName": "vendor-job",
                                         "externalId": "vendor-external-id-1", "durationSeconds": 3600});
    assume["responseElements"] = json!({
        "credentials": {"accessKeyId": "ASIAVENDORSESSION001", "sessionToken": "x",
                        "expiration": "Mar 1, 2024, 11:00:00 AM"},
        "assumedRoleUser": {"assumedRoleId": "AROAVENDORROLE0000001:vendor-job",
                            "arn": "arn:aws:sts::111122223333:assumed-role/VendorRole/vendor-job"}});
    assume["resources"] = json!([{"ARN": ROLE, "accountId": OWN, "type": "AWS::IAM::Role"}]);
    let decrypt = |id: &str, time: &str, key: &str| {
        action(
            id,
            time,
            "kms.amazonaws.com",
            "Decrypt",
            json!({
            "requestParameters": {"encryptionAlgorithm": "SYMMETRIC_DEFAULT"},
            "resources": [{"ARN": key, "accountId": OWN, "type": "AWS::KMS::Key"}],
            "readOnly": true}),
        )
    };
    vec![
        assume,
        decrypt("decrypt-1", "2024-03-01T10:05:00Z", KEY1),
        decrypt("decrypt-2", "2024-03-02T09:00:00Z", KEY2),
        decrypt("decrypt-3", "2024-03-03T09:00:00Z", KEY1),
        // Denied: attempted, never used.
        action(
            "denied-1",
            "2024-03-02T10:00:00Z",
            "kms.amazonaws.com",
            "ScheduleKeyDeletion",
            json!({
            "errorCode": "AccessDenied", "errorMessage": "not authorized",
            "requestParameters": {"keyId": KEY1, "pendingWindowInDays": 7}}),
        ),
        // Needs no permission.
        action(
            "whoami-1",
            "2024-03-01T10:01:00Z",
            "sts.amazonaws.com",
            "GetCallerIdentity",
            json!({"readOnly": true}),
        ),
        // A service the catalog does not know.
        action(
            "madeup-1",
            "2024-03-01T10:02:00Z",
            "madeup.amazonaws.com",
            "DoThing",
            json!({}),
        ),
    ]
}

fn lake(dir: &Path, extra_flags: &[&str]) -> std::path::PathBuf {
    let file = dir.join("logs/AWSLogs/111122223333/CloudTrail/eu-west-1/2024/03/01/l.json");
    write(&file, delivery(&logs()));
    let iam = dir.join("iam.json");
    write(&iam, serde_json::to_vec(&snapshot()).expect("json"));
    let lake = dir.join("lake");
    let mut flags = vec!["--iam", iam.to_str().expect("utf-8 temp path")];
    flags.extend(extra_flags);
    ingest_with(&lake, &[&dir.join("logs")], &flags).expect_code(0);
    lake
}

fn report(lake: &Path, name: &str, format: &str, flags: &[&str]) -> String {
    let mut args = vec![
        "report",
        name,
        "--lake",
        lake.to_str().expect("utf-8 temp path"),
        "--own-accounts",
        OWN,
        "--format",
        format,
    ];
    args.extend(flags);
    let r = run(args);
    r.expect_code(0);
    r.stdout
}

fn json_rows(text: &str) -> Vec<serde_json::Map<String, Value>> {
    serde_json::from_str(text).expect("a JSON array of objects")
}

/// The rows about roles, without the report's note rows (inputs it did not get).
fn data(rows: Vec<serde_json::Map<String, Value>>) -> Vec<serde_json::Map<String, Value>> {
    let (data, notes): (Vec<_>, Vec<_>) = rows.into_iter().partition(|r| !r["role_arn"].is_null());
    // No --vendors: each report says so.
    assert!(
        notes.iter().any(|n| n["note"]
            .as_str()
            .is_some_and(|t| t.starts_with("no vendor list"))),
        "{notes:#?}"
    );
    data
}

fn row<'a>(
    rows: &'a [serde_json::Map<String, Value>],
    pick: &[(&str, &str)],
) -> &'a serde_json::Map<String, Value> {
    let found: Vec<_> = rows
        .iter()
        .filter(|r| {
            pick.iter()
                .all(|(k, v)| r.get(*k).and_then(Value::as_str) == Some(*v))
        })
        .collect();
    assert_eq!(found.len(), 1, "{pick:?} in {rows:#?}");
    found[0]
}

#[test]
fn unused_separates_used_unused_unobservable_and_denied() {
    let tmp = tempdir();
    let lake = lake(tmp.path(), &[]);
    let rows = data(json_rows(&report(&lake, "unused", "json", &[])));
    assert!(rows.iter().all(|r| r["role_arn"] == ROLE), "{rows:#?}");

    let used = row(&rows, &[("status", "used"), ("service", "kms")]);
    assert_eq!(used["action_names"], "Decrypt");
    assert_eq!(used["uses"], 3);
    let unused_kms = row(&rows, &[("status", "unused"), ("service", "kms")]);
    assert_eq!(unused_kms["action_names"], "CreateGrant");
    assert_eq!(unused_kms["access_level"], "Permissions management");
    let unused_ec2 = row(&rows, &[("status", "unused"), ("service", "ec2")]);
    assert_eq!(unused_ec2["action_names"], "StopInstances");
    // iam:PassRole is never logged; s3:GetObject is a data event and the lake has none.
    let passrole = row(&rows, &[("status", "not-observable"), ("service", "iam")]);
    assert_eq!(passrole["action_names"], "PassRole");
    let s3 = row(&rows, &[("status", "not-observable"), ("service", "s3")]);
    assert!(
        s3["why_not_observable"]
            .as_str()
            .is_some_and(|w| w.contains("s3.amazonaws.com")),
        "{s3:?}"
    );
    let denied = row(&rows, &[("status", "denied-only")]);
    assert_eq!(denied["action_names"], "ScheduleKeyDeletion");
    assert_eq!(denied["denied_attempts"], 1);
    // Unused first, riskiest first: kms:CreateGrant (permissions management) leads.
    assert_eq!(rows[0]["status"], "unused");
    assert_eq!(rows[0]["service"], "kms");
    // GetCallerIdentity needs no permission and is nowhere.
    assert!(!rows.iter().any(|r| r["service"] == "sts"), "{rows:#?}");
    // The window the evidence covers.
    assert!(
        used["window_start"]
            .as_str()
            .is_some_and(|t| t.starts_with("2024-03-01T10:00:00")),
        "{used:?}"
    );
}

fn ndjson_rows(text: &str) -> Vec<serde_json::Map<String, Value>> {
    text.lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect()
}

#[test]
fn rightsize_narrows_removes_and_hands_over_a_policy() {
    let tmp = tempdir();
    let lake = lake(tmp.path(), &[]);
    // ndjson: the diff, for programs.
    let rows = data(ndjson_rows(&report(&lake, "rightsize", "ndjson", &[])));
    let narrow = row(&rows, &[("change", "narrow")]);
    assert_eq!(narrow["actions"], "kms:Decrypt");
    assert_eq!(narrow["granted_resources"], "*");
    assert_eq!(narrow["suggested_resources"], format!("{KEY1}, {KEY2}"));
    assert_eq!(narrow["uses"], 3);
    assert_eq!(
        narrow["sample_event_ids"],
        "decrypt-1, decrypt-2, decrypt-3"
    );
    let kms = row(&rows, &[("change", "remove"), ("service", "kms")]);
    assert_eq!(kms["actions"], "kms:CreateGrant");
    assert_eq!(kms["service_removed"], false);
    let ec2 = row(&rows, &[("change", "remove"), ("service", "ec2")]);
    assert_eq!(ec2["actions"], "ec2:StopInstances");
    assert_eq!(ec2["service_removed"], true);
    for service in ["iam", "s3"] {
        row(&rows, &[("change", "review"), ("service", service)]);
    }
    assert_eq!(rows.len(), 5, "{rows:#?}");

    // json: the policy documents themselves.
    let policies = json_rows(&report(&lake, "rightsize", "json", &[]));
    assert_eq!(policies.len(), 1);
    assert_eq!(policies[0]["role_arn"], ROLE);
    assert_eq!(
        policies[0]["policy_documents"],
        json!([{"Version": "2012-10-17", "Statement": [{
            "Sid": "UsedKms", "Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": [KEY1, KEY2]}]}])
    );
    assert_eq!(policies[0]["removed_actions"], 2);
    assert_eq!(policies[0]["review_actions"], 2);
}

#[test]
fn risky_grants_lists_unused_first() {
    let tmp = tempdir();
    let lake = lake(tmp.path(), &[]);
    let rows = data(json_rows(&report(&lake, "risky-grants", "json", &[])));
    let grants: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| {
            (
                r["status"].as_str().unwrap_or_default(),
                r["grant_on_everything"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        grants,
        [
            ("unused", "kms:CreateGrant"),
            ("unused", "ec2:StopInstances"),
            ("not-observable", "iam:PassRole"),
            ("used", "kms:Decrypt"),
        ],
        "{rows:#?}"
    );
}

#[test]
fn scps_and_unmapped_events() {
    let tmp = tempdir();
    let lake = lake(tmp.path(), &[]);
    let scp = tmp.path().join("scp.json");
    write(
        &scp,
        r#"[{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}},
            {"Statement":{"Effect":"Deny","Action":["kms:CreateGrant","ec2:*"],"Resource":"*"}}]"#,
    );
    let r = run([
        "sql",
        "--lake",
        lake.to_str().expect("utf-8"),
        "--scp",
        scp.to_str().expect("utf-8"),
        "--format",
        "csv",
        "SELECT action, access FROM role_grants ORDER BY action",
    ]);
    r.expect_code(0);
    assert_eq!(
        r.stdout,
        "action,access\niam:PassRole,allowed\nkms:Decrypt,allowed\ns3:GetObject,allowed\n"
    );
    let bad = tmp.path().join("bad-scp.json");
    write(&bad, r#"{"Statement":{"Effect":"Perhaps","Action":"*"}}"#);
    let r = run([
        "sql",
        "--lake",
        lake.to_str().expect("utf-8"),
        "--scp",
        bad.to_str().expect("utf-8"),
        "SELECT 1",
    ]);
    r.expect_code(1);
    assert!(r.stderr.contains("bad-scp.json"), "{}", r.stderr);

    let rows = json_rows(&report(&lake, "unmapped", "json", &[]));
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(rows[0]["event_source"], "madeup.amazonaws.com");
    assert_eq!(rows[0]["event_name"], "DoThing");
}

/// What people see: the reports as Markdown, and the policy as JSON.
#[test]
fn seed_case_snapshots() {
    let tmp = tempdir();
    let lake = lake(tmp.path(), &[]);
    for name in ["unused", "rightsize", "risky-grants"] {
        insta::assert_snapshot!(format!("seed_{name}"), report(&lake, name, "markdown", &[]));
    }
    insta::assert_snapshot!(
        "seed_rightsize_json",
        report(&lake, "rightsize", "json", &[])
    );
}
