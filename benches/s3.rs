//! S3 ingest benchmark: `cargo bench --bench s3`.
//!
//! Generates CloudTrail logs (`crosstrail-synth`, 200 MB of JSON by default) under /dev/shm,
//! serves them from the loopback S3 server of the integration tests (`s3s-fs` behind the
//! fault-injecting front end, here only adding latency) running in a child process (this
//! binary again, with `--serve`), then, round by round:
//! - the release `crosstrail ingest <folder> --quiet` (local disk, the reference);
//! - `crosstrail ingest s3://bench --quiet` with no added latency, and with 50 ms added to every
//!   S3 request (listings and GETs) before the server sees it.
//!
//! How it measures. The server holds the bucket in memory: the front end answers GETs of
//! objects (`If-Match` checked) and ListObjectsV2 itself, without checking signatures, because
//! s3s-fs reads each object through tokio's blocking pool and hashes it on every GET and every
//! listed key, which cost more CPU than the client (about 400 µs per GET) and made the bench
//! measure the server. Real S3 runs elsewhere; this stand-in only has to be cheaper than the
//! client. Two modes, printed with the results:
//! - `pinned` (default, needs 2 CPUs): the server process is pinned to CPU 0 (`taskset`) and
//!   every ingest, local or S3, to CPU 1 with `--threads 1`. The ingest gets one whole CPU
//!   whatever it reads from, as it would with S3 on another host; the server's own cost (XML,
//!   HTTP) stays off that CPU. The ratio is one core of S3 ingest against one core of local
//!   ingest.
//! - `shared`: nothing is pinned and the ingests use every core (their default `--threads`);
//!   the server competes with the S3 ingest for the same cores but not with the local one, so
//!   the S3 figures are a lower bound.
//!
//! Every run goes into a fresh lake and must exit 0 (no object failed). Wall time covers
//! the whole command (listing included). Besides MB/s of uncompressed JSON (medians) and the
//! ratios against the targets (S3 >= 0.95x local without latency, >= 0.8x with 50 ms;
//! a miss never fails the run), it prints CPU time: the ingest's user+system time (from this
//! process's children times after the ingest is waited for) per object, and the server's per
//! request (from /proc/<pid>/stat), plus the TCP connections the server accepted per run. Other
//! work on the machine shows much more in wall time than in CPU time, so the CPU figures are
//! the steadier ones on a busy machine.
//!
//! Options (flags after `--`, or environment variables): `--size MB` /
//! `CROSSTRAIL_BENCH_S3_MB` (default 200), `--runs N` / `CROSSTRAIL_BENCH_RUNS` (default 3),
//! `--latency-ms 50` / `CROSSTRAIL_BENCH_LATENCY_MS`, `--concurrency N` (passed to the S3
//! ingest), `--mode pinned|shared` / `CROSSTRAIL_BENCH_MODE`, `--days N` (spread the same bytes
//! over N days of logs instead of the generator's choice, 7 at 200 MB: fewer days give fewer,
//! larger objects; objects hold 5 to 15 minutes of one account and region: `--days 1` gives
//! 99.7 KB of JSON per object instead of 18.7), `--dir D` / `CROSSTRAIL_BENCH_DIR` (default
//! /dev/shm), `--generate D` (only generate into `D/s3/bench` and exit, for profiling against
//! `--serve D/s3`).

#[path = "../tests/it/s3/server.rs"]
#[allow(dead_code)]
mod server;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitCode, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};

