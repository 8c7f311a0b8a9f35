//! Real-format fixtures (tests/fixtures/): every shape lands with the right record counts and
//! the columns that matter read correctly. External IDs, which no public fixture carries, are
//! checked on generated records.

use std::path::Path;

use serde_json::{Value, json};

use crate::util::{
    self, Counts, counts, csv_rows, fixture, ingest, record, scalar, sql, tempdir, write,
};

/// Ingests `files` into a new lake under `dir`; the run must succeed.
#[track_caller]
fn lake_of(dir: &Path, files: &[&Path]) -> std::path::PathBuf {
    let lake = dir.join("lake");
    ingest(&lake, files).expect_code(0);
    lake
}

#[test]
fn trailscraper_gzip_delivery_and_json_document() {
    let tmp = tempdir();
    let gz = fixture(
        "trailscraper/111111111111_CloudTrail_eu-central-1_20171211T1505Z_A6kvhMoVeCsc7v8U.json.gz",
    );
    let json = fixture("trailscraper/events-for-smoke-test.json");
    let lake = lake_of(tmp.path(), &[&gz, &json]);

    // 2 records in the delivery file, 3 in the document, 2 of them the same records.
    assert_eq!(
        counts(&lake),
        Counts {
            events: 3,
            events_all: 5,
            sessions: 1,
            sessions_all: 2
        }
    );
    let per_object = csv_rows(
        &lake,
        "SELECT regexp_replace(source_object, '.*/', ''), count(*) FROM events_all GROUP BY 1 ORDER BY 1",
    );
    assert_eq!(
        per_object,
        [
            "111111111111_CloudTrail_eu-central-1_20171211T1505Z_A6kvhMoVeCsc7v8U.json.gz,2",
            "events-for-smoke-test.json,3"
        ]
    );
    let session = csv_rows(
        &lake,
        "SELECT role_arn, role_account_id, caller_identity_type, temp_access_key_id, expires_at \
         FROM sessions",
    );
    assert_eq!(
        session,
        [
            "arn:aws:iam::111111111111:role/someRole,111111111111,AWSService,BBBBBBBBBBBBBBBBBBBBB,2017-11-18T01:21:51Z"
        ]
    );
}

/// True for the panther lines that are CloudTrail records: 20 of the 440 hand-written rule-test
/// events are not (no `eventTime`, `"eventTime": "redacted"`, `resources` as a Python repr).
fn is_cloudtrail_record(v: &Value) -> bool {
    let time_ok = v["eventTime"].as_str().is_some_and(|t| {
        let b = t.as_bytes();
        b.len() >= 10 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-'
    });
    let resources_ok = match &v["resources"] {
        Value::Null => true,
        Value::Array(items) => items.iter().all(Value::is_object),
        _ => false,
    };
    time_ok && resources_ok
}

/// The panther rule-test events that are CloudTrail records, written to `dir` as JSONL.
fn panther_records(dir: &Path) -> (std::path::PathBuf, Vec<Value>) {
    let text = std::fs::read_to_string(fixture(
        "panther-analysis/panther_rule_tests_cloudtrail.jsonl",
    ))
    .expect("fixture");
    let lines: Vec<(&str, Value)> = text
        .lines()
        .map(|l| (l, serde_json::from_str(l).expect("a JSON line")))
        .collect();
    assert_eq!(lines.len(), 440);
    let kept: Vec<(&str, Value)> = lines
        .into_iter()
        .filter(|(_, v)| is_cloudtrail_record(v))
        .collect();
    let path = dir.join("panther-records.jsonl");
    let text: Vec<&str> = kept.iter().map(|(l, _)| *l).collect();
    write(&path, text.join("\n"));
    (path, kept.into_iter().map(|(_, v)| v).collect())
}

#[test]
fn panther_jsonl_lines_without_event_time_fail_the_object_and_name_the_line() {
    let tmp = tempdir();
    let file = fixture("panther-analysis/panther_rule_tests_cloudtrail.jsonl");
    let r = ingest(&tmp.path().join("lake"), &[&file]);
    r.expect_code(2);
    assert!(
        r.stderr
            .contains("panther_rule_tests_cloudtrail.jsonl: line 31:")
            && r.stderr.contains("with no eventTime"),
        "{r}"
    );
}

