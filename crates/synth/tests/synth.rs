//! Checks generated data against its own truth by re-reading everything from disk.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read as _;
use std::path::{Path, PathBuf};

use crosstrail_synth::{RoleKind, Spec, Truth, generate};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

fn small() -> Spec {
    Spec {
        seed: 7,
        start_date: (2026, 7, 1),
        days: 8,
        events_per_day: 300,
    }
}

/// Relative path (with `/`) -> absolute path of every file under `dir`, sorted.
fn walk(dir: &Path) -> BTreeMap<String, PathBuf> {
    fn go(root: &Path, dir: &Path, out: &mut BTreeMap<String, PathBuf>) {
        for e in std::fs::read_dir(dir).expect("readable dir") {
            let p = e.expect("dir entry").path();
            if p.is_dir() {
                go(root, &p, out);
            } else {
                let rel = p
                    .strip_prefix(root)
                    .expect("under root")
                    .to_string_lossy()
                    .replace('\\', "/");
                out.insert(rel, p);
            }
        }
    }
    let mut out = BTreeMap::new();
    go(dir, dir, &mut out);
    out
}

#[allow(
    clippy::disallowed_types,
    reason = "an independent reference decoder checks the encoder; synth must not depend on ingest, whose tests use synth"
)]
fn gunzip(p: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(std::fs::File::open(p).expect("open"))
        .read_to_end(&mut out)
        .expect("valid gzip");
    out
}

#[derive(Debug, PartialEq)]
enum Kind {
    Log { org: bool },
    Digest,
    Insight,
    Other,
}

fn digits(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|b| b.is_ascii_digit())
}

/// Checks an object key against CloudTrail's layout and says what it is.
fn classify(key: &str) -> Kind {
    let Some(rest) = key.strip_prefix("AWSLogs/") else {
        return Kind::Other;
    };
    let mut parts: Vec<&str> = rest.split('/').collect();
    let org = parts[0].starts_with("o-");
    if org {
        assert!(
            parts[0].len() == 12
                && parts[0][2..]
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()),
            "{key}"
        );
        parts.remove(0);
    }
    assert_eq!(parts.len(), 7, "{key}");
    let (acct, kind, region, y, m, d, file) = (
        parts[0], parts[1], parts[2], parts[3], parts[4], parts[5], parts[6],
    );
    assert!(
        digits(acct, 12) && digits(y, 4) && digits(m, 2) && digits(d, 2),
        "{key}"
    );
    assert!(region.split('-').count() == 3, "{key}");
    let stem = file
        .strip_prefix(&format!("{acct}_{kind}_{region}_"))
        .and_then(|f| f.strip_suffix(".json.gz"))
        .unwrap_or_else(|| panic!("{key}"));
    let date = format!("{y}{m}{d}T");
    match kind {
        "CloudTrail" | "CloudTrail-Insight" => {
            let (stamp, unique) = stem.split_once('_').unwrap_or_else(|| panic!("{key}"));
            assert!(
                stamp.len() == 14
                    && stamp.starts_with(&date)
                    && stamp.ends_with('Z')
                    && digits(&stamp[9..13], 4),
                "{key}"
            );
            assert!(
                unique.len() == 16 && unique.bytes().all(|b| b.is_ascii_alphanumeric()),
                "{key}"
            );
            if kind == "CloudTrail" {
                Kind::Log { org }
            } else {
                Kind::Insight
            }
        }
        "CloudTrail-Digest" => {
            let stamp = stem.rsplit('_').next().unwrap_or_default();
            assert!(stem.starts_with("management-events_us-east-1_"), "{key}");
            assert!(
                stamp.len() == 16 && stamp.starts_with(&date) && digits(&stamp[9..15], 6),
                "{key}"
            );
            Kind::Digest
        }
        _ => panic!("unexpected kind in {key}"),
    }
}

struct Disk {
    records: Vec<Value>,
    copies: Vec<Value>,
    counts: crosstrail_synth::Counts,
    digests: Vec<Value>,
    hashes: BTreeMap<String, String>,
}

