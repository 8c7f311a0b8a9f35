//! Every class of bad input, each in a folder with good objects: the run goes on, exits 2,
//! names the object and the reason on stderr and in the manifest, lands every good record, and
//! the next run retries exactly the failed object until it is fixed.

use std::io::Write;
use std::path::Path;

use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::json;

use crate::util::{
    counts, delivery, gzip, ingest_with, manifest, objects_line, parquet_files, record, records,
    shown_path, tempdir, write,
};

/// Records in the good objects next to the bad one.
const GOOD_RECORDS: u64 = 5;

/// Puts `bad` as `name` in a folder with two good objects and checks the whole story: the
/// failure (reason containing one of `reasons`), the retry, and the fix.
#[track_caller]
fn check_bad_object(name: &str, bad: &[u8], reasons: &[&str], flags: &[&str]) {
    let tmp = tempdir();
    let src = tmp.path().join("src");
    let lake = tmp.path().join("lake");
    write(
        &src.join("good-1.json.gz"),
        gzip(&delivery(&records("good-a", 3))),
    );
    write(&src.join("good-2.json"), delivery(&records("good-b", 2)));
    let bad_path = src.join(name);
    write(&bad_path, bad);
    let shown = shown_path(&bad_path);

    // First run: the bad object fails, the good ones land.
    let r = ingest_with(&lake, &[&src], flags);
    r.expect_code(2);
    let line = r
        .stderr
        .lines()
        .find(|l| l.starts_with("error: ") && l.contains(&shown))
        .unwrap_or_else(|| panic!("{name} not named on stderr:\n{r}"));
    assert!(
        reasons.iter().any(|reason| line.contains(reason)),
        "{name}: expected one of {reasons:?} in {line:?}"
    );
    assert_eq!(objects_line(&r.stderr), [3, 2, 0, 0, 1], "{r}");
    let c = counts(&lake);
    assert_eq!((c.events, c.events_all), (GOOD_RECORDS, GOOD_RECORDS));

    let m = manifest(&lake);
    let entry = &m[&format!("file://{shown}")];
    assert_eq!(entry["status"], "failed", "{entry}");
    let error = entry["error"].as_str().expect("an error in the manifest");
    assert!(
        reasons.iter().any(|reason| error.contains(reason)),
        "{name}: manifest error {error:?}"
    );
    assert_eq!(entry["records"], 0);
    assert_eq!(
        m.values().filter(|e| e["status"] == "ingested").count(),
        2,
        "{m:?}"
    );
    let files = parquet_files(&lake);

    // Second run: only the failed object is read again; nothing is duplicated.
    let r = ingest_with(&lake, &[&src], flags);
    r.expect_code(2);
    assert!(r.stderr.contains(&shown), "{r}");
    assert_eq!(objects_line(&r.stderr), [3, 0, 2, 0, 1], "{r}");
    let c = counts(&lake);
    assert_eq!((c.events, c.events_all), (GOOD_RECORDS, GOOD_RECORDS));
    assert_eq!(parquet_files(&lake), files, "a failed retry wrote files");

    // Fixed: the object lands, the run is clean.
    let fixed = delivery(&records("fixed", 1));
    let fixed = if name.ends_with(".gz") {
        gzip(&fixed)
    } else {
        fixed
    };
    write(&bad_path, fixed);
    let r = ingest_with(&lake, &[&src], flags);
    r.expect_code(0);
    assert!(!r.stderr.contains("error:"), "{r}");
    assert_eq!(objects_line(&r.stderr), [3, 1, 2, 0, 0], "{r}");
    let c = counts(&lake);
    assert_eq!(
        (c.events, c.events_all),
        (GOOD_RECORDS + 1, GOOD_RECORDS + 1)
    );
    let m = manifest(&lake);
    let entry = &m[&format!("file://{shown}")];
    assert_eq!(entry["status"], "ingested", "{entry}");
    assert!(entry.get("error").is_none(), "{entry}");

    // And then nothing is left to do.
    let r = ingest_with(&lake, &[&src], flags);
    r.expect_code(0);
    assert_eq!(objects_line(&r.stderr), [3, 0, 3, 0, 0], "{r}");
}

fn check(name: &str, bad: &[u8], reasons: &[&str]) {
    check_bad_object(name, bad, reasons, &[]);
}