#[test]
fn panther_jsonl_duplicates_are_shown_once_by_the_events_view() {
    let tmp = tempdir();
    let (file, records) = panther_records(tmp.path());
    assert_eq!(records.len(), 420, "440 lines, 20 of them not CloudTrail");
    let lake = lake_of(tmp.path(), &[&file]);

    let ids: std::collections::BTreeSet<&str> = records
        .iter()
        .filter_map(|r| r["eventID"].as_str())
        .collect();
    assert_eq!(ids.len(), 123, "125 in the whole file");
    let without_id = records.iter().filter(|r| r["eventID"].is_null()).count() as u64;
    assert_eq!(without_id, 37);
    // The same eventID on several days (hand-edited test events) is several events: the view
    // removes copies, which always share the eventTime, hence the day.
    let id_days: std::collections::BTreeSet<(String, String)> = records
        .iter()
        .filter_map(|r| {
            let id = r["eventID"].as_str()?;
            let day = r["eventTime"].as_str()?.get(..10)?;
            Some((id.to_owned(), day.to_owned()))
        })
        .collect();

    let c = counts(&lake);
    assert_eq!(c.events_all, 420, "every row, copies included");
    assert_eq!(c.events, without_id + id_days.len() as u64);
    assert_eq!(c.events, 176);
    assert_eq!(
        scalar(&lake, "SELECT count(DISTINCT event_id) FROM events"),
        123
    );
    assert_eq!(
        scalar(
            &lake,
            "SELECT count(*) FROM (SELECT event_date, event_id FROM events \
             WHERE event_id IS NOT NULL GROUP BY 1, 2 HAVING count(*) > 1)"
        ),
        0,
        "an eventID twice on one day in the events view"
    );
}

#[test]
fn plaso_lookup_events_rows_read_the_embedded_record() {
    let tmp = tempdir();
    let lake = lake_of(tmp.path(), &[&fixture("plaso/aws_cloudtrail.jsonl")]);
    let c = counts(&lake);
    assert_eq!((c.events, c.events_all, c.sessions_all), (6, 6, 0));
    // The row's own EventTime is local time (+11:00); the embedded record's UTC time is used.
    let rows = csv_rows(
        &lake,
        "SELECT event_id, event_time, event_name, identity_type, access_key_id, shared_event_id \
         FROM events ORDER BY event_time",
    );
    assert_eq!(
        rows,
        [
            "c91c963c-d149-4dc5-9e4a-830da763cf7b,2022-02-07T22:19:04Z,CreateSecurityGroup,IAMUser,0123456789ABCDEFGHIJ,",
            "fdd7443c-ba1f-47eb-b0bc-42395266d12c,2022-02-07T22:19:05Z,RunInstances,IAMUser,0123456789ABCDEFGHIJ,",
            "ec783cd8-fad8-41a8-abac-569a78c42e33,2022-02-07T22:19:07Z,SharedSnapshotVolumeCreated,,,73428522-6ebc-4974-9247-d3e85c9c9629",
            "0d2a2eac-8d5c-4ad4-8f5f-b0b17f6e2739,2022-02-07T22:23:03Z,StopInstances,IAMUser,0123456789ABCDEFGHIJ,",
            "1f2d6879-969f-4c15-b550-55015423e0c6,2022-02-07T22:23:18Z,TerminateInstances,IAMUser,0123456789ABCDEFGHIJ,",
            "0828c0d2-3589-4390-b954-c78b4a7df44b,2022-02-07T22:23:37Z,DescribeInstances,IAMUser,0123456789ABCDEFGHIJ,",
        ]
    );
    // The userIdentity without a type is a null, not an empty string.
    assert_eq!(
        scalar(
            &lake,
            "SELECT count(*) FROM events WHERE identity_type IS NULL \
             AND event_name = 'SharedSnapshotVolumeCreated'"
        ),
        1
    );
}