fn read_disk(dir: &Path) -> Disk {
    let mut d = Disk {
        records: vec![],
        copies: vec![],
        counts: Default::default(),
        digests: vec![],
        hashes: BTreeMap::new(),
    };
    for (key, path) in walk(dir) {
        match classify(&key) {
            Kind::Log { org } => {
                let raw = gunzip(&path);
                let doc: Value = serde_json::from_slice(&raw).expect("log object is JSON");
                let recs = doc["Records"].as_array().expect("Records array").clone();
                let c = &mut d.counts;
                c.log_objects += 1;
                c.records_written_total += recs.len() as u64;
                c.uncompressed_bytes += raw.len() as u64;
                c.compressed_bytes += std::fs::metadata(&path).expect("metadata").len();
                let parts: Vec<&str> = key.split('/').collect();
                let (acct, region) = if org {
                    (parts[2], parts[4])
                } else {
                    (parts[1], parts[3])
                };
                for r in &recs {
                    assert_eq!(r["recipientAccountId"], acct, "{key}");
                    assert_eq!(r["awsRegion"], region, "{key}");
                }
                d.hashes.insert(key, format!("{:x}", Sha256::digest(&raw)));
                if org {
                    d.copies.extend(recs)
                } else {
                    d.records.extend(recs)
                }
            }
            Kind::Digest => {
                d.counts.digest_objects += 1;
                d.digests
                    .push(serde_json::from_slice(&gunzip(&path)).expect("digest JSON"));
            }
            Kind::Insight => d.counts.insight_objects += 1,
            Kind::Other => {}
        }
    }
    d
}

fn gen_in(spec: &Spec) -> (tempfile::TempDir, Truth) {
    let dir = tempfile::tempdir().expect("temp dir");
    let truth = generate(spec, dir.path()).expect("generate");
    (dir, truth)
}

#[test]
fn same_spec_same_bytes() {
    let (a, ta) = gen_in(&small());
    let (b, tb) = gen_in(&small());
    assert_eq!(ta, tb);
    let (fa, fb) = (walk(a.path()), walk(b.path()));
    assert_eq!(fa.keys().collect::<Vec<_>>(), fb.keys().collect::<Vec<_>>());
    for (k, p) in &fa {
        assert!(
            std::fs::read(p).expect("read") == std::fs::read(&fb[k]).expect("read"),
            "{k} differs"
        );
    }
    let (_, other) = gen_in(&Spec { seed: 8, ..small() });
    assert_ne!(other.own_accounts, ta.own_accounts);
}

#[test]
fn counts_match_disk() {
    let (dir, t) = gen_in(&small());
    let d = read_disk(dir.path());
    let ids: BTreeSet<&str> = d
        .records
        .iter()
        .map(|r| r["eventID"].as_str().expect("eventID"))
        .collect();
    assert_eq!(
        ids.len(),
        d.records.len(),
        "eventIDs are unique outside the org-trail copy"
    );
    let mut c = d.counts.clone();
    c.records = ids.len() as u64;
    c.duplicate_records = d.copies.len() as u64;
    assert_eq!(c, t.counts);
    assert_eq!(
        t.counts.records + t.counts.duplicate_records,
        t.counts.records_written_total
    );
    let saved: Truth =
        serde_json::from_slice(&std::fs::read(dir.path().join("truth.json")).expect("truth.json"))
            .expect("parses");
    assert_eq!(saved, t);
    let times: BTreeSet<&str> = d
        .records
        .iter()
        .map(|r| r["eventTime"].as_str().expect("eventTime"))
        .collect();
    assert_eq!(times.first().copied(), Some(t.first_event_time.as_str()));
    assert_eq!(times.last().copied(), Some(t.last_event_time.as_str()));
    // Digests list real objects with the SHA-256 of their inflated content.
    let listed: Vec<&Value> = d
        .digests
        .iter()
        .flat_map(|g| g["logFiles"].as_array().expect("logFiles"))
        .collect();
    assert!(!listed.is_empty());
    for f in listed {
        assert_eq!(
            d.hashes[f["s3Object"].as_str().expect("key")],
            f["hashValue"].as_str().expect("hash")
        );
    }
    // Roughly the requested volume, plus the sessions planted whatever the volume.
    let want = f64::from(small().days * small().events_per_day);
    let got = t.counts.records as f64;
    assert!(
        got > want * 0.9 && got < want * 1.1 + 500.0,
        "{got} records"
    );
}

