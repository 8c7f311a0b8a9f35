//! What users read, snapshot-tested: help texts, the ingest summary, error lines and a query
//! result. Temporary paths and timings are filtered.

use insta::assert_snapshot;

use crate::util::{
    delivery, fixture, gzip, ingest, records, redact_dir, run, sql, tempdir, timing_filters, write,
};

#[test]
fn help() {
    let r = run(["--help"]);
    r.expect_code(0);
    assert_snapshot!("help", r.stdout);
}

#[test]
fn ingest_help() {
    let r = run(["ingest", "--help"]);
    r.expect_code(0);
    assert!(!r.stdout.contains("chunk-mib"), "a hidden flag shows");
    assert_snapshot!("ingest_help", r.stdout);
}

#[test]
fn sql_help() {
    let r = run(["sql", "--help"]);
    r.expect_code(0);
    assert_snapshot!("sql_help", r.stdout);
}

#[test]
fn demo_help() {
    let r = run(["demo", "--help"]);
    r.expect_code(0);
    assert_snapshot!("demo_help", r.stdout);
}

#[test]
fn version() {
    let r = run(["--version"]);
    r.expect_code(0);
    assert_eq!(
        r.stdout.trim(),
        format!("crosstrail {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn usage_errors_exit_2_with_a_hint() {
    let r = run(["ingest", "somewhere"]);
    r.expect_code(2);
    assert!(r.stderr.contains("--lake <DIR|S3_URL>"), "{r}");
    let r = run(["frobnicate"]);
    r.expect_code(2);
    assert!(r.stderr.contains("unrecognized subcommand"), "{r}");
}

#[test]
fn ingest_summary() {
    let tmp = tempdir();
    let src = tmp.path().join("src");
    for f in [
        "trailscraper/111111111111_CloudTrail_eu-central-1_20171211T1505Z_A6kvhMoVeCsc7v8U.json.gz",
        "trailscraper/events-for-smoke-test.json",
        "plaso/aws_cloudtrail.jsonl",
    ] {
        crate::util::copy_into(&fixture(f), &src);
    }
    // A digest and a hidden file: skipped and counted.
    write(
        &src.join("AWSLogs/111111111111/CloudTrail-Digest/eu-central-1/2017/12/11/d.json.gz"),
        gzip(b"{}"),
    );
    write(&src.join(".DS_Store"), b"\0\0\0\x01Bud1");
    let lake = tmp.path().join("lake");
    let r = ingest(&lake, &[&src]);
    r.expect_code(0);
    insta::with_settings!({filters => timing_filters()}, {
        assert_snapshot!("ingest_summary", redact_dir(&r.stderr, tmp.path()));
    });

    let r = ingest(&lake, &[&src]);
    r.expect_code(0);
    insta::with_settings!({filters => timing_filters()}, {
        assert_snapshot!("ingest_summary_nothing_new", redact_dir(&r.stderr, tmp.path()));
    });
}

#[test]
fn ingest_error_for_a_truncated_gzip() {
    let tmp = tempdir();
    let src = tmp.path().join("src");
    let gz = gzip(&delivery(&records("cut", 20)));
    write(&src.join("cut.json.gz"), &gz[..gz.len() / 2]);
    write(&src.join("ok.json"), delivery(&records("ok", 2)));
    let r = ingest(&tmp.path().join("lake"), &[&src]);
    r.expect_code(2);
    insta::with_settings!({filters => timing_filters()}, {
        assert_snapshot!("ingest_truncated_gzip", redact_dir(&r.stderr, tmp.path()));
    });
}

#[test]
fn ingest_errors_that_stop_the_run() {
    let tmp = tempdir();
    let missing = tmp.path().join("missing");
    let r = run([
        "ingest".as_ref(),
        missing.as_os_str(),
        "--lake".as_ref(),
        tmp.path().join("lake").as_os_str(),
    ]);
    r.expect_code(1);
    assert_snapshot!("ingest_missing_source", redact_dir(&r.stderr, tmp.path()));

    // A folder with other things in it is not taken for a lake.
    let not_a_lake = tmp.path().join("documents");
    write(&not_a_lake.join("thesis.txt"), "words");
    let src = tmp.path().join("src");
    write(&src.join("a.json"), delivery(&records("a", 1)));
    let r = ingest(&not_a_lake, &[&src]);
    r.expect_code(1);
    assert_snapshot!("ingest_not_a_lake", redact_dir(&r.stderr, tmp.path()));
    assert_eq!(
        std::fs::read_dir(&not_a_lake).expect("dir").count(),
        1,
        "the folder was written to"
    );

    let r = run([
        "ingest".as_ref(),
        src.as_os_str(),
        "--lake".as_ref(),
        tmp.path().join("lake").as_os_str(),
        "--threads".as_ref(),
        "0".as_ref(),
    ]);
    r.expect_code(1);
    assert_snapshot!("ingest_zero_threads", r.stderr);
}

#[test]
fn sql_json_output() {
    let tmp = tempdir();
    let lake = tmp.path().join("lake");
    ingest(&lake, &[&fixture("plaso/aws_cloudtrail.jsonl")]).expect_code(0);
    let out = sql(
        &lake,
        "json",
        "SELECT event_time, event_name, identity_type, read_only, shared_event_id, event_date \
         FROM events ORDER BY event_time LIMIT 3",
    );
    assert_snapshot!("sql_json", out);
}

#[test]
fn sql_table_output() {
    let tmp = tempdir();
    let lake = tmp.path().join("lake");
    ingest(&lake, &[&fixture("plaso/aws_cloudtrail.jsonl")]).expect_code(0);
    let out = sql(
        &lake,
        "table",
        "SELECT event_name, count(*) AS n FROM events GROUP BY 1 ORDER BY 1",
    );
    assert_snapshot!("sql_table", out);
    let out = sql(
        &lake,
        "markdown",
        "SELECT event_name, count(*) AS n FROM events GROUP BY 1 ORDER BY 1",
    );
    assert_snapshot!("sql_markdown", out);
}

#[test]
fn sql_read_only_refusal() {
    let tmp = tempdir();
    let lake = tmp.path().join("lake");
    ingest(&lake, &[&fixture("plaso/aws_cloudtrail.jsonl")]).expect_code(0);
    let r = run([
        "sql".as_ref(),
        "--lake".as_ref(),
        lake.as_os_str(),
        "CREATE TABLE t AS SELECT 1".as_ref(),
    ]);
    r.expect_code(1);
    assert_snapshot!("sql_read_only", r.stderr);
}