/// A small delivery file, gzipped.
fn some_gzip() -> Vec<u8> {
    gzip(&delivery(&records("bad", 40)))
}

#[test]
fn truncated_gzip() {
    let gz = some_gzip();
    check(
        "truncated.json.gz",
        &gz[..gz.len() / 2],
        &["truncated gzip"],
    );
}

#[test]
fn corrupt_gzip_with_a_flipped_byte() {
    let mut gz = some_gzip();
    let at = gz.len() / 2;
    gz[at] ^= 0xff;
    check(
        "corrupt.json.gz",
        &gz,
        &["corrupt gzip", "does not match its checksum"],
    );
}

#[test]
fn gzip_with_trailing_garbage() {
    let mut gz = some_gzip();
    gz.extend_from_slice(b"this is not gzip");
    check("garbage.json.gz", &gz, &["trailing garbage"]);
}

#[test]
fn other_compression_formats_are_named() {
    let zstd_magic = [0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0];
    check(
        "log.json.zst",
        &zstd_magic,
        &["unsupported compression: zstd"],
    );
}

#[test]
fn invalid_json() {
    let good = serde_json::to_string(&record("x-1", "2024-03-01T10:00:00Z")).expect("json");
    let text = format!("{{\"Records\":[{good},}}");
    check("invalid.json", text.as_bytes(), &["invalid JSON"]);
}

#[test]
fn truncated_json() {
    let text = delivery(&records("cut", 3));
    check("cut.json", &text[..text.len() - 10], &["EOF while parsing"]);
}

#[test]
fn truncated_json_is_called_truncated() {
    let text = delivery(&records("cut", 3));
    check("cut.json", &text[..text.len() - 10], &["truncated JSON"]);
}

#[test]
fn json_that_is_not_cloudtrail() {
    check("foo.json", br#"{"foo":1}"#, &["not CloudTrail"]);
}

#[test]
fn a_digest_outside_the_digest_folder() {
    let digest = json!({"awsAccountId": "111122223333", "digestStartTime": "2024-03-01T00:00:00Z",
        "digestEndTime": "2024-03-01T01:00:00Z", "logFiles": []});
    check(
        "digest.json",
        digest.to_string().as_bytes(),
        &["CloudTrail digest file"],
    );
}

/// A delivery file whose second record is `bad` (the first one is fine: it must not land).
fn after_a_good_record(bad: serde_json::Value) -> Vec<u8> {
    delivery(&[record("first-ok", "2024-03-01T10:00:00Z"), bad])
}

#[test]
fn event_time_that_is_a_number() {
    let text = after_a_good_record(json!({"eventTime": 5, "eventID": "e-5"}));
    check("time-number.json", &text, &["eventTime"]);
}

#[test]
fn event_time_that_is_not_a_timestamp() {
    let text = after_a_good_record(json!({"eventTime": "yesterday", "eventID": "e-6"}));
    check(
        "time-text.json",
        &text,
        &["eventTime \"yesterday\" is not an ISO-8601 timestamp"],
    );
}

#[test]
fn user_identity_that_is_a_string() {
    let mut bad = record("ui-x", "2024-03-01T10:00:00Z");
    bad["userIdentity"] = json!("x");
    check(
        "identity-string.json",
        &after_a_good_record(bad),
        &["userIdentity"],
    );
}

#[test]
fn non_utf8_bytes_inside_a_string() {
    let text = serde_json::to_string(&record("utf8-bad", "2024-03-01T10:00:00Z")).expect("json");
    let mut bytes = text
        .replace("aws-cli/2.17.20", "aws-cli/\u{1}")
        .into_bytes();
    let at = bytes.iter().position(|&b| b == 1).expect("the marker");
    bytes[at] = 0xff;
    check(
        "latin1.json",
        &bytes,
        &["invalid unicode code point", "UTF-8"],
    );
}

#[test]
fn non_utf8_bytes_inside_request_parameters() {
    let mut r = record("utf8-raw", "2024-03-01T10:00:00Z");
    r["requestParameters"] = json!({"key": "\u{1}"});
    let text = serde_json::to_string(&r).expect("json");
    let mut bytes = text.into_bytes();
    let at = bytes
        .windows(6)
        .position(|w| w == b"\\u0001")
        .expect("the marker");
    bytes.splice(at..at + 6, [0xc3, 0x28]);
    check(
        "latin1-params.json",
        &bytes,
        &["invalid unicode code point", "UTF-8"],
    );
}

#[test]
fn empty_file() {
    check("empty.json", b"", &["empty"]);
}

#[test]
fn gzip_of_nothing() {
    check("empty.json.gz", &gzip(b""), &["empty"]);
}

#[test]
fn white_space_only() {
    check("blank.json", b" \n\t\n", &["empty"]);
}

#[test]
fn utf16_text() {
    let text = String::from_utf8(delivery(&records("utf16", 2))).expect("utf-8");
    let mut bytes = vec![0xff, 0xfe];
    bytes.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    check("utf16.json", &bytes, &["UTF-16"]);
}

#[test]
fn utf16_text_without_a_byte_order_mark() {
    let text = String::from_utf8(delivery(&records("utf16", 2))).expect("utf-8");
    let bytes: Vec<u8> = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
    check("utf16be.json", &bytes, &["UTF-16"]);
}

#[test]
fn lookup_events_row_with_a_broken_embedded_record() {
    let row = json!({"EventId": "x", "CloudTrailEvent": "{\"eventTime\": \"2024-03-01T"});
    check(
        "lookup.jsonl",
        row.to_string().as_bytes(),
        &["CloudTrailEvent"],
    );
}

/// One record whose `requestParameters` is a string of `mb` MB, streamed into a gzip file.
fn huge_record_gz(path: &Path, mb: usize) {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).expect("mkdir");
    }
    let file = std::fs::File::create(path).expect("create");
    let mut gz = GzEncoder::new(std::io::BufWriter::new(file), Compression::fast());
    gz.write_all(
        br#"{"Records":[{"eventVersion":"1.08","eventTime":"2024-03-01T10:00:00Z","eventID":"huge-1","eventSource":"s3.amazonaws.com","eventName":"PutObject","requestParameters":""#,
    )
    .expect("write");
    let chunk = vec![b'a'; 1 << 20];
    for _ in 0..mb {
        gz.write_all(&chunk).expect("write");
    }
    gz.write_all(br#""}]}"#).expect("write");
    gz.finish().expect("gzip").flush().expect("flush");
}