#[test]
fn records_have_cloudtrail_shape() {
    let (dir, t) = gen_in(&small());
    let d = read_disk(dir.path());
    let own: BTreeSet<&str> = t.own_accounts.iter().map(|a| a.id.as_str()).collect();
    let mut unsorted_objects = 0;
    let mut kinds = BTreeSet::new();
    for r in &d.records {
        for k in [
            "eventVersion",
            "eventTime",
            "eventSource",
            "eventName",
            "awsRegion",
            "sourceIPAddress",
            "userAgent",
            "requestParameters",
            "responseElements",
            "eventID",
            "readOnly",
            "eventType",
            "managementEvent",
            "recipientAccountId",
            "eventCategory",
            "userIdentity",
        ] {
            assert!(r.get(k).is_some(), "{k} missing in {r}");
        }
        let time = r["eventTime"].as_str().expect("string");
        assert!(
            time.len() == 20 && &time[10..11] == "T" && time.ends_with('Z'),
            "{time}"
        );
        let id = r["eventID"].as_str().expect("string");
        assert!(id.len() == 36 && id.matches('-').count() == 4, "{id}");
        assert!(own.contains(r["recipientAccountId"].as_str().expect("string")));
        let ui = &r["userIdentity"];
        let ty = ui["type"].as_str().unwrap_or("(none)");
        kinds.insert((
            ty.to_string(),
            r["eventType"].as_str().expect("eventType").to_string(),
        ));
        if ty == "AssumedRole" {
            let issuer = &ui["sessionContext"]["sessionIssuer"];
            assert_eq!(issuer["type"], "Role");
            assert!(
                issuer["arn"]
                    .as_str()
                    .expect("arn")
                    .starts_with("arn:aws:iam::")
            );
            assert_eq!(ui["accountId"], r["recipientAccountId"]);
        }
        if r["eventName"] == "AssumeRole" && r.get("errorCode").is_none() {
            let cred = &r["responseElements"]["credentials"];
            assert!(
                cred["accessKeyId"]
                    .as_str()
                    .expect("key")
                    .starts_with("ASIA")
            );
            assert!(
                cred["expiration"]
                    .as_str()
                    .expect("expiration")
                    .ends_with('M'),
                "not ISO: {cred}"
            );
        }
    }
    for want in [
        ("AWSAccount", "AwsApiCall"),
        ("AWSService", "AwsApiCall"),
        ("IAMUser", "AwsConsoleSignIn"),
        ("(none)", "AwsServiceEvent"),
    ] {
        assert!(
            kinds.contains(&(want.0.to_string(), want.1.to_string())),
            "no {want:?} record"
        );
    }
    // Records inside an object are not in time order (somewhere at least).
    for (key, path) in walk(dir.path()) {
        if classify(&key) == (Kind::Log { org: false }) {
            let doc: Value = serde_json::from_slice(&gunzip(&path)).expect("JSON");
            let times: Vec<&str> = doc["Records"]
                .as_array()
                .expect("array")
                .iter()
                .map(|r| r["eventTime"].as_str().unwrap_or(""))
                .collect();
            unsorted_objects += usize::from(times.windows(2).any(|w| w[0] > w[1]));
        }
    }
    assert!(unsorted_objects > 0);
    let keys: Vec<&Value> = d
        .records
        .iter()
        .map(|r| &r["userIdentity"])
        .filter(|u| u["type"] == "AssumedRole")
        .collect();
    assert!(
        keys.iter().any(|u| u["accessKeyId"] == ""),
        "some empty accessKeyId"
    );
    assert!(
        keys.iter().any(|u| u.get("accessKeyId").is_none()),
        "some missing accessKeyId"
    );
    assert!(
        keys.iter()
            .any(|u| u["sessionContext"]["attributes"]["creationDate"]
                .as_str()
                .is_some_and(|c| c.len() == 16)),
        "some basic-form creationDate"
    );
}

