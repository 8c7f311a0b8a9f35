//! End-to-end ingest benchmark: `cargo bench --bench ingest`.
//!
//! Generates CloudTrail logs (`crosstrail-synth`, >= 300 MB of JSON by default) into a temp dir
//! under /dev/shm, then in the same run, interleaved round by round:
//! - `gzip -dc` over exactly the `.json.gz` log objects the ingest reads (the baseline);
//! - the release `crosstrail ingest --threads 1 --quiet` and `--threads 2` as child processes,
//!   each into a fresh lake, peak RSS from `wait4`, the lake's row count checked against the
//!   generator's truth after every run.
//!
//! Prints throughput in MB/s of uncompressed JSON and records/s, the ratios against the targets
//! (informational: a miss never fails the run), then a one-thread breakdown of where the time
//! goes per stage, measured in process with the lake crates. See `benches/README.md`.
//!
//! Options (flags after `--`, or environment variables):
//! `--sizes 300,1000` / `CROSSTRAIL_BENCH_SIZES` (MB of uncompressed JSON, default 300),
//! `--runs N` / `CROSSTRAIL_BENCH_RUNS` (default 3), `--no-stages` / `CROSSTRAIL_BENCH_STAGES=0`,
//! `--parquet-variants` / `CROSSTRAIL_BENCH_PARQUET_VARIANTS=1` (time other writer settings on
//! the same batches), `--dir D` / `CROSSTRAIL_BENCH_DIR` (default /dev/shm), `--keep` /
//! `CROSSTRAIL_BENCH_KEEP=1` (leave the generated logs in place, e.g. to profile one ingest).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use crosstrail_ingest::decode::{Limits, decode};
use crosstrail_lake::record::Record;
use crosstrail_lake::schema::events;
use crosstrail_lake::write::ChunkWriter;
use crosstrail_lake::{
    BatchBuilder, Lake, ObjectBatches, RecordLimits, RecordSink, Table, Txn, read_document,
};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

const MB: f64 = 1e6;
const SEED: u64 = 42;
/// Rows a worker gathers before writing them (`FLUSH_ROWS` in crates/ingest/src/pipeline.rs).
const FLUSH_ROWS: usize = 16 * 1024;
/// Targets from the issue, shown next to the measured ratios.
const TARGET_1T_OVER_GZIP: f64 = 1.0;
const TARGET_2T_OVER_1T: f64 = 1.8;
const TARGET_RSS_MIB: f64 = 512.0;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

struct Config {
    sizes_mb: Vec<u64>,
    runs: usize,
    stages: bool,
    parquet_variants: bool,
    keep: bool,
    base: PathBuf,
}

fn config() -> Result<Config> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    let mut sizes = env("CROSSTRAIL_BENCH_SIZES").unwrap_or_else(|| "300".into());
    let mut runs = env("CROSSTRAIL_BENCH_RUNS").unwrap_or_else(|| "3".into());
    let mut stages = env("CROSSTRAIL_BENCH_STAGES").is_none_or(|v| v != "0");
    let mut parquet_variants = env("CROSSTRAIL_BENCH_PARQUET_VARIANTS").is_some_and(|v| v != "0");
    let mut base = env("CROSSTRAIL_BENCH_DIR").map(PathBuf::from);
    let mut keep = env("CROSSTRAIL_BENCH_KEEP").is_some_and(|v| v != "0");
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().with_context(|| format!("{name} needs a value"));
        match a.as_str() {
            "--bench" => {} // cargo bench passes it to every harness = false bench
            "--sizes" => sizes = value("--sizes")?,
            "--runs" => runs = value("--runs")?,
            "--no-stages" => stages = false,
            "--parquet-variants" => parquet_variants = true,
            "--dir" => base = Some(PathBuf::from(value("--dir")?)),
            "--keep" => keep = true,
            other => eprintln!("ingest bench: ignoring argument {other:?}"),
        }
    }
    let sizes_mb = sizes
        .split(',')
        .map(|s| s.trim().parse::<u64>().ok().filter(|&n| n > 0))
        .collect::<Option<Vec<_>>>()
        .with_context(|| format!("sizes {sizes:?}: expected MB as integers, e.g. 300,1000"))?;
    let runs: usize = runs
        .trim()
        .parse()
        .ok()
        .filter(|&n| n > 0)
        .with_context(|| format!("runs {runs:?}: expected a positive integer"))?;
    // tmpfs: the disk here is slow at creating many small files, and the bench is about CPU.
    let base = base.unwrap_or_else(|| {
        let shm = PathBuf::from("/dev/shm");
        if shm.is_dir() {
            shm
        } else {
            std::env::temp_dir()
        }
    });
    Ok(Config {
        sizes_mb,
        runs,
        stages,
        parquet_variants,
        keep,
        base,
    })
}

