//! Crash safety: `kill -9` at any moment, then a re-run, gives the same lake as one
//! uninterrupted run; what an interrupted commit leaves behind is rolled forward or back.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crosstrail_synth::Spec;

use crate::generated::generate;
use crate::util::{
    counts, crosstrail, delivery, ingest, ingest_with, manifest, objects_line, parquet_files,
    record, records, sql, staging_entries, tempdir, walk, write,
};

/// Small transactions, so that a run commits many times and a kill can land between commits.
const SMALL_CHUNKS: [&str; 2] = ["--chunk-mib", "1"];

/// Everything that must be identical between two lakes of the same input.
fn lake_content(lake: &Path) -> String {
    let mut out = sql(
        lake,
        "csv",
        "SELECT event_id, event_time, event_name, source_object, event_date FROM events_all \
         ORDER BY event_id, source_object, event_time",
    );
    out.push_str(&sql(
        lake,
        "csv",
        "SELECT event_id, event_time, role_arn, temp_access_key_id, external_id_fingerprint IS NULL, \
                source_object FROM sessions_all ORDER BY event_id, source_object, event_time",
    ));
    out
}

/// Seeded choices of when to kill (SplitMix64): the same moments on every run of the test.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// In `0..n` (0 when `n` is 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// In `low..high`.
    fn between(&mut self, low: Duration, high: Duration) -> Duration {
        let span = high.saturating_sub(low).as_micros().max(1) as u64;
        low + Duration::from_micros(self.next_u64() % span)
    }
}

/// When to kill a run.
#[derive(Debug, Clone, Copy)]
enum Trigger {
    /// After this long.
    After(Duration),
    /// As soon as it has committed this many transactions.
    Commits(usize),
    /// As soon as a transaction is staged.
    Staged,
}

/// Commit records in the lake's manifest (not counting temporary files).
fn commit_records(lake: &Path) -> usize {
    std::fs::read_dir(lake.join("_crosstrail/manifest"))
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
                .count()
        })
        .unwrap_or(0)
}

