//! The third-party reports (issue 4): on generated trails, checked against the generator's
//! ground truth and snapshotted, and on a small hand-built lake for the shapes the generator
//! does not plant (deep chains, sessions whose start is not in the lake, the caller's copy of
//! an AssumeRole, a reused External ID, a record without its access key).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use crosstrail_iam::accounts::{Vendor, parse_org_accounts, parse_vendors};
use crosstrail_ingest::{IngestOptions, LocalSource, Silent, Source, ingest, ingest_iam};
use crosstrail_lake::Table;
use crosstrail_query::{LakeOptions, LakeSession, ReportParams, report, reports};
use crosstrail_synth::{RoleKind, Spec, Truth};

use crate::fixtures::{Lake, render_csv};

/// Twelve days with enough vendor traffic that every planted case shows, and small enough to
/// generate and ingest in a few seconds in a debug build.
fn spec() -> Spec {
    Spec {
        seed: 11,
        start_date: (2026, 3, 1),
        days: 12,
        events_per_day: 1000,
    }
}

/// The inactivity threshold the generated world is read with: its inactive vendor role stops
/// after day 4 of 12.
const INACTIVE_DAYS: i64 = 5;

/// A generated trail ingested into a lake, with what the generator planted.
struct World {
    root: PathBuf,
    truth: Truth,
    vendors: Vec<Vendor>,
}

/// The generated worlds, with and without IAM snapshots. Generating and ingesting take
/// seconds in a debug build and every test only reads them, so each is built once per run,
/// in the directory cargo gives integration tests (`target/tmp`), replaced on the next run.
fn world(iam: bool) -> &'static World {
    static WITH_IAM: OnceLock<World> = OnceLock::new();
    static WITHOUT_IAM: OnceLock<World> = OnceLock::new();
    let cell = if iam { &WITH_IAM } else { &WITHOUT_IAM };
    cell.get_or_init(|| {
        let name = if iam { "with-iam" } else { "without-iam" };
        let root = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("crosstrail-query-reports")
            .join(name);
        // Ingesting runs its own async runtime: not on a test's runtime thread.
        std::thread::spawn(move || World::build(root, &spec(), iam))
            .join()
            .expect("generating and ingesting")
    })
}

impl World {
    fn build(root: PathBuf, spec: &Spec, iam: bool) -> World {
        if root.exists() {
            std::fs::remove_dir_all(&root).expect("clear the previous run");
        }
        let logs = root.join("logs");
        let truth = crosstrail_synth::generate(spec, &logs).expect("generate");
        let lake = crosstrail_lake::Lake::open(&root.join("lake")).expect("lake");
        let source: Arc<dyn Source> =
            Arc::new(LocalSource::new(&logs.join("AWSLogs"), None).expect("source"));
        let options = IngestOptions {
            threads: 2,
            ..IngestOptions::default()
        };
        let summary = ingest(&lake, &[source], &options, &Silent).expect("ingest");
        assert_eq!(summary.objects_failed, 0, "{:?}", summary.failures);
        if iam {
            let files: Vec<PathBuf> = truth
                .own_accounts
                .iter()
                .map(|a| logs.join("iam").join(format!("{}.json", a.id)))
                .collect();
            let summary = ingest_iam(&lake, &files).expect("ingest --iam");
            assert!(summary.failures.is_empty(), "{:?}", summary.failures);
        }
        let yaml = std::fs::read_to_string(logs.join("vendors.yaml")).expect("vendors.yaml");
        let vendors = parse_vendors(&yaml).expect("vendor list");
        World {
            root,
            truth,
            vendors,
        }
    }

    /// A session with the own accounts, the vendor list (when `vendors`) and `params`.
    async fn open(&self, params: ReportParams, vendors: bool) -> LakeSession {
        let options = LakeOptions {
            own_accounts: Some(
                self.truth
                    .own_accounts
                    .iter()
                    .map(|a| a.id.clone())
                    .collect(),
            ),
            vendors: vendors.then(|| self.vendors.clone()),
            params,
            ..LakeOptions::default()
        };
        LakeSession::open(self.root.join("lake"), options)
            .await
            .expect("lake opens")
    }

    /// With every input and the default filters (but the short inactivity threshold).
    async fn session(&self) -> LakeSession {
        self.open(params(), true).await
    }
}

fn params() -> ReportParams {
    ReportParams {
        inactive_days: INACTIVE_DAYS,
        ..ReportParams::default()
    }
}

/// Rows of a CSV text (RFC 4180 quoting), each a column -> value map.
fn parse_csv(text: &str) -> Vec<BTreeMap<String, String>> {
    let mut records = Vec::new();
    let (mut record, mut field) = (Vec::new(), String::new());
    let (mut quoted, mut chars) = (false, text.chars().peekable());
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => record.push(std::mem::take(&mut field)),
            ('\n', false) => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (c, _) => field.push(c),
        }
    }
    let mut records = records.into_iter();
    let header = records.next().expect("a header line");
    records
        .map(|values| header.iter().cloned().zip(values).collect())
        .collect()
}

/// Runs report `name` and returns its CSV.
async fn run(session: &LakeSession, name: &str) -> String {
    let report = report(name).unwrap_or_else(|| panic!("no report {name}"));
    let result = session
        .sql(report.sql)
        .await
        .unwrap_or_else(|e| panic!("report {name} plans: {e}"));
    render_csv(result).await
}

/// Runs report `name`: its data rows, and its note rows (the rows with only a note, and the
/// lake's span where the report gives it on every row).
async fn run_rows(
    session: &LakeSession,
    name: &str,
) -> (Vec<BTreeMap<String, String>>, Vec<String>) {
    let rows = parse_csv(&run(session, name).await);
    let (notes, data): (Vec<_>, Vec<_>) = rows.into_iter().partition(|r| {
        r.iter().all(|(column, value)| {
            ["note", "lake_first_event", "lake_last_event"].contains(&column.as_str())
                || value.is_empty()
        })
    });
    (data, notes.into_iter().map(|r| r["note"].clone()).collect())
}

async fn query(session: &LakeSession, sql: &str) -> Vec<BTreeMap<String, String>> {
    let result = session
        .sql(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    parse_csv(&render_csv(result).await)
}

fn set<'a>(values: impl IntoIterator<Item = &'a str>) -> BTreeSet<String> {
    values.into_iter().map(str::to_owned).collect()
}

fn number(row: &BTreeMap<String, String>, column: &str) -> u64 {
    row[column]
        .parse()
        .unwrap_or_else(|_| panic!("{column} is not a number in {row:?}"))
}

// ---- who is a third party -----------------------------------------------------------------