const SEED: u64 = 42;
const TARGET_NO_LATENCY: f64 = 0.95;
const TARGET_LATENCY: f64 = 0.8;
/// Clock ticks per second of /proc/<pid>/stat (USER_HZ, 100 on every Linux ABI).
const TICKS: f64 = 100.0;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.iter().position(|a| a == "--serve") {
        Some(i) => match args.get(i + 1) {
            Some(root) => serve(Path::new(root)),
            None => Err(anyhow::anyhow!("--serve needs a folder")),
        },
        None => run(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Pinned,
    Shared,
}

struct Config {
    size_mb: u64,
    runs: usize,
    latency_ms: u64,
    concurrency: Option<String>,
    mode: Mode,
    days: Option<u32>,
    base: PathBuf,
    generate_only: Option<PathBuf>,
}

fn config() -> Result<Config> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    let mut size = env("CROSSTRAIL_BENCH_S3_MB").unwrap_or_else(|| "200".into());
    let mut runs = env("CROSSTRAIL_BENCH_RUNS").unwrap_or_else(|| "3".into());
    let mut latency = env("CROSSTRAIL_BENCH_LATENCY_MS").unwrap_or_else(|| "50".into());
    let mut base = env("CROSSTRAIL_BENCH_DIR").unwrap_or_else(|| "/dev/shm".into());
    let mut mode = env("CROSSTRAIL_BENCH_MODE").unwrap_or_else(|| "pinned".into());
    let mut concurrency = None;
    let mut days = None;
    let mut generate_only = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--size" => size = value()?,
            "--runs" => runs = value()?,
            "--latency-ms" => latency = value()?,
            "--dir" => base = value()?,
            "--concurrency" => concurrency = Some(value()?),
            "--mode" => mode = value()?,
            "--days" => days = Some(value()?.parse::<u32>().context("--days")?),
            "--generate" => generate_only = Some(PathBuf::from(value()?)),
            "--bench" => {} // cargo bench passes it
            other => bail!("unknown option {other}"),
        }
    }
    let mode = match mode.as_str() {
        "pinned" => Mode::Pinned,
        "shared" => Mode::Shared,
        other => bail!("--mode {other}: pinned or shared"),
    };
    ensure!(days != Some(0), "--days must be at least 1");
    Ok(Config {
        size_mb: size.parse().context("--size")?,
        runs: runs.parse::<usize>().context("--runs")?.max(1),
        latency_ms: latency.parse().context("--latency-ms")?,
        concurrency,
        mode,
        days,
        base: PathBuf::from(base),
        generate_only,
    })
}

/// The server child: serves `root`, prints its endpoint, then answers commands on stdin
/// (`latency MS`, `stats`) until stdin closes.
fn serve(root: &Path) -> Result<()> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let server = server::Server::start_with(root, threads, true);
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", server.endpoint)?;
    out.flush()?;
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["latency", ms] => {
                let ms: u64 = ms.parse().context("latency")?;
                server.faults.latency_ms.store(ms, Ordering::Relaxed);
                writeln!(out, "ok")?;
            }
            ["stats"] => {
                let requests = server.requests().len();
                server.clear_log();
                let connections = server.connections.swap(0, Ordering::Relaxed);
                writeln!(out, "{connections} {requests}")?;
            }
            _ => bail!("unknown command {line:?}"),
        }
        out.flush()?;
    }
    Ok(())
}

/// user+system CPU time of a process (`pid`), or of its waited-for children (`None`).
fn cpu_time(pid: Option<u32>) -> Result<Duration> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/stat"),
        None => "/proc/self/stat".to_string(),
    };
    let stat = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    // Fields after the command name, which is in parentheses and may hold spaces: state is
    // field 3, utime 14, stime 15, cutime 16, cstime 17.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<u64> = rest
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    let at = if pid.is_some() { 10 } else { 12 };
    ensure!(fields.len() > at + 1, "short {path}");
    Ok(Duration::from_secs_f64(
        (fields[at] + fields[at + 1]) as f64 / TICKS,
    ))
}

/// The server child process.
struct ServerProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    endpoint: String,
}

