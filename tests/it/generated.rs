//! Generated trails (crosstrail-synth) checked against their ground truth: exact record counts,
//! planted duplicates, skipped digests and Insights, every vendor session's actions, and no
//! External ID in clear.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crosstrail_synth::{Spec, Truth};

use crate::util::{counts, csv_rows, ingest, objects_line, records_read, sql, tempdir, thousands};

/// Five days, a few hundred records a day: every planted case, in a second or two.
pub fn small_spec() -> Spec {
    Spec {
        seed: 7,
        start_date: (2026, 1, 1),
        days: 5,
        events_per_day: 200,
    }
}

/// Generates `spec` under `dir/gen` and returns the truth and the `AWSLogs` folder.
pub fn generate(dir: &Path, spec: &Spec) -> (Truth, PathBuf) {
    let out = dir.join("gen");
    let truth = crosstrail_synth::generate(spec, &out).expect("generate");
    (truth, out.join("AWSLogs"))
}

#[test]
fn generated_trail_matches_its_truth() {
    let tmp = tempdir();
    let (truth, logs) = generate(tmp.path(), &small_spec());
    let lake = tmp.path().join("lake");
    let r = ingest(&lake, &[&logs]);
    r.expect_code(0);

    let n = &truth.counts;
    assert!(n.duplicate_records > 0, "the spec plants org-trail copies");
    assert!(n.digest_objects > 0 && n.insight_objects > 0);
    assert!(
        truth.sessions.len() >= 10,
        "{} sessions",
        truth.sessions.len()
    );
    assert!(
        truth
            .sessions
            .iter()
            .any(|s| s.parent_temp_access_key_id.is_some()),
        "the spec plants a role chain"
    );
    assert!(truth.sessions.iter().any(|s| s.errors > 0));
    assert!(!truth.failed_assume_role_event_ids.is_empty());

    // The summary.
    let skipped = n.digest_objects + n.insight_objects;
    assert_eq!(
        objects_line(&r.stderr),
        [n.log_objects + skipped, n.log_objects, 0, skipped, 0],
        "{r}"
    );
    let detail = format!(
        "{} skipped ({} digest, {} insight)",
        thousands(skipped),
        thousands(n.digest_objects),
        thousands(n.insight_objects)
    );
    assert!(r.stderr.contains(&detail), "no {detail:?} in:\n{r}");
    assert_eq!(records_read(&r.stderr), n.records_written_total);
    assert!(
        r.stderr
            .contains(&format!("{} records", thousands(n.records_written_total))),
        "{r}"
    );

    // The tables.
    let c = counts(&lake);
    assert_eq!(c.events, n.records);
    assert_eq!(c.events_all, n.records_written_total);

    // Denied AssumeRole calls are sessions with an error.
    let failed: Vec<String> = csv_rows(
        &lake,
        "SELECT event_id FROM sessions WHERE error_code IS NOT NULL ORDER BY 1",
    );
    for id in &truth.failed_assume_role_event_ids {
        assert!(
            failed.contains(id),
            "denied AssumeRole {id} not in sessions"
        );
    }

    // Every vendor session: its key, its action count, its error count.
    let rows = csv_rows(
        &lake,
        "SELECT temp_access_key_id, count(*), count(error_code) FROM session_actions GROUP BY 1",
    );
    let actions: BTreeMap<String, (u32, u32)> = rows
        .iter()
        .map(|row| {
            let f: Vec<&str> = row.split(',').collect();
            (
                f[0].to_owned(),
                (f[1].parse().expect("n"), f[2].parse().expect("n")),
            )
        })
        .collect();
    let starts = csv_rows(
        &lake,
        "SELECT DISTINCT temp_access_key_id, session_event_id FROM session_actions",
    );
    let mut mismatches = Vec::new();
    for s in &truth.sessions {
        let got = actions
            .get(&s.temp_access_key_id)
            .copied()
            .unwrap_or((0, 0));
        if got != (s.actions, s.errors) {
            mismatches.push(format!(
                "{} ({}, {}): truth {} actions / {} errors, lake {} / {}",
                s.temp_access_key_id, s.vendor, s.role_arn, s.actions, s.errors, got.0, got.1
            ));
        }
        if s.actions > 0 {
            let expected = format!("{},{}", s.temp_access_key_id, s.assume_event_id);
            assert!(
                starts.contains(&expected),
                "session {expected} not in session_actions"
            );
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} sessions differ:\n{}",
        mismatches.len(),
        truth.sessions.len(),
        mismatches.join("\n")
    );
}

#[test]
fn generated_external_ids_never_reach_the_lake_in_clear() {
    let tmp = tempdir();
    let (truth, logs) = generate(tmp.path(), &small_spec());
    let lake = tmp.path().join("lake");
    ingest(&lake, &[&logs]).expect_code(0);

    let secrets: Vec<&str> = truth
        .roles
        .iter()
        .filter_map(|r| r.external_id.as_deref())
        .chain(
            truth
                .sessions
                .iter()
                .filter_map(|s| s.external_id.as_deref()),
        )
        .collect();
    assert!(!secrets.is_empty(), "the spec plants External IDs");
    let mut all = sql(&lake, "csv", "SELECT * FROM events_all");
    all.push_str(&sql(&lake, "csv", "SELECT * FROM sessions_all"));
    all.push_str(&sql(&lake, "csv", "SELECT * FROM session_actions"));
    for secret in &secrets {
        assert!(!all.contains(secret), "External ID {secret} in clear");
    }
    // The generator logs them (so the check above means something).
    let raw = std::fs::read(tmp.path().join("gen/truth.json")).expect("truth.json");
    assert!(
        secrets
            .iter()
            .all(|s| { String::from_utf8_lossy(&raw).contains(s) })
    );

    // Sessions that passed one carry its fingerprint, and one fingerprint per ID.
    let with_id: Vec<&str> = truth
        .sessions
        .iter()
        .filter(|s| s.external_id.is_some())
        .map(|s| s.assume_event_id.as_str())
        .collect();
    let present = csv_rows(
        &lake,
        "SELECT event_id FROM sessions WHERE external_id_present AND length(external_id_fingerprint) = 32",
    );
    for id in &with_id {
        assert!(present.iter().any(|p| p == id), "session {id}");
    }
    let distinct_ids: std::collections::BTreeSet<&str> = truth
        .sessions
        .iter()
        .filter_map(|s| s.external_id.as_deref())
        .collect();
    let fingerprints = csv_rows(
        &lake,
        "SELECT count(DISTINCT external_id_fingerprint) FROM sessions \
         WHERE caller_account_id NOT IN (SELECT account_id FROM own_accounts)",
    );
    assert_eq!(fingerprints, [distinct_ids.len().to_string()]);
}
