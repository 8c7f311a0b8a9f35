//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Third-party access analytics for AWS CloudTrail: ingest logs into a Parquet lake, then ask
/// what vendors did in your accounts with SQL.
#[derive(Debug, Parser)]
#[command(
    name = "crosstrail",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Ingest CloudTrail logs into a Parquet lake (incremental: only new or changed objects).
    #[command(after_long_help = INGEST_AFTER)]
    Ingest(IngestArgs),
    /// Run SQL over a lake (read-only unless --allow-writes).
    #[command(after_long_help = SQL_AFTER)]
    Sql(SqlArgs),
    /// Run a named report (third parties, sessions, timelines, External IDs …); --list shows them.
    Report(ReportArgs),
    /// Generate a realistic sample trail, ingest it and show third-party sessions (no AWS account needed).
    Demo(DemoArgs),
}

const INGEST_AFTER: &str = "\
Inputs: folders are walked recursively; s3://bucket[/prefix] is listed and read with the AWS
standard credential chain (environment, --profile or AWS_PROFILE, SSO, web identity, container
and instance metadata), or unsigned with --no-sign-request. Objects are recognised by content,
not by name: gzip or plain; CloudTrail's {\"Records\":[...]} files, JSON arrays of records, one
record per line (CloudTrail Lake, EventBridge, CloudWatch Logs exports), concatenated records,
and `aws cloudtrail lookup-events` output. CloudTrail-Digest/ and CloudTrail-Insight/ objects and
hidden files are skipped and counted.

Pruning: --accounts, --regions, --from and --to read only that part of a trail laid out as
CloudTrail delivers it (AWSLogs/[o-id/]<account>/CloudTrail/<region>/YYYY/MM/DD/), in folders and
in buckets alike; objects whose path does not show a filtered field are left out. On S3 the other
accounts, regions and days are not even listed.

Sharding: --shard I/N reads the I-th of N disjoint shares of the objects (a stable hash of each
key), so N machines can split one trail: run I = 0 .. N-1 at once (e.g. a job array), all into
one s3:// lake, or each into its own lake directory (a lake directory has one writer at a time).

Lakes in S3: --lake s3://bucket/prefix writes the same layout as a directory, through the same
AWS settings as s3:// sources. Files are staged under _crosstrail/ and appear in the tables only
once committed, so Athena, Trino, Spark and DuckDB can read <prefix>/events/ and
<prefix>/sessions/ in place (Hive partitions event_date=YYYY-MM-DD) while ingests run. Several
writers may share one S3 lake (use --shard so they do not read the same objects).

Exit status:
  0  every object landed (or was already in the lake)
  1  the run could not start or the lake could not be written
  2  some objects failed; each is named on stderr and in the manifest, every other object landed,
     and the failed ones are retried on the next run";

const SQL_AFTER: &str = "\
Tables and views:
  events, sessions        each CloudTrail eventID once (events_all, sessions_all: every copy)
  session_actions         each session's actions, through its temporary access key
  roles, role_trust,      the latest IAM snapshot of each account (crosstrail ingest --iam);
  role_policies           roles_all, role_trust_all, role_policies_all keep every snapshot
  own_accounts            --own-accounts, or the accounts whose trails are in the lake
  org_accounts, vendors   from --org and --vendors (empty without them)
  role_grants             every action each role holds (identity policies minus Deny, within
                          its boundary and any --scp), computed when read
  third_party_roles       roles third parties may assume or did assume

Functions:
  iam_actions(event_source, event_name, request_parameters)   IAM actions an event needed
  iam_event_class(event_source, event_name, event_type, identity_type, error_code,
                  request_parameters)   used | denied | no-permission | not-evidence | unmapped
  iam_access_level(action), iam_risk_rank(action), iam_observability(action)

Examples:
  crosstrail sql --lake ./lake \"SHOW TABLES\"
  crosstrail sql --lake ./lake -f investigation.sql --format csv > out.csv
  echo \"SELECT count(*) FROM events\" | crosstrail sql --lake ./lake";

