//! S3 ingest benchmark: `cargo bench --bench s3`.
//!
//! Generates CloudTrail logs (`crosstrail-synth`, 200 MB of JSON by default) under /dev/shm,
//! serves them from the loopback S3 server of the integration tests (`s3s-fs` behind the
//! fault-injecting front end, here only adding latency), then in the same run, round by round:
//! - the release `crosstrail ingest <folder> --quiet` (local disk, the reference);
//! - `crosstrail ingest s3://bench --quiet` with no added latency, and with 50 ms added to every
//!   S3 request (listings and GETs).
//!
//! Each run goes into a fresh lake and must exit 0 with every object ingested. Prints MB/s of
//! uncompressed JSON (medians) and the ratios against the targets (S3 >= 0.95x local
//! without latency, >= 0.8x with 50 ms); a miss never fails the run. The server runs in this
//! process and shares the machine's cores with the ingest (it also computes an MD5 of every
//! object it serves), so the S3 figures are a lower bound of what the client does.
//!
//! Options (flags after `--`, or environment variables): `--size MB` /
//! `CROSSTRAIL_BENCH_S3_MB` (default 200), `--runs N` / `CROSSTRAIL_BENCH_RUNS` (default 3),
//! `--latency-ms 50` / `CROSSTRAIL_BENCH_LATENCY_MS`, `--concurrency N` (passed to the S3
//! ingest), `--dir D` / `CROSSTRAIL_BENCH_DIR` (default /dev/shm).

#[path = "../tests/it/s3/server.rs"]
#[allow(dead_code)]
mod server;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};

const SEED: u64 = 42;
const TARGET_NO_LATENCY: f64 = 0.95;
const TARGET_LATENCY: f64 = 0.8;

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
    size_mb: u64,
    runs: usize,
    latency_ms: u64,
    concurrency: Option<String>,
    base: PathBuf,
}

fn config() -> Result<Config> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    let mut size = env("CROSSTRAIL_BENCH_S3_MB").unwrap_or_else(|| "200".into());
    let mut runs = env("CROSSTRAIL_BENCH_RUNS").unwrap_or_else(|| "3".into());
    let mut latency = env("CROSSTRAIL_BENCH_LATENCY_MS").unwrap_or_else(|| "50".into());
    let mut base = env("CROSSTRAIL_BENCH_DIR").unwrap_or_else(|| "/dev/shm".into());
    let mut concurrency = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--size" => size = value()?,
            "--runs" => runs = value()?,
            "--latency-ms" => latency = value()?,
            "--dir" => base = value()?,
            "--concurrency" => concurrency = Some(value()?),
            "--bench" => {} // cargo bench passes it
            other => bail!("unknown option {other}"),
        }
    }
    Ok(Config {
        size_mb: size.parse().context("--size")?,
        runs: runs.parse::<usize>().context("--runs")?.max(1),
        latency_ms: latency.parse().context("--latency-ms")?,
        concurrency,
        base: PathBuf::from(base),
    })
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Runs `crosstrail ingest` and returns its wall time.
fn timed(mut cmd: Command) -> Result<Duration> {
    cmd.stdout(Stdio::null()).stderr(Stdio::piped());
    let start = Instant::now();
    let out = cmd.output().context("running crosstrail")?;
    let took = start.elapsed();
    ensure!(
        out.status.success(),
        "crosstrail failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(took)
}

fn crosstrail() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_crosstrail"));
    cmd.stdin(Stdio::null());
    cmd
}

fn s3_command(server: &server::Server, lake: &Path, cfg: &Config) -> Command {
    let mut cmd = crosstrail();
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("AWS_") {
            cmd.env_remove(name);
        }
    }
    let nowhere = lake.with_extension("no-aws-config");
    cmd.env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", &nowhere)
        .env("AWS_SHARED_CREDENTIALS_FILE", &nowhere)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", server::ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", server::SECRET_KEY)
        .args(["ingest", "s3://bench", "--quiet", "--lake"])
        .arg(lake)
        .args(["--endpoint-url", &server.endpoint]);
    if let Some(c) = &cfg.concurrency {
        cmd.args(["--concurrency", c]);
    }
    cmd
}

fn run() -> Result<()> {
    let cfg = config()?;
    let dir = tempfile::Builder::new()
        .prefix("crosstrail-bench-s3-")
        .tempdir_in(&cfg.base)
        .with_context(|| format!("temp dir in {}", cfg.base.display()))?;
    let spec = crosstrail_synth::Spec::with_target_bytes(SEED, cfg.size_mb * 1_000_000);
    eprintln!("generating about {} MB of CloudTrail JSON ...", cfg.size_mb);
    let truth = crosstrail_synth::generate(&spec, &dir.path().join("gen"))?;
    let bucket = dir.path().join("s3").join("bench");
    std::fs::create_dir_all(&bucket)?;
    std::fs::rename(dir.path().join("gen/AWSLogs"), bucket.join("AWSLogs"))?;
    let logs = bucket.join("AWSLogs");
    let counts = &truth.counts;
    let mb = counts.uncompressed_bytes as f64 / 1e6;
    eprintln!(
        "{} log objects, {} records, {mb:.1} MB of JSON",
        counts.log_objects, counts.records_written_total
    );
    let server = server::Server::start(&dir.path().join("s3"));

    let (mut local, mut plain, mut slow) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..cfg.runs {
        let lake = |name: &str| dir.path().join(format!("lake-{name}-{round}"));
        let mut cmd = crosstrail();
        cmd.args(["ingest", "--quiet", "--lake"])
            .arg(lake("local"))
            .arg(&logs);
        local.push(timed(cmd)?);
        server.faults.latency_ms.store(0, Ordering::Relaxed);
        plain.push(timed(s3_command(&server, &lake("s3"), &cfg))?);
        server
            .faults
            .latency_ms
            .store(cfg.latency_ms, Ordering::Relaxed);
        slow.push(timed(s3_command(&server, &lake("s3-slow"), &cfg))?);
        eprintln!(
            "round {}: local {:.2} s, s3 {:.2} s, s3 +{} ms {:.2} s",
            round + 1,
            local[round].as_secs_f64(),
            plain[round].as_secs_f64(),
            cfg.latency_ms,
            slow[round].as_secs_f64()
        );
        for name in ["local", "s3", "s3-slow"] {
            let _ = std::fs::remove_dir_all(lake(name));
        }
    }
    let rate = |d: Duration| mb / d.as_secs_f64();
    let (l, p, s) = (rate(median(local)), rate(median(plain)), rate(median(slow)));
    println!(
        "| input | objects | JSON MB | local MB/s | S3 MB/s | S3 +{lat} ms MB/s | S3 / local (target >= {TARGET_NO_LATENCY}) | S3 +{lat} ms / local (target >= {TARGET_LATENCY}) |",
        lat = cfg.latency_ms
    );
    println!("|---|---|---|---|---|---|---|---|");
    println!(
        "| generated, seed {SEED} | {} | {mb:.1} | {l:.1} | {p:.1} | {s:.1} | {:.2} | {:.2} |",
        counts.log_objects,
        p / l,
        s / l
    );
    Ok(())
}
