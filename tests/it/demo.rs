//! `crosstrail demo`: generates, ingests and summarises a sample trail; runs again in its own
//! directory; never deletes a directory it did not make.

use std::collections::BTreeSet;

use crosstrail_synth::Truth;

use crate::util::{run, tempdir, thousands, write};

#[test]
fn demo_names_the_vendors_and_runs_again_in_its_directory() {
    let tmp = tempdir();
    let dir = tmp.path().join("demo");
    let args = [
        "demo".as_ref(),
        "--dir".as_ref(),
        dir.as_os_str(),
        "--format".as_ref(),
        "csv".as_ref(),
    ];
    let first = run(args);
    first.expect_code(0);

    let truth: Truth = serde_json::from_slice(
        &std::fs::read(dir.join("logs/truth.json")).expect("the demo writes its truth"),
    )
    .expect("truth.json");
    // Every vendor with a session in the sample has a row in the overview (last-activity).
    let active: BTreeSet<&str> = truth.sessions.iter().map(|s| s.vendor.as_str()).collect();
    assert!(active.contains("Acme Monitoring"), "{active:?}");
    for vendor in &active {
        assert!(
            first.stdout.contains(vendor),
            "{vendor} missing from the overview:\n{first}"
        );
    }
    let header = first.stdout.lines().next().expect("a header");
    assert!(
        header.starts_with("account_id,role_name,role_arn,third_parties,sessions"),
        "{header}"
    );
    // The summary and the next steps go to stderr, not into the data.
    assert!(first.stderr.contains("Explore further"), "{first}");
    assert!(!first.stdout.contains("Explore further"));
    assert!(first.stderr.contains(&format!(
        "{} records",
        thousands(truth.counts.records_written_total)
    )));

    // Same seed, same sample, same overview.
    let second = run(args);
    second.expect_code(0);
    assert_eq!(second.stdout, first.stdout);
}

#[test]
fn demo_refuses_a_directory_it_did_not_make() {
    let tmp = tempdir();
    let dir = tmp.path().join("precious");
    write(&dir.join("thesis.tex"), "years of work");
    write(&dir.join("data/results.csv"), "1,2,3");
    let r = run(["demo".as_ref(), "--dir".as_ref(), dir.as_os_str()]);
    r.expect_code(1);
    assert!(
        r.stderr
            .contains("exists and was not made by crosstrail demo; choose another --dir"),
        "{r}"
    );
    assert!(r.stderr.contains("precious"), "{r}");
    assert_eq!(
        std::fs::read_to_string(dir.join("thesis.tex")).expect("still there"),
        "years of work"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("data/results.csv")).expect("still there"),
        "1,2,3"
    );
    assert_eq!(std::fs::read_dir(&dir).expect("dir").count(), 2);
}

#[test]
fn demo_refuses_a_file_as_its_directory() {
    let tmp = tempdir();
    let file = tmp.path().join("notes.txt");
    write(&file, "keep me");
    let r = run(["demo".as_ref(), "--dir".as_ref(), file.as_os_str()]);
    r.expect_code(1);
    assert_eq!(
        std::fs::read_to_string(&file).expect("still there"),
        "keep me"
    );
}
