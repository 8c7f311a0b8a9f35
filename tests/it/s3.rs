//! `crosstrail ingest s3://…` against a real S3-protocol server on loopback (`s3s-fs`, started
//! in process by each test) behind a fault-injecting front end: account and organization
//! layouts, pruning (the listings made are asserted), pagination, re-runs, credential errors,
//! AccessDenied on one object, 503s / resets / truncated bodies / delays, and sharding. Every
//! S3 lake is compared with a local ingest of the same files. Nothing reaches the internet:
//! the endpoint is the loopback server, credentials come from the environment, and instance
//! metadata is disabled.

mod access;
mod lake;
mod server;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::Ordering;

use server::{ACCESS_KEY, Faults, SECRET_KEY, Server};

use crate::generated::small_spec;
use crate::util::{
    Run, counts, crosstrail, csv_rows, delivery, gzip, ingest_with, manifest, objects_line, record,
    records, records_read, sql, tempdir, walk, write,
};

const BUCKET: &str = "trail";

/// A loopback S3 server whose bucket `trail` holds a generated trail under `logs/AWSLogs/`
/// (account and organization layouts, digests and Insights), and that trail's local folder.
struct World {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    server: Server,
    truth: crosstrail_synth::Truth,
}

impl World {
    fn new() -> World {
        World::served_by(Server::start)
    }

    /// [`World::new`] with the server `start` gives.
    fn served_by(start: fn(&Path) -> Server) -> World {
        let tmp = tempdir();
        let dir = tmp.path().to_path_buf();
        let gen_dir = dir.join("gen");
        let truth = crosstrail_synth::generate(&small_spec(), &gen_dir).expect("generate");
        let logs = dir.join("s3").join(BUCKET).join("logs");
        std::fs::create_dir_all(&logs).expect("mkdir");
        std::fs::rename(gen_dir.join("AWSLogs"), logs.join("AWSLogs")).expect("move the trail");
        let server = start(&dir.join("s3"));
        World {
            _tmp: tmp,
            dir,
            server,
            truth,
        }
    }

    /// The trail as a local folder (the very files the server serves).
    fn local(&self) -> PathBuf {
        self.dir
            .join("s3")
            .join(BUCKET)
            .join("logs")
            .join("AWSLogs")
    }

    fn lake(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// `crosstrail ingest URL --lake LAKE` against the server, with valid credentials.
    fn ingest(&self, url: &str, lake: &Path, flags: &[&str]) -> Run {
        s3_ingest(
            &self.server,
            url,
            lake,
            flags,
            Some((ACCESS_KEY, SECRET_KEY)),
        )
    }

    /// Object GETs the server saw.
    fn gets(&self) -> usize {
        self.server
            .requests()
            .iter()
            .filter(|r| r.method == "GET" && !r.is_list())
            .count()
    }
}

/// Runs `crosstrail ingest` on `url` with an environment that reaches only `server`: no AWS
/// variable or file of the machine, no instance metadata, and `credentials` when given.
fn s3_ingest(
    server: &Server,
    url: &str,
    lake: &Path,
    flags: &[&str],
    credentials: Option<(&str, &str)>,
) -> Run {
    let mut cmd = s3_command(credentials);
    cmd.arg("ingest")
        .arg(url)
        .arg("--lake")
        .arg(lake)
        .args(["--endpoint-url", &server.endpoint, "--threads", "2"])
        .args(flags);
    finish(cmd)
}

/// `crosstrail` with an environment that reaches only the loopback server (with
/// `--endpoint-url`): no AWS
/// variable or file of the machine, no instance metadata, and `credentials` when given.
fn s3_command(credentials: Option<(&str, &str)>) -> std::process::Command {
    let mut cmd = crosstrail();
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("AWS_") {
            cmd.env_remove(name);
        }
    }
    // A path that never exists: no shared config or credentials file is read.
    let nowhere = std::env::temp_dir().join("crosstrail-tests-no-aws-config/none");
    cmd.env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", &nowhere)
        .env("AWS_SHARED_CREDENTIALS_FILE", &nowhere)
        .env("AWS_REGION", "us-east-1");
    if let Some((key, secret)) = credentials {
        cmd.env("AWS_ACCESS_KEY_ID", key)
            .env("AWS_SECRET_ACCESS_KEY", secret);
    }
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd
}

/// Runs `cmd` to its end; it must not panic.
fn finish(mut cmd: std::process::Command) -> Run {
    let out = cmd.output().expect("cannot run crosstrail");
    let run = Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    run.assert_no_panic();
    run
}