impl ServerProcess {
    fn start(root: &Path, mode: Mode) -> Result<ServerProcess> {
        let exe = std::env::current_exe().context("this benchmark's path")?;
        let mut cmd = match mode {
            Mode::Pinned => {
                let mut c = Command::new("taskset");
                c.args(["-c", "0"]).arg(exe);
                c
            }
            Mode::Shared => Command::new(exe),
        };
        cmd.arg("--serve")
            .arg(root)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        let mut child = cmd.spawn().context("starting the server process")?;
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().context("server stdout")?);
        let mut server = ServerProcess {
            child,
            stdin,
            stdout,
            endpoint: String::new(),
        };
        server.endpoint = server.read_line()?;
        ensure!(
            server.endpoint.starts_with("http://"),
            "the server process did not start"
        );
        Ok(server)
    }

    fn read_line(&mut self) -> Result<String> {
        let mut line = String::new();
        self.stdout.read_line(&mut line)?;
        Ok(line.trim().to_string())
    }

    fn command(&mut self, line: &str) -> Result<String> {
        let stdin = self.stdin.as_mut().context("server stdin")?;
        writeln!(stdin, "{line}")?;
        stdin.flush()?;
        self.read_line()
    }

    fn set_latency(&mut self, ms: u64) -> Result<()> {
        let answer = self.command(&format!("latency {ms}"))?;
        ensure!(answer == "ok", "server answered {answer:?}");
        Ok(())
    }

    /// TCP connections accepted and requests seen since the last call.
    fn stats(&mut self) -> Result<(u64, u64)> {
        let answer = self.command("stats")?;
        let (c, r) = answer.split_once(' ').context("server stats")?;
        Ok((c.parse()?, r.parse()?))
    }

    fn cpu(&self) -> Result<Duration> {
        cpu_time(Some(self.child.id()))
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        // Closing stdin ends the server.
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// One ingest: wall time and CPU time (user+system).
struct Timing {
    wall: Duration,
    cpu: Duration,
}

/// Runs `crosstrail ingest` to the end.
fn timed(mut cmd: Command) -> Result<Timing> {
    cmd.stdout(Stdio::null()).stderr(Stdio::piped());
    let cpu_before = cpu_time(None)?;
    let start = Instant::now();
    let out = cmd.output().context("running crosstrail")?;
    let wall = start.elapsed();
    let cpu = cpu_time(None)?.saturating_sub(cpu_before);
    ensure!(
        out.status.success(),
        "crosstrail failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(Timing { wall, cpu })
}

fn crosstrail(mode: Mode) -> Command {
    let mut cmd = match mode {
        Mode::Pinned => {
            let mut c = Command::new("taskset");
            c.args(["-c", "1", env!("CARGO_BIN_EXE_crosstrail")]);
            c
        }
        Mode::Shared => Command::new(env!("CARGO_BIN_EXE_crosstrail")),
    };
    cmd.stdin(Stdio::null());
    cmd
}

fn ingest_command(mode: Mode, lake: &Path) -> Command {
    let mut cmd = crosstrail(mode);
    cmd.args(["ingest", "--quiet", "--lake"]).arg(lake);
    if mode == Mode::Pinned {
        cmd.args(["--threads", "1"]);
    }
    cmd
}

fn s3_command(endpoint: &str, lake: &Path, cfg: &Config) -> Command {
    let mut cmd = ingest_command(cfg.mode, lake);
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
        .arg("s3://bench")
        .args(["--endpoint-url", endpoint]);
    if let Some(c) = &cfg.concurrency {
        cmd.args(["--concurrency", c]);
    }
    cmd
}

/// The runs of one kind (local, S3, S3 with latency).
#[derive(Default)]
struct Series {
    wall: Vec<f64>,
    cpu: Vec<f64>,
    server_cpu: Vec<f64>,
    connections: Vec<f64>,
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// Generates the logs into `dir`/s3/bench/AWSLogs (bucket `bench` of a server rooted at
/// `dir`/s3).
fn generate(cfg: &Config, dir: &Path) -> Result<crosstrail_synth::Counts> {
    let mut spec = crosstrail_synth::Spec::with_target_bytes(SEED, cfg.size_mb * 1_000_000);
    if let Some(days) = cfg.days {
        // The same records over fewer (or more) days: fewer, larger objects.
        let total = f64::from(spec.events_per_day) * f64::from(spec.days);
        spec.events_per_day = (total / f64::from(days)).round().max(1.0) as u32;
        spec.days = days;
    }
    eprintln!(
        "generating about {} MB of CloudTrail JSON over {} days ...",
        cfg.size_mb, spec.days
    );
    let truth = crosstrail_synth::generate(&spec, &dir.join("gen"))?;
    let bucket = dir.join("s3").join("bench");
    std::fs::create_dir_all(&bucket)?;
    std::fs::rename(dir.join("gen/AWSLogs"), bucket.join("AWSLogs"))?;
    let counts = truth.counts;
    let objects = counts.log_objects as f64;
    eprintln!(
        "{} log objects, {} records, {:.1} MB of JSON, {:.1} KB of JSON and {:.1} KB gzipped \
         per object on average",
        counts.log_objects,
        counts.records_written_total,
        counts.uncompressed_bytes as f64 / 1e6,
        counts.uncompressed_bytes as f64 / objects / 1e3,
        counts.compressed_bytes as f64 / objects / 1e3
    );
    Ok(counts)
}

fn run() -> Result<()> {
    let cfg = config()?;
    if let Some(dir) = &cfg.generate_only {
        generate(&cfg, dir)?;
        eprintln!(
            "serve it with `{} --serve {}`",
            std::env::current_exe()?.display(),
            dir.join("s3").display()
        );
        return Ok(());
    }
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    ensure!(
        cfg.mode == Mode::Shared || cpus >= 2,
        "--mode pinned needs 2 CPUs, this machine has {cpus}: use --mode shared"
    );
    let dir = tempfile::Builder::new()
        .prefix("crosstrail-bench-s3-")
        .tempdir_in(&cfg.base)
        .with_context(|| format!("temp dir in {}", cfg.base.display()))?;
    let counts = generate(&cfg, dir.path())?;
    let logs = dir.path().join("s3/bench/AWSLogs");
    let mb = counts.uncompressed_bytes as f64 / 1e6;
    let objects = counts.log_objects as f64;
    let mut server = ServerProcess::start(&dir.path().join("s3"), cfg.mode)?;
    let mode = match cfg.mode {
        Mode::Pinned => "pinned: server on CPU 0, each ingest on CPU 1 with --threads 1",
        Mode::Shared => "shared: nothing pinned, ingests on all cores, server competing",
    };
    let concurrency = cfg.concurrency.as_deref().unwrap_or("default");
    eprintln!("mode {mode}; S3 --concurrency {concurrency}; {cpus} CPUs");

    let (mut local, mut plain, mut slow) =
        (Series::default(), Series::default(), Series::default());
    for round in 0..cfg.runs {
        let lake = |name: &str| dir.path().join(format!("lake-{name}-{round}"));
        let mut cmd = ingest_command(cfg.mode, &lake("local"));
        cmd.arg(&logs);
        let t = timed(cmd)?;
        local.wall.push(t.wall.as_secs_f64());
        local.cpu.push(t.cpu.as_secs_f64());
        for (latency, series, name) in [
            (0, &mut plain, "s3"),
            (cfg.latency_ms, &mut slow, "s3-slow"),
        ] {
            server.set_latency(latency)?;
            server.stats()?;
            let server_before = server.cpu()?;
            let t = timed(s3_command(&server.endpoint, &lake(name), &cfg))?;
            let server_cpu = server.cpu()?.saturating_sub(server_before);
            let (connections, requests) = server.stats()?;
            series.wall.push(t.wall.as_secs_f64());
            series.cpu.push(t.cpu.as_secs_f64());
            series.server_cpu.push(server_cpu.as_secs_f64());
            series.connections.push(connections as f64);
            eprintln!(
                "round {}: {name}: {:.2} s, ingest CPU {:.2} s, server CPU {:.2} s, {requests} \
                 requests on {connections} connections",
                round + 1,
                t.wall.as_secs_f64(),
                t.cpu.as_secs_f64(),
                server_cpu.as_secs_f64()
            );
        }
        eprintln!(
            "round {}: local {:.2} s, ingest CPU {:.2} s; load average {}",
            round + 1,
            local.wall[round],
            local.cpu[round],
            load_average()
        );
        for name in ["local", "s3", "s3-slow"] {
            let _ = std::fs::remove_dir_all(lake(name));
        }
    }
    let rate = |s: &Series| mb / median(s.wall.clone());
    let per_object = |v: &Vec<f64>| median(v.clone()) / objects * 1e6;
    let (l, p, s) = (rate(&local), rate(&plain), rate(&slow));
    let lat = cfg.latency_ms;
    println!(
        "mode {mode}; S3 --concurrency {concurrency}; medians of {} runs; load average {}",
        cfg.runs,
        load_average()
    );
    println!(
        "| objects | KB JSON / object | local MB/s | S3 MB/s | S3 +{lat} ms MB/s | S3 / local (target >= {TARGET_NO_LATENCY}) | S3 +{lat} ms / local (target >= {TARGET_LATENCY}) |"
    );
    println!("|--:|--:|--:|--:|--:|--:|--:|");
    println!(
        "| {} | {:.1} | {l:.1} | {p:.1} | {s:.1} | {:.2} | {:.2} |",
        counts.log_objects,
        counts.uncompressed_bytes as f64 / objects / 1e3,
        p / l,
        s / l
    );
    println!();
    println!("| CPU µs per object (median) | local | S3 | S3 +{lat} ms |\n|---|--:|--:|--:|");
    println!(
        "| ingest (user+system) | {:.0} | {:.0} | {:.0} |",
        per_object(&local.cpu),
        per_object(&plain.cpu),
        per_object(&slow.cpu)
    );
    println!(
        "| server | - | {:.0} | {:.0} |",
        per_object(&plain.server_cpu),
        per_object(&slow.server_cpu)
    );
    println!(
        "| TCP connections per run | - | {:.0} | {:.0} |",
        median(plain.connections),
        median(slow.connections)
    );
    Ok(())
}
