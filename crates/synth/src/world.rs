//! The simulated organization: own accounts, vendors, roles, users, and the IAM snapshot and
//! vendor list written beside the logs.

use serde_json::{Value, json};

use crate::ops::{self, Op};
use crate::rng::Rng;
use crate::truth::RoleKind;

/// Regions activity is spread over (weights in [`REGION_WEIGHTS`]); index 0 is where global
/// services (IAM, STS global endpoint, sign-in, Cost Explorer) log.
pub(crate) const REGIONS: [&str; 4] = ["us-east-1", "eu-west-1", "us-west-2", "eu-central-1"];
pub(crate) const REGION_WEIGHTS: [u32; 4] = [50, 25, 15, 10];
const ALL_REGIONS: &[usize] = &[0, 1, 2, 3];

pub(crate) struct Account {
    pub id: String,
    pub name: &'static str,
    pub instances: Vec<String>,
    pub volumes: Vec<String>,
    pub security_groups: Vec<String>,
    pub kms_keys: Vec<String>,
    pub buckets: Vec<String>,
    pub vpce: String,
}

pub(crate) struct Vendor {
    pub name: &'static str,
    pub accounts: Vec<String>,
    pub source: String,
    pub ips: [&'static str; 3],
    pub user_agent: &'static str,
    /// The vendor's own role its workers run as; shows up as `principalId` on our side.
    pub own_role_id: String,
    pub session_prefix: &'static str,
}

pub(crate) struct Role {
    pub acct: usize,
    pub name: &'static str,
    pub path: String,
    pub id: String,
    pub kind: RoleKind,
    /// (vendor index, index into that vendor's accounts)
    pub vendor: Option<(usize, usize)>,
    pub external_id: Option<String>,
    pub inactive: bool,
    pub never_used: bool,
    pub trust: Value,
    pub inline: Vec<(&'static str, Value)>,
    pub managed: Vec<&'static str>,
    pub boundary: Option<&'static str>,
    /// `service:EventName` calls its sessions make, and calls that are denied to them.
    op_names: &'static [&'static str],
    denied_names: &'static [&'static str],
    /// The same, resolved against [`ops::OPS`].
    pub ops: Vec<&'static Op>,
    pub denied: Vec<&'static Op>,
    /// Relative rate of vendor sessions.
    pub weight: u32,
    pub regions: &'static [usize],
    pub source_identity: Option<&'static str>,
    /// Service principal that assumes the role (service and instance roles).
    pub service: Option<&'static str>,
    /// The one bucket (index into the account's) its S3 calls touch.
    pub bucket: Option<usize>,
}

impl Role {
    pub(crate) fn arn(&self, w: &World) -> String {
        format!(
            "arn:aws:iam::{}:role{}{}",
            w.accounts[self.acct].id, self.path, self.name
        )
    }
}

pub(crate) struct User {
    pub acct: usize,
    pub name: &'static str,
    pub id: String,
    pub key: String,
    pub admin: bool,
}

pub(crate) struct World {
    pub org_id: String,
    pub accounts: Vec<Account>,
    pub vendors: Vec<Vendor>,
    pub roles: Vec<Role>,
    pub users: Vec<User>,
    /// What people and pipelines do all day.
    pub human_ops: Vec<&'static Op>,
}

pub(crate) const PROD: usize = 0;
pub(crate) const STAGING: usize = 1;
pub(crate) const SECURITY: usize = 2;