/// What must be identical between an S3 lake and a local lake of the same objects: every row
/// copy, with the object it came from named from `AWSLogs/` on. External-ID fingerprints are
/// keyed per lake, so they are compared by presence only.
fn lake_content(lake: &Path) -> String {
    let mut out = sql(
        lake,
        "csv",
        "SELECT event_id, event_time, event_name, principal_arn, recipient_account_id, \
                regexp_replace(request_parameters, 'redacted:[0-9a-f]+', 'redacted') AS p, \
                regexp_replace(source_object, '^.*/AWSLogs/', 'AWSLogs/') AS o, \
                event_date FROM events_all ORDER BY event_id, o",
    );
    out.push_str(&sql(
        lake,
        "csv",
        "SELECT event_id, role_arn, temp_access_key_id, external_id_fingerprint IS NULL, \
                regexp_replace(source_object, '^.*/AWSLogs/', 'AWSLogs/') AS o \
         FROM sessions_all ORDER BY event_id, o",
    ));
    out
}

/// Fails with the first differing rows unless `a` and `b` hold the same rows.
#[track_caller]
fn assert_same_lake(a: &Path, b: &Path) {
    let (x, y) = (lake_content(a), lake_content(b));
    if x != y {
        let xs: BTreeSet<&str> = x.lines().collect();
        let ys: BTreeSet<&str> = y.lines().collect();
        let only_a: Vec<&&str> = xs.difference(&ys).take(5).collect();
        let only_b: Vec<&&str> = ys.difference(&xs).take(5).collect();
        panic!(
            "lakes differ ({} vs {} lines)\nonly in {}: {only_a:#?}\nonly in {}: {only_b:#?}",
            x.lines().count(),
            y.lines().count(),
            a.display(),
            b.display()
        );
    }
}

