//! Helpers shared by every test module: running the binary, reading a lake back, building
//! CloudTrail records and objects.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::{Value, json};

/// The `crosstrail` binary, with an environment that makes its output reproducible.
pub fn crosstrail() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_crosstrail"));
    // clap wraps help to the terminal width; pin it so snapshots do not depend on the shell.
    cmd.env("COLUMNS", "100")
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    cmd
}

/// What one run of the binary did.
#[derive(Debug)]
pub struct Run {
    /// Exit code (`None` when killed by a signal).
    pub code: Option<i32>,
    /// Standard output, lossily decoded.
    pub stdout: String,
    /// Standard error, lossily decoded.
    pub stderr: String,
}

impl Run {
    fn from_output(out: Output) -> Run {
        let run = Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        run.assert_no_panic();
        run
    }

    /// Fails the test when the process panicked or printed a backtrace.
    pub fn assert_no_panic(&self) {
        for needle in ["panicked", "RUST_BACKTRACE", "stack backtrace"] {
            assert!(
                !self.stderr.contains(needle) && !self.stdout.contains(needle),
                "crosstrail printed {needle:?}:\n{self}"
            );
        }
    }

    /// Fails unless the exit code is `code`.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(self.code, Some(code), "unexpected exit status:\n{self}");
        self
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Runs `crosstrail` with `args` and waits for it.
pub fn run<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let out = crosstrail()
        .args(args)
        .output()
        .expect("cannot run crosstrail");
    Run::from_output(out)
}

/// Runs `crosstrail` with `args` and `stdin` as standard input.
pub fn run_with_stdin(args: &[&str], stdin: &str) -> Run {
    let mut child = crosstrail()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot run crosstrail");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(stdin.as_bytes())
        .expect("cannot write stdin");
    Run::from_output(child.wait_with_output().expect("crosstrail did not finish"))
}

/// `crosstrail ingest SOURCES... --lake LAKE` (two worker threads, as on the CI machine).
pub fn ingest(lake: &Path, sources: &[&Path]) -> Run {
    ingest_with(lake, sources, &[])
}

/// `crosstrail ingest` with extra flags.
pub fn ingest_with(lake: &Path, sources: &[&Path], flags: &[&str]) -> Run {
    let mut args: Vec<std::ffi::OsString> = vec!["ingest".into()];
    args.extend(sources.iter().map(|s| s.as_os_str().to_owned()));
    args.push("--lake".into());
    args.push(lake.as_os_str().to_owned());
    args.extend(flags.iter().map(Into::into));
    run(args)
}

/// `crosstrail sql --lake LAKE --format FORMAT QUERY`, which must succeed; returns stdout.
#[track_caller]
pub fn sql(lake: &Path, format: &str, query: &str) -> String {
    let r = run([
        "sql".as_ref(),
        "--lake".as_ref(),
        lake.as_os_str(),
        "--format".as_ref(),
        format.as_ref(),
        query.as_ref(),
    ]);
    r.expect_code(0);
    r.stdout
}

/// The rows of a CSV result without its header line.
#[track_caller]
pub fn csv_rows(lake: &Path, query: &str) -> Vec<String> {
    let out = sql(lake, "csv", query);
    out.lines().skip(1).map(str::to_owned).collect()
}

/// One integer from a query returning one row and one column.
#[track_caller]
pub fn scalar(lake: &Path, query: &str) -> u64 {
    let rows = csv_rows(lake, query);
    assert_eq!(rows.len(), 1, "{query} returned {rows:?}");
    rows[0]
        .parse()
        .unwrap_or_else(|_| panic!("{query} returned {rows:?}"))
}

/// Row counts of the lake's tables and views, in one query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub events: u64,
    pub events_all: u64,
    pub sessions: u64,
    pub sessions_all: u64,
}