#[tokio::test]
async fn every_planted_session_and_chain_is_found_with_its_vendor() {
    let world = world(true);
    let session = world.session().await;
    let found: BTreeMap<String, BTreeMap<String, String>> = query(
        &session,
        "SELECT session_event_id, session_key, party, party_class, depth, parent_session_key, \
         root_caller_account_id, source_identity, role_arn, chain_path, attribution \
         FROM third_party_sessions WHERE error_code IS NULL",
    )
    .await
    .into_iter()
    .map(|r| (r["session_event_id"].clone(), r))
    .collect();
    let truth = &world.truth;
    assert_eq!(
        found.keys().cloned().collect::<BTreeSet<_>>(),
        truth
            .sessions
            .iter()
            .map(|s| s.assume_event_id.clone())
            .collect(),
        "the third-party sessions are exactly the planted ones"
    );
    for s in &truth.sessions {
        let row = &found[&s.assume_event_id];
        let depth = if s.parent_temp_access_key_id.is_some() {
            "1"
        } else {
            "0"
        };
        assert_eq!(row["session_key"], s.temp_access_key_id, "{row:?}");
        assert_eq!(row["party"], s.vendor, "{row:?}");
        assert_eq!(row["party_class"], "vendor", "{row:?}");
        assert_eq!(row["role_arn"], s.role_arn, "{row:?}");
        assert_eq!(row["depth"], depth, "{row:?}");
        assert_eq!(row["root_caller_account_id"], s.vendor_account, "{row:?}");
        assert_eq!(
            row["parent_session_key"],
            s.parent_temp_access_key_id.clone().unwrap_or_default(),
            "{row:?}"
        );
        assert_eq!(
            row["source_identity"],
            s.source_identity.clone().unwrap_or_default(),
            "{row:?}"
        );
        let expected = if depth == "1" {
            "role chain"
        } else {
            "AssumeRole caller"
        };
        assert_eq!(row["attribution"], expected, "{row:?}");
    }
    assert!(
        truth
            .sessions
            .iter()
            .any(|s| s.parent_temp_access_key_id.is_some()),
        "the spec plants a chain"
    );

    // Every action of every planted session, and its errors.
    let actions: BTreeMap<String, (u64, u64)> = query(
        &session,
        "SELECT session_key, count(*) AS actions, count(error_code) AS errors \
         FROM third_party_actions GROUP BY session_key",
    )
    .await
    .iter()
    .map(|r| {
        (
            r["session_key"].clone(),
            (number(r, "actions"), number(r, "errors")),
        )
    })
    .collect();
    for s in &truth.sessions {
        let got = actions
            .get(&s.temp_access_key_id)
            .copied()
            .unwrap_or((0, 0));
        assert_eq!(got, (u64::from(s.actions), u64::from(s.errors)), "{s:?}");
    }
}

#[tokio::test]
async fn internal_and_aws_service_activity_is_never_third_party() {
    let world = world(true);
    let session = world.session().await;
    let rows = query(
        &session,
        "SELECT party_class, third_party, count(*) AS sessions FROM session_chains \
         GROUP BY 1, 2 ORDER BY 1, 2",
    )
    .await;
    let classes: BTreeSet<String> = rows
        .iter()
        .map(|r| format!("{} {}", r["party_class"], r["third_party"]))
        .collect();
    assert_eq!(
        classes,
        set([
            "aws-service false",
            "internal false",
            "own-org false",
            "vendor true"
        ]),
        "{rows:?}"
    );

    // Only vendor and chain roles are assumed by third parties; the own user refused on a
    // vendor role is not a third party.
    let third_party_roles = set(query(
        &session,
        "SELECT DISTINCT role_arn FROM third_party_sessions WHERE error_code IS NULL",
    )
    .await
    .iter()
    .map(|r| r["role_arn"].as_str()));
    let vendor_roles = set(world
        .truth
        .roles
        .iter()
        .filter(|r| matches!(r.kind, RoleKind::Vendor | RoleKind::Chain) && !r.never_used)
        .map(|r| r.arn.as_str()));
    assert_eq!(third_party_roles, vendor_roles);
    let failed = set(query(
        &session,
        "SELECT session_event_id FROM third_party_sessions WHERE error_code IS NOT NULL",
    )
    .await
    .iter()
    .map(|r| r["session_event_id"].as_str()));
    let planted_failed: BTreeSet<String> = world
        .truth
        .failed_assume_role_event_ids
        .iter()
        .cloned()
        .collect();
    assert!(!failed.is_empty() && failed.is_subset(&planted_failed));
    let own_user_refused = query(
        &session,
        "SELECT count(*) AS n FROM session_chains \
         WHERE error_code IS NOT NULL AND caller_identity_type = 'IAMUser'",
    )
    .await;
    assert_eq!(
        number(&own_user_refused[0], "n") as usize,
        planted_failed.len() - failed.len(),
        "the other refusals are own users'"
    );

    // No own account, own role or AWS service shows up in any report.
    let own: BTreeSet<&str> = world
        .truth
        .own_accounts
        .iter()
        .map(|a| a.id.as_str())
        .collect();
    for name in ["third-parties", "blast-radius", "access-denied", "timeline"] {
        let (rows, _) = run_rows(&session, name).await;
        for row in &rows {
            let party = &row["party"];
            assert!(
                world.truth.vendors.iter().any(|v| &v.name == party),
                "{name}: {party:?} is not a vendor"
            );
            assert!(!own.contains(party.as_str()), "{name}: {row:?}");
        }
    }
}

// ---- the reports --------------------------------------------------------------------------