/// Starts an ingest and SIGKILLs it at `trigger`; false when it ended first.
fn kill_when(lake: &Path, logs: &Path, trigger: Trigger) -> bool {
    let committed_before = commit_records(lake);
    let started = Instant::now();
    let mut child = crosstrail()
        .args(ingest_args(lake, logs))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    loop {
        if child.try_wait().expect("try_wait").is_some() {
            return false;
        }
        let now = match trigger {
            Trigger::After(delay) => started.elapsed() >= delay,
            Trigger::Commits(n) => commit_records(lake) >= committed_before + n,
            Trigger::Staged => !staging_entries(lake).is_empty(),
        };
        if now {
            child.kill().expect("SIGKILL"); // SIGKILL on Unix, like `kill -9`
            child.wait().expect("wait");
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn ingest_args(lake: &Path, logs: &Path) -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> = vec!["ingest".into(), logs.into(), "--lake".into()];
    args.push(lake.into());
    args.extend(SMALL_CHUNKS.iter().map(Into::into));
    args
}

#[test]
fn kill_9_at_random_moments_then_rerun_equals_one_uninterrupted_run() {
    let tmp = tempdir();
    // A few MB in several hundred objects.
    let spec = Spec {
        seed: 11,
        start_date: (2026, 2, 1),
        days: 4,
        events_per_day: 900,
    };
    let (truth, logs) = generate(tmp.path(), &spec);

    // The reference: one uninterrupted run, timed to pick the kill moments.
    let reference = tmp.path().join("reference");
    let started = Instant::now();
    let r = ingest_with(&reference, &[&logs], &SMALL_CHUNKS);
    let full_run = started.elapsed();
    r.expect_code(0);
    assert_eq!(
        counts(&reference).events_all,
        truth.counts.records_written_total
    );
    let expected = lake_content(&reference);

    let reference_commits = commit_records(&reference);
    assert!(
        reference_commits >= 4,
        "{reference_commits} commits: too few to kill between"
    );

    let mut rng = Rng(0x5eed);
    for round in 0..3 {
        let lake = tmp.path().join(format!("lake-{round}"));
        // Each round kills once right after a commit point, once while a transaction is
        // staged, and twice at a random moment of the run.
        let triggers = [
            Trigger::Commits(1 + rng.below(reference_commits / 2)),
            Trigger::After(rng.between(Duration::from_millis(20), full_run)),
            Trigger::Staged,
            Trigger::After(rng.between(Duration::from_millis(20), full_run)),
        ];
        for trigger in triggers {
            let landed = kill_when(&lake, &logs, trigger);
            if let Trigger::Commits(_) = trigger {
                assert!(
                    landed,
                    "round {round}: the run ended before its {trigger:?} kill"
                );
            }
        }

        let r = ingest_with(&lake, &[&logs], &SMALL_CHUNKS);
        r.expect_code(0);
        assert_eq!(objects_line(&r.stderr)[4], 0, "{r}");
        assert_eq!(
            lake_content(&lake),
            expected,
            "round {round}: the lake differs from one uninterrupted run"
        );
        assert!(
            staging_entries(&lake).is_empty(),
            "round {round}: staging left: {:?}",
            staging_entries(&lake)
        );
        // Every object is in the manifest, once, as ingested.
        let m = manifest(&lake);
        let objects = truth.counts.log_objects as usize;
        assert_eq!(m.len(), objects);
        assert!(m.values().all(|e| e["status"] == "ingested"));
        // Nothing left to do.
        let r = ingest_with(&lake, &[&logs], &SMALL_CHUNKS);
        r.expect_code(0);
        assert_eq!(objects_line(&r.stderr)[1], 0, "{r}");
    }
}

/// A lake with one commit of three small objects over four days (four files); returns
/// (lake, source folder).
fn committed_lake(dir: &Path) -> (PathBuf, PathBuf) {
    let src = dir.join("src");
    for i in 0..3 {
        let records: Vec<_> = (1..=4)
            .map(|day| record(&format!("c{i}-{day}"), &format!("2024-03-0{day}T10:00:00Z")))
            .collect();
        write(&src.join(format!("{i}.json")), delivery(&records));
    }
    let lake = dir.join("lake");
    ingest_with(&lake, &[&src], &["--threads", "1"]).expect_code(0);
    assert_eq!(parquet_files(&lake).len(), 4);
    (lake, src)
}

#[test]
fn staged_files_without_a_commit_record_are_rolled_back() {
    let tmp = tempdir();
    let (lake, src) = committed_lake(tmp.path());
    let before = counts(&lake);
    let files = parquet_files(&lake);

    // A transaction killed before its commit point: staged Parquet files (real ones, with rows).
    let some_file = files.iter().next().expect("a file");
    let staged = lake
        .join("_crosstrail/staging/18f00000000-deadbeef0000")
        .join(some_file);
    std::fs::create_dir_all(staged.parent().expect("parent")).expect("mkdir");
    std::fs::copy(lake.join(some_file), &staged).expect("copy");

    let r = ingest(&lake, &[&src]);
    r.expect_code(0);
    assert_eq!(objects_line(&r.stderr), [3, 0, 3, 0, 0], "{r}");
    assert!(staging_entries(&lake).is_empty());
    assert_eq!(counts(&lake), before);
    assert_eq!(parquet_files(&lake), files);
}

#[test]
fn a_commit_interrupted_after_its_commit_point_is_rolled_forward() {
    let tmp = tempdir();
    let (lake, src) = committed_lake(tmp.path());
    let before = counts(&lake);
    let files = parquet_files(&lake);

    // Put the files of the commit back in staging, as if the process died after writing the
    // commit record but before moving every file into place (one file did move).
    let dir = lake.join("_crosstrail/manifest");
    let mut moved = 0;
    walk(&dir, &mut |path| {
        let record: serde_json::Value =
            serde_json::from_slice(&std::fs::read(path).expect("read")).expect("json");
        let txn = record["txn"].as_str().expect("txn");
        for (i, f) in record["files"]
            .as_array()
            .expect("files")
            .iter()
            .enumerate()
        {
            if i == 0 {
                continue;
            }
            let rel = f["path"].as_str().expect("path");
            let to = lake.join("_crosstrail/staging").join(txn).join(rel);
            std::fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
            std::fs::rename(lake.join(rel), &to).expect("move");
            moved += 1;
        }
    });
    assert!(moved > 0, "no commit with two files or more");
    assert!(counts(&lake).events_all < before.events_all);

    let r = ingest(&lake, &[&src]);
    r.expect_code(0);
    assert_eq!(objects_line(&r.stderr), [3, 0, 3, 0, 0], "{r}");
    assert!(staging_entries(&lake).is_empty());
    assert_eq!(parquet_files(&lake), files);
    assert_eq!(counts(&lake), before);
}

#[test]
fn a_partial_commit_record_left_by_a_kill_is_ignored() {
    let tmp = tempdir();
    let (lake, src) = committed_lake(tmp.path());
    let before = counts(&lake);
    write(
        &lake.join(
            "_crosstrail/manifest/.tmp-99999-00000000000000000001-18f00000000-deadbeef0000.json",
        ),
        br#"{"txn":"18f00000000-deadbeef0000","committed_at_ns":1,"fi"#,
    );
    write(&src.join("new.json"), delivery(&records("after-crash", 2)));
    let r = ingest(&lake, &[&src]);
    r.expect_code(0);
    assert_eq!(counts(&lake).events_all, before.events_all + 2);
}

#[test]
fn a_second_writer_is_refused_while_the_first_holds_the_lock() {
    let tmp = tempdir();
    let (lake, src) = committed_lake(tmp.path());
    // Hold the writer lock the way a running ingest does.
    let lock = std::fs::File::options()
        .write(true)
        .open(lake.join("_crosstrail/lock"))
        .expect("lock file");
    lock.try_lock().expect("take the lock");
    let r = ingest(&lake, &[&src]);
    r.expect_code(1);
    assert!(
        r.stderr
            .contains("another crosstrail process is writing to the lake"),
        "{r}"
    );
    drop(lock);
    ingest(&lake, &[&src]).expect_code(0);
}

#[test]
fn many_commits_are_folded_into_a_checkpoint() {
    let tmp = tempdir();
    let src = tmp.path().join("src");
    let lake = tmp.path().join("lake");
    let manifest_dir = lake.join("_crosstrail/manifest");
    let commit_files = || {
        std::fs::read_dir(&manifest_dir)
            .map(|d| d.count())
            .unwrap_or(0)
    };
    // One commit per run with one worker (how work spreads over more workers depends on
    // timing): add an object per run until there are more commit records than the
    // checkpoint threshold (256).
    let mut objects = 0;
    let mut round = 0;
    while commit_files() <= 256 {
        write(
            &src.join(format!("r{round}.json")),
            delivery(&records(&format!("r{round}"), 1)),
        );
        objects += 1;
        ingest_with(&lake, &[&src], &["--threads", "1"]).expect_code(0);
        round += 1;
        assert!(round <= 257, "commits do not accumulate");
    }
    let before = counts(&lake);
    // The next writer folds them into one checkpoint; nothing is read again.
    let r = ingest(&lake, &[&src]);
    r.expect_code(0);
    assert_eq!(objects_line(&r.stderr), [objects, 0, objects, 0, 0], "{r}");
    assert!(commit_files() < 10, "{} commit records", commit_files());
    assert_eq!(manifest(&lake).len() as u64, objects);
    assert_eq!(counts(&lake), before);
    assert_eq!(before.events_all, objects);
    // New work after the checkpoint still lands once.
    write(&src.join("after.json"), delivery(&records("after", 2)));
    let r = ingest(&lake, &[&src]);
    r.expect_code(0);
    assert_eq!(
        objects_line(&r.stderr),
        [objects + 1, 1, objects, 0, 0],
        "{r}"
    );
    assert_eq!(counts(&lake).events_all, objects + 2);
}