/// Counts the rows of `events`, `events_all`, `sessions` and `sessions_all`.
#[track_caller]
pub fn counts(lake: &Path) -> Counts {
    let rows = csv_rows(
        lake,
        "SELECT (SELECT count(*) FROM events) AS e, (SELECT count(*) FROM events_all) AS ea, \
         (SELECT count(*) FROM sessions) AS s, (SELECT count(*) FROM sessions_all) AS sa",
    );
    assert_eq!(rows.len(), 1, "{rows:?}");
    let n: Vec<u64> = rows[0]
        .split(',')
        .map(|x| x.parse().expect("a count"))
        .collect();
    Counts {
        events: n[0],
        events_all: n[1],
        sessions: n[2],
        sessions_all: n[3],
    }
}

/// Every Parquet file of the lake's tables, relative to the lake root.
pub fn parquet_files(lake: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for table in ["events", "sessions"] {
        walk(&lake.join(table), &mut |p| {
            if p.extension().is_some_and(|e| e == "parquet") {
                let rel = p.strip_prefix(lake).expect("under the lake");
                out.insert(rel.to_string_lossy().into_owned());
            }
        });
    }
    out
}

/// Calls `f` with every file under `dir` (recursively; nothing when `dir` is missing).
pub fn walk(dir: &Path, f: &mut dyn FnMut(&Path)) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.map(|e| e.expect("dir entry").path()).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            walk(&p, f);
        } else {
            f(&p);
        }
    }
}

/// The manifest as a reader sees it: the latest entry per object key.
pub fn manifest(lake: &Path) -> BTreeMap<String, Value> {
    let dir = lake.join("_crosstrail").join("manifest");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("manifest dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    names.sort();
    let mut out = BTreeMap::new();
    for path in names {
        let record: Value =
            serde_json::from_slice(&std::fs::read(&path).expect("manifest file")).expect("json");
        for o in record["objects"].as_array().expect("objects") {
            out.insert(o["key"].as_str().expect("key").to_owned(), o.clone());
        }
    }
    out
}

/// The manifest key of a local file.
pub fn key_of(path: &Path) -> String {
    format!(
        "file://{}",
        path.canonicalize().expect("canonical path").display()
    )
}

/// Entries in `<lake>/_crosstrail/staging/`.
pub fn staging_entries(lake: &Path) -> Vec<PathBuf> {
    match std::fs::read_dir(lake.join("_crosstrail").join("staging")) {
        Ok(d) => d.map(|e| e.expect("dir entry").path()).collect(),
        Err(_) => Vec::new(),
    }
}

/// The real-format fixtures committed under `tests/fixtures/`.
pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("fixtures")
        .join(rel)
}

/// A fresh temporary directory for one test.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("crosstrail-it-")
        .tempdir()
        .expect("temp dir")
}

/// Copies `from` (a file or a folder, recursively) into the directory `to`.
pub fn copy_into(from: &Path, to: &Path) -> PathBuf {
    let target = to.join(from.file_name().expect("a name"));
    if from.is_dir() {
        std::fs::create_dir_all(&target).expect("mkdir");
        for e in std::fs::read_dir(from).expect("read dir") {
            copy_into(&e.expect("dir entry").path(), &target);
        }
    } else {
        std::fs::create_dir_all(to).expect("mkdir");
        std::fs::copy(from, &target).expect("copy");
    }
    target
}

/// Writes `bytes` to `path`, creating its parent directories.
pub fn write(path: &Path, bytes: impl AsRef<[u8]>) {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).expect("mkdir");
    }
    std::fs::write(path, bytes).expect("write");
}

/// Gzip of `bytes` (one member).
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    enc.write_all(bytes).expect("gzip");
    enc.finish().expect("gzip")
}