const ACME_OPS: &[&str] = &[
    "ec2:DescribeInstances",
    "ec2:DescribeInstances",
    "ec2:DescribeVolumes",
    "ec2:DescribeSecurityGroups",
    "monitoring:GetMetricData",
    "monitoring:GetMetricData",
    "monitoring:ListMetrics",
    "monitoring:DescribeAlarms",
    "logs:DescribeLogGroups",
    "lambda:ListFunctions20150331",
    "s3:ListBuckets",
    "s3:GetBucketLocation",
    "dynamodb:DescribeTable",
];
const BLUE_PROD_OPS: &[&str] = &[
    "kms:Decrypt",
    "s3:GetObject",
    "s3:GetObject",
    "s3:GetObject",
    "s3:ListObjects",
    "ec2:DescribeVolumes",
    "ec2:DescribeSnapshots",
    "ec2:CreateSnapshot",
];
const BLUE_STAGING_OPS: &[&str] = &[
    "s3:GetObject",
    "s3:ListObjects",
    "ec2:DescribeSnapshots",
    "ec2:DescribeVolumes",
];
const COBALT_OPS: &[&str] = &[
    "iam:GetAccountAuthorizationDetails",
    "iam:ListRoles",
    "iam:GetAccountPasswordPolicy",
    "cloudtrail:DescribeTrails",
    "cloudtrail:GetTrailStatus",
    "config:DescribeConfigRules",
    "s3:GetBucketPolicy",
    "s3:GetBucketAcl",
    "kms:ListKeys",
    "kms:GetKeyRotationStatus",
    "ec2:DescribeSecurityGroups",
];
const DELTA_OPS: &[&str] = &[
    "ec2:DescribeInstances",
    "ec2:DescribeInstances",
    "ec2:DescribeSecurityGroups",
    "cloudformation:DescribeStacks",
    "logs:FilterLogEvents",
    "monitoring:GetMetricData",
    "ec2:StopInstances",
    "ec2:StartInstances",
    "sts:GetCallerIdentity",
];
const DEPLOY_OPS: &[&str] = &[
    "lambda:GetFunction20150331v2",
    "lambda:UpdateFunctionConfiguration20150331v2",
    "lambda:UpdateFunctionCode20150331v2",
    "lambda:ListFunctions20150331",
];
const ECHO_OPS: &[&str] = &[
    "ce:GetCostAndUsage",
    "ce:GetCostAndUsage",
    "s3:ListBuckets",
    "s3:GetBucketLocation",
    "monitoring:ListMetrics",
    "monitoring:GetMetricData",
];
/// What people and pipelines do all day: the bulk of the volume.
const HUMAN_OPS: &[&str] = &[
    "ec2:DescribeInstances",
    "ec2:DescribeInstances",
    "ec2:DescribeInstances",
    "ec2:DescribeVolumes",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeRegions",
    "ec2:DescribeSnapshots",
    "ec2:RunInstances",
    "ec2:CreateTags",
    "ec2:StopInstances",
    "ec2:StartInstances",
    "s3:ListBuckets",
    "s3:GetBucketLocation",
    "s3:GetBucketPolicy",
    "s3:GetObject",
    "s3:GetObject",
    "s3:PutObject",
    "s3:ListObjects",
    "iam:GetRole",
    "iam:ListRoles",
    "iam:ListAttachedRolePolicies",
    "iam:PutRolePolicy",
    "kms:DescribeKey",
    "kms:ListKeys",
    "kms:Decrypt",
    "lambda:ListFunctions20150331",
    "lambda:GetFunction20150331v2",
    "lambda:UpdateFunctionConfiguration20150331v2",
    "logs:DescribeLogGroups",
    "logs:DescribeLogStreams",
    "logs:FilterLogEvents",
    "monitoring:GetMetricData",
    "monitoring:DescribeAlarms",
    "monitoring:PutMetricAlarm",
    "sts:GetCallerIdentity",
    "sts:GetCallerIdentity",
    "cloudformation:DescribeStacks",
    "cloudtrail:LookupEvents",
    "dynamodb:DescribeTable",
    "secretsmanager:GetSecretValue",
    "ssm:GetParameters",
];
const APP_OPS: &[&str] = &[
    "s3:GetObject",
    "s3:GetObject",
    "s3:PutObject",
    "kms:Decrypt",
    "kms:GenerateDataKey",
    "logs:CreateLogStream",
    "secretsmanager:GetSecretValue",
    "ssm:GetParameters",
    "dynamodb:DescribeTable",
    "sts:GetCallerIdentity",
    "monitoring:PutMetricAlarm",
];
const BACKUP_OPS: &[&str] = &[
    "ec2:DescribeVolumes",
    "ec2:CreateSnapshot",
    "ec2:DescribeSnapshots",
    "ec2:CreateTags",
    "kms:CreateGrant",
    "kms:DescribeKey",
];
const CONFIG_OPS: &[&str] = &[
    "ec2:DescribeInstances",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeVolumes",
    "iam:GetRole",
    "iam:ListAttachedRolePolicies",
    "s3:GetBucketPolicy",
    "s3:GetBucketAcl",
    "lambda:ListFunctions20150331",
    "kms:DescribeKey",
    "kms:GetKeyRotationStatus",
];