#[tokio::test]
async fn third_parties_has_every_vendor_with_its_roles_sessions_and_actions() {
    let world = world(true);
    let (rows, notes) = run_rows(&world.session().await, "third-parties").await;
    let truth = &world.truth;
    assert_eq!(
        set(rows.iter().map(|r| r["party"].as_str())),
        set(truth.vendors.iter().map(|v| v.name.as_str()))
    );
    for row in &rows {
        let vendor = &row["party"];
        let sessions: Vec<_> = truth
            .sessions
            .iter()
            .filter(|s| &s.vendor == vendor)
            .collect();
        let may: BTreeSet<String> = truth
            .roles
            .iter()
            .filter(|r| r.vendor.as_deref() == Some(vendor.as_str()))
            .map(|r| format!("{}:{}", r.account_id, r.name))
            .collect();
        let did: BTreeSet<String> = sessions
            .iter()
            .map(|s| {
                let (account, name) = role_parts(&s.role_arn);
                format!("{account}:{name}")
            })
            .collect();
        assert_eq!(row["party_class"], "vendor");
        assert_eq!(split(&row["roles_may_assume"]), may, "{row:?}");
        assert_eq!(split(&row["roles_assumed"]), did, "{row:?}");
        assert_eq!(number(row, "sessions"), sessions.len() as u64, "{row:?}");
        let chained = sessions
            .iter()
            .filter(|s| s.parent_temp_access_key_id.is_some());
        assert_eq!(number(row, "chained_sessions"), chained.count() as u64);
        let actions: u32 = sessions.iter().map(|s| s.actions).sum();
        let errors: u32 = sessions.iter().map(|s| s.errors).sum();
        assert_eq!(number(row, "actions"), u64::from(actions), "{row:?}");
        assert_eq!(number(row, "errors"), u64::from(errors), "{row:?}");
        let first = sessions
            .iter()
            .map(|s| s.start.as_str())
            .min()
            .unwrap_or("");
        let last = sessions.iter().map(|s| s.end.as_str()).max().unwrap_or("");
        assert_eq!(
            (row["first_seen"].as_str(), row["last_seen"].as_str()),
            (first, last)
        );
        let accounts: BTreeSet<String> =
            sessions.iter().map(|s| s.vendor_account.clone()).collect();
        assert!(accounts.is_subset(&split(&row["accounts"])), "{row:?}");
        assert!(!row["source_ips"].is_empty() && !row["user_agents"].is_empty());
    }
    assert_eq!(
        notes,
        [format!(
            "the lake covers {} to {}",
            truth.first_event_time, truth.last_event_time
        )]
    );
}

fn role_parts(arn: &str) -> (&str, &str) {
    let account = arn.split(':').nth(4).expect("an IAM ARN");
    let name = arn.rsplit('/').next().expect("a role name");
    (account, name)
}

fn split(list: &str) -> BTreeSet<String> {
    list.split(", ")
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn last_activity_gives_every_vendor_role_its_status_within_the_lake_span() {
    let world = world(true);
    let (rows, notes) = run_rows(&world.session().await, "last-activity").await;
    let truth = &world.truth;
    assert!(notes.is_empty(), "{notes:?}");
    let by_role: BTreeMap<&str, &BTreeMap<String, String>> =
        rows.iter().map(|r| (r["role_arn"].as_str(), r)).collect();
    let vendor_roles: Vec<_> = truth
        .roles
        .iter()
        .filter(|r| matches!(r.kind, RoleKind::Vendor | RoleKind::Chain))
        .collect();
    assert_eq!(
        set(by_role.keys().copied()),
        set(vendor_roles.iter().map(|r| r.arn.as_str()))
    );
    let last_event = secs(&truth.last_event_time);
    for role in vendor_roles {
        let row = by_role[role.arn.as_str()];
        assert_eq!(row["lake_first_event"], truth.first_event_time, "{row:?}");
        assert_eq!(row["lake_last_event"], truth.last_event_time, "{row:?}");
        // The last use is the end of its last session (its last action, or its start).
        let last_used = truth
            .sessions
            .iter()
            .filter(|s| s.role_arn == role.arn)
            .map(|s| s.end.as_str())
            .max();
        let expected = match last_used {
            None => "never-used",
            Some(t) if last_event - secs(t) >= INACTIVE_DAYS * 86_400 => "inactive",
            Some(_) => "active",
        };
        assert_eq!(row["status"], expected, "{row:?}");
        assert_eq!(row["last_used"], last_used.unwrap_or(""), "{row:?}");
        if let Some(t) = last_used {
            assert_eq!(
                number(row, "days_since") as i64,
                (last_event - secs(t)) / 86_400
            );
        }
        if role.never_used {
            assert_eq!(row["status"], "never-used", "{row:?}");
        }
        if role.inactive {
            assert_eq!(row["status"], "inactive", "{row:?}");
        }
    }
    assert!(truth.roles.iter().any(|r| r.never_used) && truth.roles.iter().any(|r| r.inactive));

    // The default threshold (90 days) makes every used role of a 12-day lake active.
    let session = world.open(ReportParams::default(), true).await;
    let (rows, _) = run_rows(&session, "last-activity").await;
    let statuses = set(rows.iter().map(|r| r["status"].as_str()));
    assert_eq!(statuses, set(["active", "never-used"]));
}

/// Seconds since the epoch of an RFC 3339 `YYYY-MM-DDTHH:MM:SSZ` time.
fn secs(time: &str) -> i64 {
    let ms = crosstrail_lake::normalize::parse_timestamp(time).expect("a time");
    ms / 1000
}

#[tokio::test]
async fn external_id_finds_every_missing_short_and_non_uuid_external_id() {
    let world = world(true);
    let (rows, notes) = run_rows(&world.session().await, "external-id").await;
    assert!(notes.is_empty(), "{notes:?}");
    let findings: BTreeSet<String> = rows
        .iter()
        .map(|r| format!("{} | {} | {}", r["finding"], r["seen_in"], r["role_arn"]))
        .collect();
    let mut expected = BTreeSet::new();
    for role in &world.truth.roles {
        if role.kind != RoleKind::Vendor {
            continue;
        }
        let used = world.truth.sessions.iter().any(|s| s.role_arn == role.arn);
        if !role.external_id_required {
            expected.insert(format!(
                "trust without ExternalId | trust policy | {}",
                role.arn
            ));
            expected.insert(format!(
                "whole account, no conditions | trust policy | {}",
                role.arn
            ));
            if used {
                expected.insert(format!(
                    "AssumeRole without ExternalId | AssumeRole calls | {}",
                    role.arn
                ));
            }
        }
        let Some(id) = &role.external_id else {
            continue;
        };
        if id.chars().count() < 16 {
            expected.insert(format!("short ExternalId | trust policy | {}", role.arn));
            if used {
                expected.insert(format!(
                    "short ExternalId | AssumeRole calls | {}",
                    role.arn
                ));
            }
        }
        if id.len() != 36 && used {
            expected.insert(format!(
                "ExternalId not UUID-shaped | AssumeRole calls | {}",
                role.arn
            ));
        }
    }
    assert_eq!(findings, expected);
    // No External ID in clear, anywhere.
    let text = run(&world.session().await, "external-id").await;
    for role in &world.truth.roles {
        if let Some(id) = &role.external_id {
            assert!(!text.contains(id.as_str()), "{id} in the output");
        }
    }
}

#[tokio::test]
async fn access_denied_counts_every_failed_call_and_says_what_cloudtrail_hides() {
    let world = world(true);
    let (rows, notes) = run_rows(&world.session().await, "access-denied").await;
    let mut attempts: BTreeMap<String, u64> = BTreeMap::new();
    for row in &rows {
        assert!(!row["error_code"].is_empty(), "{row:?}");
        *attempts.entry(row["party"].clone()).or_default() += number(row, "attempts");
    }
    let mut expected: BTreeMap<String, u64> = BTreeMap::new();
    for s in &world.truth.sessions {
        if s.errors > 0 {
            *expected.entry(s.vendor.clone()).or_default() += u64::from(s.errors);
        }
    }
    assert_eq!(attempts, expected);
    // The refused chained AssumeRole is a failed call of the vendor session that made it.
    assert!(
        rows.iter().any(|r| r["event_name"] == "AssumeRole"
            && r["error_code"] == "AccessDenied"
            && r["resource"].ends_with(":role/OrgAdmin")),
        "{rows:?}"
    );
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0].starts_with("CloudTrail does not log denied cross-account AssumeRole"));
}