#[test]
fn cloudtrail2sightings_unknown_keys_land_in_extra() {
    let tmp = tempdir();
    let files = [
        "aws.credential-access.secretsmanager-retrieve-secrets.json",
        "aws.defense-evasion.cloudtrail-delete.json",
        "aws.exfiltration.ec2-share-ebs-snapshot.json",
    ]
    .map(|f| fixture(&format!("cloudtrail2sightings/{f}")));
    let lake = lake_of(tmp.path(), &files.each_ref().map(|p| p.as_path()));
    let c = counts(&lake);
    assert_eq!((c.events, c.events_all), (12, 12));

    let out = sql(
        &lake,
        "json",
        "SELECT event_id, event_name, extra, tls_version FROM events ORDER BY event_id",
    );
    let rows: Vec<Value> = serde_json::from_str(&out).expect("a JSON array");
    assert_eq!(rows.len(), 12);
    for row in &rows {
        let extra: Value = serde_json::from_str(row["extra"].as_str().expect("extra is set"))
            .expect("extra is JSON text");
        for key in ["http", "service", "evt", "network"] {
            assert!(extra.get(key).is_some(), "{key} missing from extra: {row}");
        }
        // Known fields are columns, not extra; unknown nested keys keep their nesting.
        for known in ["eventName", "tlsDetails", "eventTime", "eventID"] {
            assert!(extra.get(known).is_none(), "{known} in extra: {row}");
        }
        if let Some(ui) = extra.get("userIdentity") {
            for known in ["type", "arn", "accountId", "principalId"] {
                assert!(
                    ui.get(known).is_none(),
                    "userIdentity.{known} in extra: {row}"
                );
            }
        }
        assert!(row["tls_version"].is_string(), "{row}");
    }
    let delete = rows
        .iter()
        .find(|r| r["event_name"] == "DeleteTrail")
        .expect("the DeleteTrail record");
    let extra: Value =
        serde_json::from_str(delete["extra"].as_str().expect("extra")).expect("json");
    assert_eq!(extra["service"], "cloudtrail");
}

/// The file has records inside `{"Records":[ ... ]}` with no commas between them: not JSON.
/// It must fail as a whole with a message that says where, and never be half-read.
#[test]
fn cloudtrail2sightings_records_without_commas_fail_clearly() {
    let tmp = tempdir();
    let file = fixture("cloudtrail2sightings/aws.execution.ec2-user-data.json");
    let lake = tmp.path().join("lake");
    let r = ingest(&lake, &[&file]);
    r.expect_code(2);
    assert!(r.stderr.contains("ec2-user-data.json"), "{}", r.stderr);
    assert!(
        r.stderr.contains("invalid JSON") && r.stderr.contains("line 112"),
        "{}",
        r.stderr
    );
    let rows = csv_rows(&lake, "SELECT event_name FROM events_all");
    assert!(rows.is_empty(), "{rows:?}");
}