/// A minimal CloudTrail record (an S3 `GetObject` by an IAM user).
pub fn record(event_id: &str, event_time: &str) -> Value {
    json!({
        "eventVersion": "1.08",
        "userIdentity": {
            "type": "IAMUser",
            "principalId": "AIDAEXAMPLEUSER",
            "arn": "arn:aws:iam::111122223333:user/alice",
            "accountId": "111122223333",
            "accessKeyId": "AKIAEXAMPLEALICE",
            "userName": "alice"
        },
        "eventTime": event_time,
        "eventSource": "s3.amazonaws.com",
        "eventName": "GetObject",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "192.0.2.10",
        "userAgent": "aws-cli/2.17.20",
        "requestParameters": {"bucketName": "b", "key": "k"},
        "responseElements": null,
        "requestID": format!("req-{event_id}"),
        "eventID": event_id,
        "readOnly": true,
        "eventType": "AwsApiCall",
        "managementEvent": false,
        "recipientAccountId": "111122223333",
        "eventCategory": "Data"
    })
}

/// `{"Records":[...]}` of `records`, as CloudTrail delivers it (before gzip).
pub fn delivery(records: &[Value]) -> Vec<u8> {
    serde_json::to_vec(&json!({ "Records": records })).expect("json")
}

/// `n` records with ids `<prefix>-1` .. `<prefix>-n`, one minute apart on 2024-03-01.
pub fn records(prefix: &str, n: usize) -> Vec<Value> {
    (1..=n)
        .map(|i| {
            record(
                &format!("{prefix}-{i}"),
                &format!("2024-03-01T10:{:02}:00Z", i % 60),
            )
        })
        .collect()
}

/// Replaces `dir` (and its canonical form) by `[TMP]` in `text`.
pub fn redact_dir(text: &str, dir: &Path) -> String {
    let mut out = text.to_owned();
    if let Ok(canonical) = dir.canonicalize() {
        out = out.replace(&canonical.display().to_string(), "[TMP]");
    }
    out.replace(&dir.display().to_string(), "[TMP]")
}

/// insta filters for the timings of the ingest summary.
pub fn timing_filters() -> Vec<(&'static str, &'static str)> {
    vec![
        (r"in \d+\.\d s\b", "in [SECS] s"),
        (r"\d+\.\d MB/s inflated", "[RATE] MB/s inflated"),
        (r"[\d,]+ records/s", "[RATE] records/s"),
    ]
}

/// The numbers of the summary's `objects` line: listed, ingested, unchanged, skipped, failed.
#[track_caller]
pub fn objects_line(stderr: &str) -> [u64; 5] {
    let line = stderr
        .lines()
        .find(|l| l.trim_start().starts_with("objects "))
        .unwrap_or_else(|| panic!("no objects line in the summary:\n{stderr}"));
    // "objects  3 listed = 2 ingested + 0 unchanged + 1 skipped (1 digest) + 0 failed"
    let words: Vec<&str> = line.split_whitespace().collect();
    let number_before = |word: &str| -> u64 {
        let at = words
            .iter()
            .position(|w| *w == word)
            .unwrap_or_else(|| panic!("no {word:?} in {line:?}"));
        words[at - 1]
            .replace(',', "")
            .parse()
            .unwrap_or_else(|_| panic!("no number before {word:?} in {line:?}"))
    };
    [
        number_before("listed"),
        number_before("ingested"),
        number_before("unchanged"),
        number_before("skipped"),
        number_before("failed"),
    ]
}

/// The number of records read, from the summary's `records` line.
#[track_caller]
pub fn records_read(stderr: &str) -> u64 {
    let line = stderr
        .lines()
        .find(|l| l.trim_start().starts_with("records "))
        .unwrap_or_else(|| panic!("no records line in the summary:\n{stderr}"));
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(words.get(2), Some(&"read"), "{line}");
    words[1].replace(',', "").parse().expect("a number")
}

/// The path crosstrail prints for a local file (its canonical path).
pub fn shown_path(path: &Path) -> String {
    key_of(path).trim_start_matches("file://").to_owned()
}

/// `1234567` as the summary writes it: `1,234,567`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