/// `crosstrail ingest`.
#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Files and folders of CloudTrail logs, or s3://bucket[/prefix], to ingest.
    #[arg(required_unless_present = "iam", value_name = "SOURCE")]
    pub sources: Vec<PathBuf>,
    /// IAM snapshots to load (`aws iam get-account-authorization-details` output, one file per
    /// page or account); the files of one run form one snapshot.
    #[arg(long, value_name = "FILE", num_args = 1..)]
    pub iam: Vec<PathBuf>,
    /// The lake: a directory (created if missing) or s3://bucket[/prefix] (see "Lakes in S3").
    #[arg(long, value_name = "DIR|S3_URL")]
    pub lake: PathBuf,
    /// Worker threads for listing folders, decompression, parsing and Parquet encoding
    /// [default: all cores].
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Largest size an object may inflate to, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 1024)]
    pub max_object_mib: u64,
    /// Largest single record, in MiB (CloudTrail's own records stay under 0.25).
    #[arg(long, value_name = "MIB", default_value_t = 4)]
    pub max_record_mib: u64,
    /// Inflated input per transaction and worker, in MiB (tests use small values to commit often).
    #[arg(long, value_name = "MIB", default_value_t = 512, hide = true)]
    pub chunk_mib: u64,
    /// Only these accounts (comma-separated 12-digit ids).
    #[arg(long, value_name = "ID,...", value_delimiter = ',')]
    pub accounts: Option<Vec<String>>,
    /// Only these regions (comma-separated, e.g. us-east-1,eu-west-1).
    #[arg(long, value_name = "REGION,...", value_delimiter = ',')]
    pub regions: Option<Vec<String>>,
    /// First delivery day to read (YYYY-MM-DD, UTC), inclusive.
    #[arg(long, value_name = "DAY")]
    pub from: Option<String>,
    /// Last delivery day to read (YYYY-MM-DD, UTC), inclusive.
    #[arg(long, value_name = "DAY")]
    pub to: Option<String>,
    /// Read only share I of N (0 <= I < N) of the objects; see "Sharding" below.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
    /// Objects fetched at once, at most (also bounded by 64 MiB in flight); S3 runs start with
    /// 64 (256 when listing shows latency) and double them while latency keeps the workers
    /// waiting; within the open-file limit [default: 1024 for S3, else 4 per thread].
    #[arg(long, value_name = "N")]
    pub concurrency: Option<usize>,
    /// How to reach S3.
    #[command(flatten)]
    pub aws: AwsArgs,
    /// No progress bar, no summary, no per-object errors on stderr (the exit status still tells).
    #[arg(long, short)]
    pub quiet: bool,
}

/// How to reach S3, for s3:// sources and lakes (one bucket setting for both).
#[derive(Debug, Clone, Default, Args)]
pub struct AwsArgs {
    /// AWS profile from the shared config and credentials files (s3:// sources and lakes).
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// Region of the bucket [default: AWS_REGION or the profile's, else us-east-1].
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    /// Endpoint of an S3-compatible store (path-style addressing), e.g. http://127.0.0.1:9000.
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// Send unsigned requests (public buckets): no credentials are looked up.
    #[arg(long)]
    pub no_sign_request: bool,
}

impl AwsArgs {
    /// Whether any flag was given, and the first one's name.
    pub fn first_given(&self) -> Option<&'static str> {
        [
            ("--profile", self.profile.is_some()),
            ("--region", self.region.is_some()),
            ("--endpoint-url", self.endpoint_url.is_some()),
            ("--no-sign-request", self.no_sign_request),
        ]
        .into_iter()
        .find_map(|(flag, set)| set.then_some(flag))
    }
}