const VENDORS: [(&str, &str, &str, [&str; 3], &str); 5] = [
    (
        "Acme Monitoring",
        "acme-monitoring",
        "acme-collector",
        ["198.51.100.23", "198.51.100.24", "198.51.100.77"],
        "aws-sdk-go-v2/1.30.3 os/linux lang/go#1.22.5 md/GOOS#linux md/GOARCH#amd64 acme-collector/4.2.1",
    ),
    (
        "Blue Backup",
        "bluebackup",
        "bluebackup-job",
        ["203.0.113.40", "203.0.113.41", "203.0.113.42"],
        "Boto3/1.34.144 md/Botocore#1.34.144 ua/2.0 os/linux#5.10.219 md/arch#x86_64 lang/python#3.12.4 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.144 bluebackup-agent/2.9",
    ),
    (
        "Cobalt Audit",
        "cobalt-audit",
        "cobalt-scan",
        ["198.51.100.140", "198.51.100.141", "198.51.100.142"],
        "aws-sdk-java/2.25.60 Linux/5.15.0 OpenJDK_64-Bit_Server_VM/21.0.3+9-LTS Java/21.0.3 vendor/Eclipse_Adoptium io/sync http/Apache cfg/retry-mode/legacy cobalt-audit/1.18",
    ),
    (
        "Delta Consulting",
        "delta-consulting",
        "delta-ops",
        ["203.0.113.201", "203.0.113.202", "203.0.113.203"],
        "aws-cli/2.17.20 md/awscrt#0.20.11 ua/2.0 os/macos#23.5.0 md/arch#arm64 lang/python#3.11.9 md/pyimpl#CPython cfg/retry-mode#standard md/installer#source md/prompt#off",
    ),
    (
        "Echo Analytics",
        "echo-analytics",
        "echo-ingest",
        ["198.51.100.210", "198.51.100.211", "198.51.100.212"],
        "aws-sdk-js/3.614.0 ua/2.0 os/linux#5.10.220 lang/js md/nodejs#20.15.1 api/cost-explorer#3.614.0 echo-analytics/7.1",
    ),
];

fn resolve(names: &[&str]) -> Vec<&'static Op> {
    names.iter().filter_map(|n| ops::find(n)).collect()
}

fn ext_condition(principal: Value, external_id: Option<&str>) -> Value {
    let mut stmt =
        json!({"Effect": "Allow", "Principal": {"AWS": principal}, "Action": "sts:AssumeRole"});
    if let Some(id) = external_id {
        stmt["Condition"] = json!({"StringEquals": {"sts:ExternalId": id}});
    }
    json!({"Version": "2012-10-17", "Statement": [stmt]})
}

fn service_trust(service: &str) -> Value {
    json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]})
}

fn allow(stmts: &[(&[&str], Value)]) -> Value {
    let s: Vec<Value> = stmts
        .iter()
        .map(|(a, r)| json!({"Effect": "Allow", "Action": a, "Resource": r}))
        .collect();
    json!({"Version": "2012-10-17", "Statement": s})
}

