//! `crosstrail sql`: read-only by default, output formats, where the query comes from, errors,
//! and a closed pipe.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde_json::Value;

use crate::util::{
    crosstrail, delivery, fixture, ingest, records, run, run_with_stdin, tempdir, write,
};

/// A lake with the plaso and trailscraper fixtures (9 records, 9 event names, 1 session).
fn small_lake(dir: &Path) -> PathBuf {
    let lake = dir.join("lake");
    ingest(
        &lake,
        &[
            &fixture("plaso/aws_cloudtrail.jsonl"),
            &fixture("trailscraper/events-for-smoke-test.json"),
        ],
    )
    .expect_code(0);
    lake
}

fn sql_args<'a>(lake: &'a Path, extra: &[&'a str]) -> Vec<&'a std::ffi::OsStr> {
    let mut args: Vec<&std::ffi::OsStr> = vec!["sql".as_ref(), "--lake".as_ref(), lake.as_ref()];
    args.extend(extra.iter().map(|a| std::ffi::OsStr::new(*a)));
    args
}

#[test]
fn writes_are_refused_unless_allowed() {
    let tmp = tempdir();
    let lake = small_lake(tmp.path());

    let r = run(sql_args(&lake, &["CREATE TABLE t AS SELECT 1"]));
    r.expect_code(1);
    assert!(
        r.stderr
            .contains("is not allowed: crosstrail sql is read-only; pass --allow-writes"),
        "{r}"
    );
    assert!(r.stderr.contains("CREATE TABLE"), "{r}");

    let target = tmp.path().join("x.csv");
    let copy = format!("COPY (SELECT 1 AS one) TO '{}'", target.display());
    let r = run(sql_args(&lake, &[&copy]));
    r.expect_code(1);
    assert!(r.stderr.contains("COPY is not allowed"), "{r}");
    assert!(
        !target.exists(),
        "a refused COPY wrote {}",
        target.display()
    );

    for statement in [
        "SET datafusion.execution.batch_size = 10",
        "CREATE VIEW v AS SELECT 1",
        "INSERT INTO events_all SELECT * FROM events_all",
        "DROP TABLE events_all",
    ] {
        let r = run(sql_args(&lake, &[statement]));
        r.expect_code(1);
        assert!(r.stderr.contains("read-only"), "{statement}: {r}");
    }
    // A write hidden after a harmless statement is refused too, and nothing ran before it
    // that could have written.
    let script = format!("SELECT 1; {copy}");
    let r = run(sql_args(&lake, &[&script]));
    r.expect_code(1);
    assert!(!target.exists());

    let r = run(sql_args(
        &lake,
        &["--allow-writes", "CREATE TABLE t AS SELECT 1 AS one"],
    ));
    r.expect_code(0);
    let r = run(sql_args(&lake, &["--allow-writes", &copy]));
    r.expect_code(0);
    let written = std::fs::read_to_string(&target).expect("COPY wrote the file");
    assert_eq!(written.trim(), "one\n1");
}

#[test]
fn json_output_is_one_array() {
    let tmp = tempdir();
    let lake = small_lake(tmp.path());
    let r = run(sql_args(
        &lake,
        &[
            "--format",
            "json",
            "SELECT event_id, event_time, read_only, resources FROM events_all ORDER BY event_id",
        ],
    ));
    r.expect_code(0);
    let rows: Vec<Value> = serde_json::from_str(&r.stdout).expect("one JSON array");
    assert_eq!(rows.len(), 9);
    assert!(rows.iter().all(|row| row["event_id"].is_string()));
    // Nested columns are JSON values, not text.
    assert!(
        rows.iter()
            .any(|row| row["resources"].is_array() || row["resources"].is_null())
    );

    let r = run(sql_args(
        &lake,
        &["--format", "json", "SELECT * FROM events WHERE false"],
    ));
    r.expect_code(0);
    assert_eq!(r.stdout.trim(), "[]");

    let r = run(sql_args(
        &lake,
        &["--format", "ndjson", "SELECT event_id FROM events_all"],
    ));
    r.expect_code(0);
    let lines: Vec<Value> = r
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(lines.len(), 9);
}

#[test]
fn every_format_prints_the_same_rows() {
    let tmp = tempdir();
    let lake = small_lake(tmp.path());
    let query = "SELECT event_name, count(*) AS n FROM events GROUP BY 1 ORDER BY 1";
    let csv = run(sql_args(&lake, &["--format", "csv", query]));
    csv.expect_code(0);
    assert_eq!(csv.stdout.lines().count(), 1 + 9);
    for format in ["table", "markdown"] {
        let r = run(sql_args(&lake, &["--format", format, query]));
        r.expect_code(0);
        assert!(r.stdout.contains("SharedSnapshotVolumeCreated"), "{r}");
    }
    let r = run(sql_args(&lake, &["--format", "yaml", query]));
    r.expect_code(1);
    assert!(r.stderr.contains("unknown output format `yaml`"), "{r}");
}

#[test]
fn query_from_stdin_and_from_a_file_with_two_statements() {
    let tmp = tempdir();
    let lake = small_lake(tmp.path());
    let lake_arg = lake.to_str().expect("utf-8 path");

    let r = run_with_stdin(
        &["sql", "--lake", lake_arg, "--format", "csv"],
        "SELECT count(*) AS n FROM events_all\n",
    );
    r.expect_code(0);
    assert_eq!(r.stdout, "n\n9\n");

    let file = tmp.path().join("two.sql");
    write(
        &file,
        "-- a comment\nSELECT count(*) AS a FROM events;\n\nSELECT count(*) AS b FROM sessions_all;\n",
    );
    let r = run(sql_args(
        &lake,
        &["--format", "csv", "-f", file.to_str().expect("utf-8")],
    ));
    r.expect_code(0);
    assert_eq!(r.stdout, "a\n9\nb\n1\n");

    // A query and a file at once is a usage error.
    let r = run(sql_args(
        &lake,
        &["-f", file.to_str().expect("utf-8"), "SELECT 1"],
    ));
    r.expect_code(2);
}

/// JSON output is one document: a script with two row-returning statements is refused with a
/// pointer to ndjson, rather than printing `[...][...]`.
#[test]
fn json_output_of_a_script_with_two_results_is_refused() {
    let tmp = tempdir();
    let lake = small_lake(tmp.path());
    let r = run(sql_args(
        &lake,
        &["--format", "json", "SELECT 1 AS a; SELECT 2 AS b"],
    ));
    r.expect_code(1);
    assert!(r.stderr.contains("--format ndjson"), "{}", r.stderr);
    let r = run(sql_args(
        &lake,
        &["--format", "ndjson", "SELECT 1 AS a; SELECT 2 AS b"],
    ));
    r.expect_code(0);
    for line in r.stdout.lines() {
        serde_json::from_str::<Value>(line).expect("each line is JSON");
    }
}

#[test]
fn sql_errors_are_datafusion_messages_without_a_backtrace() {
    let tmp = tempdir();
    let lake = small_lake(tmp.path());
    for (query, message) in [
        ("SELECT no_such_column FROM events", "no_such_column"),
        ("SELECT * FROM no_such_table", "no_such_table"),
        ("SELEC 1", "SELEC"),
    ] {
        let r = run(sql_args(&lake, &[query]));
        r.expect_code(1);
        assert!(r.stderr.starts_with("error: "), "{query}: {r}");
        assert!(r.stderr.contains(message), "{query}: {r}");
        assert!(!r.stderr.contains("backtrace"), "{query}: {r}");
        assert!(r.stdout.is_empty(), "{query}: {r}");
    }
    // A syntax error in the second statement: nothing runs.
    let r = run(sql_args(
        &lake,
        &["--format", "csv", "SELECT 1 AS a; SELEC 2"],
    ));
    r.expect_code(1);
    assert!(r.stdout.is_empty(), "{r}");
}

#[test]
fn a_missing_lake_is_an_error_naming_it() {
    let tmp = tempdir();
    let missing = tmp.path().join("no-such-lake");
    let r = run(sql_args(&missing, &["SELECT 1"]));
    r.expect_code(1);
    assert!(r.stderr.contains("no-such-lake"), "{r}");
}

#[test]
fn an_empty_lake_has_empty_tables() {
    let tmp = tempdir();
    let empty = tmp.path().join("src");
    std::fs::create_dir_all(&empty).expect("mkdir");
    let lake = tmp.path().join("lake");
    ingest(&lake, &[&empty]).expect_code(0);
    let r = run(sql_args(
        &lake,
        &[
            "--format",
            "csv",
            "SELECT (SELECT count(*) FROM events) AS e, (SELECT count(*) FROM session_actions) AS a",
        ],
    ));
    r.expect_code(0);
    assert_eq!(r.stdout, "e,a\n0,0\n");
}

#[test]
fn broken_pipe_exits_quietly() {
    let tmp = tempdir();
    let src = tmp.path().join("src");
    write(&src.join("many.json"), delivery(&records("pipe", 3000)));
    let lake = tmp.path().join("lake");
    ingest(&lake, &[&src]).expect_code(0);

    // `crosstrail sql ... | head -1` on a result far larger than a pipe buffer.
    let mut child = crosstrail()
        .args(sql_args(
            &lake,
            &[
                "--format",
                "csv",
                "SELECT a.event_id, a.request_parameters, b.event_id FROM events a CROSS JOIN \
                 (SELECT event_id FROM events LIMIT 100) b",
            ],
        ))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut out = BufReader::new(child.stdout.take().expect("piped"));
    let mut first = String::new();
    out.read_line(&mut first).expect("a line");
    assert!(first.starts_with("event_id"), "{first:?}");
    drop(out);
    let output = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "stderr: {stderr}");
    assert!(stderr.is_empty(), "stderr: {stderr}");
}