/// The local folders of one kind under `dir` (sorted names).
fn subdirs(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn files_under(dir: &Path) -> usize {
    let mut n = 0;
    walk(dir, &mut |_| n += 1);
    n
}

#[test]
fn a_trail_in_s3_lands_exactly_as_from_disk_and_a_rerun_fetches_nothing() {
    let w = World::new();
    let n = &w.truth.counts;
    let url = format!("s3://{BUCKET}/logs");
    let lake = w.lake("lake-s3");
    let r = w.ingest(&url, &lake, &[]);
    r.expect_code(0);
    let skipped = n.digest_objects + n.insight_objects;
    assert_eq!(
        objects_line(&r.stderr),
        [n.log_objects + skipped, n.log_objects, 0, skipped, 0],
        "{r}"
    );
    assert_eq!(records_read(&r.stderr), n.records_written_total);
    let c = counts(&lake);
    assert_eq!(
        (c.events, c.events_all),
        (n.records, n.records_written_total)
    );
    // Both layouts were read: account trails and the organization trail's copies.
    let layouts = csv_rows(
        &lake,
        "SELECT DISTINCT source_object LIKE '%/AWSLogs/o-%' FROM events_all ORDER BY 1",
    );
    assert_eq!(layouts, ["false", "true"]);
    // Object identity is the S3 URL; digests and Insights were not fetched.
    let m = manifest(&lake);
    assert_eq!(m.len() as u64, n.log_objects);
    assert!(
        m.keys().all(|k| k.starts_with("s3://trail/logs/AWSLogs/")),
        "{m:?}"
    );
    assert_eq!(w.gets() as u64, n.log_objects);
    // Objects and listings come through the lean path (signed, or the server would refuse
    // them), and say who reads the bucket.
    let agents = |list: bool| -> BTreeSet<String> {
        w.server
            .requests()
            .into_iter()
            .filter(|r| r.method == "GET" && r.is_list() == list)
            .map(|r| r.user_agent)
            .collect()
    };
    let ours = BTreeSet::from([format!("crosstrail/{}", env!("CARGO_PKG_VERSION"))]);
    assert_eq!(agents(false), ours);
    assert_eq!(agents(true), ours);

    let local = w.lake("lake-local");
    ingest_with(&local, &[&w.local()], &["--threads", "2"]).expect_code(0);
    assert_same_lake(&lake, &local);

    // A second run lists again and fetches nothing.
    w.server.clear_log();
    let r = w.ingest(&url, &lake, &[]);
    r.expect_code(0);
    assert_eq!(
        objects_line(&r.stderr),
        [n.log_objects + skipped, 0, n.log_objects, skipped, 0],
        "{r}"
    );
    assert_eq!(w.gets(), 0, "a re-run fetched objects");
    assert_same_lake(&lake, &local);
}

#[test]
fn one_day_of_one_account_lists_only_that_day() {
    let w = World::new();
    let awslogs = w.local();
    let account = subdirs(&awslogs)
        .into_iter()
        .find(|a| a.len() == 12)
        .expect("an account folder");
    let org = subdirs(&awslogs)
        .into_iter()
        .find(|a| a.starts_with("o-"))
        .expect("an organization folder");
    let regions_dir = awslogs.join(&account).join("CloudTrail");
    let region = subdirs(&regions_dir).remove(0);
    let day = "2026/01/03";
    let day_dir = regions_dir.join(&region).join(day);
    let expected = files_under(&day_dir)
        + files_under(
            &awslogs
                .join(&org)
                .join(&account)
                .join("CloudTrail")
                .join(&region)
                .join(day),
        );
    assert!(expected > 0, "no objects on {day} in {}", day_dir.display());

    let flags = [
        "--accounts",
        &account,
        "--regions",
        &region,
        "--from",
        "2026-01-03",
        "--to",
        "2026-01-03",
    ];
    let lake = w.lake("lake-s3");
    let r = w.ingest(&format!("s3://{BUCKET}/logs"), &lake, &flags);
    r.expect_code(0);
    assert_eq!(
        objects_line(&r.stderr),
        [expected as u64, expected as u64, 0, 0, 0],
        "{r}"
    );
    // The listings: find AWSLogs/, list it for organization ids, then only the day's month,
    // from the day's first key (StartAfter), in the account trail and the organization trail.
    let month_prefix =
        |base: &str| format!("logs/AWSLogs/{base}{account}/CloudTrail/{region}/2026/01/");
    let mut listings: Vec<(String, Option<String>, Option<String>)> = w
        .server
        .requests()
        .iter()
        .filter(|r| r.is_list())
        .map(|r| {
            (
                r.param("prefix").unwrap_or("").to_string(),
                r.param("delimiter").map(str::to_string),
                r.param("start-after").map(str::to_string),
            )
        })
        .collect();
    listings.sort();
    let slash = Some("/".to_string());
    let mut want = vec![
        ("logs/".to_string(), slash.clone(), None),
        ("logs/AWSLogs/".to_string(), slash, None),
        (
            month_prefix(""),
            None,
            Some(format!("{}03", month_prefix(""))),
        ),
        (
            month_prefix(&format!("{org}/")),
            None,
            Some(format!("{}03", month_prefix(&format!("{org}/")))),
        ),
    ];
    want.sort();
    assert_eq!(listings, want);
    assert_eq!(w.gets(), expected);

    // Local folders laid out the same way are pruned the same way, to the same lake.
    let local = w.lake("lake-local");
    let mut local_flags = vec!["--threads", "2"];
    local_flags.extend(flags);
    let r = ingest_with(&local, &[&w.local()], &local_flags);
    r.expect_code(0);
    assert_eq!(objects_line(&r.stderr)[1], expected as u64, "{r}");
    assert_same_lake(&lake, &local);

    // Without --regions the regions are discovered, one delimiter listing per trail.
    w.server.clear_log();
    let lake = w.lake("lake-s3-regions");
    let r = w.ingest(
        &format!("s3://{BUCKET}/logs"),
        &lake,
        &[
            "--accounts",
            &account,
            "--from",
            "2026-01-03",
            "--to",
            "2026-01-03",
        ],
    );
    r.expect_code(0);
    let requests = w.server.requests();
    let listed: BTreeSet<String> = requests
        .iter()
        .filter(|r| r.is_list())
        .map(|r| r.param("prefix").unwrap_or("").to_string())
        .collect();
    assert!(listed.contains(&format!("logs/AWSLogs/{account}/CloudTrail/")));
    for prefix in &listed {
        let other_account = prefix.contains("/AWSLogs/")
            && prefix
                .split('/')
                .any(|p| p.len() == 12 && p.bytes().all(|b| b.is_ascii_digit()))
            && !prefix.contains(&account);
        assert!(!other_account, "listed another account: {prefix}");
        assert!(
            !prefix.contains("CloudTrail-"),
            "listed digests or Insights: {prefix}"
        );
    }
}

/// `n` objects of one record each, all in one day of one account and region, in `bucket`.
fn one_day_of_objects(bucket: &Path, n: u64) {
    objects_of_day(bucket, 1, n);
}

/// `n` objects of one record each, all delivered on 2024-03-`day` to one account and region.
fn objects_of_day(bucket: &Path, day: u32, n: u64) {
    let folder = bucket.join(format!(
        "AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/{day:02}"
    ));
    for i in 0..n {
        write(
            &folder.join(format!(
                "111122223333_CloudTrail_us-east-1_202403{day:02}T1000Z_{i:016}.json.gz"
            )),
            gzip(&delivery(&records(&format!("p{day}-{i}"), 1))),
        );
    }
}

/// Serves `<root>/s3` with 20 ms added to every request and ingests `s3://<bucket>` into
/// `<root>/lake`, which must take all `n` objects of one record each. Returns the server, for
/// its log and counters.
fn ingest_at_20_ms(root: &Path, bucket: &str, n: u64) -> Server {
    ingest_with_faults(root, bucket, n, |faults| {
        faults.latency_ms.store(20, Ordering::Relaxed);
    })
}

/// Ingests the `n` objects of `s3://bucket` (kept below `root/s3`) into `root/lake` from a
/// server with the `faults` set, checks that all of them landed, and returns the server.
fn ingest_with_faults(root: &Path, bucket: &str, n: u64, faults: impl FnOnce(&Faults)) -> Server {
    let server = Server::start(&root.join("s3"));
    faults(&server.faults);
    let lake = root.join("lake");
    let r = s3_ingest(
        &server,
        &format!("s3://{bucket}"),
        &lake,
        &[],
        Some((ACCESS_KEY, SECRET_KEY)),
    );
    r.expect_code(0);
    assert_eq!(objects_line(&r.stderr), [n, n, 0, 0, 0], "{r}");
    assert_eq!(counts(&lake).events, n);
    server
}

#[test]
fn the_first_days_are_fetched_while_later_ones_are_still_listed() {
    // Four days of 600 objects in one region: its keys come in three pages of 1,000. Day 1 is
    // complete with the first page, so its GETs go out while the later pages are asked for
    // (20 ms a request here), not after the whole listing.
    let tmp = tempdir();
    let bucket = tmp.path().join("s3/days");
    for day in 1..=4 {
        objects_of_day(&bucket, day, 600);
    }
    let server = ingest_at_20_ms(tmp.path(), "days", 2_400);
    let requests = server.requests();
    let pages = requests
        .iter()
        .filter(|r| r.is_list() && r.param("delimiter").is_none());
    assert_eq!(pages.count(), 3, "the region in three pages");
    let last_listing = requests
        .iter()
        .rposition(|r| r.is_list())
        .expect("listings");
    let first_get = requests
        .iter()
        .position(|r| r.method == "GET" && !r.is_list())
        .expect("GETs");
    assert!(
        first_get < last_listing,
        "the first GET (request {first_get}) came after the last listing (request {last_listing})"
    );
}

#[test]
fn objects_are_fetched_day_by_day_whatever_order_the_listings_answer_in() {
    // Eight days of an account trail and of an organization trail, whose account is found
    // later: the account trail's regions are listed first. A day goes to the
    // fetcher once every region has listed it, so the objects go to the workers day by day
    // and each writes a day's rows into one file. Handed out as soon as a region was listed,
    // the days came once per region (and with six files open per worker, days were written
    // in several files each). One GET at a time shows the order.
    let tmp = tempdir();
    let bucket = tmp.path().join("s3/both");
    let trails = [
        "AWSLogs/111122223333/CloudTrail/us-east-1",
        "AWSLogs/111122223333/CloudTrail/eu-west-1",
        "AWSLogs/o-abcdefghij/444455556666/CloudTrail/us-east-1",
    ];
    for (t, trail) in trails.iter().enumerate() {
        for day in 1..=8 {
            for i in 0..2 {
                let record = record(
                    &format!("t{t}-d{day}-{i}"),
                    &format!("2024-03-{day:02}T10:00:00Z"),
                );
                write(
                    &bucket.join(format!(
                        "{trail}/2024/03/{day:02}/x_CloudTrail_r_202403{day:02}T10{i:02}Z_{t}.json.gz"
                    )),
                    gzip(&delivery(&[record])),
                );
            }
        }
    }
    let server = Server::start(&tmp.path().join("s3"));
    server.faults.latency_ms.store(20, Ordering::Relaxed);
    // The organization's account is found after the account trail's regions are listed.
    *server.faults.slow_listing.lock().expect("faults") =
        Some(("AWSLogs/o-abcdefghij/".to_string(), 200));
    let lake = tmp.path().join("lake");
    let r = s3_ingest(
        &server,
        "s3://both",
        &lake,
        &["--concurrency", "1"],
        Some((ACCESS_KEY, SECRET_KEY)),
    );
    r.expect_code(0);
    assert_eq!(objects_line(&r.stderr), [48, 48, 0, 0, 0], "{r}");
    let days: Vec<String> = server
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && !r.is_list())
        .map(|r| r.path.split("/2024/03/").nth(1).unwrap_or_default()[..2].to_string())
        .collect();
    assert_eq!(days.len(), 48);
    assert!(days.is_sorted(), "GETs by day: {days:?}");
}