#[test]
fn vendor_sessions_are_on_disk_as_planted() {
    let (dir, t) = gen_in(&small());
    let d = read_disk(dir.path());
    let by_id: BTreeMap<&str, &Value> = d
        .records
        .iter()
        .map(|r| (r["eventID"].as_str().expect("id"), r))
        .collect();
    let mut by_key: BTreeMap<&str, Vec<&Value>> = BTreeMap::new();
    for r in &d.records {
        if let Some(k) = r["userIdentity"]["accessKeyId"].as_str() {
            by_key.entry(k).or_default().push(r);
        }
    }
    let roles: BTreeMap<&str, &crosstrail_synth::RoleTruth> =
        t.roles.iter().map(|r| (r.arn.as_str(), r)).collect();
    assert!(t.sessions.len() >= 6);
    for s in &t.sessions {
        let a = by_id[s.assume_event_id.as_str()];
        assert_eq!(a["eventName"], "AssumeRole");
        assert_eq!(a["requestParameters"]["roleArn"], s.role_arn.as_str());
        assert_eq!(
            a["responseElements"]["credentials"]["accessKeyId"],
            s.temp_access_key_id.as_str()
        );
        assert_eq!(a["eventTime"], s.start.as_str());
        let role = roles[s.role_arn.as_str()];
        assert_eq!(role.vendor.as_deref(), Some(s.vendor.as_str()));
        match &s.parent_temp_access_key_id {
            None => {
                assert_eq!(a["userIdentity"]["type"], "AWSAccount");
                assert_eq!(a["userIdentity"]["accountId"], s.vendor_account.as_str());
                assert!(a["sharedEventID"].is_string());
                assert_eq!(
                    a["requestParameters"]
                        .get("externalId")
                        .and_then(Value::as_str),
                    role.external_id.as_deref()
                );
            }
            Some(parent) => {
                assert_eq!(role.kind, RoleKind::Chain);
                assert_eq!(a["userIdentity"]["type"], "AssumedRole");
                assert_eq!(a["userIdentity"]["accessKeyId"], parent.as_str());
                assert!(t.sessions.iter().any(|p| &p.temp_access_key_id == parent));
            }
        }
        let acts = &by_key[s.temp_access_key_id.as_str()];
        assert_eq!(acts.len() as u32, s.actions, "{s:?}");
        assert_eq!(
            acts.iter().filter(|r| r.get("errorCode").is_some()).count() as u32,
            s.errors
        );
        for r in acts {
            assert_eq!(
                r["userIdentity"]["sessionContext"]["sessionIssuer"]["arn"],
                s.role_arn.as_str()
            );
            let time = r["eventTime"].as_str().expect("time");
            assert!(
                s.start.as_str() < time && time <= s.end.as_str(),
                "{time} outside {s:?}"
            );
        }
        assert!(s.end[..13] <= *"9999" && s.actions >= 1);
    }
    // Data events with transfer sizes, and denied actions with both error fields.
    let vendor_keys: BTreeSet<&str> = t
        .sessions
        .iter()
        .map(|s| s.temp_access_key_id.as_str())
        .collect();
    let vendor_recs: Vec<&&Value> = vendor_keys.iter().flat_map(|k| &by_key[k]).collect();
    assert!(vendor_recs.iter().any(|r| r["eventName"] == "GetObject"
        && r["eventCategory"] == "Data"
        && r["additionalEventData"]["bytesTransferredOut"].is_u64()));
    assert!(
        vendor_recs
            .iter()
            .any(|r| r["errorCode"].is_string() && r["errorMessage"].is_string())
    );
    for id in &t.failed_assume_role_event_ids {
        let r = by_id[id.as_str()];
        assert_eq!(
            (r["eventName"].as_str(), r["errorCode"].as_str()),
            (Some("AssumeRole"), Some("AccessDenied"))
        );
        assert!(r["responseElements"].is_null());
    }
    assert!(t.failed_assume_role_event_ids.len() >= 2);
}