#[test]
fn a_lake_path_with_spaces_and_glob_characters() {
    let tmp = tempdir();
    let src = tmp.path().join("logs [2024] *");
    write(&src.join("a b%20c.json"), delivery(&records("odd", 3)));
    let lake = tmp.path().join("my lake [1] %41 ?");
    ingest(&lake, &[&src]).expect_code(0);
    let r = run(sql_args(
        &lake,
        &["--format", "csv", "SELECT count(*) AS n FROM events"],
    ));
    r.expect_code(0);
    assert_eq!(r.stdout, "n\n3\n");
}

#[test]
fn own_accounts_are_given_or_inferred() {
    let tmp = tempdir();
    let lake = small_lake(tmp.path());
    let query = "SELECT account_id FROM own_accounts ORDER BY 1";
    let r = run(sql_args(&lake, &["--format", "csv", query]));
    r.expect_code(0);
    // The accounts whose trails were ingested: plaso's and trailscraper's.
    assert_eq!(
        r.stdout,
        "account_id\n012345678901\n111111111111\n123456789012\n"
    );
    let r = run(sql_args(
        &lake,
        &[
            "--format",
            "csv",
            "--own-accounts",
            "222233334444,111122223333",
            query,
        ],
    ));
    r.expect_code(0);
    assert_eq!(r.stdout, "account_id\n111122223333\n222233334444\n");
}
