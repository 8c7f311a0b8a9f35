//! Deterministic, seeded generator of realistic CloudTrail logs and their ground truth.
//!
//! It simulates one organization (three accounts) whose roles are assumed by fictitious
//! vendors, buried in internal noise, and writes what an S3 trail bucket would hold:
//! gzipped `{"Records":[…]}` objects in CloudTrail's key layout, an organization-trail copy of
//! a few days (planted duplicates), hourly digests and an Insights object, plus
//! `iam/<account>.json` (`get-account-authorization-details` shape), `vendors.yaml`
//! (known_aws_accounts shape) and `truth.json` (the [`Truth`]).
//!
//! ```no_run
//! let truth = crosstrail_synth::generate(&crosstrail_synth::Spec::demo(), "demo".as_ref())?;
//! println!("{} records, {} vendor sessions", truth.counts.records, truth.sessions.len());
//! # Ok::<(), crosstrail_synth::Error>(())
//! ```
//!
//! Same [`Spec`], same bytes: the only randomness is a seeded SplitMix64, output order never
//! depends on hash maps, and gzip headers carry no timestamp. Memory stays bounded (about an
//! hour of records) however much is generated.
#![deny(missing_docs)]

mod generate;
mod json;
mod ops;
mod rng;
mod truth;
mod world;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use truth::{
    Counts, DuplicateDelivery, OwnAccount, RoleKind, RoleTruth, SessionTruth, Truth, VendorTruth,
};

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Spec {
    /// Seed of every random choice.
    pub seed: u64,
    /// First day (UTC) as (year, month, day).
    pub start_date: (i32, u32, u32),
    /// Number of days covered.
    pub days: u32,
    /// Records per day on average: internal noise plus a ~7% share of vendor sessions. The
    /// sessions planted whatever the volume (every vendor role on day 0, the inactive one on
    /// days 0–4) come on top, which only shows on tiny specs.
    pub events_per_day: u32,
}

/// Mean size of a record in the generated JSON, measured over large runs; used to size a
/// [`Spec`] for a byte target.
const RECORD_BYTES: f64 = 1585.0;
/// Records of the sessions planted whatever the volume (every vendor role on day 0, the
/// inactive one daily for five days), beyond the vendor share of `events_per_day`.
const PLANTED_RECORDS: f64 = 450.0;
/// Share of records in the account whose logs are delivered twice.
const STAGING_SHARE: f64 = 0.29;

impl Spec {
    /// The `crosstrail demo` world: 100 days from 2026-07-01, 300 records a day. The inactive
    /// vendor role is last used more than 90 days before the end.
    pub fn demo() -> Spec {
        Spec {
            seed: 42,
            start_date: (2026, 7, 1),
            days: 100,
            events_per_day: 300,
        }
    }

    /// A spec whose uncompressed log output ([`Counts::uncompressed_bytes`], org-trail copies
    /// included) is about `bytes`: within ~5% from 2 MB up, for benchmarks. Large targets get
    /// more records per day rather than more days, so objects grow instead of multiplying.
    pub fn with_target_bytes(seed: u64, bytes: u64) -> Spec {
        let days = (bytes / (128 << 20)).clamp(7, 60) as u32;
        let copies = 1.0 + STAGING_SHARE * generate::DUP_DAYS.len() as f64 / f64::from(days);
        let records = bytes as f64 / (RECORD_BYTES * copies) - PLANTED_RECORDS;
        let per_day = records / f64::from(days);
        Spec {
            seed,
            start_date: (2026, 7, 1),
            days,
            events_per_day: per_day.round().max(1.0) as u32,
        }
    }
}

/// Why generation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The spec cannot be generated (bad date, zero days).
    #[error("invalid spec: {0}")]
    InvalidSpec(String),
    /// Writing an output file or directory failed.
    #[error("cannot write {}", path.display())]
    Io {
        /// File or directory being written.
        path: PathBuf,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Serializing a JSON document failed.
    #[error("cannot serialize the {what}")]
    Json {
        /// Which document.
        what: &'static str,
        /// Underlying error.
        #[source]
        source: serde_json::Error,
    },
}

fn write(path: PathBuf, bytes: &[u8]) -> Result<(), Error> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|source| Error::Io {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    std::fs::write(&path, bytes).map_err(|source| Error::Io { path, source })
}

fn to_json<T: Serialize>(what: &'static str, v: &T) -> Result<Vec<u8>, Error> {
    serde_json::to_vec_pretty(v).map_err(|source| Error::Json { what, source })
}

/// Writes the logs, IAM snapshots, `vendors.yaml` and `truth.json` under `out_dir` and returns
/// the truth. Existing files with the same names are overwritten; others are left alone.
pub fn generate(spec: &Spec, out_dir: &Path) -> Result<Truth, Error> {
    let (y, m, d) = spec.start_date;
    let day0 = rng::days_from_civil(i64::from(y), m, d);
    let check = rng::tm(day0 * 86_400);
    if (check.y, check.mo, check.d) != (i64::from(y), m, d) || !(1..=36_500).contains(&spec.days) {
        return Err(Error::InvalidSpec(format!(
            "start date {y}-{m}-{d} with {} days",
            spec.days
        )));
    }
    let start = day0 * 86_400;
    let mut seed = rng::Rng::new(spec.seed);
    let w = world::World::new(&mut seed.fork());

    let created = rng::iso(start - 400 * 86_400);
    for (i, a) in w.accounts.iter().enumerate() {
        write(
            out_dir.join("iam").join(format!("{}.json", a.id)),
            &to_json("IAM snapshot", &w.iam_snapshot(i, &created))?,
        )?;
    }
    write(out_dir.join("vendors.yaml"), w.vendors_yaml().as_bytes())?;

    let mut g = generate::Gen::new(&w, spec, start, out_dir, seed.fork());
    g.run()?;

    let roles = w.roles.iter().map(|r| RoleTruth {
        arn: r.arn(&w),
        name: r.name.into(),
        account_id: w.accounts[r.acct].id.clone(),
        vendor: r.vendor.map(|(v, _)| w.vendors[v].name.to_string()),
        external_id_required: r.external_id.is_some(),
        external_id: r.external_id.clone(),
        kind: r.kind,
        inactive: r.inactive,
        never_used: r.never_used,
    });
    let truth = Truth {
        spec: spec.clone(),
        org_id: w.org_id.clone(),
        own_accounts: w
            .accounts
            .iter()
            .map(|a| OwnAccount {
                id: a.id.clone(),
                name: a.name.into(),
            })
            .collect(),
        vendors: w
            .vendors
            .iter()
            .map(|v| VendorTruth {
                name: v.name.into(),
                accounts: v.accounts.clone(),
                source: vec![v.source.clone()],
            })
            .collect(),
        roles: roles.collect(),
        sessions: std::mem::take(&mut g.sessions),
        failed_assume_role_event_ids: std::mem::take(&mut g.failed),
        duplicate_delivery: DuplicateDelivery {
            account_id: w.accounts[world::STAGING].id.clone(),
            dates: g.dup_dates.iter().cloned().collect(),
        },
        counts: g.counts.clone(),
        first_event_time: rng::iso(g.first),
        last_event_time: rng::iso(g.last),
    };
    write(out_dir.join("truth.json"), &to_json("truth", &truth)?)?;
    Ok(truth)
}