/// Managed policies by name: (ARN account part, document). The AWS-managed ones are trimmed
/// stand-ins: the real documents run to thousands of actions.
fn managed_policy(name: &str, acct: &str) -> (String, Value) {
    let aws = |n: &str| format!("arn:aws:iam::aws:policy/{n}");
    match name {
        "ReadOnlyAccess" => (
            aws(name),
            allow(&[(
                &[
                    "ec2:Describe*",
                    "s3:Get*",
                    "s3:List*",
                    "iam:Get*",
                    "iam:List*",
                    "kms:Describe*",
                    "kms:List*",
                    "lambda:Get*",
                    "lambda:List*",
                    "logs:Describe*",
                    "logs:Get*",
                    "logs:FilterLogEvents",
                    "cloudwatch:Describe*",
                    "cloudwatch:Get*",
                    "cloudwatch:List*",
                    "cloudformation:Describe*",
                    "dynamodb:Describe*",
                    "cloudtrail:Describe*",
                    "cloudtrail:Get*",
                    "cloudtrail:LookupEvents",
                ],
                json!("*"),
            )]),
        ),
        "SecurityAudit" => (
            aws(name),
            allow(&[(
                &[
                    "iam:GetAccountAuthorizationDetails",
                    "iam:GetAccountPasswordPolicy",
                    "iam:List*",
                    "iam:Get*",
                    "cloudtrail:DescribeTrails",
                    "cloudtrail:GetTrailStatus",
                    "config:Describe*",
                    "s3:GetBucketPolicy",
                    "s3:GetBucketAcl",
                    "s3:ListAllMyBuckets",
                    "kms:ListKeys",
                    "kms:GetKeyRotationStatus",
                    "ec2:Describe*",
                ],
                json!("*"),
            )]),
        ),
        "AdministratorAccess" => (aws(name), allow(&[(&["*"], json!("*"))])),
        _ => (
            format!("arn:aws:iam::{acct}:policy/{name}"),
            json!({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "*", "Resource": "*"},
                {"Effect": "Deny", "Action": ["iam:Create*", "iam:Put*", "iam:Attach*", "organizations:*"], "Resource": "*"}]}),
        ),
    }
}

/// A unique-id-shaped value derived from a name, so snapshot ids do not consume PRNG draws.
fn stable_id(prefix: &str, name: &str) -> String {
    let h = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    format!("{prefix}{:017X}", h >> 4)
}

fn new_role<'a>(
    roles: &'a mut Vec<Role>,
    rng: &mut Rng,
    acct: usize,
    name: &'static str,
    kind: RoleKind,
) -> &'a mut Role {
    roles.push(Role {
        acct,
        name,
        path: "/".into(),
        id: rng.aws_id("AROA", 17),
        kind,
        vendor: None,
        external_id: None,
        inactive: false,
        never_used: false,
        trust: Value::Null,
        inline: vec![],
        managed: vec![],
        boundary: None,
        op_names: &[],
        denied_names: &[],
        ops: vec![],
        denied: vec![],
        weight: 0,
        regions: &[0],
        source_identity: None,
        service: None,
        bucket: None,
    });
    let last = roles.len() - 1;
    &mut roles[last]
}