fn run() -> Result<()> {
    let cfg = config()?;
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_crosstrail"));
    ensure!(
        bin.is_file(),
        "the crosstrail binary {} is missing",
        bin.display()
    );
    let gzip_version = gzip_version()?;
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    eprintln!("crosstrail ingest benchmark");
    eprintln!("  binary   {}", bin.display());
    eprintln!("  machine  {cpus} CPUs ({}), {gzip_version}", cpu_model());
    eprintln!("  source   {}", source_version());
    eprintln!(
        "  data in  {} (generated, removed at the end)",
        cfg.base.display()
    );
    eprintln!(
        "  runs     {} rounds of gzip -dc, gzip x2, ingest 1 thread, ingest 2 threads; medians of wall time",
        cfg.runs
    );

    let mut results = Vec::new();
    for &size in &cfg.sizes_mb {
        let r = bench_size(&cfg, &bin, size, cpus)?;
        results.push(r);
    }
    print_report(&results, cpus, &gzip_version);
    Ok(())
}

/// What one measured child process did.
struct Measured {
    wall: Duration,
    cpu: Duration,
    max_rss_kib: u64,
    status: ExitStatus,
}

/// Load on the machine just before a run.
#[derive(Clone, Copy)]
struct Conditions {
    load1: f64,
    busy_cores: f64,
}

#[derive(Default)]
struct Series {
    walls: Vec<f64>,
    cpus: Vec<f64>,
    rss_mib: Vec<f64>,
    conditions: Vec<Conditions>,
}

impl Series {
    fn push(&mut self, m: &Measured, c: Conditions) {
        self.walls.push(m.wall.as_secs_f64());
        self.cpus.push(m.cpu.as_secs_f64());
        self.rss_mib.push(m.max_rss_kib as f64 / 1024.0);
        self.conditions.push(c);
    }
    fn wall(&self) -> f64 {
        median(&self.walls)
    }
    fn cpu(&self) -> f64 {
        median(&self.cpus)
    }
    fn peak_rss(&self) -> f64 {
        self.rss_mib.iter().copied().fold(0.0, f64::max)
    }
    fn max_busy(&self) -> f64 {
        self.conditions
            .iter()
            .map(|c| c.busy_cores)
            .fold(0.0, f64::max)
    }
    fn max_load(&self) -> f64 {
        self.conditions.iter().map(|c| c.load1).fold(0.0, f64::max)
    }
}

struct SizeResult {
    size_mb: u64,
    objects: usize,
    records: u64,
    uncompressed: u64,
    compressed: u64,
    parquet_bytes: u64,
    generate_secs: f64,
    gzip: Series,
    gzip2: Series,
    t1: Series,
    t2: Series,
    stages: Option<Stages>,
    variants: Vec<VariantResult>,
}