#[tokio::test]
async fn blast_radius_counts_sessions_actions_services_and_s3_bytes() {
    let world = world(true);
    let (rows, notes) = run_rows(&world.session().await, "blast-radius").await;
    assert!(notes.is_empty(), "{notes:?}");
    for vendor in &world.truth.vendors {
        let sessions: Vec<_> = world
            .truth
            .sessions
            .iter()
            .filter(|s| s.vendor == vendor.name)
            .collect();
        let party: Vec<_> = rows
            .iter()
            .filter(|r| r["party"] == vendor.name && r["scope"] == "third party")
            .collect();
        let per_session: Vec<_> = rows
            .iter()
            .filter(|r| r["party"] == vendor.name && r["scope"] == "session")
            .collect();
        if sessions.is_empty() {
            assert!(party.is_empty() && per_session.is_empty());
            continue;
        }
        let [party] = party[..] else {
            panic!("one row for {}: {party:?}", vendor.name)
        };
        assert_eq!(number(party, "sessions"), sessions.len() as u64);
        assert_eq!(per_session.len(), sessions.len());
        let actions: u32 = sessions.iter().map(|s| s.actions).sum();
        let errors: u32 = sessions.iter().map(|s| s.errors).sum();
        assert_eq!(number(party, "actions"), u64::from(actions), "{party:?}");
        assert_eq!(
            number(party, "failed_attempts"),
            u64::from(errors),
            "{party:?}"
        );
        assert_eq!(
            number(party, "reads") + number(party, "changes") + number(party, "failed_attempts"),
            u64::from(actions),
            "{party:?}"
        );
        for row in &per_session {
            let s = sessions
                .iter()
                .find(|s| s.temp_access_key_id == row["session_key"])
                .unwrap_or_else(|| panic!("a planted session: {row:?}"));
            assert_eq!(number(row, "actions"), u64::from(s.actions), "{row:?}");
        }
    }
    let row = |party: &str| {
        rows.iter()
            .find(|r| r["party"] == party && r["scope"] == "third party")
            .unwrap_or_else(|| panic!("{party}"))
    };
    // The backup vendor reads objects (with bytes); the consultant hops to a second role.
    let blue = row("Blue Backup");
    assert!(number(blue, "s3_objects_read") > 0 && number(blue, "s3_bytes_out") > 0);
    assert!(blue["services"].contains("s3"));
    let delta = row("Delta Consulting");
    assert!(number(delta, "sts_credentials") >= 1, "{delta:?}");
    assert!(
        delta["iam_sts_calls"].contains("sts:AssumeRole"),
        "{delta:?}"
    );
    assert!(number(delta, "changes") > 0 && number(delta, "resources_changed") > 0);
}

// ---- timeline filters ---------------------------------------------------------------------

async fn timeline(world: &World, params: ReportParams) -> Vec<BTreeMap<String, String>> {
    let session = world.open(params, true).await;
    run_rows(&session, "timeline").await.0
}

#[tokio::test]
async fn timeline_filters_by_vendor_role_session_key_ip_and_window() {
    let world = world(true);
    let truth = &world.truth;
    let all = timeline(world, params()).await;
    let every: Vec<_> = truth.sessions.iter().collect();
    let refused = all
        .iter()
        .filter(|r| r["kind"] == "session start" && !r["error_code"].is_empty())
        .count();
    assert!(refused > 0, "the refused hops are in the timeline");
    assert_eq!(all.len(), timeline_rows(&every));
    let times: Vec<&str> = all.iter().map(|r| r["event_time"].as_str()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "chronological");

    // --vendor: by name, any case, or by account.
    let delta = &truth
        .vendors
        .iter()
        .find(|v| v.name == "Delta Consulting")
        .expect("Delta");
    for vendor in ["delta consulting", delta.accounts[0].as_str()] {
        let rows = timeline(
            world,
            ReportParams {
                vendor: Some(vendor.into()),
                ..params()
            },
        )
        .await;
        assert!(!rows.is_empty());
        assert!(
            rows.iter().all(|r| r["party"] == "Delta Consulting"),
            "{vendor}"
        );
        let keys = set(rows
            .iter()
            .map(|r| r["session_key"].as_str())
            .filter(|k| !k.is_empty()));
        let planted = set(truth
            .sessions
            .iter()
            .filter(|s| s.vendor == delta.name)
            .map(|s| s.temp_access_key_id.as_str()));
        assert_eq!(keys, planted, "{vendor}");
    }

    // --role: ARN or name.
    let chain = truth
        .sessions
        .iter()
        .find(|s| s.parent_temp_access_key_id.is_some())
        .expect("a chained session");
    let (_, chain_role) = role_parts(&chain.role_arn);
    for role in [chain.role_arn.as_str(), chain_role] {
        let rows = timeline(
            world,
            ReportParams {
                role: Some(role.into()),
                ..params()
            },
        )
        .await;
        assert!(!rows.is_empty());
        assert!(rows.iter().all(|r| r["role_name"] == chain_role), "{role}");
    }

    // --session: the vendor session at the root brings the session it chained into.
    let parent_key = chain.parent_temp_access_key_id.clone().expect("parent");
    let parent = truth
        .sessions
        .iter()
        .find(|s| s.temp_access_key_id == parent_key)
        .expect("the parent session");
    for id in [parent.assume_event_id.as_str(), parent_key.as_str()] {
        let rows = timeline(
            world,
            ReportParams {
                session: Some(id.into()),
                ..params()
            },
        )
        .await;
        let keys = set(rows
            .iter()
            .map(|r| r["session_key"].as_str())
            .filter(|k| !k.is_empty()));
        assert!(keys.contains(&parent_key) && keys.contains(&chain.temp_access_key_id));
        let refused = rows.iter().filter(|r| r["session_key"].is_empty());
        assert!(
            refused
                .clone()
                .all(|r| r["parent_session_key"] == parent_key)
        );
        assert_eq!(rows.len(), timeline_rows(&[parent, chain]), "{id}");
    }
    // ... and the chained session alone, by its AssumeRole eventID.
    let rows = timeline(
        world,
        ReportParams {
            session: Some(chain.assume_event_id.clone()),
            ..params()
        },
    )
    .await;
    assert!(
        rows.iter()
            .all(|r| r["session_key"] == chain.temp_access_key_id)
    );
    assert_eq!(rows.len(), chain.actions as usize + 1);
    assert_eq!(rows[0]["kind"], "session start");
    assert_eq!(rows[0]["parent_session_key"], parent_key);
    assert_eq!(rows[0]["depth"], "1");

    // --access-key: the calls it signed, and the start of the session it belongs to.
    let rows = timeline(
        world,
        ReportParams {
            access_key: Some(chain.temp_access_key_id.clone()),
            ..params()
        },
    )
    .await;
    assert_eq!(rows.len(), chain.actions as usize + 1);

    // --source-ip.
    let ip = all[0]["source_ip"].clone();
    let rows = timeline(
        world,
        ReportParams {
            source_ip: Some(ip.clone()),
            ..params()
        },
    )
    .await;
    assert!(!rows.is_empty() && rows.len() < all.len());
    assert!(rows.iter().all(|r| r["source_ip"] == ip));
    assert_eq!(
        rows.len(),
        all.iter().filter(|r| r["source_ip"] == ip).count()
    );

    // --from/--to: from inclusive, to exclusive.
    let (from, to) = (times[10], times[times.len() / 2]);
    let rows = timeline(
        world,
        ReportParams {
            from_ms: crosstrail_lake::normalize::parse_timestamp(from),
            to_ms: crosstrail_lake::normalize::parse_timestamp(to),
            ..params()
        },
    )
    .await;
    let inside = times.iter().filter(|t| **t >= from && **t < to).count();
    assert_eq!(rows.len(), inside);

    // Nothing matches: a row says so, naming the filters.
    let session = world
        .open(
            ReportParams {
                vendor: Some("Nobody Inc".into()),
                ..params()
            },
            true,
        )
        .await;
    let (rows, notes) = run_rows(&session, "timeline").await;
    assert!(rows.is_empty());
    assert_eq!(
        notes,
        ["no third-party activity in the lake matches vendor=Nobody Inc"]
    );
}