impl World {
    pub(crate) fn new(rng: &mut Rng) -> World {
        let org_id = format!("o-{}", rng.alnum(10).to_ascii_lowercase());
        let accounts: Vec<Account> = ["prod", "staging", "security"]
            .into_iter()
            .map(|name| {
                let id = rng.account_id();
                let buckets = ["app-data", "backups", "logs"]
                    .iter()
                    .map(|b| format!("anycompany-{name}-{b}-{id}"))
                    .collect();
                Account {
                    name,
                    instances: (0..6).map(|_| format!("i-0{}", rng.hex(16))).collect(),
                    volumes: (0..6).map(|_| format!("vol-0{}", rng.hex(16))).collect(),
                    security_groups: (0..4).map(|_| format!("sg-0{}", rng.hex(16))).collect(),
                    kms_keys: (0..3).map(|_| rng.uuid()).collect(),
                    buckets,
                    vpce: format!("vpce-0{}", rng.hex(16)),
                    id,
                }
            })
            .collect();
        let vendors: Vec<Vendor> = VENDORS
            .iter()
            .enumerate()
            .map(
                |(i, &(name, domain, session_prefix, ips, user_agent))| Vendor {
                    name,
                    // Blue Backup runs two accounts (one per region pool), like many real vendors.
                    accounts: (0..if i == 1 { 2 } else { 1 })
                        .map(|_| rng.account_id())
                        .collect(),
                    source: format!("https://docs.{domain}.example/integrations/aws/setup"),
                    ips,
                    user_agent,
                    own_role_id: rng.aws_id("AROA", 17),
                    session_prefix,
                },
            )
            .collect();

        let mut roles = Vec::new();
        let root = |v: &Vendor, k: usize| json!(format!("arn:aws:iam::{}:root", v.accounts[k]));
        let star = || json!("*");

        let r = new_role(
            &mut roles,
            rng,
            PROD,
            "AcmeMonitoringReadOnly",
            RoleKind::Vendor,
        );
        let acme = r;
        acme.vendor = Some((0, 0));
        acme.external_id = Some("acme123".into());
        acme.trust = ext_condition(root(&vendors[0], 0), Some("acme123"));
        acme.managed = vec!["ReadOnlyAccess"];
        acme.boundary = Some("VendorBoundary");
        (acme.op_names, acme.denied_names, acme.weight, acme.regions) = (
            ACME_OPS,
            &["ssm:GetParameters", "secretsmanager:GetSecretValue"],
            3,
            ALL_REGIONS,
        );

        let r = new_role(&mut roles, rng, PROD, "BlueBackupRole", RoleKind::Vendor);
        let ext = rng.uuid();
        let blue = r;
        blue.vendor = Some((1, 0));
        blue.bucket = Some(1);
        blue.trust = ext_condition(json!([root(&vendors[1], 0)]), Some(&ext));
        blue.external_id = Some(ext);
        // The seed case: granted KMS grant creation and instance stops are never used.
        blue.inline = vec![
            (
                "BlueBackupKeyAccess",
                allow(&[(
                    &["kms:Decrypt", "kms:CreateGrant", "ec2:StopInstances"],
                    star(),
                )]),
            ),
            (
                "BlueBackupData",
                allow(&[
                    (
                        &["s3:GetObject", "s3:ListBucket"],
                        json!([
                            "arn:aws:s3:::anycompany-prod-backups-*",
                            "arn:aws:s3:::anycompany-prod-backups-*/*"
                        ]),
                    ),
                    (
                        &[
                            "ec2:DescribeVolumes",
                            "ec2:DescribeSnapshots",
                            "ec2:CreateSnapshot",
                        ],
                        star(),
                    ),
                ]),
            ),
        ];
        (blue.op_names, blue.denied_names, blue.weight, blue.regions) = (
            BLUE_PROD_OPS,
            &["s3:PutObject", "ec2:DescribeInstances"],
            2,
            &[0, 1],
        );

        let r = new_role(&mut roles, rng, STAGING, "BlueBackupRole", RoleKind::Vendor);
        let ext = rng.uuid();
        let blue = r;
        blue.vendor = Some((1, 1));
        blue.bucket = Some(1);
        blue.trust = ext_condition(json!(vendors[1].accounts[1]), Some(&ext));
        blue.external_id = Some(ext);
        blue.inline = vec![(
            "BlueBackupData",
            allow(&[
                (
                    &["s3:GetObject", "s3:ListBucket"],
                    json!([
                        "arn:aws:s3:::anycompany-staging-backups-*",
                        "arn:aws:s3:::anycompany-staging-backups-*/*"
                    ]),
                ),
                (&["ec2:DescribeVolumes", "ec2:DescribeSnapshots"], star()),
            ]),
        )];
        (blue.op_names, blue.denied_names, blue.weight, blue.regions) =
            (BLUE_STAGING_OPS, &["s3:PutObject"], 1, &[1]);

        let r = new_role(
            &mut roles,
            rng,
            SECURITY,
            "CobaltAuditRole",
            RoleKind::Vendor,
        );
        let cobalt = r;
        cobalt.vendor = Some((2, 0));
        cobalt.trust = ext_condition(json!(vendors[2].accounts[0]), None);
        cobalt.managed = vec!["SecurityAudit"];
        (
            cobalt.op_names,
            cobalt.denied_names,
            cobalt.weight,
            cobalt.regions,
        ) = (COBALT_OPS, &["s3:GetObject"], 1, ALL_REGIONS);

        let r = new_role(
            &mut roles,
            rng,
            STAGING,
            "CobaltAuditLegacy",
            RoleKind::Vendor,
        );
        let ext = rng.uuid();
        let legacy = r;
        legacy.vendor = Some((2, 0));
        legacy.trust = ext_condition(root(&vendors[2], 0), Some(&ext));
        legacy.external_id = Some(ext);
        legacy.never_used = true;
        legacy.managed = vec!["SecurityAudit"];

        let r = new_role(
            &mut roles,
            rng,
            PROD,
            "DeltaConsultingAccess",
            RoleKind::Vendor,
        );
        let ext = rng.uuid();
        let delta_arn = format!(
            "arn:aws:iam::{}:role/DeltaConsultingAccess",
            accounts[PROD].id
        );
        let deploy_arn = format!("arn:aws:iam::{}:role/DeltaDeployRole", accounts[PROD].id);
        let delta = r;
        delta.vendor = Some((3, 0));
        delta.trust = ext_condition(root(&vendors[3], 0), Some(&ext));
        delta.external_id = Some(ext);
        delta.managed = vec!["ReadOnlyAccess"];
        delta.inline = vec![(
            "DeltaOperations",
            allow(&[
                (
                    &[
                        "ec2:StopInstances",
                        "ec2:StartInstances",
                        "ec2:RebootInstances",
                    ],
                    star(),
                ),
                (&["sts:AssumeRole"], json!(deploy_arn)),
            ]),
        )];
        delta.source_identity = Some("j.doe@delta-consulting.example");
        (
            delta.op_names,
            delta.denied_names,
            delta.weight,
            delta.regions,
        ) = (DELTA_OPS, &["iam:CreateUser", "sts:AssumeRole"], 1, &[0, 1]);

        let r = new_role(&mut roles, rng, PROD, "DeltaDeployRole", RoleKind::Chain);
        let deploy = r;
        deploy.vendor = Some((3, 0));
        deploy.trust = ext_condition(json!(delta_arn), None);
        deploy.inline = vec![(
            "DeployLambda",
            allow(&[(
                &[
                    "lambda:GetFunction",
                    "lambda:ListFunctions",
                    "lambda:UpdateFunctionConfiguration",
                    "lambda:UpdateFunctionCode",
                    "lambda:PublishVersion",
                ],
                star(),
            )]),
        )];
        (deploy.op_names, deploy.denied_names, deploy.regions) =
            (DEPLOY_OPS, &["iam:PutRolePolicy"], &[0]);

        let r = new_role(
            &mut roles,
            rng,
            STAGING,
            "EchoAnalyticsRole",
            RoleKind::Vendor,
        );
        let ext = rng.uuid();
        let echo = r;
        echo.vendor = Some((4, 0));
        echo.trust = ext_condition(root(&vendors[4], 0), Some(&ext));
        echo.external_id = Some(ext);
        echo.inactive = true;
        echo.inline = vec![(
            "EchoCostRead",
            allow(&[(
                &[
                    "ce:GetCostAndUsage",
                    "ce:GetDimensionValues",
                    "s3:ListAllMyBuckets",
                    "s3:GetBucketLocation",
                    "cloudwatch:ListMetrics",
                    "cloudwatch:GetMetricData",
                ],
                star(),
            )]),
        )];
        (echo.op_names, echo.weight) = (ECHO_OPS, 2);

        for acct in [PROD, STAGING, SECURITY] {
            let own_root = json!(format!("arn:aws:iam::{}:root", accounts[acct].id));
            if acct != SECURITY {
                let r = new_role(&mut roles, rng, acct, "OrgAdmin", RoleKind::Internal);
                r.trust = ext_condition(
                    json!(format!("arn:aws:iam::{}:root", accounts[SECURITY].id)),
                    None,
                );
                (r.managed, r.op_names, r.regions) =
                    (vec!["AdministratorAccess"], HUMAN_OPS, ALL_REGIONS);
                let r = new_role(&mut roles, rng, acct, "app-server", RoleKind::Service);
                r.trust = service_trust("ec2.amazonaws.com");
                r.service = Some("ec2.amazonaws.com");
                r.inline = vec![(
                    "AppServerAccess",
                    allow(&[(
                        &[
                            "s3:GetObject",
                            "s3:PutObject",
                            "kms:Decrypt",
                            "kms:GenerateDataKey",
                            "logs:CreateLogStream",
                            "logs:PutLogEvents",
                            "secretsmanager:GetSecretValue",
                            "ssm:GetParameters",
                            "dynamodb:DescribeTable",
                            "cloudwatch:PutMetricAlarm",
                        ],
                        star(),
                    )]),
                )];
                (r.op_names, r.regions) = (APP_OPS, &[0, 1]);
                let r = new_role(
                    &mut roles,
                    rng,
                    acct,
                    "AWSServiceRoleForBackup",
                    RoleKind::Service,
                );
                r.path = "/aws-service-role/backup.amazonaws.com/".into();
                r.trust = service_trust("backup.amazonaws.com");
                r.service = Some("backup.amazonaws.com");
                (r.op_names, r.regions) = (BACKUP_OPS, &[0, 1]);
            }
            let name = if acct == SECURITY {
                "SecurityOps"
            } else {
                "Developer"
            };
            let r = new_role(&mut roles, rng, acct, name, RoleKind::Internal);
            r.trust = ext_condition(own_root, None);
            (r.managed, r.op_names, r.regions) = (vec!["ReadOnlyAccess"], HUMAN_OPS, ALL_REGIONS);
            r.inline = vec![(
                "DeveloperDeploy",
                allow(&[(
                    &[
                        "lambda:UpdateFunction*",
                        "ec2:RunInstances",
                        "ec2:CreateTags",
                        "ec2:StartInstances",
                        "ec2:StopInstances",
                        "s3:PutObject",
                        "iam:PutRolePolicy",
                        "cloudwatch:PutMetricAlarm",
                        "kms:Decrypt",
                    ],
                    star(),
                )]),
            )];
            let r = new_role(
                &mut roles,
                rng,
                acct,
                "AWSServiceRoleForConfig",
                RoleKind::Service,
            );
            r.path = "/aws-service-role/config.amazonaws.com/".into();
            r.trust = service_trust("config.amazonaws.com");
            r.service = Some("config.amazonaws.com");
            (r.op_names, r.regions) = (CONFIG_OPS, ALL_REGIONS);
        }

        let users = [
            (PROD, "alice", true),
            (PROD, "bob", false),
            (PROD, "carol", false),
            (PROD, "ci-deployer", true),
            (STAGING, "dave", false),
            (STAGING, "ci-deployer", true),
            (SECURITY, "erin", true),
            (SECURITY, "frank", false),
        ]
        .into_iter()
        .map(|(acct, name, admin)| User {
            acct,
            name,
            id: rng.aws_id("AIDA", 17),
            key: rng.aws_id("AKIA", 16),
            admin,
        })
        .collect();
        for r in &mut roles {
            (r.ops, r.denied) = (resolve(r.op_names), resolve(r.denied_names));
        }
        let human_ops = resolve(HUMAN_OPS);
        World {
            org_id,
            accounts,
            vendors,
            roles,
            users,
            human_ops,
        }
    }

