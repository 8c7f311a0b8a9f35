//! Incremental runs: a second run reads nothing, new and changed objects are picked up alone,
//! and the same record delivered twice is one event.

use std::time::{Duration, SystemTime};

use serde_json::json;

use crate::util::{
    Counts, counts, csv_rows, delivery, gzip, ingest, manifest, objects_line, parquet_files,
    record, records, records_read, tempdir, write,
};

#[test]
fn second_run_reads_nothing_new() {
    let tmp = tempdir();
    let src = tmp.path().join("src");
    let lake = tmp.path().join("lake");
    for i in 0..4 {
        write(
            &src.join(format!("day-{i}.json.gz")),
            gzip(&delivery(&records(&format!("d{i}"), 5))),
        );
    }
    let r = ingest(&lake, &[&src]);
    r.expect_code(0);
    assert_eq!(objects_line(&r.stderr), [4, 4, 0, 0, 0], "{r}");
    assert_eq!(records_read(&r.stderr), 20);
    let before = counts(&lake);
    let files = parquet_files(&lake);
    assert!(!files.is_empty());
    let manifest_before = manifest(&lake);

    let r = ingest(&lake, &[&src]);
    r.expect_code(0);
    assert_eq!(objects_line(&r.stderr), [4, 0, 4, 0, 0], "{r}");
    assert_eq!(records_read(&r.stderr), 0, "{r}");
    assert!(r.stderr.contains("4 unchanged"), "{r}");
    assert_eq!(counts(&lake), before);
    assert_eq!(parquet_files(&lake), files);
    assert_eq!(manifest(&lake), manifest_before);
}

#[test]
fn a_new_file_is_picked_up_alone() {
    let tmp = tempdir();
    let src = tmp.path().join("src");
    let lake = tmp.path().join("lake");
    write(&src.join("a.json"), delivery(&records("a", 3)));
    write(&src.join("b.json"), delivery(&records("b", 3)));
    ingest(&lake, &[&src]).expect_code(0);
    let files = parquet_files(&lake);

    write(
        &src.join("sub/c.json.gz"),
        gzip(&delivery(&records("c", 2))),
    );
    let r = ingest(&lake, &[&src]);
    r.expect_code(0);
    assert_eq!(objects_line(&r.stderr), [3, 1, 2, 0, 0], "{r}");
    assert_eq!(records_read(&r.stderr), 2);
    let after = parquet_files(&lake);
    assert!(after.is_superset(&files), "files of earlier runs changed");
    assert_eq!(
        counts(&lake),
        Counts {
            events: 8,
            events_all: 8,
            sessions: 0,
            sessions_all: 0
        }
    );
    let new_rows = csv_rows(
        &lake,
        "SELECT count(*) FROM events_all WHERE source_object LIKE '%/sub/c.json.gz'",
    );
    assert_eq!(new_rows, ["2"]);
}

#[test]
fn a_changed_file_is_read_again() {
    let tmp = tempdir();
    let src = tmp.path().join("src");
    let lake = tmp.path().join("lake");
    let file = src.join("rewritten.json");
    write(&file, delivery(&records("v1", 3)));
    write(&src.join("stable.json"), delivery(&records("stable", 2)));
    ingest(&lake, &[&src]).expect_code(0);

    // New content (a record appended): size and modification time change.
    let mut v2 = records("v1", 3);
    v2.push(record("v2-new", "2024-03-01T12:00:00Z"));
    write(&file, delivery(&v2));
    let r = ingest(&lake, &[&src]);
    r.expect_code(0);
    assert_eq!(objects_line(&r.stderr), [2, 1, 1, 0, 0], "{r}");
    assert_eq!(records_read(&r.stderr), 4);
    let c = counts(&lake);
    assert_eq!(c.events, 6, "every eventID once");
    // The first version's rows stay in the lake: its records are copies now.
    assert_eq!(c.events_all, 9);
    assert_eq!(
        csv_rows(
            &lake,
            "SELECT count(*) FROM events WHERE event_id = 'v2-new'"
        ),
        ["1"]
    );

    // Same size, new modification time: read again too.
    let mtime = SystemTime::now() + Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(&file)
        .expect("open")
        .set_modified(mtime)
        .expect("touch");
    let r = ingest(&lake, &[&src]);
    r.expect_code(0);
    assert_eq!(objects_line(&r.stderr), [2, 1, 1, 0, 0], "{r}");
    assert_eq!(counts(&lake).events, 6);
}

#[test]
fn the_same_record_in_two_objects_is_one_event() {
    let tmp = tempdir();
    let src = tmp.path().join("src");
    let lake = tmp.path().join("lake");
    let mut assume = record("dup-assume", "2024-03-01T10:00:00Z");
    assume["eventSource"] = json!("sts.amazonaws.com");
    assume["eventName"] = json!("AssumeRole");
    assume["requestParameters"] =
        json!({"roleArn": "arn:aws:iam::111122223333:role/R", "roleSessionName": "s"});
    assume["responseElements"] = json!({"credentials": {"accessKeyId": "ASIADUPLICATEKEY", "expiration": "Mar 1, 2024, 11:00:00 AM", "sessionToken": "t"}});
    let mut action = record("dup-action", "2024-03-01T10:01:00Z");
    action["userIdentity"]["type"] = json!("AssumedRole");
    action["userIdentity"]["accessKeyId"] = json!("ASIADUPLICATEKEY");
    let both = [assume, action];
    // An account trail and an organization trail deliver the same records.
    write(
        &src.join("AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/01/a.json.gz"),
        gzip(&delivery(&both)),
    );
    write(
        &src.join("AWSLogs/o-exampleorg/111122223333/CloudTrail/us-east-1/2024/03/01/b.json.gz"),
        gzip(&delivery(&both)),
    );
    ingest(&lake, &[&src]).expect_code(0);
    assert_eq!(
        counts(&lake),
        Counts {
            events: 2,
            events_all: 4,
            sessions: 1,
            sessions_all: 2
        }
    );
    // The kept copy does not depend on listing order: the first source object by name.
    assert_eq!(
        csv_rows(
            &lake,
            "SELECT DISTINCT regexp_replace(source_object, '.*/', '') FROM events"
        ),
        ["a.json.gz"]
    );
    // The session's action is counted once.
    assert_eq!(
        csv_rows(
            &lake,
            "SELECT temp_access_key_id, event_id FROM session_actions"
        ),
        ["ASIADUPLICATEKEY,dup-action"]
    );
}

#[test]
fn a_source_named_twice_is_read_once() {
    let tmp = tempdir();
    let src = tmp.path().join("src");
    let lake = tmp.path().join("lake");
    let file = src.join("a.json");
    write(&file, delivery(&records("twice", 3)));
    let r = ingest(&lake, &[&src, &file, &src]);
    r.expect_code(0);
    assert_eq!(objects_line(&r.stderr), [1, 1, 0, 0, 0], "{r}");
    assert_eq!(counts(&lake).events_all, 3);
}

#[test]
fn a_lake_inside_the_source_folder_is_not_ingested() {
    let tmp = tempdir();
    let src = tmp.path().join("src");
    write(&src.join("a.json"), delivery(&records("inside", 3)));
    let lake = src.join("lake");
    ingest(&lake, &[&src]).expect_code(0);
    let r = ingest(&lake, &[&src]);
    r.expect_code(0);
    assert_eq!(objects_line(&r.stderr), [1, 0, 1, 0, 0], "{r}");
    assert_eq!(counts(&lake).events_all, 3);
}