#[test]
fn listings_of_more_than_1000_keys_are_paged() {
    let tmp = tempdir();
    let n = 1_050;
    one_day_of_objects(&tmp.path().join("s3/big"), n);
    let server = Server::start(&tmp.path().join("s3"));
    let creds = Some((ACCESS_KEY, SECRET_KEY));
    let lake = tmp.path().join("lake");
    let r = s3_ingest(&server, "s3://big", &lake, &[], creds);
    r.expect_code(0);
    assert_eq!(objects_line(&r.stderr), [n, n, 0, 0, 0], "{r}");
    assert_eq!(counts(&lake).events, n);
    // The layout is discovered down to the region (one delimiter listing per level; `AWSLogs/`
    // and the account's `CloudTrail/` are listed alongside their parents), which is listed
    // flat: its 1,050 keys come in two pages.
    let listings: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.is_list())
        .collect();
    let region = "AWSLogs/111122223333/CloudTrail/us-east-1/";
    let (pages, discovery): (Vec<_>, Vec<_>) = listings
        .iter()
        .partition(|r| r.param("prefix") == Some(region));
    assert_eq!(pages.len(), 2, "{listings:?}");
    assert!(pages[1].param("continuation-token").is_some());
    assert!(pages.iter().all(|r| r.param("delimiter").is_none()));
    let mut levels: Vec<&str> = discovery
        .iter()
        .map(|r| r.param("prefix").unwrap_or(""))
        .collect();
    levels.sort();
    assert_eq!(
        levels,
        [
            "",
            "AWSLogs/",
            "AWSLogs/111122223333/",
            "AWSLogs/111122223333/CloudTrail/",
        ],
        "each level once: {listings:?}"
    );
    assert!(discovery.iter().all(|r| r.param("delimiter") == Some("/")));

    // The pruned listing (a region listed day by day from StartAfter) pages too.
    server.clear_log();
    let lake = tmp.path().join("lake-pruned");
    let r = s3_ingest(&server, "s3://big", &lake, &["--from", "2024-03-01"], creds);
    r.expect_code(0);
    assert_eq!(objects_line(&r.stderr), [n, n, 0, 0, 0], "{r}");
    let pages = server
        .requests()
        .into_iter()
        .filter(|r| r.is_list())
        .count();
    assert!(pages >= 2 + 3, "{pages} listings");
}