/// Rows the timeline shows for `sessions`: a start and the actions of each, less the chained
/// AssumeRole calls, which show once, as the start of the session they made (a refused one
/// is the start of a failed session: it replaces its action row as well).
fn timeline_rows(sessions: &[&crosstrail_synth::SessionTruth]) -> usize {
    let chained = sessions
        .iter()
        .filter(|s| s.parent_temp_access_key_id.is_some())
        .count();
    let actions: u32 = sessions.iter().map(|s| s.actions).sum();
    sessions.len() + actions as usize - chained
}

// ---- missing inputs -----------------------------------------------------------------------

#[tokio::test]
async fn every_report_says_what_it_cannot_know_without_iam_snapshot_or_vendor_list() {
    const NO_IAM: &str = "no IAM snapshot in the lake";
    const NO_VENDORS: &str = "no vendor list (--vendors)";
    for iam in [true, false] {
        let world = world(iam);
        for vendors in [true, false] {
            let session = world.open(params(), vendors).await;
            // rightsize-policy (documents) and unmapped (every event) carry no notes.
            for report in reports()
                .iter()
                .filter(|r| !["rightsize-policy", "unmapped"].contains(&r.name))
            {
                let (rows, notes) = run_rows(&session, report.name).await;
                let case = format!("{} (iam {iam}, vendors {vendors})", report.name);
                let says = |text: &str| notes.iter().any(|n| n.starts_with(text));
                let needs_iam = [
                    "third-parties",
                    "last-activity",
                    "external-id",
                    "unused",
                    "rightsize",
                    "risky-grants",
                ];
                let grants_only = ["unused", "rightsize", "risky-grants"].contains(&report.name);
                assert_eq!(
                    says(NO_IAM),
                    !iam && needs_iam.contains(&report.name),
                    "{case}: {notes:?}"
                );
                assert_eq!(says(NO_VENDORS), !vendors, "{case}: {notes:?}");
                assert!(
                    !rows.is_empty() || (grants_only && !iam),
                    "{case}: third-party activity is found anyway"
                );
                for row in rows.iter().filter(|r| r.contains_key("party_class")) {
                    let class = &row["party_class"];
                    let expected = if vendors { "vendor" } else { "unknown-account" };
                    assert_eq!(class, expected, "{case}: {row:?}");
                }
            }
        }
    }

    // Without a snapshot: what the calls show is still found, what only trusts show is not.
    let world = world(false);
    let session = world.open(params(), true).await;
    let (rows, _) = run_rows(&session, "external-id").await;
    assert!(
        rows.iter().all(|r| r["seen_in"] == "AssumeRole calls"),
        "{rows:?}"
    );
    let findings = set(rows.iter().map(|r| r["finding"].as_str()));
    assert_eq!(
        findings,
        set([
            "AssumeRole without ExternalId",
            "ExternalId not UUID-shaped",
            "short ExternalId"
        ])
    );
    let (rows, _) = run_rows(&session, "last-activity").await;
    assert!(rows.iter().all(|r| r["status"] != "never-used"), "{rows:?}");
    let (rows, _) = run_rows(&session, "third-parties").await;
    assert!(
        rows.iter().all(|r| r["roles_may_assume"].is_empty()),
        "{rows:?}"
    );
}

// ---- what people see ----------------------------------------------------------------------

/// Fingerprints are keyed per lake (a random key made when the lake is created): they are the
/// only part of the output that changes from one run to the next.
fn snapshot(name: &str, csv: &str) {
    insta::with_settings!({
        filters => vec![(r"\b[0-9a-f]{32}\b", "[fingerprint]")],
        prepend_module_to_snapshot => false,
        snapshot_path => "snapshots",
    }, {
        insta::assert_snapshot!(name, csv);
    });
}

#[tokio::test]
async fn snapshots_of_every_report() {
    let with_iam = world(true);
    let session = with_iam.session().await;
    for name in [
        "third-parties",
        "last-activity",
        "blast-radius",
        "external-id",
        "access-denied",
    ] {
        snapshot(&format!("reports__{name}"), &run(&session, name).await);
    }
    // The timeline of the vendor session that chained into a second role.
    let chain = with_iam
        .truth
        .sessions
        .iter()
        .find(|s| s.parent_temp_access_key_id.is_some())
        .expect("a chained session");
    let params = ReportParams {
        session: chain.parent_temp_access_key_id.clone(),
        ..params()
    };
    let session = with_iam.open(params, true).await;
    snapshot("reports__timeline", &run(&session, "timeline").await);

    // Without IAM snapshot nor vendor list.
    let session = world(false).open(ReportParams::default(), false).await;
    for name in ["third-parties", "external-id"] {
        snapshot(
            &format!("reports__{name}__without_inputs"),
            &run(&session, name).await,
        );
    }
}