#[test]
fn awsdocs_cross_account_assume_role_and_role_chaining() {
    let tmp = tempdir();
    let iam = fixture("awsdocs/iam-user-guide_examples.jsonl");
    let ct = fixture("awsdocs/cloudtrail-user-guide_examples.jsonl");
    let lake = lake_of(tmp.path(), &[&iam, &ct]);

    // 7 + 19 records. Copies: the doc's AssumeRole pair reuses one eventID (a doc error, see
    // SOURCE.md), and two CloudTrail-guide examples appear twice. Five records have no
    // eventID: all kept.
    assert_eq!(
        counts(&lake),
        Counts {
            events: 23,
            events_all: 26,
            sessions: 2,
            sessions_all: 3
        }
    );
    assert_eq!(
        scalar(&lake, "SELECT count(*) FROM events WHERE event_id IS NULL"),
        5
    );

    // The role account's copy of the cross-account AssumeRole: the caller is another account.
    let cross = csv_rows(
        &lake,
        "SELECT role_arn, role_account_id, caller_account_id, caller_principal_id, \
                shared_event_id, source_identity, expires_at, external_id_present \
         FROM sessions_all WHERE caller_identity_type = 'AWSAccount'",
    );
    assert_eq!(
        cross,
        [
            "arn:aws:iam::111122223333:role/EC2-dev,111122223333,777788889999,AIDAQRSTUVWXYZEXAMPLE,\
          bEXAMPLE-efea-4a70-b951-19a88EXAMPLE,JohnDoe,2014-07-18T16:07:39Z,false"
        ]
    );
    // The caller's copy: same sharedEventID, the full IAM user identity.
    let caller = csv_rows(
        &lake,
        "SELECT caller_arn, caller_user_name, shared_event_id FROM sessions_all \
         WHERE caller_identity_type = 'IAMUser'",
    );
    assert_eq!(
        caller,
        ["arn:aws:iam::777788889999:user/JohnDoe,JohnDoe,bEXAMPLE-efea-4a70-b951-19a88EXAMPLE"]
    );

    // Role chaining: a role session assumes a second role ("Oct 2, 2019, 11:12:29 PM").
    let chained = csv_rows(
        &lake,
        "SELECT role_arn, caller_identity_type, caller_account_id, temp_access_key_id, \
                duration_seconds, expires_at, role_session_name \
         FROM sessions WHERE event_id = '1917948f-3042-46ec-98e2-62865EXAMPLE'",
    );
    assert_eq!(
        chained,
        [
            "arn:aws:iam::111111111111:role/JohnRole2,AssumedRole,111111111111,ASIAWHOJDLGPOEXAMPLE,\
          3600,2019-10-02T23:12:29Z,Role2WithTags"
        ]
    );
    // Its tags and transitive keys are not columns: they stay in request_parameters.
    let out = sql(
        &lake,
        "json",
        "SELECT request_parameters FROM events \
         WHERE event_id = '1917948f-3042-46ec-98e2-62865EXAMPLE'",
    );
    let rows: Vec<Value> = serde_json::from_str(&out).expect("a JSON array");
    let params: Value =
        serde_json::from_str(rows[0]["request_parameters"].as_str().expect("JSON text"))
            .expect("request_parameters is JSON");
    assert_eq!(
        params["incomingTransitiveTags"]["Department"],
        "Engineering"
    );
    assert_eq!(params["transitiveTagKeys"][0], "Email");
}

/// External IDs in every place a record can carry one (generated records: no public fixture
/// has a real External ID).
fn external_id_records() -> Vec<Value> {
    let assume = |id: &str, time: &str, external_id: &str, error: Option<&str>| {
        let mut r = json!({
            "eventVersion": "1.08",
            "userIdentity": {"type": "AWSAccount", "principalId": "AROAVENDOR:scan", "accountId": "999988887777"},
            "eventTime": time,
            "eventSource": "sts.amazonaws.com",
            "eventName": "AssumeRole",
            "awsRegion": "us-east-1",
            "sourceIPAddress": "203.0.113.5",
            "userAgent": "vendor-sdk/1.0",
            "requestParameters": {
                "roleArn": "arn:aws:iam::111122223333:role/VendorRole",
                "roleSessionName": "scan",
                "externalId": external_id,
                "durationSeconds": 900
            },
            "responseElements": {
                "credentials": {"accessKeyId": format!("ASIA{id}"), "sessionToken": "token", "expiration": "Mar 1, 2024, 10:15:00 AM"},
                "assumedRoleUser": {"assumedRoleId": "AROAROLE:scan", "arn": "arn:aws:sts::111122223333:assumed-role/VendorRole/scan"}
            },
            "requestID": format!("req-{id}"),
            "eventID": id,
            "readOnly": true,
            "eventType": "AwsApiCall",
            "managementEvent": true,
            "recipientAccountId": "111122223333",
            "sharedEventID": format!("shared-{id}")
        });
        if let Some(code) = error {
            r["errorCode"] = json!(code);
            r["errorMessage"] = json!("User is not authorized to perform: sts:AssumeRole");
            r["responseElements"] = Value::Null;
        }
        r
    };
    let policy = |key: &str, value: Value| {
        json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::999988887777:root"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {key: value}}
            }]
        })
        .to_string()
    };
    let iam = |id: &str, name: &str, params: Value| {
        let mut r = record(id, "2024-03-01T09:00:00Z");
        r["eventSource"] = json!("iam.amazonaws.com");
        r["eventName"] = json!(name);
        r["requestParameters"] = params;
        r
    };
    let mut unknown = record("xid-unknown-key", "2024-03-01T09:30:00Z");
    unknown["vendorEnrichment"] = json!({"externalId": "XID-SECRET-0006"});
    vec![
        assume(
            "xid-assume-ok",
            "2024-03-01T10:00:00Z",
            "XID-SECRET-0001",
            None,
        ),
        assume(
            "xid-assume-again",
            "2024-03-01T11:00:00Z",
            "XID-SECRET-0001",
            None,
        ),
        assume(
            "xid-assume-denied",
            "2024-03-01T10:05:00Z",
            "XID-SECRET-0002",
            Some("AccessDenied"),
        ),
        iam(
            "xid-create-role",
            "CreateRole",
            json!({"roleName": "VendorRole", "assumeRolePolicyDocument": policy("sts:ExternalId", json!("XID-SECRET-0003"))}),
        ),
        iam(
            "xid-update-policy",
            "UpdateAssumeRolePolicy",
            json!({"roleName": "VendorRole", "policyDocument": policy("sts:externalid", json!(["XID-SECRET-0004", "XID-SECRET-0005"]))}),
        ),
        unknown,
    ]
}