#[test]
fn a_slow_endpoint_gets_more_gets_in_flight_than_a_run_starts_with() {
    // A run starts with 64 GETs in flight (256 when even the fastest listing took more than
    // 5 ms, as here) and doubles them while the workers wait on latency: at 20 ms a request,
    // 1,050 small objects need more than 256 at once to be fetched quickly.
    let tmp = tempdir();
    let n = 1_050;
    one_day_of_objects(&tmp.path().join("s3/slow"), n);
    let server = ingest_at_20_ms(tmp.path(), "slow", n);
    let most = server.most_gets_in_flight.load(Ordering::Relaxed);
    assert!(
        most > 256,
        "at most {most} GETs at once: they did not grow past the first 256"
    );
    // `--concurrency` stays the ceiling.
    server.most_gets_in_flight.store(0, Ordering::Relaxed);
    let lake = tmp.path().join("lake-capped");
    let flags = ["--concurrency", "8"];
    let r = s3_ingest(
        &server,
        "s3://slow",
        &lake,
        &flags,
        Some((ACCESS_KEY, SECRET_KEY)),
    );
    r.expect_code(0);
    let most = server.most_gets_in_flight.load(Ordering::Relaxed);
    assert!(most <= 8, "{most} GETs at once with --concurrency 8");
    // So does the open-file limit, less 256 kept for files, when the run cannot raise it.
    #[cfg(target_os = "linux")]
    {
        server.most_gets_in_flight.store(0, Ordering::Relaxed);
        let mut cmd = s3_command(Some((ACCESS_KEY, SECRET_KEY)));
        cmd.arg("ingest")
            .arg("s3://slow")
            .arg("--lake")
            .arg(tmp.path().join("lake-few-files"))
            .args(["--endpoint-url", &server.endpoint]);
        with_open_file_limit(&mut cmd, 400);
        let r = finish(cmd);
        r.expect_code(0);
        assert_eq!(objects_line(&r.stderr), [n, n, 0, 0, 0], "{r}");
        let most = server.most_gets_in_flight.load(Ordering::Relaxed);
        assert!(
            most <= 144,
            "{most} GETs at once with 400 files open at most"
        );
    }
}

