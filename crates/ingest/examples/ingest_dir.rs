//! The local ingest without the CLI, for profiling the library alone (a small binary that
//! builds in seconds): `cargo run --release -p crosstrail-ingest --example ingest_dir --
//! <logs dir> <lake dir> [threads]`.

use std::sync::Arc;

use crosstrail_ingest::{IngestOptions, LocalSource, Silent, Source, ingest};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(logs), Some(lake)) = (args.next(), args.next()) else {
        return Err("usage: ingest_dir <logs dir> <lake dir> [threads]".into());
    };
    let threads = args.next().map(|t| t.parse()).transpose()?.unwrap_or(1);
    let lake = crosstrail_lake::Lake::open(lake.as_ref())?;
    let source: Arc<dyn Source> = Arc::new(LocalSource::new(logs.as_ref(), lake.local_root())?);
    let options = IngestOptions {
        threads,
        fetch_concurrency: 4 * threads,
        ..IngestOptions::default()
    };
    let summary = ingest(&lake, &[source], &options, &Silent)?;
    eprintln!(
        "{} records from {} objects ({} failed), {} bytes inflated, in {:.2} s",
        summary.records,
        summary.objects_ingested,
        summary.objects_failed,
        summary.bytes_inflated,
        summary.elapsed.as_secs_f64()
    );
    Ok(())
}
