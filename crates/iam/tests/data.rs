//! crosstrail-iam against real and generated inputs (see tests/data/SOURCE.md).

use std::collections::BTreeSet;

use crosstrail_iam::accounts::{parse_org_accounts, parse_vendors};
use crosstrail_iam::policy::{ActionSpec, Effect, PrincipalType};
use crosstrail_iam::snapshot::{PolicySource, Snapshot};
use crosstrail_iam::trust::{PrincipalKind, trust_principals};

const AWSCLI_PAGE1: &[u8] = include_bytes!("data/authz_awscli_page1.json");
const PAGE2: &[u8] = include_bytes!("data/authz_page2_generated.json");
const SYNTH: [(&str, &[u8]); 3] = [
    (
        "205592887782",
        include_bytes!("data/synth_authz_205592887782.json"),
    ),
    (
        "764352226087",
        include_bytes!("data/synth_authz_764352226087.json"),
    ),
    (
        "959705457027",
        include_bytes!("data/synth_authz_959705457027.json"),
    ),
];

#[test]
fn awscli_example_pages_merge() {
    let first = Snapshot::parse(AWSCLI_PAGE1).unwrap();
    assert!(first.is_truncated && first.marker.as_deref().unwrap().starts_with("EXAMPLEkakv9"));
    // Groups carry AttachedManagedPolicies as an object in the example.
    assert_eq!(
        first.groups[0].attached[0].arn,
        "arn:aws:iam::aws:policy/AdministratorAccess"
    );
    assert_eq!(first.groups[2].inline[0].name, "policygen-201310141157");
    assert_eq!(
        first.users[1].inline[0].document.statements[0].effect,
        Effect::Deny
    );
    assert_eq!(first.users[1].groups, ["Admins"]);

    let s = Snapshot::from_pages(&[AWSCLI_PAGE1, PAGE2]).unwrap();
    assert!(s.issues.is_empty(), "{:?}", s.issues);
    assert!(!s.is_truncated && s.marker.is_none());
    assert_eq!(
        (
            s.roles.len(),
            s.users.len(),
            s.groups.len(),
            s.policies.len()
        ),
        (2, 3, 3, 4)
    );
    // The duplicate AmazonEC2FullAccess of page 2 is dropped: the first one stays.
    let ec2 = s
        .policy("arn:aws:iam::aws:policy/AmazonEC2FullAccess")
        .unwrap();
    assert_eq!(ec2.default_document.as_ref().unwrap().statements.len(), 4);
    // IsDefaultVersion wins over list order.
    let s3 = s
        .policy("arn:aws:iam::aws:policy/AmazonS3FullAccess")
        .unwrap();
    assert_eq!(
        s3.default_document.as_ref().unwrap().statements[0].action,
        ActionSpec::Action(vec!["s3:*".into(), "s3-object-lambda:*".into()])
    );

    let ec2_role = &s.roles[0];
    assert_eq!(
        (ec2_role.name.as_str(), ec2_role.account_id.as_str()),
        ("EC2role", "123456789012")
    );
    assert_eq!(
        ec2_role.create_date.as_deref(),
        Some("2014-07-30T17:09:20Z")
    );
    let resolved = s.resolve(ec2_role);
    assert_eq!(resolved.documents.len(), 1);
    assert_eq!(
        resolved.documents[0].0,
        PolicySource::Managed("arn:aws:iam::aws:policy/AmazonS3FullAccess")
    );
    assert_eq!(
        resolved.unresolved,
        [PolicySource::Managed(
            "arn:aws:iam::aws:policy/AmazonDynamoDBFullAccess"
        )]
    );
    let service = trust_principals(ec2_role);
    assert_eq!(service.len(), 1);
    assert_eq!(
        (service[0].principal_kind, service[0].sid.as_deref()),
        (PrincipalKind::Service, Some(""))
    );

    // Page 2: URL-encoded trust policy, string-valued inline policy.
    let vendor_role = &s.roles[1];
    assert_eq!(vendor_role.path, "/vendors/");
    assert_eq!(
        vendor_role.last_used.as_ref().unwrap().region.as_deref(),
        Some("us-east-1")
    );
    let resolved = s.resolve(vendor_role);
    let sources: Vec<_> = resolved.documents.iter().map(|d| d.0).collect();
    assert_eq!(
        sources,
        [
            PolicySource::Inline("metrics"),
            PolicySource::Managed("arn:aws:iam::aws:policy/AmazonS3FullAccess"),
            PolicySource::Managed("arn:aws:iam::123456789012:policy/S3-read-only-specific-bucket"),
        ]
    );
    assert_eq!(
        resolved.unresolved,
        [PolicySource::Boundary(
            "arn:aws:iam::123456789012:policy/VendorBoundary"
        )]
    );
    let vendor = trust_principals(vendor_role);
    assert_eq!(vendor.len(), 1);
    assert_eq!(
        vendor[0].principal_account_id.as_deref(),
        Some("464622532012")
    );
    assert!(vendor[0].requires_external_id);
    assert_eq!(vendor[0].external_ids, ["generated-not-a-real-external-id"]);
}