// ---- shapes the generator does not plant --------------------------------------------------

const OWN: &str = "111111111111";
const VEE: &str = "222222222222";
const WEE: &str = "333333333333";
/// A second own account, which the vendor reaches through the first one.
const OWN2: &str = "444444444444";
const DAY: &str = "event_date=2024-05-01";

fn role(name: &str) -> String {
    format!("arn:aws:iam::{OWN}:role/{name}")
}

fn assumed(name: &str, session: &str) -> String {
    format!("arn:aws:sts::{OWN}:assumed-role/{name}/{session}")
}

/// One AssumeRole record of the hand-built lake.
struct Assume<'a> {
    id: &'a str,
    time: &'a str,
    role: &'a str,
    session: &'a str,
    caller_type: &'a str,
    caller_account: &'a str,
    caller_arn: &'a str,
    caller_key: &'a str,
    key: &'a str,
    assumed: &'a str,
    recipient: &'a str,
}

impl Assume<'_> {
    /// The `sessions` row.
    fn session_row(&self) -> Vec<(&str, String)> {
        let role_account = self.role.split(':').nth(4).expect("an IAM ARN");
        let mut row: Vec<(&str, String)> = [
            ("event_id", self.id),
            ("event_time", self.time),
            ("event_name", "AssumeRole"),
            ("role_arn", self.role),
            ("role_account_id", role_account),
            ("role_session_name", self.session),
            ("caller_identity_type", self.caller_type),
            ("caller_account_id", self.caller_account),
            ("temp_access_key_id", self.key),
            ("assumed_role_arn", self.assumed),
            ("recipient_account_id", self.recipient),
            ("source_ip", "198.51.100.9"),
            ("aws_region", "us-east-1"),
        ]
        .into_iter()
        .map(|(k, v)| (k, v.to_owned()))
        .collect();
        if !self.caller_arn.is_empty() {
            row.push(("caller_arn", self.caller_arn.to_owned()));
        }
        if !self.caller_key.is_empty() {
            row.push(("caller_access_key_id", self.caller_key.to_owned()));
        }
        if let Some(shared) = self.shared_event_id() {
            row.push(("shared_event_id", shared));
        }
        if self.id.starts_with("e0") {
            row.push(("source_identity", "alice@vee".to_owned()));
        }
        if self.id.starts_with("e0") || self.id == "e5" {
            // The same External ID, from two accounts.
            row.extend([
                ("external_id_present", "true".to_owned()),
                (
                    "external_id_fingerprint",
                    "0123456789abcdef0123456789abcdef".to_owned(),
                ),
                ("external_id_length", "36".to_owned()),
                ("external_id_uuid_shaped", "true".to_owned()),
            ]);
        }
        row
    }

    /// The `events` row: every record is an event too, and a chained AssumeRole is signed
    /// with the calling session's key.
    fn event_row(&self) -> Vec<(&str, String)> {
        let mut row = vec![
            ("event_id", self.id.to_owned()),
            ("event_time", self.time.to_owned()),
            ("event_source", "sts.amazonaws.com".to_owned()),
            ("event_name", "AssumeRole".to_owned()),
            ("identity_type", self.caller_type.to_owned()),
            ("identity_account_id", self.caller_account.to_owned()),
            ("recipient_account_id", self.recipient.to_owned()),
            ("read_only", "true".to_owned()),
        ];
        if self.caller_type == "AssumedRole" {
            // arn:aws:sts::<account>:assumed-role/<role>/<session>
            let account = self.caller_arn.split(':').nth(4).expect("an STS ARN");
            let role_name = self.caller_arn.split('/').nth(1).expect("a role name");
            row.extend([
                ("principal_arn", self.caller_arn.to_owned()),
                ("access_key_id", self.caller_key.to_owned()),
                (
                    "session_issuer_arn",
                    format!("arn:aws:iam::{account}:role/{role_name}"),
                ),
                ("session_issuer_account_id", account.to_owned()),
            ]);
        }
        if let Some(shared) = self.shared_event_id() {
            row.push(("shared_event_id", shared));
        }
        row
    }

    /// The role's and the caller's copies of one call share it.
    fn shared_event_id(&self) -> Option<String> {
        let base = self.id.trim_end_matches('c');
        ["e0", "e6"]
            .contains(&base)
            .then(|| format!("shared-{base}"))
    }
}

/// An action of an assumed-role session (`key` None: a record without its access key).
fn action(
    id: &str,
    time: &str,
    key: Option<&str>,
    arn: &str,
    error: bool,
) -> Vec<(&'static str, String)> {
    let role_name = arn.split('/').nth(1).expect("a role name");
    let mut row = vec![
        ("event_id", id.to_owned()),
        ("event_time", time.to_owned()),
        ("event_source", "ec2.amazonaws.com".to_owned()),
        ("event_name", "DescribeInstances".to_owned()),
        ("identity_type", "AssumedRole".to_owned()),
        ("identity_account_id", OWN.to_owned()),
        ("principal_arn", arn.to_owned()),
        ("session_issuer_arn", role(role_name)),
        ("session_issuer_account_id", OWN.to_owned()),
        ("recipient_account_id", OWN.to_owned()),
        ("read_only", "true".to_owned()),
        ("source_ip", "198.51.100.9".to_owned()),
    ];
    if let Some(key) = key {
        row.push(("access_key_id", key.to_owned()));
    }
    if error {
        row.push(("error_code", "Client.UnauthorizedOperation".to_owned()));
    }
    row
}

/// One trust-policy principal (the fixture cannot write list columns: no narrowing keys).
fn trust(
    role_arn: &str,
    principal: &str,
    account: &str,
    kind: &str,
    external_id: bool,
) -> Vec<(&'static str, String)> {
    let name = role_arn.rsplit('/').next().expect("a role name");
    [
        ("account_id", OWN),
        ("role_arn", role_arn),
        ("role_name", name),
        ("statement_index", "0"),
        ("effect", "Allow"),
        ("not_principal", "false"),
        ("principal_type", "AWS"),
        ("principal", principal),
        ("principal_account_id", account),
        ("principal_kind", kind),
        (
            "requires_external_id",
            if external_id { "true" } else { "false" },
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.to_owned()))
    .collect()
}

fn write(lake: &Lake, table: Table, relative: &str, rows: &[Vec<(&str, String)>]) {
    let borrowed: Vec<Vec<(&str, &str)>> = rows
        .iter()
        .map(|r| r.iter().map(|(k, v)| (*k, v.as_str())).collect())
        .collect();
    let rows: Vec<&[(&str, &str)]> = borrowed.iter().map(Vec::as_slice).collect();
    lake.write(table, relative, &rows);
}

