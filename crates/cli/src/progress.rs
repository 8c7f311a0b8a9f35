//! Progress and summaries on stderr.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crosstrail_ingest::{Observer, Summary};
use crosstrail_lake::Table;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Shows a progress bar on a terminal and names failed objects as they happen.
pub struct Progress {
    bar: Option<ProgressBar>,
    quiet: bool,
    planned: AtomicU64,
}

impl Progress {
    pub fn new(quiet: bool) -> Self {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} {elapsed:>4} [{wide_bar}] {bytes}/{total_bytes} {binary_bytes_per_sec} {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Progress {
            bar,
            quiet,
            planned: AtomicU64::new(0),
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Observer for Progress {
    fn planned(&self, objects: u64, bytes: u64) {
        if let Some(bar) = &self.bar {
            // The listing goes on while objects are read: the total grows day by day.
            bar.inc_length(bytes);
            let listed = self.planned.fetch_add(objects, Ordering::Relaxed) + objects;
            bar.set_message(format!("{} objects listed", thousands(listed)));
        }
    }

    fn object_done(&self, object: &str, bytes: u64, _records: u64, error: Option<&str>) {
        if let Some(bar) = &self.bar {
            bar.inc(bytes);
        }
        if let (Some(reason), false) = (error, self.quiet) {
            let line = format!("error: {object}: {reason}");
            match &self.bar {
                Some(bar) => bar.println(line),
                None => {
                    let _ = writeln!(std::io::stderr().lock(), "{line}");
                }
            }
        }
    }
}

fn human_bytes(bytes: u64) -> String {
    let b = bytes as f64;
    match bytes {
        0..1_000 => format!("{bytes} B"),
        1_000..1_000_000 => format!("{:.1} KB", b / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1} MB", b / 1e6),
        _ => format!("{:.2} GB", b / 1e9),
    }
}

fn plural(n: u64, word: &str) -> String {
    format!("{} {word}{}", thousands(n), if n == 1 { "" } else { "s" })
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

/// The run summary, for people.
pub fn summary_text(s: &Summary, lake: &str) -> String {
    let secs = s.elapsed.as_secs_f64().max(1e-9);
    let skipped: u64 = s.objects_skipped.values().sum();
    let skipped_detail = if skipped == 0 {
        String::new()
    } else {
        let parts: Vec<String> = s
            .objects_skipped
            .iter()
            .map(|(k, n)| format!("{n} {k}"))
            .collect();
        format!(" ({})", parts.join(", "))
    };
    let rows = |t: Table| thousands(s.rows.get(&t).copied().unwrap_or(0));
    let mut out = format!(
        "crosstrail: {lake}: {} ingested from {} in {:.1} s\n\
         \x20 objects  {} listed = {} ingested + {} unchanged + {} skipped{} + {} failed\n\
         \x20 records  {} read = {} written to events ({} AssumeRole* rows in sessions)\n\
         \x20 input    {} stored, {} inflated; {:.1} MB/s inflated, {} records/s\n",
        plural(s.records, "record"),
        plural(s.objects_ingested, "object"),
        secs,
        thousands(s.objects_listed),
        thousands(s.objects_ingested),
        thousands(s.objects_unchanged),
        thousands(skipped),
        skipped_detail,
        thousands(s.objects_failed),
        thousands(s.records),
        rows(Table::Events),
        rows(Table::Sessions),
        human_bytes(s.bytes_read),
        human_bytes(s.bytes_inflated),
        s.bytes_inflated as f64 / 1e6 / secs,
        thousands((s.records as f64 / secs) as u64),
    );
    if s.objects_failed > 0 {
        out.push_str(&format!(
            "  failed   {} (named above, recorded in the manifest, retried on the next run)\n",
            plural(s.objects_failed, "object")
        ));
    }
    if s.list_errors > 0 {
        out.push_str(&format!(
            "  unlisted {} could not be listed (named above; listed again on the next run)\n",
            plural(s.list_errors, "place")
        ));
    }
    out
}