fn bench_size(cfg: &Config, bin: &Path, size_mb: u64, cpus: usize) -> Result<SizeResult> {
    let work = tempfile::Builder::new()
        .prefix("crosstrail-bench-")
        .tempdir_in(&cfg.base)
        .with_context(|| format!("cannot create a temp dir in {}", cfg.base.display()))?;
    let data = work.path().join("data");
    eprintln!("\n== {size_mb} MB ==");
    let started = Instant::now();
    let spec = crosstrail_synth::Spec::with_target_bytes(SEED, size_mb * 1_000_000);
    let truth = crosstrail_synth::generate(&spec, &data).context("generating the logs")?;
    let generate_secs = started.elapsed().as_secs_f64();
    let counts = &truth.counts;
    let logs = data.join("AWSLogs");
    let objects = log_objects(&logs)?;
    let on_disk: u64 = objects.iter().map(|o| o.size).sum();
    ensure!(
        objects.len() as u64 == counts.log_objects && on_disk == counts.compressed_bytes,
        "found {} log objects ({on_disk} bytes) under {}, the generator wrote {} ({} bytes)",
        objects.len(),
        logs.display(),
        counts.log_objects,
        counts.compressed_bytes
    );
    eprintln!(
        "generated {:.1} MB of JSON ({:.1} MB gzipped) in {} log objects, {} records, in {:.1} s",
        counts.uncompressed_bytes as f64 / MB,
        counts.compressed_bytes as f64 / MB,
        objects.len(),
        counts.records_written_total,
        generate_secs
    );
    if counts.uncompressed_bytes < size_mb * 1_000_000 {
        eprintln!("note: the generator came out {:.1}% under the target", {
            100.0 * (1.0 - counts.uncompressed_bytes as f64 / (size_mb as f64 * MB))
        });
    }

    // gzip reads the files itself, one process per batch of names (like `xargs gzip -dc`):
    // read + inflate, as the ingest does, with no extra `cat` or pipe copy in the way.
    let batches = arg_batches(&objects);
    // The machine's own 2-core scaling: two gzip processes, each on half of the bytes.
    let halves = halves(&objects);
    let half_batches = [arg_batches(&halves[0]), arg_batches(&halves[1])];
    let inflated = gzip_count(&batches)?;
    ensure!(
        inflated == counts.uncompressed_bytes,
        "gzip -dc gave {inflated} bytes, the generator says {}",
        counts.uncompressed_bytes
    );
    let mb = counts.uncompressed_bytes as f64 / MB;
    let records = counts.records_written_total;
    let (mut gzip, mut gzip2) = (Series::default(), Series::default());
    let (mut t1, mut t2) = (Series::default(), Series::default());
    let mut parquet_bytes = 0;
    for round in 1..=cfg.runs {
        let c = conditions(cpus);
        let m = gzip_run(&batches)?;
        report_line(round, cfg.runs, "gzip -dc", &m, mb, None, c);
        gzip.push(&m, c);
        let c = conditions(cpus);
        let m = gzip_parallel(&half_batches)?;
        report_line(round, cfg.runs, "gzip x2", &m, mb, None, c);
        gzip2.push(&m, c);
        for (threads, series) in [(1, &mut t1), (2, &mut t2)] {
            let lake = work.path().join(format!("lake-{threads}t-{round}"));
            let c = conditions(cpus);
            let m = ingest_run(bin, &logs, &lake, threads)?;
            report_line(
                round,
                cfg.runs,
                &format!("ingest {threads}t"),
                &m,
                mb,
                Some(records),
                c,
            );
            let checked = Instant::now();
            let rows = lake_rows(bin, &lake)?;
            eprintln!(
                "  round {round}/{}  checked    {} rows in events_all ({:.1} s)",
                cfg.runs,
                thousands(rows),
                checked.elapsed().as_secs_f64()
            );
            ensure!(
                rows == records,
                "the lake has {rows} rows in events_all after an ingest with {threads} thread(s), \
                 the logs hold {records} records"
            );
            if parquet_bytes == 0 {
                parquet_bytes = parquet_size(&lake)?;
            }
            fs::remove_dir_all(&lake).with_context(|| format!("removing {}", lake.display()))?;
            series.push(&m, c);
        }
    }

    let (stages, variants) = if cfg.stages {
        eprintln!("stage breakdown: one thread, in process ...");
        let (s, v) = stage_breakdown(&objects, work.path(), cfg.parquet_variants)?;
        ensure!(
            s.records == records,
            "the stage breakdown read {} records, the logs hold {records}",
            s.records
        );
        (Some(s), v)
    } else {
        (None, Vec::new())
    };
    let result = SizeResult {
        size_mb,
        objects: objects.len(),
        records,
        uncompressed: counts.uncompressed_bytes,
        compressed: counts.compressed_bytes,
        parquet_bytes,
        generate_secs,
        gzip,
        gzip2,
        t1,
        t2,
        stages,
        variants,
    };
    if cfg.keep {
        let kept = work.keep();
        eprintln!("kept {}", kept.join("data").join("AWSLogs").display());
    } else {
        work.close().context("removing the temp dir")?;
    }
    Ok(result)
}

fn report_line(
    round: usize,
    runs: usize,
    what: &str,
    m: &Measured,
    mb: f64,
    records: Option<u64>,
    c: Conditions,
) {
    let wall = m.wall.as_secs_f64();
    let recs = records.map_or(String::new(), |r| {
        format!(" {:>8.0} rec/s", r as f64 / wall)
    });
    eprintln!(
        "  round {round}/{runs}  {what:<10} {wall:>6.2} s {:>7.1} MB/s{recs}  cpu {:>5.2} s  \
         RSS {:>6.1} MiB  (before: load {:.2}, {:.2} cores busy)",
        mb / wall,
        m.cpu.as_secs_f64(),
        m.max_rss_kib as f64 / 1024.0,
        c.load1,
        c.busy_cores
    );
}

// ---------------------------------------------------------------------------------------------
// Inputs

struct LogObject {
    path: PathBuf,
    size: u64,
    /// `YYYY/MM/DD` of the key, as the pipeline orders its work.
    date: Option<(u32, u32, u32)>,
}

/// The trail log objects under `root`, in the pipeline's order (day, then key): `.json.gz`
/// files with a `CloudTrail` path component (not `CloudTrail-Digest` or `CloudTrail-Insight`).
fn log_objects(root: &Path) -> Result<Vec<LogObject>> {
    let mut out = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))? {
            let entry = entry.with_context(|| format!("listing {}", dir.display()))?;
            let path = entry.path();
            let kind = entry
                .file_type()
                .with_context(|| format!("{}", path.display()))?;
            if kind.is_dir() {
                dirs.push(path);
                continue;
            }
            let text = path.to_string_lossy();
            let parts: Vec<&str> = text.split('/').collect();
            let Some(at) = parts.iter().position(|p| *p == "CloudTrail") else {
                continue;
            };
            if !text.ends_with(".json.gz") {
                continue;
            }
            let num = |i: usize| parts.get(at + i).and_then(|p| p.parse::<u32>().ok());
            let date = match (num(2), num(3), num(4)) {
                (Some(y), Some(m), Some(d)) => Some((y, m, d)),
                _ => None,
            };
            let size = entry
                .metadata()
                .with_context(|| format!("{}", path.display()))?
                .len();
            out.push(LogObject { path, size, date });
        }
    }
    out.sort_by(|a, b| {
        (a.date.unwrap_or((9999, 0, 0)), &a.path).cmp(&(b.date.unwrap_or((9999, 0, 0)), &b.path))
    });
    Ok(out)
}