/// A lake with a chain three hops deep, a hop into a second own account (seen from the role's
/// account as an AWSAccount caller), a session whose start is not in the lake (and one it
/// chained into), the vendor's own copy of an AssumeRole, an External ID used by two
/// accounts, and an action whose record lacks the access key.
fn hand_built_lake() -> Lake {
    let (r0, r1, r2, r3) = (role("VendorRole"), role("Hop1"), role("Hop2"), role("Hop3"));
    let (ru, rw) = (role("VendorRole2"), role("WeeRole"));
    let spoke = format!("arn:aws:iam::{OWN2}:role/Spoke");
    let (a0, a1, a2, a3) = (
        assumed("VendorRole", "job-1"),
        assumed("Hop1", "hop-1"),
        assumed("Hop2", "hop-2"),
        assumed("Hop3", "hop-3"),
    );
    let (unseen, hop_u, wee) = (
        assumed("VendorRole2", "old"),
        assumed("Hop1", "hop-u"),
        assumed("WeeRole", "wee"),
    );
    let spoke_1 = format!("arn:aws:sts::{OWN2}:assumed-role/Spoke/spoke-1");
    let worker = format!("arn:aws:sts::{VEE}:assumed-role/vee-worker/job-1");
    let at = |time: &'static str| time;
    #[rustfmt::skip]
    let assumes = [
        // The vendor's first call, in the role's account and in its own.
        Assume { id: "e0", time: at("2024-05-01T10:00:00Z"), role: &r0, session: "job-1", caller_type: "AWSAccount", caller_account: VEE, caller_arn: "", caller_key: "", key: "ASIAK0", assumed: &a0, recipient: OWN },
        Assume { id: "e0c", time: at("2024-05-01T10:00:00Z"), role: &r0, session: "job-1", caller_type: "AssumedRole", caller_account: VEE, caller_arn: &worker, caller_key: "ASIAVENDORSIDE", key: "ASIAK0", assumed: &a0, recipient: VEE },
        // Three hops inside the account.
        Assume { id: "e1", time: at("2024-05-01T10:01:00Z"), role: &r1, session: "hop-1", caller_type: "AssumedRole", caller_account: OWN, caller_arn: &a0, caller_key: "ASIAK0", key: "ASIAK1", assumed: &a1, recipient: OWN },
        Assume { id: "e2", time: at("2024-05-01T10:02:00Z"), role: &r2, session: "hop-2", caller_type: "AssumedRole", caller_account: OWN, caller_arn: &a1, caller_key: "ASIAK1", key: "ASIAK2", assumed: &a2, recipient: OWN },
        Assume { id: "e3", time: at("2024-05-01T10:03:00Z"), role: &r3, session: "hop-3", caller_type: "AssumedRole", caller_account: OWN, caller_arn: &a2, caller_key: "ASIAK2", key: "ASIAK3", assumed: &a3, recipient: OWN },
        // A hop into the second own account: an AWSAccount caller there, the session here.
        Assume { id: "e6", time: at("2024-05-01T10:05:00Z"), role: &spoke, session: "spoke-1", caller_type: "AWSAccount", caller_account: OWN, caller_arn: "", caller_key: "", key: "ASIAK6", assumed: &spoke_1, recipient: OWN2 },
        Assume { id: "e6c", time: at("2024-05-01T10:05:00Z"), role: &spoke, session: "spoke-1", caller_type: "AssumedRole", caller_account: OWN, caller_arn: &a0, caller_key: "ASIAK0", key: "ASIAK6", assumed: &spoke_1, recipient: OWN },
        // A hop made by a session whose start is not in the lake.
        Assume { id: "e4", time: at("2024-05-01T11:00:00Z"), role: &r1, session: "hop-u", caller_type: "AssumedRole", caller_account: OWN, caller_arn: &unseen, caller_key: "ASIAKU", key: "ASIAK4", assumed: &hop_u, recipient: OWN },
        // Another account, with the same External ID.
        Assume { id: "e5", time: at("2024-05-01T12:00:00Z"), role: &rw, session: "wee", caller_type: "AWSAccount", caller_account: WEE, caller_arn: "", caller_key: "", key: "ASIAK5", assumed: &wee, recipient: OWN },
    ];
    let lake = Lake::new();
    let sessions: Vec<_> = assumes.iter().map(Assume::session_row).collect();
    write(
        &lake,
        Table::Sessions,
        &format!("{DAY}/part-s.parquet"),
        &sessions,
    );

    let mut events: Vec<_> = assumes.iter().map(Assume::event_row).collect();
    events.extend([
        action("a0", "2024-05-01T10:00:30Z", Some("ASIAK0"), &a0, false),
        action("a1", "2024-05-01T10:01:30Z", Some("ASIAK1"), &a1, false),
        action("a2", "2024-05-01T10:02:30Z", Some("ASIAK2"), &a2, false),
        action("a3", "2024-05-01T10:03:30Z", Some("ASIAK3"), &a3, true),
        action("au", "2024-05-01T10:30:00Z", Some("ASIAKU"), &unseen, false),
    ]);
    // The record without its key: matched by the session's ARN and creation date.
    let mut keyless = action("a2-no-key", "2024-05-01T10:04:00Z", None, &a2, false);
    keyless.push(("session_created_at", "2024-05-01T10:02:00Z".to_owned()));
    events.push(keyless);
    write(
        &lake,
        Table::Events,
        &format!("{DAY}/part-e.parquet"),
        &events,
    );

    // The vendor's two roles, the chain, and the other account's role.
    let vee_root = format!("arn:aws:iam::{VEE}:root");
    let trusts = [
        trust(&r0, &vee_root, VEE, "account", true),
        trust(&ru, &vee_root, VEE, "account", true),
        trust(&r1, &r0, OWN, "role", false),
        trust(&r2, &r1, OWN, "role", false),
        trust(&r3, &r2, OWN, "role", false),
        trust(&rw, WEE, WEE, "account", true),
    ];
    let snapshot = "snapshot=20240501T000000000Z/part-t.parquet";
    write(&lake, Table::RoleTrust, snapshot, &trusts);
    lake
}

async fn open_hand_built(lake: &Lake, params: ReportParams) -> LakeSession {
    let vendor = Vendor {
        name: "Vee Corp".into(),
        accounts: vec![VEE.into()],
        source: vec!["https://vee.example/aws".into()],
        aws_owned: false,
        enabled: true,
        deprecated_date: None,
    };
    lake.open_with(LakeOptions {
        own_accounts: Some(vec![OWN.into(), OWN2.into()]),
        vendors: Some(vec![vendor]),
        params,
        ..LakeOptions::default()
    })
    .await
}