#[test]
fn gets_in_flight_stop_growing_where_each_one_only_waits_longer() {
    // The server answers one GET at a time, 6 ms each: the workers wait longer than 5 ms for
    // every object, as they would on latency, so the GETs in flight double. Twice as many in
    // flight, each takes twice as long: the doubling is undone, and not tried again before
    // 16 times as many GETs as the limit (more than the 600 here), where it used to double on
    // every wait up to the whole listing at once.
    let tmp = tempdir();
    let n = 600;
    one_day_of_objects(&tmp.path().join("s3/one"), n);
    let server = ingest_with_faults(tmp.path(), "one", n, |faults| {
        faults.one_at_a_time_ms.store(6, Ordering::Relaxed);
    });
    // A run starts with 64 in flight, or 256 when a listing took more than 5 ms: one
    // doubling of either is tried.
    let most = server.most_gets_in_flight.load(Ordering::Relaxed);
    assert!(most <= 2 * 256, "{most} GETs at once");
}

/// Makes `cmd` start with at most `n` files open, a limit it cannot raise.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn with_open_file_limit(cmd: &mut std::process::Command, n: u64) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the hook runs in the child between fork and exec and only calls setrlimit,
    // which is async-signal-safe, on a value on its own stack.
    unsafe {
        cmd.pre_exec(move || {
            let limit = libc::rlimit {
                rlim_cur: n,
                rlim_max: n,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
}

#[test]
fn missing_credentials_stop_before_any_request() {
    let w = World::new();
    let lake = w.lake("lake");
    let r = s3_ingest(&w.server, &format!("s3://{BUCKET}/logs"), &lake, &[], None);
    r.expect_code(1);
    assert!(r.stderr.contains("no usable AWS credentials"), "{r}");
    assert!(
        r.stderr.contains("AWS_ACCESS_KEY_ID"),
        "says what was tried: {r}"
    );
    assert!(r.stderr.contains("--no-sign-request"), "{r}");
    assert!(w.server.requests().is_empty(), "requests were made");
    assert!(manifest_is_empty(&lake));
}

#[test]
fn a_wrong_secret_stops_at_the_first_listing() {
    let w = World::new();
    let lake = w.lake("lake");
    let url = format!("s3://{BUCKET}/logs");
    let r = s3_ingest(
        &w.server,
        &url,
        &lake,
        &[],
        Some((ACCESS_KEY, "not-the-secret")),
    );
    r.expect_code(1);
    assert!(r.stderr.contains("SignatureDoesNotMatch"), "{r}");
    assert!(r.stderr.contains("secret access key"), "{r}");
    assert!(
        r.stderr.contains("region us-east-1"),
        "says what was tried: {r}"
    );
    assert!(r.stderr.contains(&w.server.endpoint), "{r}");
    // Only the first level was tried (the prefix and, alongside, its `AWSLogs/`), once each.
    let mut listed: Vec<String> = w
        .server
        .requests()
        .iter()
        .map(|r| r.param("prefix").unwrap_or("").to_string())
        .collect();
    listed.sort();
    assert_eq!(listed, ["logs/", "logs/AWSLogs/"]);
    assert!(manifest_is_empty(&lake));

    // An unknown bucket is the same kind of error.
    let r = w.ingest("s3://no-such-bucket", &lake, &[]);
    r.expect_code(1);
    assert!(r.stderr.contains("NoSuchBucket"), "{r}");
}

fn manifest_is_empty(lake: &Path) -> bool {
    let dir = lake.join("_crosstrail").join("manifest");
    !dir.exists() || crate::util::manifest(lake).is_empty()
}

#[test]
fn access_denied_on_one_object_fails_it_alone() {
    let w = World::new();
    let n = &w.truth.counts;
    let url = format!("s3://{BUCKET}/logs");
    let denied = {
        let mut first = None;
        walk(&w.local(), &mut |p| {
            let s = p.to_string_lossy();
            if first.is_none() && s.contains("/CloudTrail/") {
                first = Some(p.file_name().expect("name").to_string_lossy().into_owned());
            }
        });
        first.expect("a log object")
    };
    w.server
        .faults
        .deny
        .lock()
        .expect("deny")
        .push(denied.clone());
    let lake = w.lake("lake");
    let r = w.ingest(&url, &lake, &[]);
    r.expect_code(2);
    let skipped = n.digest_objects + n.insight_objects;
    assert_eq!(
        objects_line(&r.stderr),
        [n.log_objects + skipped, n.log_objects - 1, 0, skipped, 1],
        "{r}"
    );
    let line = r
        .stderr
        .lines()
        .find(|l| l.contains(&denied))
        .unwrap_or_else(|| panic!("the object is not named:\n{r}"));
    assert!(line.contains("s3://trail/logs/AWSLogs/"), "{line}");
    assert!(line.contains("AccessDenied"), "{line}");
    let m = manifest(&w.lake("lake"));
    let entry = m
        .iter()
        .find(|(k, _)| k.ends_with(&denied))
        .map(|(_, v)| v.clone())
        .expect("the denied object is in the manifest");
    assert_eq!(entry["status"], "failed", "{entry}");

    // Allowed again: the next run fetches that object alone.
    w.server.faults.deny.lock().expect("deny").clear();
    w.server.clear_log();
    let r = w.ingest(&url, &lake, &[]);
    r.expect_code(0);
    assert_eq!(objects_line(&r.stderr)[1], 1, "{r}");
    assert_eq!(w.gets(), 1);
    let local = w.lake("lake-local");
    ingest_with(&local, &[&w.local()], &["--threads", "2"]).expect_code(0);
    assert_same_lake(&lake, &local);
}

#[test]
fn slowdowns_resets_truncated_bodies_and_delays_leave_the_lake_exact() {
    let w = World::new();
    let f = &w.server.faults;
    f.slow_down_every.store(11, Ordering::Relaxed);
    f.reset_every.store(13, Ordering::Relaxed);
    f.truncate_every.store(7, Ordering::Relaxed);
    f.latency_ms.store(5, Ordering::Relaxed);
    let lake = w.lake("lake");
    let r = w.ingest(
        &format!("s3://{BUCKET}/logs"),
        &lake,
        &["--concurrency", "16"],
    );
    r.expect_code(0);
    let n = &w.truth.counts;
    assert_eq!(objects_line(&r.stderr)[1], n.log_objects, "{r}");
    assert!(
        w.gets() as u64 > n.log_objects + 10,
        "faults were injected and retried: {} GETs for {} objects",
        w.gets(),
        n.log_objects
    );
    let local = w.lake("lake-local");
    ingest_with(&local, &[&w.local()], &["--threads", "2"]).expect_code(0);
    assert_same_lake(&lake, &local);
}

#[test]
fn a_trail_over_https_lands_exactly_once_its_certificate_is_trusted() {
    let w = World::served_by(Server::start_tls);
    assert!(w.server.endpoint.starts_with("https://"));
    let url = format!("s3://{BUCKET}/logs");
    let ca = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls/ca.pem");
    let run = |lake: &Path, ca: Option<&Path>| {
        let mut cmd = s3_command(Some((ACCESS_KEY, SECRET_KEY)));
        cmd.arg("ingest").arg(&url).arg("--lake").arg(lake).args([
            "--endpoint-url",
            &w.server.endpoint,
            "--threads",
            "2",
        ]);
        match ca {
            Some(ca) => cmd.env("SSL_CERT_FILE", ca),
            // Roots that cannot include the test CA, whatever the machine has.
            None => cmd.env(
                "SSL_CERT_FILE",
                Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"),
            ),
        };
        finish(cmd)
    };
    // Not trusted: one clear error before any work.
    let lake = w.lake("lake");
    let r = run(&lake, None);
    r.expect_code(1);
    assert!(r.stderr.to_lowercase().contains("certificate"), "{r}");
    assert_eq!(w.gets(), 0);

    // Trusted, with bodies cut short and connections reset over TLS now and then.
    let f = &w.server.faults;
    f.reset_every.store(13, Ordering::Relaxed);
    f.truncate_every.store(7, Ordering::Relaxed);
    let r = run(&lake, Some(&ca));
    r.expect_code(0);
    let n = &w.truth.counts;
    assert_eq!(objects_line(&r.stderr)[1], n.log_objects, "{r}");
    assert!(w.gets() as u64 > n.log_objects + 10, "faults were retried");
    let local = w.lake("lake-local");
    ingest_with(&local, &[&w.local()], &["--threads", "2"]).expect_code(0);
    assert_same_lake(&lake, &local);
}

#[test]
fn credentials_that_expire_mid_run_are_fetched_again_and_the_get_retried() {
    // Temporary credentials (SSO, an assumed role) can run out during a long run: S3 answers
    // ExpiredToken, the GET path forgets its cached credentials, asks the chain again and
    // retries the object; nothing fails.
    let w = World::new();
    w.server.faults.expired_every.store(5, Ordering::Relaxed);
    let lake = w.lake("lake");
    let r = w.ingest(&format!("s3://{BUCKET}/logs"), &lake, &[]);
    r.expect_code(0);
    let n = &w.truth.counts;
    assert_eq!(objects_line(&r.stderr)[1], n.log_objects, "{r}");
    assert!(
        w.gets() as u64 >= n.log_objects + n.log_objects / 5,
        "{} GETs for {} objects",
        w.gets(),
        n.log_objects
    );
    let local = w.lake("lake-local");
    ingest_with(&local, &[&w.local()], &["--threads", "2"]).expect_code(0);
    assert_same_lake(&lake, &local);
}

#[test]
fn an_object_that_keeps_failing_is_recorded_and_read_next_run() {
    let tmp = tempdir();
    let day = tmp
        .path()
        .join("s3/few/AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/01");
    for i in 0..3 {
        write(
            &day.join(format!(
                "111122223333_CloudTrail_us-east-1_20240301T1000Z_{i:016}.json.gz"
            )),
            gzip(&delivery(&records(&format!("f{i}"), 50))),
        );
    }
    let server = Server::start(&tmp.path().join("s3"));
    let creds = Some((ACCESS_KEY, SECRET_KEY));
    // Every body breaks half-way, every time.
    server.faults.truncate_every.store(1, Ordering::Relaxed);
    let lake = tmp.path().join("lake");
    let r = s3_ingest(&server, "s3://few", &lake, &[], creds);
    r.expect_code(2);
    assert_eq!(objects_line(&r.stderr), [3, 0, 0, 0, 3], "{r}");
    assert!(r.stderr.contains("gave up after 8 attempts"), "{r}");
    assert_eq!(counts(&lake).events_all, 0, "nothing half-ingested");
    let m = manifest(&lake);
    assert!(m.values().all(|e| e["status"] == "failed"), "{m:?}");

    server.faults.truncate_every.store(0, Ordering::Relaxed);
    let r = s3_ingest(&server, "s3://few", &lake, &[], creds);
    r.expect_code(0);
    assert_eq!(objects_line(&r.stderr), [3, 3, 0, 0, 0], "{r}");
    assert_eq!(counts(&lake).events_all, 150);
}

#[test]
fn shards_split_a_trail_without_overlap() {
    let w = World::new();
    let n = &w.truth.counts;
    let url = format!("s3://{BUCKET}/logs");
    // Three shares, one after another into one lake (a lake has one writer at a time).
    let lake = w.lake("lake");
    let mut ingested = 0;
    for i in 0..3 {
        let shard = format!("{i}/3");
        let r = w.ingest(&url, &lake, &["--shard", &shard]);
        r.expect_code(0);
        let line = objects_line(&r.stderr);
        assert!(line[1] > 0 && line[1] < n.log_objects, "{r}");
        ingested += line[1];
    }
    assert_eq!(ingested, n.log_objects);
    assert_eq!(w.gets() as u64, n.log_objects, "each object fetched once");
    let local = w.lake("lake-local");
    ingest_with(&local, &[&w.local()], &["--threads", "2"]).expect_code(0);
    assert_same_lake(&lake, &local);

    let r = w.ingest(&url, &lake, &["--shard", "3/3"]);
    r.expect_code(1);
    assert!(r.stderr.contains("--shard"), "{r}");
}

#[test]
fn keys_that_need_escaping_are_signed_and_fetched() {
    // Exports and hand-made folders have names CloudTrail never writes: spaces, `+`, `=`,
    // non-ASCII. Every character must be escaped in the URL exactly as SigV4 signs it, or the
    // server refuses the GET.
    let tmp = tempdir();
    let names = [
        "exports/march 2024/part 1.json.gz",
        "exports/a+b=c/x&y,z.json.gz",
        "exports/équipe/données~(1).json.gz",
        "exports/100%/quoted'name!.json.gz",
    ];
    for (i, name) in names.iter().enumerate() {
        write(
            &tmp.path().join("s3/odd").join(name),
            gzip(&delivery(&records(&format!("odd{i}"), 2))),
        );
    }
    let server = Server::start(&tmp.path().join("s3"));
    let lake = tmp.path().join("lake");
    let r = s3_ingest(
        &server,
        "s3://odd",
        &lake,
        &[],
        Some((ACCESS_KEY, SECRET_KEY)),
    );
    r.expect_code(0);
    let n = names.len() as u64;
    assert_eq!(objects_line(&r.stderr), [n, n, 0, 0, 0], "{r}");
    assert_eq!(counts(&lake).events, 2 * n);
    let keys: BTreeSet<String> = manifest(&lake).into_keys().collect();
    let want: BTreeSet<String> = names.iter().map(|k| format!("s3://odd/{k}")).collect();
    assert_eq!(keys, want);
}