#[test]
fn generated_snapshots_show_every_vendor() {
    let vendors = parse_vendors(include_str!("data/synth_vendors.yaml")).unwrap();
    let vendor_accounts: BTreeSet<&str> = vendors
        .iter()
        .flat_map(|v| v.accounts.iter().map(String::as_str))
        .collect();
    let own: BTreeSet<&str> = SYNTH.iter().map(|(a, _)| *a).collect();

    let mut found = BTreeSet::new();
    let mut role_counts = Vec::new();
    for (account, json) in SYNTH {
        let s = Snapshot::parse(json).unwrap();
        assert!(s.issues.is_empty(), "{account}: {:?}", s.issues);
        role_counts.push(s.roles.len());
        for role in &s.roles {
            assert_eq!(role.account_id, account);
            for p in trust_principals(role) {
                let Some(acct) = p.principal_account_id.clone() else {
                    assert_eq!(p.principal_kind, PrincipalKind::Service, "{role:?}");
                    continue;
                };
                if own.contains(acct.as_str()) {
                    continue;
                }
                // Every trust of a third party in the generated world is a whole-account grant
                // guarded by an External ID, except the legacy Cobalt role in the security account.
                assert!(
                    vendor_accounts.contains(acct.as_str()),
                    "{} trusts unknown {acct}",
                    role.arn
                );
                assert_eq!(p.principal_kind, PrincipalKind::Account);
                assert_eq!(p.principal_type, PrincipalType::Aws);
                assert_eq!(
                    p.requires_external_id,
                    role.name != "CobaltAuditRole",
                    "{}",
                    role.arn
                );
                found.insert(acct);
            }
        }
    }
    assert_eq!(role_counts, [8, 9, 3]);
    let found: BTreeSet<&str> = found.iter().map(String::as_str).collect();
    assert_eq!(found, vendor_accounts);

    // prod: the vendor role is capped by a customer-managed boundary.
    let prod = Snapshot::parse(SYNTH[1].1).unwrap();
    let acme = prod
        .roles
        .iter()
        .find(|r| r.name == "AcmeMonitoringReadOnly")
        .unwrap();
    let resolved = prod.resolve(acme);
    let sources: Vec<_> = resolved.documents.iter().map(|d| d.0).collect();
    assert_eq!(
        sources,
        [
            PolicySource::Managed("arn:aws:iam::aws:policy/ReadOnlyAccess"),
            PolicySource::Boundary("arn:aws:iam::764352226087:policy/VendorBoundary"),
        ]
    );
    assert!(resolved.unresolved.is_empty());
    let chained = prod
        .roles
        .iter()
        .find(|r| r.name == "DeltaDeployRole")
        .unwrap();
    assert_eq!(
        trust_principals(chained)[0].principal_kind,
        PrincipalKind::Role
    );
}

#[test]
fn known_aws_accounts_list() {
    let vendors = parse_vendors(include_str!("data/known_aws_accounts.yaml")).unwrap();
    // 238 entries (the file's header comment also contains "name:", hence 239 when grepping).
    assert_eq!(vendors.len(), 238);
    assert_eq!(vendors.iter().map(|v| v.accounts.len()).sum::<usize>(), 498);
    assert!(
        vendors
            .iter()
            .flat_map(|v| &v.accounts)
            .all(|a| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()))
    );
    let disabled: Vec<_> = vendors
        .iter()
        .filter(|v| !v.enabled)
        .map(|v| (v.name.as_str(), v.accounts[0].as_str()))
        .collect();
    assert_eq!(
        disabled,
        [
            ("AWS Log Delivery Service", "858827067514"),
            ("DoIt", "068664126052")
        ]
    );
    let aws: Vec<_> = vendors
        .iter()
        .filter(|v| v.aws_owned)
        .map(|v| v.name.as_str())
        .collect();
    assert_eq!(aws.len(), 11);
    assert!(aws.contains(&"ELB logs") && aws.contains(&"GuardDuty service accounts"));
    let datadog = vendors.iter().find(|v| v.name == "Datadog").unwrap();
    assert_eq!(datadog.accounts, ["464622532012", "865078226113"]);
    assert_eq!(datadog.source.len(), 2);
    assert_eq!(vendors.iter().filter(|v| v.source.is_empty()).count(), 13);
}

#[test]
fn organization_accounts_both_cli_versions() {
    let v1_json = include_bytes!("data/org_list_accounts_cli_v1.json");
    let v2_json = include_bytes!("data/org_list_accounts_cli_v2.json");
    let v1 = parse_org_accounts(v1_json).unwrap();
    assert_eq!(v1.len(), 4);
    assert_eq!(
        v1[1].joined_timestamp.as_deref(),
        Some("2016-12-15T21:02:21.044Z")
    );
    assert!(
        v1.iter()
            .all(|a| a.org_id.as_deref() == Some("o-exampleorgid"))
    );

    let v2 = parse_org_accounts(v2_json).unwrap();
    assert_eq!(v2[0].joined_timestamp, v1[0].joined_timestamp);
    assert_eq!(
        v2[1].joined_timestamp.as_deref(),
        Some("2018-02-01T08:00:00Z")
    );
    assert_eq!(v2[1].state.as_deref(), Some("CLOSED"));

    // Pages saved by a loop over NextToken, as one JSON array.
    let pages = format!(
        "[{}, {}]",
        std::str::from_utf8(v2_json).unwrap(),
        std::str::from_utf8(v1_json).unwrap()
    );
    let all = parse_org_accounts(pages.as_bytes()).unwrap();
    let ids: Vec<_> = all.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "111111111111",
            "555555555555",
            "222222222222",
            "333333333333",
            "444444444444"
        ]
    );
}