    pub(crate) fn role_by_name(&self, acct: usize, name: &str) -> Option<usize> {
        self.roles
            .iter()
            .position(|r| r.acct == acct && r.name == name)
    }

    /// `aws iam get-account-authorization-details` output for one account.
    pub(crate) fn iam_snapshot(&self, acct: usize, created: &str) -> Value {
        let id = &self.accounts[acct].id;
        let mut used: Vec<&str> = Vec::new();
        let roles: Vec<Value> = self.roles.iter().filter(|r| r.acct == acct).map(|r| {
            let mut names: Vec<&str> = r.managed.clone();
            names.extend(r.boundary);
            for n in names {
                if !used.contains(&n) {
                    used.push(n);
                }
            }
            let mut v = json!({
                "Path": r.path, "RoleName": r.name, "RoleId": r.id, "Arn": r.arn(self), "CreateDate": created,
                "AssumeRolePolicyDocument": r.trust, "InstanceProfileList": [],
                "RolePolicyList": r.inline.iter().map(|(n, d)| json!({"PolicyName": n, "PolicyDocument": d})).collect::<Vec<_>>(),
                "AttachedManagedPolicies": r.managed.iter().map(|n| json!({"PolicyName": n, "PolicyArn": managed_policy(n, id).0})).collect::<Vec<_>>(),
                "Tags": [], "RoleLastUsed": {},
            });
            if let Some(b) = r.boundary {
                v["PermissionsBoundary"] = json!({"PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": managed_policy(b, id).0});
            }
            v
        }).collect();
        let users: Vec<Value> = self.users.iter().filter(|u| u.acct == acct).map(|u| {
            let p = if u.admin { "AdministratorAccess" } else { "ReadOnlyAccess" };
            if !used.contains(&p) {
                used.push(p);
            }
            json!({"Path": "/", "UserName": u.name, "UserId": u.id, "Arn": format!("arn:aws:iam::{id}:user/{}", u.name),
                   "CreateDate": created, "UserPolicyList": [], "GroupList": [],
                   "AttachedManagedPolicies": [{"PolicyName": p, "PolicyArn": managed_policy(p, id).0}], "Tags": []})
        }).collect();
        let policies: Vec<Value> = used.iter().map(|n| {
            let (arn, doc) = managed_policy(n, id);
            json!({"PolicyName": n, "PolicyId": stable_id("ANPA", &arn), "Arn": arn, "Path": "/",
                   "DefaultVersionId": "v1", "AttachmentCount": 1, "PermissionsBoundaryUsageCount": 0, "IsAttachable": true,
                   "CreateDate": created, "UpdateDate": created,
                   "PolicyVersionList": [{"Document": doc, "VersionId": "v1", "IsDefaultVersion": true, "CreateDate": created}]})
        }).collect();
        json!({"UserDetailList": users, "GroupDetailList": [], "RoleDetailList": roles, "Policies": policies, "IsTruncated": false})
    }

    /// The vendor list in the fwdcloudsec/known_aws_accounts YAML format.
    pub(crate) fn vendors_yaml(&self) -> String {
        let mut s = String::from(
            "# Fictitious vendors of a crosstrail-synth world, in the known_aws_accounts format.\n\n",
        );
        for v in &self.vendors {
            let accts: Vec<String> = v.accounts.iter().map(|a| format!("'{a}'")).collect();
            s.push_str(&format!(
                "- name: '{}'\n  source: ['{}']\n  accounts: [{}]\n",
                v.name,
                v.source,
                accts.join(", ")
            ));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_op_name_resolves() {
        let w = World::new(&mut Rng::new(1));
        assert_eq!(w.human_ops.len(), HUMAN_OPS.len());
        for r in &w.roles {
            assert_eq!(
                (r.ops.len(), r.denied.len()),
                (r.op_names.len(), r.denied_names.len()),
                "{}",
                r.name
            );
        }
    }
}