#[tokio::test]
async fn chains_of_any_depth_unseen_starts_caller_copies_and_keyless_records() {
    let lake = hand_built_lake();
    let session = open_hand_built(&lake, ReportParams::default()).await;
    let rows = query(
        &session,
        "SELECT session_key, start_seen, depth, parent_session_key, root_session_key, \
         chain_path, source_identity, party, party_class, attribution, caller_side_arn, \
         caller_side_event_id \
         FROM session_chains ORDER BY session_start, session_key",
    )
    .await;
    let line = |r: &BTreeMap<String, String>| {
        [
            "session_key",
            "start_seen",
            "depth",
            "parent_session_key",
            "root_session_key",
            "chain_path",
            "source_identity",
            "party",
            "party_class",
            "attribution",
        ]
        .map(|c| r[c].as_str())
        .join(" | ")
    };
    let lines: Vec<String> = rows.iter().map(line).collect();
    assert_eq!(
        lines,
        [
            "ASIAK0 | true | 0 |  | ASIAK0 | VendorRole | alice@vee | Vee Corp | vendor | AssumeRole caller",
            "ASIAK1 | true | 1 | ASIAK0 | ASIAK0 | VendorRole > Hop1 | alice@vee | Vee Corp | vendor | role chain",
            "ASIAK2 | true | 2 | ASIAK1 | ASIAK0 | VendorRole > Hop1 > Hop2 | alice@vee | Vee Corp | vendor | role chain",
            "ASIAK3 | true | 3 | ASIAK2 | ASIAK0 | VendorRole > Hop1 > Hop2 > Hop3 | alice@vee | Vee Corp | vendor | role chain",
            "ASIAK6 | true | 1 | ASIAK0 | ASIAK0 | VendorRole > Spoke | alice@vee | Vee Corp | vendor | role chain",
            "ASIAKU | false | 0 |  | ASIAKU | VendorRole2 |  | Vee Corp | vendor | trust policy (start not seen)",
            "ASIAK4 | true | 1 | ASIAKU | ASIAKU | VendorRole2 > Hop1 |  | Vee Corp | vendor | role chain, root: trust policy (start not seen)",
            "ASIAK5 | true | 0 |  | ASIAK5 | WeeRole |  | 333333333333 | unknown-account | AssumeRole caller",
        ]
    );
    // The vendor's own copy of the first AssumeRole names its worker.
    assert_eq!(
        rows[0]["caller_side_arn"],
        "arn:aws:sts::222222222222:assumed-role/vee-worker/job-1"
    );
    assert_eq!(rows[0]["caller_side_event_id"], "e0c");

    // Actions: the chained calls count for the calling session; the keyless record is found.
    let actions = query(
        &session,
        "SELECT session_key, event_id, matched_by FROM third_party_actions \
         ORDER BY session_key, event_time",
    )
    .await;
    let actions: Vec<String> = actions
        .iter()
        .map(|r| format!("{} {} {}", r["session_key"], r["event_id"], r["matched_by"]))
        .collect();
    assert_eq!(
        actions,
        [
            "ASIAK0 a0 access key",
            "ASIAK0 e1 access key",
            "ASIAK0 e6c access key",
            "ASIAK1 a1 access key",
            "ASIAK1 e2 access key",
            "ASIAK2 a2 access key",
            "ASIAK2 e3 access key",
            "ASIAK2 a2-no-key session ARN",
            "ASIAK3 a3 access key",
            "ASIAKU au access key",
            "ASIAKU e4 access key",
        ]
    );

    // One External ID, two caller accounts.
    let (rows, _) = run_rows(&session, "external-id").await;
    let reused: Vec<_> = rows
        .iter()
        .filter(|r| r["finding"] == "ExternalId reused")
        .collect();
    assert_eq!(reused.len(), 1, "{rows:?}");
    assert_eq!(reused[0]["principal"], format!("{VEE}, {WEE}"));
    assert_eq!(reused[0]["party"], "333333333333, Vee Corp");

    // The whole tree under a session, and its refused call.
    let session = open_hand_built(
        &lake,
        ReportParams {
            session: Some("e0".into()),
            ..ReportParams::default()
        },
    )
    .await;
    let (rows, _) = run_rows(&session, "timeline").await;
    let keys = set(rows.iter().map(|r| r["session_key"].as_str()));
    assert_eq!(
        keys,
        set(["ASIAK0", "ASIAK1", "ASIAK2", "ASIAK3", "ASIAK6"])
    );
    let (rows, notes) = run_rows(&session, "access-denied").await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["session_key"], "ASIAK3");
    assert_eq!(rows[0]["depth"], "3");
    assert_eq!(notes.len(), 1);

    // Counted once per session, the unseen one apart.
    let session = open_hand_built(&lake, ReportParams::default()).await;
    let (rows, _) = run_rows(&session, "third-parties").await;
    let vee = rows
        .iter()
        .find(|r| r["party"] == "Vee Corp")
        .expect("Vee Corp");
    assert_eq!(
        [
            "sessions",
            "chained_sessions",
            "sessions_start_not_seen",
            "actions",
            "errors"
        ]
        .map(|c| number(vee, c)),
        [6, 5, 1, 11, 1]
    );
    // (The fixture cannot write the list of narrowing condition keys: none shows.)
    assert_eq!(
        vee["trust_conditions"],
        format!(
            "{OWN}:Hop1 no condition; {OWN}:Hop2 no condition; {OWN}:Hop3 no condition; \
             {OWN}:VendorRole no condition; {OWN}:VendorRole2 no condition"
        )
    );
    assert_eq!(
        vee["roles_may_assume"],
        format!("{OWN}:Hop1, {OWN}:Hop2, {OWN}:Hop3, {OWN}:VendorRole, {OWN}:VendorRole2")
    );
    assert!(rows.iter().any(|r| r["party"] == WEE));

    // An account of the organization (--org) is not a third party.
    let org = parse_org_accounts(br#"{"Accounts": [{"Id": "333333333333", "Name": "wee"}]}"#)
        .expect("org accounts");
    let session = lake
        .open_with(LakeOptions {
            own_accounts: Some(vec![OWN.into(), OWN2.into()]),
            org_accounts: Some(org),
            ..LakeOptions::default()
        })
        .await;
    let rows = query(
        &session,
        "SELECT party_class, third_party FROM session_chains WHERE session_key = 'ASIAK5'",
    )
    .await;
    assert_eq!(
        (
            rows[0]["party_class"].as_str(),
            rows[0]["third_party"].as_str()
        ),
        ("own-org", "false")
    );
    let (rows, _) = run_rows(&session, "third-parties").await;
    assert!(rows.iter().all(|r| r["party"] != WEE), "{rows:?}");
}