/// Every string the lake shows for `events` and `sessions`, as CSV, and the lake's other
/// (uncompressed) files: manifest, markers.
fn everything(lake: &Path) -> String {
    let mut out = sql(lake, "csv", "SELECT * FROM events_all");
    out.push_str(&sql(lake, "csv", "SELECT * FROM sessions_all"));
    util::walk(lake, &mut |path| {
        if path.extension().is_none_or(|e| e != "parquet") {
            let bytes = std::fs::read(path).expect("read");
            out.push_str(&String::from_utf8_lossy(&bytes));
        }
    });
    out
}

#[test]
fn external_ids_never_reach_the_lake_in_clear() {
    let tmp = tempdir();
    let records = external_id_records();
    let plain = tmp.path().join("src/xid.json");
    write(&plain, util::delivery(&records));
    // The same records as `lookup-events` rows: the record is a JSON string there.
    let rows: Vec<String> = records
        .iter()
        .map(|r| json!({"EventId": r["eventID"], "CloudTrailEvent": r.to_string()}).to_string())
        .collect();
    let lookup = tmp.path().join("src/lookup.jsonl");
    write(&lookup, rows.join("\n"));
    let lake = tmp.path().join("lake");
    ingest(&lake, &[&tmp.path().join("src")]).expect_code(0);

    let c = counts(&lake);
    assert_eq!((c.events_all, c.sessions_all), (12, 6));
    let all = everything(&lake);
    for i in 1..=6 {
        let secret = format!("XID-SECRET-000{i}");
        assert!(!all.contains(&secret), "{secret} in clear in the lake");
    }
    assert!(
        all.contains("redacted:"),
        "redacted External IDs are marked"
    );

    let sessions = csv_rows(
        &lake,
        "SELECT event_id, external_id_present, external_id_length, external_id_uuid_shaped, \
                length(external_id_fingerprint) \
         FROM sessions ORDER BY event_id",
    );
    assert_eq!(
        sessions,
        [
            "xid-assume-again,true,15,false,32",
            "xid-assume-denied,true,15,false,32",
            "xid-assume-ok,true,15,false,32"
        ]
    );
    // Equal IDs, equal fingerprints; different IDs, different fingerprints.
    assert_eq!(
        scalar(
            &lake,
            "SELECT count(DISTINCT external_id_fingerprint) FROM sessions"
        ),
        2
    );

    // The key is per lake: the same ID fingerprints differently in another lake.
    let other = tmp.path().join("other-lake");
    ingest(&other, &[&plain]).expect_code(0);
    let fp = |lake: &Path| {
        csv_rows(
            lake,
            "SELECT external_id_fingerprint FROM sessions WHERE event_id = 'xid-assume-ok'",
        )
    };
    assert_ne!(fp(&lake), fp(&other));
}