#[test]
fn a_200_mb_record() {
    let tmp = tempdir();
    let path = tmp.path().join("huge.json.gz");
    huge_record_gz(&path, 200);
    let bytes = std::fs::read(&path).expect("read");
    assert!(bytes.len() < 2 << 20, "{} bytes", bytes.len());
    check("huge.json.gz", &bytes, &["limit for one record"]);
}

#[test]
fn an_object_over_the_inflated_size_limit() {
    let tmp = tempdir();
    let path = tmp.path().join("big.json.gz");
    huge_record_gz(&path, 3);
    let bytes = std::fs::read(&path).expect("read");
    check_bad_object(
        "big.json.gz",
        &bytes,
        &["inflates to more than 2.0 MiB (limit)"],
        &["--max-object-mib", "2"],
    );
}

#[test]
fn a_symlink_loop_is_reported_and_the_rest_lands() {
    let tmp = tempdir();
    let src = tmp.path().join("src");
    write(&src.join("a.json"), delivery(&records("loop", 3)));
    std::fs::create_dir_all(src.join("sub")).expect("mkdir");
    std::os::unix::fs::symlink(&src, src.join("sub/back-to-src")).expect("symlink");
    let lake = tmp.path().join("lake");
    let r = ingest_with(&lake, &[&src], &[]);
    r.expect_code(2);
    assert!(r.stderr.contains("back-to-src"), "{r}");
    assert_eq!(counts(&lake).events_all, 3);
    // Nothing is read twice through the loop, on this run or the next.
    let r = ingest_with(&lake, &[&src], &[]);
    r.expect_code(2);
    assert_eq!(counts(&lake).events_all, 3);
}

#[test]
fn a_file_name_that_is_not_utf8_is_read() {
    use std::os::unix::ffi::OsStrExt;
    let tmp = tempdir();
    let src = tmp.path().join("src");
    let name = std::ffi::OsStr::from_bytes(b"caf\xe9.json");
    write(&src.join(name), delivery(&records("latin1-name", 2)));
    let lake = tmp.path().join("lake");
    let r = ingest_with(&lake, &[&src], &[]);
    r.expect_code(0);
    assert_eq!(counts(&lake).events_all, 2);
}
