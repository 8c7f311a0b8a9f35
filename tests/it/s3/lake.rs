//! `--lake s3://…`: the lake written to and read from the loopback S3 server. The server keeps
//! each bucket as a folder, so the very objects written are also read back as a local lake:
//! the layout is the one Athena, Trino, Spark and DuckDB read in place.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::server::{ACCESS_KEY, SECRET_KEY};
use super::{World, assert_same_lake, finish, s3_command};
use crate::util::{Run, counts, ingest_with, objects_line, parquet_files, walk};

const LAKE_BUCKET: &str = "lakes";
const LAKE_PREFIX: &str = "crosstrail/prod";

fn lake_url() -> String {
    format!("s3://{LAKE_BUCKET}/{LAKE_PREFIX}")
}

/// A world with an empty bucket for lakes.
fn world() -> World {
    let w = World::new();
    std::fs::create_dir_all(w.dir.join("s3").join(LAKE_BUCKET)).expect("lake bucket");
    w
}

/// The folder behind the lake's prefix on the server.
fn lake_folder(w: &World) -> PathBuf {
    w.dir.join("s3").join(LAKE_BUCKET).join(LAKE_PREFIX)
}

/// `crosstrail ingest SOURCE --lake s3://lakes/crosstrail/prod` through the server.
fn ingest_to_s3(w: &World, source: &Path, flags: &[&str]) -> Run {
    let mut cmd = s3_command(Some((ACCESS_KEY, SECRET_KEY)));
    cmd.arg("ingest")
        .arg(source)
        .args(["--lake", &lake_url(), "--endpoint-url", &w.server.endpoint])
        .args(["--threads", "2"])
        .args(flags);
    finish(cmd)
}

/// `crosstrail ARGS... --lake s3://… --endpoint-url …`, e.g. `sql --format csv QUERY`.
fn on_s3_lake(w: &World, lake: &str, args: &[&str]) -> Run {
    let mut cmd = s3_command(Some((ACCESS_KEY, SECRET_KEY)));
    cmd.args(&args[..1])
        .args(["--lake", lake, "--endpoint-url", &w.server.endpoint])
        .args(&args[1..]);
    finish(cmd)
}

/// Files under `dir`, relative, sorted.
fn files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    walk(dir, &mut |p| {
        out.push(
            p.strip_prefix(dir)
                .expect("under dir")
                .to_string_lossy()
                .into_owned(),
        )
    });
    out.sort();
    out
}

#[test]
fn a_lake_in_s3_holds_what_a_local_lake_holds_and_reads_back_through_sql_and_reports() {
    let w = world();
    let n = &w.truth.counts;
    let r = ingest_to_s3(&w, &w.local(), &["--chunk-mib", "1"]);
    r.expect_code(0);
    assert_eq!(objects_line(&r.stderr)[1], n.log_objects, "{r}");

    let local = w.lake("lake-local");
    ingest_with(&local, &[&w.local()], &["--threads", "2"]).expect_code(0);

    // The objects written are a lake as they stand: table files under Hive partitions,
    // nothing left in staging, crosstrail's own files under _crosstrail/.
    let folder = lake_folder(&w);
    assert_same_lake(&folder, &local);
    let c = counts(&folder);
    assert_eq!(
        (c.events, c.events_all),
        (n.records, n.records_written_total)
    );
    let all = files(&folder);
    assert!(
        all.iter().all(|f| f.starts_with("_crosstrail/")
            || f.starts_with("events/event_date=")
            || f.starts_with("sessions/event_date=")
            || f.starts_with('.')
            || f.contains("/.")),
        "unexpected objects: {all:#?}"
    );
    assert!(
        !all.iter().any(|f| f.starts_with("_crosstrail/staging/")),
        "{all:#?}"
    );
    assert!(
        all.iter().any(|f| f == "_crosstrail/fingerprint.key"),
        "{all:#?}"
    );
    assert_eq!(
        parquet_files(&folder).len(),
        all.iter().filter(|f| f.ends_with(".parquet")).count()
    );

    // sql and reports read the lake through S3, and see what the local lake shows (reports
    // without External-ID fingerprints: those are keyed per lake).
    let query = "SELECT event_name, count(*) AS n, count(DISTINCT event_id) AS ids \
                 FROM events GROUP BY 1 ORDER BY 1";
    let through_s3 = on_s3_lake(&w, &lake_url(), &["sql", "--format", "csv", query]);
    through_s3.expect_code(0);
    assert_eq!(through_s3.stdout, crate::util::sql(&local, "csv", query));
    for report in ["third-parties", "last-activity", "blast-radius"] {
        let s3 = on_s3_lake(&w, &lake_url(), &["report", report, "--format", "csv"]);
        s3.expect_code(0);
        let here = crate::util::run([
            "report".as_ref(),
            report.as_ref(),
            "--lake".as_ref(),
            local.as_os_str(),
            "--format".as_ref(),
            "csv".as_ref(),
        ]);
        here.expect_code(0);
        assert_eq!(s3.stdout, here.stdout, "report {report}");
        assert!(s3.stdout.lines().count() > 1, "report {report} is empty");
    }

    // A re-run reads nothing new and adds nothing.
    let before = parquet_files(&folder);
    let r = ingest_to_s3(&w, &w.local(), &[]);
    r.expect_code(0);
    assert_eq!(objects_line(&r.stderr)[1], 0, "{r}");
    assert_eq!(parquet_files(&folder), before);
}