/// The objects split in two halves of about the same stored bytes.
fn halves(objects: &[LogObject]) -> [Vec<LogObject>; 2] {
    let mut by_size: Vec<&LogObject> = objects.iter().collect();
    by_size.sort_by_key(|o| std::cmp::Reverse(o.size));
    let (mut a, mut b) = (Vec::new(), Vec::new());
    let (mut bytes_a, mut bytes_b) = (0u64, 0u64);
    for o in by_size {
        let copy = LogObject {
            path: o.path.clone(),
            size: o.size,
            date: o.date,
        };
        if bytes_a <= bytes_b {
            bytes_a += o.size;
            a.push(copy);
        } else {
            bytes_b += o.size;
            b.push(copy);
        }
    }
    [a, b]
}

/// File names in batches that stay well under the kernel's argument size limit.
fn arg_batches(objects: &[LogObject]) -> Vec<Vec<PathBuf>> {
    const MAX_ARG_BYTES: usize = 100_000;
    let mut out: Vec<Vec<PathBuf>> = Vec::new();
    let mut bytes = 0;
    for o in objects {
        let len = o.path.as_os_str().len() + 1;
        if out.is_empty() || bytes + len > MAX_ARG_BYTES {
            out.push(Vec::new());
            bytes = 0;
        }
        bytes += len;
        if let Some(last) = out.last_mut() {
            last.push(o.path.clone());
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Child processes

fn gzip_version() -> Result<String> {
    let out = Command::new("gzip")
        .arg("--version")
        .output()
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                anyhow::anyhow!(
                    "gzip is not installed (or not on PATH): the baseline of this benchmark is \
                 `gzip -dc`; install it (e.g. apt-get install gzip) and run again"
                )
            } else {
                anyhow::Error::new(e).context("running gzip --version")
            }
        })?;
    ensure!(
        out.status.success(),
        "gzip --version failed: {}",
        out.status
    );
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text.lines().next().unwrap_or("gzip").trim().to_string())
}

fn gzip_command(batch: &[PathBuf]) -> Command {
    let mut cmd = Command::new("gzip");
    cmd.arg("-dc").arg("--").args(batch).stdin(Stdio::null());
    cmd
}

/// Untimed check: inflates every object once and counts gzip's output bytes.
fn gzip_count(batches: &[Vec<PathBuf>]) -> Result<u64> {
    let mut total = 0u64;
    let mut buf = vec![0u8; 1 << 20];
    for batch in batches {
        let mut child = gzip_command(batch)
            .stdout(Stdio::piped())
            .spawn()
            .context("starting gzip")?;
        let mut out = child.stdout.take().context("gzip's stdout")?;
        loop {
            match out.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => total += n as u64,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e).context("reading gzip's output"),
            }
        }
        drop(out);
        let status = child.wait().context("waiting for gzip")?;
        ensure!(status.success(), "gzip -dc failed: {status}");
    }
    Ok(total)
}

/// Timed: `gzip -dc FILES... > /dev/null`, batch after batch.
fn gzip_run(batches: &[Vec<PathBuf>]) -> Result<Measured> {
    let started = Instant::now();
    let mut cpu = Duration::ZERO;
    let mut max_rss_kib = 0;
    let mut status = ExitStatus::from_raw(0);
    for batch in batches {
        let child = gzip_command(batch)
            .stdout(Stdio::null())
            .spawn()
            .context("starting gzip")?;
        let m = wait_measured(child, Instant::now())?;
        ensure!(m.status.success(), "gzip -dc failed: {}", m.status);
        cpu += m.cpu;
        max_rss_kib = max_rss_kib.max(m.max_rss_kib);
        status = m.status;
    }
    Ok(Measured {
        wall: started.elapsed(),
        cpu,
        max_rss_kib,
        status,
    })
}

/// Timed: two [`gzip_run`]s at once; CPU summed, RSS the larger.
fn gzip_parallel(halves: &[Vec<Vec<PathBuf>>; 2]) -> Result<Measured> {
    let started = Instant::now();
    let (a, b) = std::thread::scope(|s| {
        let other = s.spawn(|| gzip_run(&halves[1]));
        let mine = gzip_run(&halves[0]);
        let other = other
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("the gzip thread panicked")));
        (mine, other)
    });
    let (a, b) = (a?, b?);
    Ok(Measured {
        wall: started.elapsed(),
        cpu: a.cpu + b.cpu,
        max_rss_kib: a.max_rss_kib.max(b.max_rss_kib),
        status: a.status,
    })
}