#[test]
fn external_id_under_a_mixed_case_condition_key_is_redacted() {
    let tmp = tempdir();
    let mut r = record("xid-mixed-case", "2024-03-01T09:00:00Z");
    r["eventSource"] = json!("iam.amazonaws.com");
    r["eventName"] = json!("UpdateAssumeRolePolicy");
    let policy = json!({"Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"sts:ExTernalId": "XID-SECRET-MIXED"}}}]});
    r["requestParameters"] =
        json!({"roleName": "VendorRole", "policyDocument": policy.to_string()});
    let file = tmp.path().join("src/mixed.json");
    write(&file, util::delivery(&[r]));
    let lake = tmp.path().join("lake");
    ingest(&lake, &[&file]).expect_code(0);
    assert!(!everything(&lake).contains("XID-SECRET-MIXED"));
}

#[test]
fn event_date_is_the_utc_day() {
    let tmp = tempdir();
    let file = tmp.path().join("src/offsets.json");
    write(
        &file,
        util::delivery(&[
            record("late-west", "2024-03-01T23:30:00-02:00"),
            record("early-east", "2024-03-02T00:30:00+02:00"),
            record("fraction", "2024-03-01T12:00:00.250Z"),
        ]),
    );
    let lake = lake_of(tmp.path(), &[&file]);
    assert_eq!(
        csv_rows(
            &lake,
            "SELECT event_id, event_time, event_date FROM events ORDER BY event_time"
        ),
        [
            "fraction,2024-03-01T12:00:00.250Z,2024-03-01",
            "early-east,2024-03-01T22:30:00Z,2024-03-01",
            "late-west,2024-03-02T01:30:00Z,2024-03-02",
        ]
    );
}

#[test]
fn assume_role_records_with_missing_or_null_parts() {
    let tmp = tempdir();
    let assume = |id: &str, params: Value, response: Value| {
        let mut r = record(id, "2024-03-01T10:00:00Z");
        r["eventSource"] = json!("sts.amazonaws.com");
        r["eventName"] = json!("AssumeRole");
        r["requestParameters"] = params;
        r["responseElements"] = response;
        r
    };
    let role = "arn:aws:iam::111122223333:role/R";
    let records = [
        // Denied: no response at all.
        assume(
            "denied",
            json!({"roleArn": role, "roleSessionName": "s", "externalId": null}),
            Value::Null,
        ),
        // Credentials null, duration as a string.
        assume(
            "no-credentials",
            json!({"roleArn": role, "roleSessionName": "s", "durationSeconds": "900"}),
            json!({"credentials": null}),
        ),
        // No expiration: the session lasts durationSeconds from the call.
        assume(
            "no-expiration",
            json!({"roleArn": role, "roleSessionName": "s", "durationSeconds": 900}),
            json!({"credentials": {"accessKeyId": "ASIANOEXPIRATION"}}),
        ),
        // An expiration that is not a date at all.
        assume(
            "odd-expiration",
            json!({"roleArn": role, "roleSessionName": "s"}),
            json!({"credentials": {"accessKeyId": "ASIAODDEXPIRATION", "expiration": "soon"}}),
        ),
        // No request parameters.
        assume("no-params", Value::Null, Value::Null),
    ];
    let file = tmp.path().join("src/assume.json");
    write(&file, util::delivery(&records));
    let lake = lake_of(tmp.path(), &[&file]);
    assert_eq!(
        csv_rows(
            &lake,
            "SELECT event_id, role_arn, duration_seconds, temp_access_key_id, expires_at, \
                    external_id_present FROM sessions ORDER BY event_id"
        ),
        [
            "denied,arn:aws:iam::111122223333:role/R,,,,false",
            "no-credentials,arn:aws:iam::111122223333:role/R,900,,,false",
            "no-expiration,arn:aws:iam::111122223333:role/R,900,ASIANOEXPIRATION,2024-03-01T10:15:00Z,false",
            "no-params,,,,,false",
            "odd-expiration,arn:aws:iam::111122223333:role/R,,ASIAODDEXPIRATION,2024-03-01T11:00:00Z,false",
        ]
    );
}