#[test]
fn planted_roles_duplicates_digests_and_snapshot() {
    // Long enough for the inactive role to be idle for 90+ days.
    let spec = Spec {
        events_per_day: 40,
        ..Spec::demo()
    };
    let (dir, t) = gen_in(&spec);
    let used: BTreeSet<&str> = t.sessions.iter().map(|s| s.role_arn.as_str()).collect();
    let vendor_roles: Vec<_> = t
        .roles
        .iter()
        .filter(|r| r.kind == RoleKind::Vendor)
        .collect();
    let never: Vec<_> = t.roles.iter().filter(|r| r.never_used).collect();
    assert_eq!(never.len(), 1);
    assert!(!used.contains(never[0].arn.as_str()));
    for r in vendor_roles.iter().filter(|r| !r.never_used) {
        assert!(used.contains(r.arn.as_str()), "{} never used", r.arn);
    }
    let inactive: Vec<_> = t.roles.iter().filter(|r| r.inactive).collect();
    assert_eq!(inactive.len(), 1);
    let last_use = t
        .sessions
        .iter()
        .filter(|s| s.role_arn == inactive[0].arn)
        .map(|s| s.end.as_str())
        .max()
        .expect("used");
    assert!(
        last_use < "2026-07-06" && t.last_event_time.as_str() > "2026-10-04",
        "{last_use} .. {}",
        t.last_event_time
    );
    assert!(
        t.sessions
            .iter()
            .any(|s| s.parent_temp_access_key_id.is_some())
    );
    assert!(
        vendor_roles
            .iter()
            .any(|r| !r.external_id_required && !r.never_used)
    );
    let ids: BTreeSet<&str> = t
        .roles
        .iter()
        .filter_map(|r| r.external_id.as_deref())
        .collect();
    assert!(ids.contains("acme123"));
    assert!(ids.iter().filter(|i| i.len() == 36).count() >= 3);
    assert!(t.sessions.iter().any(|s| s.source_identity.is_some()));

    let d = read_disk(dir.path());
    assert!(t.counts.duplicate_records > 0 && d.copies.len() as u64 == t.counts.duplicate_records);
    let unique: BTreeSet<&str> = d
        .records
        .iter()
        .filter_map(|r| r["eventID"].as_str())
        .collect();
    assert!(d.copies.iter().all(
        |r| r["eventID"].as_str().is_some_and(|id| unique.contains(id))
            && r["recipientAccountId"] == t.duplicate_delivery.account_id.as_str()
    ));
    assert_eq!(
        t.duplicate_delivery.dates,
        ["2026-07-02", "2026-07-03", "2026-07-04"]
    );

    assert_eq!((t.counts.digest_objects, t.counts.insight_objects), (3, 1));
    assert!(
        d.digests
            .iter()
            .filter(|g| g["previousDigestSignature"].is_null())
            .count()
            == 1
    );

    // The seed case: granted kms:CreateGrant and ec2:StopInstances are never used.
    let seed_role = t
        .roles
        .iter()
        .find(|r| r.name == "BlueBackupRole" && r.account_id == t.own_accounts[0].id)
        .expect("seed role");
    let snap: Value = serde_json::from_slice(
        &std::fs::read(
            dir.path()
                .join(format!("iam/{}.json", seed_role.account_id)),
        )
        .expect("snapshot"),
    )
    .expect("JSON");
    let detail = snap["RoleDetailList"]
        .as_array()
        .expect("roles")
        .iter()
        .find(|r| r["Arn"] == seed_role.arn.as_str())
        .expect("in snapshot");
    let inline = detail["RolePolicyList"].to_string();
    assert!(inline.contains("kms:CreateGrant") && inline.contains("ec2:StopInstances"));
    let trust = &detail["AssumeRolePolicyDocument"]["Statement"][0];
    assert_eq!(
        trust["Condition"]["StringEquals"]["sts:ExternalId"],
        seed_role.external_id.as_deref().expect("ext")
    );
    assert!(
        trust["Principal"]["AWS"]
            .to_string()
            .contains(&t.vendors[1].accounts[0])
    );
    let keys: BTreeSet<&str> = t
        .sessions
        .iter()
        .filter(|s| s.role_arn == seed_role.arn)
        .map(|s| s.temp_access_key_id.as_str())
        .collect();
    let names: BTreeSet<&str> = d
        .records
        .iter()
        .filter(|r| {
            r["userIdentity"]["accessKeyId"]
                .as_str()
                .is_some_and(|k| keys.contains(k))
        })
        .map(|r| r["eventName"].as_str().expect("name"))
        .collect();
    assert!(
        names.contains("Decrypt")
            && !names.contains("CreateGrant")
            && !names.contains("StopInstances"),
        "{names:?}"
    );
    assert!(
        snap["Policies"]
            .as_array()
            .expect("policies")
            .iter()
            .all(|p| p["PolicyVersionList"][0]["IsDefaultVersion"] == true)
    );

    let yaml = std::fs::read_to_string(dir.path().join("vendors.yaml")).expect("vendors.yaml");
    for v in &t.vendors {
        assert!(
            yaml.contains(&format!("- name: '{}'", v.name))
                && v.accounts.iter().all(|a| yaml.contains(a.as_str()))
        );
    }
}

#[test]
fn target_bytes_within_ten_percent() {
    for target in [4_000_000u64, 12_000_000] {
        let (_dir, t) = gen_in(&Spec::with_target_bytes(3, target));
        let ratio = t.counts.uncompressed_bytes as f64 / target as f64;
        assert!(
            (0.9..=1.1).contains(&ratio),
            "{target}: got {} ({ratio:.3})",
            t.counts.uncompressed_bytes
        );
    }
}

#[test]
fn bad_input_is_reported() {
    let err = generate(
        &Spec {
            start_date: (2026, 2, 30),
            ..small()
        },
        Path::new("unused"),
    )
    .expect_err("invalid date");
    assert!(matches!(err, crosstrail_synth::Error::InvalidSpec(_)));
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").expect("write");
    let err = generate(&small(), &file).expect_err("out_dir is a file");
    assert!(err.to_string().contains("not-a-dir"), "{err}");
    assert_eq!(
        Spec::demo(),
        Spec {
            seed: 42,
            start_date: (2026, 7, 1),
            days: 100,
            events_per_day: 300
        }
    );
}