fn ingest_run(bin: &Path, logs: &Path, lake: &Path, threads: usize) -> Result<Measured> {
    let stderr_path = lake.with_extension("stderr");
    let stderr = fs::File::create(&stderr_path)
        .with_context(|| format!("creating {}", stderr_path.display()))?;
    let started = Instant::now();
    let child = Command::new(bin)
        .arg("ingest")
        .arg(logs)
        .arg("--lake")
        .arg(lake)
        .args(["--threads", &threads.to_string(), "--quiet"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let m = wait_measured(child, started)?;
    if !m.status.success() {
        let text = fs::read_to_string(&stderr_path).unwrap_or_default();
        bail!(
            "crosstrail ingest --threads {threads} exited with {}: {}",
            m.status,
            text.trim()
        );
    }
    let _ = fs::remove_file(&stderr_path);
    Ok(m)
}

/// Rows in `events_all`, through the CLI as a user would count them.
fn lake_rows(bin: &Path, lake: &Path) -> Result<u64> {
    let out = Command::new(bin)
        .args(["sql", "--format", "csv", "--lake"])
        .arg(lake)
        .arg("SELECT count(*) AS n FROM events_all")
        .stdin(Stdio::null())
        .output()
        .context("running crosstrail sql")?;
    ensure!(
        out.status.success(),
        "crosstrail sql failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let last = text
        .lines()
        .map(str::trim)
        .rev()
        .find(|l| !l.is_empty())
        .unwrap_or("");
    last.parse()
        .with_context(|| format!("unexpected output of crosstrail sql: {text:?}"))
}

fn parquet_size(dir: &Path) -> Result<u64> {
    let mut total = 0;
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for entry in fs::read_dir(&d).with_context(|| format!("listing {}", d.display()))? {
            let entry = entry?;
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|x| x == "parquet") {
                total += entry.metadata()?.len();
            }
        }
    }
    Ok(total)
}

/// Waits for `child` with `wait4`, the one call that reports a child's own peak RSS.
#[allow(unsafe_code)]
fn wait_measured(child: Child, started: Instant) -> Result<Measured> {
    let pid = libc::pid_t::try_from(child.id()).context("child pid")?;
    let mut status: libc::c_int = 0;
    // SAFETY: `rusage` is plain integers and timevals, for which all-zero bytes are valid.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: `pid` is our own child, not yet reaped (`Child::wait` is never called on it);
        // both pointers are valid for writes for the duration of the call.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r == pid {
            break;
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(err).context("wait4");
        }
    }
    let wall = started.elapsed();
    drop(child);
    let tv = |t: libc::timeval| Duration::from_secs_f64(t.tv_sec as f64 + t.tv_usec as f64 / 1e6);
    Ok(Measured {
        wall,
        cpu: tv(usage.ru_utime) + tv(usage.ru_stime),
        // Linux reports KiB.
        max_rss_kib: u64::try_from(usage.ru_maxrss).unwrap_or(0),
        status: ExitStatus::from_raw(status),
    })
}

// ---------------------------------------------------------------------------------------------
// Machine conditions