/// The lake and the reference data beside it (shared by `sql` and `report`).
#[derive(Debug, Args)]
pub struct LakeArgs {
    /// The lake: a directory, or s3://bucket[/prefix] (required).
    #[arg(long, value_name = "DIR|S3_URL")]
    pub lake: Option<PathBuf>,
    /// How to reach an s3:// lake.
    #[command(flatten)]
    pub aws: AwsArgs,
    /// Your own AWS account ids (comma-separated), for the own_accounts table [default: the accounts whose trails are in the lake].
    #[arg(long, value_name = "ID,...", value_delimiter = ',')]
    pub own_accounts: Option<Vec<String>>,
    /// Your organization's accounts: `aws organizations list-accounts` output (CLI v1 or v2).
    #[arg(long, value_name = "FILE")]
    pub org: Option<PathBuf>,
    /// Known vendor accounts, in the community known_aws_accounts YAML format.
    #[arg(long, value_name = "FILE")]
    pub vendors: Option<PathBuf>,
    /// Service control policies above the roles, one file per level (root, OU, account): a
    /// policy document, or a JSON array of the documents attached at that level. Used by
    /// role_grants and the least-privilege reports; not applied to service-linked roles.
    #[arg(long, value_name = "FILE")]
    pub scp: Vec<PathBuf>,
    /// Memory the query may hold before spilling to temporary files, in MiB [default: half of RAM].
    #[arg(long, value_name = "MIB")]
    pub memory_limit_mib: Option<usize>,
    /// Output format: table, csv, json (one array), ndjson or markdown.
    #[arg(long, value_name = "FORMAT", default_value = "table")]
    pub format: String,
}

/// `crosstrail sql`.
#[derive(Debug, Args)]
pub struct SqlArgs {
    /// The lake, reference data and output format.
    #[command(flatten)]
    pub lake: LakeArgs,
    /// The query; read from --file or standard input when absent.
    #[arg(value_name = "QUERY", conflicts_with = "file")]
    pub query: Option<String>,
    /// Read the SQL from a file (statements separated by `;`).
    #[arg(long, short, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Allow statements that create or write (CREATE, INSERT, COPY, SET …).
    #[arg(long)]
    pub allow_writes: bool,
}

/// `crosstrail report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The report to run (see --list).
    #[arg(value_name = "NAME", required_unless_present = "list")]
    pub name: Option<String>,
    /// List the reports and what each shows.
    #[arg(long)]
    pub list: bool,
    /// The lake, reference data and output format.
    #[command(flatten)]
    pub lake: LakeArgs,
    /// Only this vendor (name from --vendors, case-insensitive, or account id).
    #[arg(long, value_name = "NAME|ID")]
    pub vendor: Option<String>,
    /// Only this role (ARN or name).
    #[arg(long, value_name = "ARN|NAME")]
    pub role: Option<String>,
    /// Only this session (AssumeRole eventID, temporary access key or role session name).
    #[arg(long, value_name = "ID")]
    pub session: Option<String>,
    /// Only actions made with this access key.
    #[arg(long, value_name = "KEY")]
    pub access_key: Option<String>,
    /// Only actions from this source IP address.
    #[arg(long, value_name = "IP")]
    pub source_ip: Option<String>,
    /// Start of the time window (YYYY-MM-DD or RFC 3339, UTC), inclusive.
    #[arg(long, value_name = "TIME")]
    pub from: Option<String>,
    /// End of the time window (a date includes that whole day).
    #[arg(long, value_name = "TIME")]
    pub to: Option<String>,
    /// Days without use after which a third-party role is inactive.
    #[arg(long, value_name = "DAYS", default_value_t = 90)]
    pub inactive_days: i64,
    /// unused, rightsize, rightsize-policy, risky-grants: cover every role, not only the
    /// roles third parties may assume or did assume.
    #[arg(long)]
    pub all_roles: bool,
}

/// `crosstrail demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where to put the sample logs and lake [default: <temp dir>/crosstrail-demo].
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Seed of the generator (same seed, same logs).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Output format of the overview.
    #[arg(long, value_name = "FORMAT", default_value = "table")]
    pub format: String,
}