#[test]
fn shards_on_two_machines_write_one_s3_lake_at_once() {
    let w = world();
    let spawn = |shard: &str| {
        let mut cmd = s3_command(Some((ACCESS_KEY, SECRET_KEY)));
        cmd.arg("ingest")
            .arg(w.local())
            .args(["--lake", &lake_url(), "--endpoint-url", &w.server.endpoint])
            .args(["--threads", "1", "--chunk-mib", "1", "--shard", shard]);
        cmd.spawn().expect("start an ingest")
    };
    let (a, b) = (spawn("0/2"), spawn("1/2"));
    for child in [a, b] {
        let out = child.wait_with_output().expect("ingest ran");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    let local = w.lake("lake-local");
    ingest_with(&local, &[&w.local()], &["--threads", "2"]).expect_code(0);
    assert_same_lake(&lake_folder(&w), &local);
    // One key for both writers: equal External IDs still match across shards.
    let fingerprints = "SELECT count(DISTINCT external_id_fingerprint) FROM sessions";
    assert_eq!(
        crate::util::sql(&lake_folder(&w), "csv", fingerprints),
        crate::util::sql(&local, "csv", fingerprints)
    );
}

#[test]
fn kill_9_during_an_s3_lake_ingest_then_a_rerun_gives_the_same_lake() {
    let w = world();
    let local = w.lake("lake-local");
    ingest_with(&local, &[&w.local()], &["--threads", "2"]).expect_code(0);
    // Kills at growing delays land in listing, fetching, uploading, committing and copying.
    for delay_ms in [150, 400, 700, 1000, 1500] {
        let mut cmd = s3_command(Some((ACCESS_KEY, SECRET_KEY)));
        cmd.arg("ingest")
            .arg(w.local())
            .args(["--lake", &lake_url(), "--endpoint-url", &w.server.endpoint])
            .args(["--threads", "2", "--chunk-mib", "1"]);
        let mut child = cmd.spawn().expect("start an ingest");
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
    }
    let r = ingest_to_s3(&w, &w.local(), &["--chunk-mib", "1"]);
    r.expect_code(0);
    assert_same_lake(&lake_folder(&w), &local);
    // Staging of a transaction killed before its commit record may stay (invisible) until it
    // is an hour old; no committed transaction is left with files still in staging.
    let internal = lake_folder(&w).join("_crosstrail");
    let committed: String = files(&internal.join("manifest"))
        .iter()
        .filter(|f| f.ends_with(".json"))
        .map(|f| std::fs::read_to_string(internal.join("manifest").join(f)).expect("record"))
        .collect();
    let staging = internal.join("staging");
    if staging.exists() {
        for f in files(&staging) {
            let txn = f.split('/').next().unwrap_or_default();
            assert!(
                !committed.contains(&format!("\"txn\":\"{txn}\"")),
                "committed transaction {txn} left {f} in staging"
            );
        }
    }
}

#[test]
fn a_mistyped_s3_lake_and_missing_credentials_are_clear_errors() {
    let w = world();
    ingest_to_s3(&w, &w.local(), &[]).expect_code(0);
    let typo = format!("s3://{LAKE_BUCKET}/crosstrail/prd");
    let r = on_s3_lake(&w, &typo, &["sql", "SELECT 1"]);
    r.expect_code(1);
    assert!(r.stderr.contains("is not a crosstrail lake"), "{r}");
    assert!(
        r.stderr.contains("crosstrail/prd/_crosstrail/lake.json"),
        "{r}"
    );

    let mut cmd = s3_command(None);
    cmd.arg("ingest").arg(w.local()).args([
        "--lake",
        &lake_url(),
        "--endpoint-url",
        &w.server.endpoint,
    ]);
    let r = finish(cmd);
    r.expect_code(1);
    assert!(r.stderr.contains("cannot open the lake"), "{r}");
    assert!(r.stderr.contains("AWS_ACCESS_KEY_ID"), "{r}");

    // A lake prefix that holds other things is not taken over.
    let other = w.dir.join("s3").join(LAKE_BUCKET).join("other");
    std::fs::create_dir_all(&other).expect("mkdir");
    std::fs::write(other.join("notes.txt"), "not a lake").expect("write");
    let mut cmd = s3_command(Some((ACCESS_KEY, SECRET_KEY)));
    cmd.arg("ingest")
        .arg(w.local())
        .args(["--lake", &format!("s3://{LAKE_BUCKET}/other")])
        .args(["--endpoint-url", &w.server.endpoint]);
    let r = finish(cmd);
    r.expect_code(1);
    assert!(r.stderr.contains("is not a crosstrail lake"), "{r}");
}
