//! Generates a benchmark-sized data set and reports the generation speed.
//!
//! `cargo run --release -p crosstrail-synth --example throughput -- [MB] [out_dir]`
//! (default 300 MB into a temporary directory that is removed afterwards).

use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mb: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(300);
    let tmp = tempfile::tempdir()?;
    let out = args
        .next()
        .map_or_else(|| tmp.path().to_path_buf(), Into::into);
    let spec = crosstrail_synth::Spec::with_target_bytes(1, mb << 20);
    let started = Instant::now();
    let truth = crosstrail_synth::generate(&spec, &out)?;
    let secs = started.elapsed().as_secs_f64();
    let c = &truth.counts;
    println!("{spec:?}");
    println!(
        "{} records ({} written) in {} objects, {:.1} MB uncompressed ({:+.1}% vs target), {:.1} MB gzipped",
        c.records,
        c.records_written_total,
        c.log_objects,
        c.uncompressed_bytes as f64 / 1e6,
        (c.uncompressed_bytes as f64 / (mb << 20) as f64 - 1.0) * 100.0,
        c.compressed_bytes as f64 / 1e6
    );
    println!(
        "{:.2} s: {:.1} MB/s uncompressed, {:.0} records/s, {} vendor sessions",
        secs,
        c.uncompressed_bytes as f64 / 1e6 / secs,
        c.records_written_total as f64 / secs,
        truth.sessions.len()
    );
    Ok(())
}