/// `git rev-parse --short HEAD` of the checkout, `+` when it has uncommitted changes.
fn source_version() -> String {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stderr(Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    match git(&["rev-parse", "--short", "HEAD"]) {
        Some(head) => {
            let dirty = git(&["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.is_empty());
            format!(
                "git {head}{}",
                if dirty { " + uncommitted changes" } else { "" }
            )
        }
        None => "unknown (no git)".into(),
    }
}

fn cpu_model() -> String {
    fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

fn load1() -> f64 {
    fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(f64::NAN)
}

/// (busy, total) jiffies of all CPUs from /proc/stat.
fn cpu_ticks() -> Option<(u64, u64)> {
    let stat = fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .filter_map(|x| x.parse().ok())
        .collect();
    if v.len() < 5 {
        return None;
    }
    let total: u64 = v.iter().sum();
    let idle = v[3] + v[4];
    Some((total - idle, total))
}

/// The 1-minute load average, and how many cores other processes kept busy over the last
/// second (the load average lags; this does not).
fn conditions(cpus: usize) -> Conditions {
    let load1 = load1();
    let before = cpu_ticks();
    std::thread::sleep(Duration::from_secs(1));
    let busy_cores = match (before, cpu_ticks()) {
        (Some((b0, t0)), Some((b1, t1))) if t1 > t0 => {
            (b1 - b0) as f64 / (t1 - t0) as f64 * cpus as f64
        }
        _ => f64::NAN,
    };
    Conditions { load1, busy_cores }
}

// ---------------------------------------------------------------------------------------------
// Stage breakdown: the pipeline's steps on one thread, timed one by one

#[derive(Default)]
struct Stages {
    read: Duration,
    inflate: Duration,
    parse: Duration,
    parse_and_build: Duration,
    batches: Duration,
    parquet_write: Duration,
    close_commit: Duration,
    records: u64,
    inflated: u64,
}

/// Counts records and drops them: the cost of parsing alone.
#[derive(Default)]
struct CountOnly(u64);

impl RecordSink for CountOnly {
    fn record(&mut self, _record: Record<'_>) -> Result<(), String> {
        self.0 += 1;
        Ok(())
    }
    fn reset(&mut self) {
        self.0 = 0;
    }
}

/// Counts bytes written: a Parquet writer without a file.
struct CountingSink(u64);

impl Write for CountingSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Other writer settings, timed on the very batches the lake's writer gets.
struct Variant {
    name: &'static str,
    props: WriterProperties,
    open: BTreeMap<(Table, i64), ArrowWriter<CountingSink>>,
    time: Duration,
    bytes: u64,
}

struct VariantResult {
    name: &'static str,
    secs: f64,
    bytes: u64,
}

fn variants() -> Vec<Variant> {
    let base = || crosstrail_lake::writer_properties().into_builder();
    let key = || ColumnPath::from(events::ACCESS_KEY_ID);
    let list: Vec<(&'static str, WriterProperties)> = vec![
        ("as configured (writer_properties())", base().build()),
        (
            "no compression",
            base().set_compression(Compression::UNCOMPRESSED).build(),
        ),
        (
            "no bloom filter",
            base().set_column_bloom_filter_enabled(key(), false).build(),
        ),
        ("chunk statistics instead of page", {
            base()
                .set_statistics_enabled(EnabledStatistics::Chunk)
                .build()
        }),
        (
            "no dictionaries",
            base().set_dictionary_enabled(false).build(),
        ),
        ("floor: plain, uncompressed, no stats, no bloom", {
            base()
                .set_compression(Compression::UNCOMPRESSED)
                .set_dictionary_enabled(false)
                .set_statistics_enabled(EnabledStatistics::None)
                .set_column_bloom_filter_enabled(key(), false)
                .build()
        }),
    ];
    list.into_iter()
        .map(|(name, props)| Variant {
            name,
            props,
            open: BTreeMap::new(),
            time: Duration::ZERO,
            bytes: 0,
        })
        .collect()
}

impl Variant {
    fn write(&mut self, batches: &ObjectBatches) -> Result<()> {
        let started = Instant::now();
        for table in Table::ALL {
            for (day, batch) in batches.table(table) {
                let w = match self.open.entry((table, *day)) {
                    std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                    std::collections::btree_map::Entry::Vacant(e) => {
                        e.insert(ArrowWriter::try_new(
                            CountingSink(0),
                            table.file_schema(),
                            Some(self.props.clone()),
                        )?)
                    }
                };
                w.write(batch)?;
                // The lake's writer flushes its largest row group past 64 MiB in progress.
                let buffered: usize = self.open.values().map(ArrowWriter::in_progress_size).sum();
                if buffered > 64 << 20
                    && let Some(w) = self.open.values_mut().max_by_key(|w| w.in_progress_size())
                {
                    w.flush()?;
                }
            }
        }
        self.time += started.elapsed();
        Ok(())
    }

    fn finish(mut self) -> Result<VariantResult> {
        let started = Instant::now();
        for (_, w) in std::mem::take(&mut self.open) {
            self.bytes += w.into_inner()?.0;
        }
        self.time += started.elapsed();
        Ok(VariantResult {
            name: self.name,
            secs: self.time.as_secs_f64(),
            bytes: self.bytes,
        })
    }
}

/// Writes the builder's pending rows (the pipeline's `flush`), and again with each variant.
fn flush(
    builder: &mut BatchBuilder,
    writer: &mut ChunkWriter,
    st: &mut Stages,
    variants: &mut [Variant],
) -> Result<()> {
    let t = Instant::now();
    let batches = builder.finish()?;
    st.batches += t.elapsed();
    let t = Instant::now();
    for table in Table::ALL {
        for (day, batch) in batches.table(table) {
            writer.write(table, *day, batch)?;
        }
    }
    st.parquet_write += t.elapsed();
    for v in variants {
        v.write(&batches)?;
    }
    Ok(())
}

fn commit(lake: &Lake, txn: Txn, writer: ChunkWriter, st: &mut Stages) -> Result<()> {
    let t = Instant::now();
    let files = writer.finish()?;
    lake.commit(txn, files, Vec::new())?;
    st.close_commit += t.elapsed();
    Ok(())
}

fn stage_breakdown(
    objects: &[LogObject],
    work: &Path,
    with_variants: bool,
) -> Result<(Stages, Vec<VariantResult>)> {
    let lake_dir = work.join("lake-stages");
    let lake = Lake::open(&lake_dir)?;
    let limits = Limits::default();
    let chunk_bytes = crosstrail_ingest::IngestOptions::default().chunk_bytes;
    let mut builder = BatchBuilder::new(lake.fingerprints(), RecordLimits::default());
    let mut st = Stages::default();
    let mut variants = if with_variants {
        variants()
    } else {
        Vec::new()
    };
    let mut txn = lake.begin()?;
    let mut writer = txn.writer();
    let mut chunk_inflated = 0u64;

    for o in objects {
        let what = || o.path.display().to_string();
        let t = Instant::now();
        let bytes = fs::read(&o.path).with_context(what)?;
        st.read += t.elapsed();
        let t = Instant::now();
        let decoded = decode(&bytes, &limits).with_context(what)?;
        st.inflate += t.elapsed();
        let text: &[u8] = &decoded.bytes;

        let t = Instant::now();
        let mut count = CountOnly::default();
        read_document(text, &mut count).with_context(what)?;
        st.parse += t.elapsed();

        let name = o.path.to_string_lossy();
        let t = Instant::now();
        builder.start_object(&name);
        read_document(text, &mut builder).with_context(what)?;
        let rows = builder.end_object();
        st.parse_and_build += t.elapsed();
        ensure!(rows.records == count.0, "{}: record counts differ", what());
        st.records += count.0;
        st.inflated += text.len() as u64;
        chunk_inflated += text.len() as u64;

        if builder.pending_rows() >= FLUSH_ROWS || chunk_inflated >= chunk_bytes {
            flush(&mut builder, &mut writer, &mut st, &mut variants)?;
        }
        if chunk_inflated >= chunk_bytes {
            let next = lake.begin()?;
            let next_writer = next.writer();
            let done = std::mem::replace(&mut txn, next);
            let done_writer = std::mem::replace(&mut writer, next_writer);
            commit(&lake, done, done_writer, &mut st)?;
            chunk_inflated = 0;
        }
    }
    flush(&mut builder, &mut writer, &mut st, &mut variants)?;
    commit(&lake, txn, writer, &mut st)?;
    let variants = variants
        .into_iter()
        .map(Variant::finish)
        .collect::<Result<Vec<_>>>()?;
    drop(lake);
    fs::remove_dir_all(&lake_dir).with_context(|| format!("removing {}", lake_dir.display()))?;
    Ok((st, variants))
}

// ---------------------------------------------------------------------------------------------
// Report

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    match s.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

fn verdict(ok: bool) -> &'static str {
    if ok { "PASS" } else { "MISS" }
}

fn thousands(n: u64) -> String {
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

fn print_report(results: &[SizeResult], cpus: usize, gzip_version: &str) {
    let mut o = String::new();
    let w = &mut o;
    let _ = writeln!(w);
    let _ = writeln!(
        w,
        "## crosstrail ingest vs gzip -dc ({cpus} CPUs, {}, {gzip_version})\n",
        cpu_model()
    );
    let _ = writeln!(
        w,
        "| input | records | JSON MB | gzip -dc MB/s | ingest 1t MB/s | 1t records/s | ingest 2t MB/s | 1t / gzip (target >= {TARGET_1T_OVER_GZIP:.1}) | 2t / 1t (target >= {TARGET_2T_OVER_1T:.1}) | gzip x2 / gzip (the machine's 2-core ceiling) | peak RSS 1t MiB | peak RSS 2t MiB |"
    );
    let _ = writeln!(w, "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
    for r in results {
        let mb = r.uncompressed as f64 / MB;
        let (g, a, b) = (mb / r.gzip.wall(), mb / r.t1.wall(), mb / r.t2.wall());
        let (r1, r2) = (a / g, b / a);
        let ceiling = r.gzip.wall() / r.gzip2.wall();
        let _ = writeln!(
            w,
            "| {} MB | {} | {mb:.1} | {g:.1} | {a:.1} | {} | {b:.1} | {r1:.2} {} | {r2:.2} {} | {ceiling:.2} | {:.1} | {:.1} |",
            r.size_mb,
            thousands(r.records),
            thousands((r.records as f64 / r.t1.wall()) as u64),
            verdict(r1 >= TARGET_1T_OVER_GZIP),
            verdict(r2 >= TARGET_2T_OVER_1T),
            r.t1.peak_rss(),
            r.t2.peak_rss(),
        );
    }
    let _ = writeln!(
        w,
        "\nMB = 10^6 bytes of uncompressed JSON; wall-time medians of {} runs.",
        { results.first().map_or(0, |r| r.gzip.walls.len()) }
    );
    let peak = results
        .iter()
        .map(|r| r.t1.peak_rss().max(r.t2.peak_rss()))
        .fold(0.0, f64::max);
    let _ = write!(
        w,
        "Peak RSS {peak:.1} MiB over all runs: {} (target <= {TARGET_RSS_MIB:.0} MiB",
        verdict(peak <= TARGET_RSS_MIB)
    );
    if let (Some(first), Some(last)) = (results.first(), results.last())
        && results.len() > 1
    {
        let (a, b) = (
            first.t1.peak_rss().max(first.t2.peak_rss()),
            last.t1.peak_rss().max(last.t2.peak_rss()),
        );
        let _ = write!(
            w,
            ", flat in input size: {} MB -> {a:.1} MiB, {} MB -> {b:.1} MiB, {:+.1}%",
            first.size_mb,
            last.size_mb,
            100.0 * (b / a - 1.0)
        );
    }
    let _ = writeln!(w, ").");

    let _ = writeln!(
        w,
        "\n| input | what | median wall s | median CPU s | cores used | MB per CPU-s | max load1 before | max busy cores before |"
    );
    let _ = writeln!(w, "|---|---|--:|--:|--:|--:|--:|--:|");
    for r in results {
        let mb = r.uncompressed as f64 / MB;
        for (what, s) in [
            ("gzip -dc", &r.gzip),
            ("gzip -dc x2 (halves at once)", &r.gzip2),
            ("ingest 1t", &r.t1),
            ("ingest 2t", &r.t2),
        ] {
            let _ = writeln!(
                w,
                "| {} MB | {what} | {:.2} | {:.2} | {:.2} | {:.1} | {:.2} | {:.2} |",
                r.size_mb,
                s.wall(),
                s.cpu(),
                s.cpu() / s.wall(),
                mb / s.cpu(),
                s.max_load(),
                s.max_busy()
            );
        }
    }
    let _ = writeln!(
        w,
        "\nbusy cores = CPU used by other processes during the second before each run (of {cpus}); \
         a busy second core caps the 2-thread ratio. gzip x2 runs two gzip processes on halves of \
         the bytes at once: how far this machine scales two independent processes. cores used = \
         median CPU / median wall: with a core to spare, ingest 1t has its fetch thread read files \
         ahead of its one worker on it, so it uses more than one core, and 2t / 1t is at most \
         about 2 / (1t cores used) even when two threads keep both cores busy."
    );
    for r in results {
        let _ = writeln!(
            w,
            "{} MB: {} log objects, {:.1} MB gzipped -> {:.1} MB Parquet ({:.1}x smaller than the JSON); generated in {:.1} s.",
            r.size_mb,
            thousands(r.objects as u64),
            r.compressed as f64 / MB,
            r.parquet_bytes as f64 / MB,
            r.uncompressed as f64 / r.parquet_bytes.max(1) as f64,
            r.generate_secs
        );
    }

    for r in results {
        let Some(st) = &r.stages else { continue };
        let mb = st.inflated as f64 / MB;
        let build = st.parse_and_build.saturating_sub(st.parse);
        let rows: [(&str, Duration); 7] = [
            ("read (fs::read of the .json.gz)", st.read),
            ("inflate (decode: libdeflate)", st.inflate),
            ("parse (serde_json into typed records)", st.parse),
            ("Arrow build (append to column builders)", build),
            ("batches (finish the day builders)", st.batches),
            (
                "Parquet encode + compress (ChunkWriter::write)",
                st.parquet_write,
            ),
            (
                "close + commit (last pages, footers, fsync, manifest)",
                st.close_commit,
            ),
        ];
        let total: Duration = rows.iter().map(|(_, d)| *d).sum();
        let _ = writeln!(
            w,
            "\n### {} MB: one thread, stage by stage (in process, same order and batching as the pipeline)\n",
            r.size_mb
        );
        let _ = writeln!(w, "| stage | s | share | MB/s of JSON, stage alone |");
        let _ = writeln!(w, "|---|--:|--:|--:|");
        for (name, d) in rows {
            let s = d.as_secs_f64();
            let _ = writeln!(
                w,
                "| {name} | {s:.2} | {:.0}% | {:.0} |",
                100.0 * s / total.as_secs_f64(),
                mb / s
            );
        }
        let t = total.as_secs_f64();
        let _ = writeln!(w, "| **sum** | {t:.2} | 100% | {:.0} |", mb / t);
        let _ = writeln!(
            w,
            "\nFor comparison: gzip -dc {:.2} s ({:.0} MB/s), the 1-thread ingest process {:.2} s wall, {:.2} s CPU.",
            r.gzip.wall(),
            mb / r.gzip.wall(),
            r.t1.wall(),
            r.t1.cpu()
        );
        if !r.variants.is_empty() {
            let _ = writeln!(
                w,
                "\n#### Parquet writer settings on the same batches (to memory)\n"
            );
            let _ = writeln!(w, "| settings | encode s | MB/s of JSON | Parquet MB |");
            let _ = writeln!(w, "|---|--:|--:|--:|");
            for v in &r.variants {
                let _ = writeln!(
                    w,
                    "| {} | {:.2} | {:.0} | {:.1} |",
                    v.name,
                    v.secs,
                    mb / v.secs,
                    v.bytes as f64 / MB
                );
            }
        }
    }
    print!("{o}");
}
