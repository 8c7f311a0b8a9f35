//! CloudTrail event -> the IAM action(s) it is evidence of.
//!
//! The default rule: the IAM prefix is the first label of `eventSource` and the action is
//! `eventName` (`kms.amazonaws.com` / `Decrypt` -> `kms:Decrypt`), kept only when the catalog has
//! that action. Everything else is data: `data/event_actions.tsv`, one row per exception with
//! its source (eventSource prefix renames, S3's renamed and one-to-many events, KMS `ReEncrypt`,
//! Lambda `Invoke`, DynamoDB PartiQL and transactions, API Gateway verbs, permission-free calls).
//! A few rows read `requestParameters`: S3 object calls naming a `versionId` need the
//! `...Version...` action, calls that pass a role (`RunInstances` with an instance profile,
//! `RegisterTaskDefinition` with a task role, ...) also used `iam:PassRole`, which CloudTrail
//! never logs on its own, PartiQL calls need one action per statement verb, and
//! `TransactWriteItems` one per item kind; when the request cannot tell, the event is
//! [`EventClass::Unmapped`] with a `*-unreadable` rule rather than a guess.
//!
//! Resolution order, first hit wins:
//! 1. a row for exactly (eventSource, eventName);
//! 2. the default rule, with the source's `prefix` row applied (`monitoring` -> `cloudwatch`);
//! 3. the same two after dropping a dated version suffix (`CreateFunction20150331`,
//!    `UpdateFunctionCode20150331v2`, `UpdateDistribution2017_03_25`); only an anchored
//!    `\d{8}(v\d+)?` or `\d{4}_\d{2}_\d{2}` at the end is dropped, so `...Csv` keeps its `v` and
//!    nothing is cut at the first `20`;
//! 4. the source's `Name*` rows, in file order (API Gateway: `Get*` -> `apigateway:GET`).
//!
//! The class then says what the event proves ([`EventClass`]). Every action a rule emits is
//! in the catalog (a test checks every row), so actions are in the catalog's spelling.
//!
//! ```
//! use crosstrail_iam::mapping::{EventClass, EventRef, map_event};
//!
//! let copy = EventRef { event_source: "s3.amazonaws.com", event_name: "CopyObject", ..EventRef::default() };
//! let m = map_event(&copy);
//! assert_eq!(m.class, EventClass::Used);
//! assert_eq!(m.actions, ["s3:GetObject", "s3:PutObject"]);
//!
//! let denied = EventRef { error_code: Some("AccessDenied"), ..copy };
//! assert_eq!(map_event(&denied).class, EventClass::Denied);
//! ```

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::Deserialize;

use crate::catalog::Catalog;

/// The exception table (see the module docs and `data/README.md`).
const TABLE: &str = include_str!("../data/event_actions.tsv");

/// The fields of a CloudTrail record the mapping reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EventRef<'a> {
    /// `eventSource`, e.g. `s3.amazonaws.com`.
    pub event_source: &'a str,
    /// `eventName`, e.g. `GetObject`.
    pub event_name: &'a str,
    /// `eventType`, e.g. `AwsApiCall`.
    pub event_type: Option<&'a str>,
    /// `userIdentity.type`, e.g. `AssumedRole`, `AWSService`.
    pub identity_type: Option<&'a str>,
    /// `errorCode`, `None` on success.
    pub error_code: Option<&'a str>,
    /// `requestParameters` as raw JSON text (read for S3 `versionId`, DynamoDB PartiQL and
    /// transactions).
    pub request_parameters: Option<&'a str>,
}

/// What an event says about the caller's permissions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventClass {
    /// The call was authorized: evidence the actions are used. Errors other than authorization
    /// failures (NoSuchEntity, Throttling, validation) normally come after authorization, so
    /// they count here too (DOMAIN.md 2.3, a design decision), as does EC2's
    /// `DryRunOperation` ("the request would have succeeded").
    Used,
    /// An authorization failure: the actions were attempted, not granted.
    Denied,
    /// A call that needs no IAM permission (`sts:GetCallerIdentity`, sign-in events).
    NoPermission,
    /// Not the caller's authorization: AWS service events, Insights events, console sign-in and
    /// console actions, VPC endpoint events, calls made by an AWS service principal, and calls
    /// that failed authentication (expired token, bad signature: rule `authentication-failure`).
    NotEvidence,
    /// No catalog action results; `actions` is empty.
    Unmapped,
}

impl EventClass {
    /// `used`, `denied`, `no-permission`, `not-evidence`, `unmapped`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventClass::Used => "used",
            EventClass::Denied => "denied",
            EventClass::NoPermission => "no-permission",
            EventClass::NotEvidence => "not-evidence",
            EventClass::Unmapped => "unmapped",
        }
    }
}

/// The result of [`map_event`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapped {
    /// What the event proves.
    pub class: EventClass,
    /// The IAM actions, `prefix:Name` in catalog spelling, sorted as the rule lists them.
    /// Filled for every class except [`EventClass::Unmapped`] (and empty for permission-free
    /// calls that have no catalog action); only [`EventClass::Used`] is evidence of use.
    pub actions: Vec<String>,
    /// Which rule decided: `default`, `exception:<event_source>/<event_name>` (the table row),
    /// `version-suffix`, `not-evidence`, `authentication-failure`, `unmapped`, or a `*-unreadable` rule when
    /// requestParameters could not tell which actions a DynamoDB call used.
    pub rule: &'static str,
}

/// One row of `data/event_actions.tsv`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExceptionRow {
    /// `exception:<event_source>/<event_name>`: what [`Mapped::rule`] says when this row decided.
    pub id: String,
    /// `eventSource`, lower case.
    pub event_source: String,
    /// `eventName`, `*` (a prefix row) or `Name*` (a name-prefix row).
    pub event_name: String,
    /// The actions, as listed (for `prefix` rows: `newprefix:*`).
    pub actions: Vec<String>,
    /// The row's kind.
    pub class: RowClass,
    /// Where the fact comes from.
    pub source: String,
    /// 1-based line in the file.
    pub line: usize,
}

/// The `class` column of `data/event_actions.tsv`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RowClass {
    /// Every event of the source uses this IAM prefix with the default rule.
    Prefix,
    /// One action with a different name.
    Rename,
    /// Several actions for one call.
    OneToMany,
    /// S3 object calls: the first action, or the second (`...Version...`) when the request
    /// names a `versionId`.
    ByVersionId,
    /// The first action, plus `iam:PassRole` when the request passes a role
    /// (`iamInstanceProfile`, `role`, `roleARN`, `taskRoleArn`, `executionRoleArn`).
    PassesRole,
    /// DynamoDB PartiQL: the action follows each statement's verb.
    ByStatement,
    /// DynamoDB `TransactWriteItems`: one action per item type.
    ByTransactItems,
    /// API Gateway: the action is the HTTP verb of the operation.
    HttpVerb,
    /// The call needs no IAM permission.
    NoPermission,
}

impl RowClass {
    fn parse(s: &str) -> Option<RowClass> {
        Some(match s {
            "prefix" => RowClass::Prefix,
            "rename" => RowClass::Rename,
            "one-to-many" => RowClass::OneToMany,
            "by-version-id" => RowClass::ByVersionId,
            "passes-role" => RowClass::PassesRole,
            "by-statement" => RowClass::ByStatement,
            "by-transact-items" => RowClass::ByTransactItems,
            "http-verb" => RowClass::HttpVerb,
            "no-permission" => RowClass::NoPermission,
            _ => return None,
        })
    }

    /// The file's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            RowClass::Prefix => "prefix",
            RowClass::Rename => "rename",
            RowClass::OneToMany => "one-to-many",
            RowClass::ByVersionId => "by-version-id",
            RowClass::PassesRole => "passes-role",
            RowClass::ByStatement => "by-statement",
            RowClass::ByTransactItems => "by-transact-items",
            RowClass::HttpVerb => "http-verb",
            RowClass::NoPermission => "no-permission",
        }
    }
}

struct Table {
    rows: Vec<ExceptionRow>,
    /// Lower-case event_source -> its rules.
    sources: HashMap<String, SourceRules>,
}

#[derive(Default)]
struct SourceRules {
    /// The IAM prefix of the source's `prefix` row, and that row.
    prefix: Option<(String, usize)>,
    /// event_name -> row, for exact rows.
    exact: HashMap<String, usize>,
    /// `Name*` rows, in file order.
    patterns: Vec<usize>,
}

fn table() -> &'static Table {
    static TABLE_CELL: OnceLock<Table> = OnceLock::new();
    TABLE_CELL.get_or_init(|| parse_table(TABLE).expect("data/event_actions.tsv is valid (tested)"))
}

fn parse_table(text: &str) -> Result<Table, String> {
    let mut t = Table {
        rows: Vec::new(),
        sources: HashMap::new(),
    };
    let mut header_seen = false;
    for (i, line) in text.lines().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let bad = |what: &str| format!("event_actions.tsv line {}: {what}: {line:?}", i + 1);
        let cols: Vec<&str> = line.split('\t').collect();
        if !header_seen {
            if cols != ["event_source", "event_name", "actions", "class", "source"] {
                return Err(bad("unexpected header"));
            }
            header_seen = true;
            continue;
        }
        let [source_host, name, actions, class, source] = cols[..] else {
            return Err(bad("expected 5 tab-separated columns"));
        };
        let class = RowClass::parse(class).ok_or_else(|| bad("unknown class"))?;
        if source.trim().is_empty() {
            return Err(bad("every row needs its source"));
        }
        let event_source = source_host.to_ascii_lowercase();
        let row = ExceptionRow {
            id: format!("exception:{event_source}/{name}"),
            event_source: event_source.clone(),
            event_name: name.to_owned(),
            actions: actions
                .split(',')
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .map(str::to_owned)
                .collect(),
            class,
            source: source.to_owned(),
            line: i + 1,
        };
        let at = t.rows.len();
        let rules = t.sources.entry(event_source).or_default();
        if name == "*" {
            let prefix = match (class, &row.actions[..]) {
                (RowClass::Prefix, [one]) => one.strip_suffix(":*"),
                _ => None,
            }
            .ok_or_else(|| bad("a `*` row must be class prefix with actions `prefix:*`"))?;
            if rules.prefix.replace((prefix.to_owned(), at)).is_some() {
                return Err(bad("duplicate prefix row"));
            }
        } else if class == RowClass::Prefix {
            return Err(bad("class prefix needs event_name `*`"));
        } else if class == RowClass::ByVersionId && row.actions.len() != 2 {
            return Err(bad(
                "by-version-id lists the unversioned and the versioned action",
            ));
        } else if class == RowClass::PassesRole
            && (row.actions.len() != 2 || row.actions[1] != "iam:PassRole")
        {
            return Err(bad(
                "passes-role lists the call's action, then iam:PassRole",
            ));
        } else if let Some(head) = name.strip_suffix('*') {
            if head.is_empty() || head.contains('*') {
                return Err(bad("a name pattern is `Name*`"));
            }
            rules.patterns.push(at);
        } else if rules.exact.insert(name.to_owned(), at).is_some() {
            return Err(bad("duplicate row"));
        }
        t.rows.push(row);
    }
    if !header_seen {
        return Err("event_actions.tsv has no header".into());
    }
    Ok(t)
}

/// Every row of the exception table, in file order (for reports and tests).
pub fn exception_rows() -> &'static [ExceptionRow] {
    &table().rows
}

/// The IAM prefix for an `eventSource`: its `prefix` row if any (`monitoring.amazonaws.com` ->
/// `cloudwatch`), else its first host label.
pub fn iam_prefix(event_source: &str) -> &str {
    match source_rules(event_source).and_then(|r| r.prefix.as_ref()) {
        Some((p, _)) => p,
        None => event_source.split('.').next().unwrap_or(event_source),
    }
}

/// The rules of an eventSource (case-insensitive; allocates only for upper-case input).
fn source_rules(event_source: &str) -> Option<&'static SourceRules> {
    let source = event_source.trim();
    if source.bytes().any(|b| b.is_ascii_uppercase()) {
        table().sources.get(&source.to_ascii_lowercase())
    } else {
        table().sources.get(source)
    }
}

/// Catalog actions that need no IAM permission (listed on `no-permission` rows, e.g.
/// `sts:GetCallerIdentity`, which the catalog lists as Read): never report them "unused".
pub fn permission_free_actions() -> impl Iterator<Item = &'static str> {
    table()
        .rows
        .iter()
        .filter(|r| r.class == RowClass::NoPermission)
        .flat_map(|r| r.actions.iter().map(String::as_str))
}

/// `error_code` without a `Client.` / `Server.` namespace (EC2 writes `Client.UnauthorizedOperation`).
fn bare_code(error_code: &str) -> &str {
    let code = error_code.trim();
    code.split_once('.')
        .filter(|(ns, _)| ns.eq_ignore_ascii_case("client") || ns.eq_ignore_ascii_case("server"))
        .map_or(code, |(_, rest)| rest)
}

fn ends_with_ci(s: &str, suffix: &str) -> bool {
    s.len() >= suffix.len()
        && s.as_bytes()[s.len() - suffix.len()..].eq_ignore_ascii_case(suffix.as_bytes())
}

/// Whether `error_code` is an authorization failure (the call was attempted, not granted):
/// `AccessDenied`, `AccessDeniedException`, `UnauthorizedOperation`,
/// `Client.UnauthorizedOperation` and their relatives (`VpceAccessDenied`, SNS's
/// `AuthorizationError`, ...), case-insensitive.
pub fn is_authorization_failure(error_code: &str) -> bool {
    let code = bare_code(error_code);
    const FAILURES: [&str; 8] = [
        "UnauthorizedOperation",
        "UnauthorizedAccess",
        "UnauthorizedException",
        "AuthorizationError",
        "AuthorizationErrorException",
        "Forbidden",
        "ForbiddenException",
        "AccessDeniedError",
    ];
    ends_with_ci(code, "AccessDenied")
        || ends_with_ci(code, "AccessDeniedException")
        || FAILURES.iter().any(|f| f.eq_ignore_ascii_case(code))
}

/// Whether `error_code` says the caller was not authenticated (expired or invalid credentials,
/// bad signature): no authorization decision was made, so the event is no evidence either way.
pub fn is_authentication_failure(error_code: &str) -> bool {
    let code = bare_code(error_code);
    const FAILURES: [&str; 11] = [
        "AuthFailure",
        "ExpiredToken",
        "ExpiredTokenException",
        "RequestExpired",
        "SignatureDoesNotMatch",
        "IncompleteSignature",
        "InvalidSignatureException",
        "MissingAuthenticationToken",
        "MissingAuthenticationTokenException",
        "InvalidAccessKeyId",
        "UnrecognizedClientException",
    ];
    // CloudTrail itself prefixes its own: `CloudTrailInvalidClientTokenIdException`.
    ends_with_ci(code, "InvalidClientTokenId")
        || ends_with_ci(code, "InvalidClientTokenIdException")
        || FAILURES.iter().any(|f| f.eq_ignore_ascii_case(code))
}

/// `eventType` values that are not a principal's API call (DOMAIN.md 2.3).
const NOT_EVIDENCE_TYPES: [&str; 5] = [
    "AwsServiceEvent",
    "AwsCloudTrailInsight",
    "AwsConsoleSignIn",
    "AwsConsoleAction",
    "AwsVpceEvent",
];

/// The IAM action(s) a CloudTrail event is evidence of, and what kind of evidence.
pub fn map_event(ev: &EventRef) -> Mapped {
    let not_evidence = ev
        .event_type
        .is_some_and(|t| NOT_EVIDENCE_TYPES.iter().any(|n| n.eq_ignore_ascii_case(t)))
        || ev
            .identity_type
            .is_some_and(|t| t.eq_ignore_ascii_case("AWSService"));
    let unauthenticated = ev.error_code.is_some_and(is_authentication_failure);
    let (actions, rule, no_permission) = resolve(ev);
    let class = if not_evidence || unauthenticated {
        EventClass::NotEvidence
    } else if no_permission {
        EventClass::NoPermission
    } else if actions.is_empty() {
        EventClass::Unmapped
    } else if ev.error_code.is_some_and(is_authorization_failure) {
        EventClass::Denied
    } else {
        EventClass::Used
    };
    let rule = if unauthenticated && !not_evidence {
        "authentication-failure"
    } else if not_evidence && actions.is_empty() {
        "not-evidence"
    } else {
        rule
    };
    Mapped {
        class,
        actions,
        rule,
    }
}

/// (actions, rule, needs no permission).
fn resolve(ev: &EventRef) -> (Vec<String>, &'static str, bool) {
    let t = table();
    let rules = source_rules(ev.event_source);
    let name = ev.event_name.trim();
    let catalog = Catalog::get();
    let renamed = rules.and_then(|r| r.prefix.as_ref());
    let prefix = match renamed {
        Some((p, _)) => p.as_str(),
        None => ev.event_source.trim().split('.').next().unwrap_or(""),
    };
    let stripped = strip_version_suffix(name);
    for (candidate, default_rule) in [(Some(name), "default"), (stripped, "version-suffix")] {
        let Some(candidate) = candidate else { continue };
        if let Some(&at) = rules.and_then(|r| r.exact.get(candidate)) {
            return apply_row(&t.rows[at], ev);
        }
        if let Some(info) = catalog.lookup_parts(prefix, candidate) {
            let rule = match (default_rule, renamed) {
                ("default", Some(&(_, at))) => t.rows[at].id.as_str(),
                _ => default_rule,
            };
            return (vec![info.full()], rule, false);
        }
    }
    let base = stripped.unwrap_or(name);
    for &at in rules.map_or(&[][..], |r| &r.patterns[..]) {
        let row = &t.rows[at];
        let head = row.event_name.trim_end_matches('*');
        if base.len() > head.len() && base.starts_with(head) {
            return apply_row(row, ev);
        }
    }
    (Vec::new(), "unmapped", false)
}

fn apply_row(row: &'static ExceptionRow, ev: &EventRef) -> (Vec<String>, &'static str, bool) {
    let rule = row.id.as_str();
    match row.class {
        RowClass::NoPermission => (row.actions.clone(), rule, true),
        RowClass::PassesRole => {
            let n = if passes_role(ev.request_parameters) {
                2
            } else {
                1
            };
            (row.actions[..n].to_vec(), rule, false)
        }
        RowClass::ByVersionId => {
            let which = usize::from(names_version(ev.request_parameters));
            (row.actions[which..=which].to_vec(), rule, false)
        }
        RowClass::ByStatement => match partiql_actions(ev.request_parameters) {
            Some(actions) => (in_row_order(row, &actions), rule, false),
            None => (Vec::new(), "partiql-statement-unreadable", false),
        },
        RowClass::ByTransactItems => match transact_write_actions(ev.request_parameters) {
            Some(actions) => (in_row_order(row, &actions), rule, false),
            None => (Vec::new(), "transact-items-unreadable", false),
        },
        RowClass::Prefix | RowClass::Rename | RowClass::OneToMany | RowClass::HttpVerb => {
            (row.actions.clone(), rule, false)
        }
    }
}

/// `found`, ordered as the row lists its candidates (a stable order whatever the request's).
fn in_row_order(row: &ExceptionRow, found: &[String]) -> Vec<String> {
    row.actions
        .iter()
        .filter(|a| found.contains(a))
        .cloned()
        .collect()
}

/// `CreateFunction20150331` -> `CreateFunction`, `UpdateFunctionCode20150331v2` ->
/// `UpdateFunctionCode`, `UpdateDistribution2017_03_25` -> `UpdateDistribution`; `None` when
/// there is no such suffix (or nothing would be left).
pub fn strip_version_suffix(name: &str) -> Option<&str> {
    let b = name.as_bytes();
    let digits_before = |end: usize| {
        b[..end]
            .iter()
            .rev()
            .take_while(|c| c.is_ascii_digit())
            .count()
    };
    // `\d{8}(v\d+)?$`
    let mut end = b.len();
    let trailing = digits_before(end);
    if trailing > 0 && end > trailing && b[end - trailing - 1] == b'v' {
        end -= trailing + 1;
    }
    let date8 = (digits_before(end) == 8).then(|| end - 8);
    // `\d{4}_\d{2}_\d{2}$`
    let underscored = (name.len() >= 10).then(|| b.len() - 10).filter(|&s| {
        let t = &b[s..];
        t.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'_',
            _ => c.is_ascii_digit(),
        }) && (s == 0 || !b[s - 1].is_ascii_digit())
    });
    let cut = date8.or(underscored)?;
    // Something alphabetic must remain, ending in a letter (not a digit run we split).
    (cut > 0 && b[cut - 1].is_ascii_alphabetic()).then(|| &name[..cut])
}

#[derive(Deserialize)]
struct VersionParams {
    #[serde(rename = "versionId", alias = "VersionId")]
    version_id: Option<String>,
}

/// Whether an S3 request names an object version (`"versionId"` in requestParameters).
fn names_version(request_parameters: Option<&str>) -> bool {
    request_parameters
        .and_then(|p| serde_json::from_str::<VersionParams>(p).ok())
        .and_then(|p| p.version_id)
        .is_some_and(|v| !v.is_empty())
}

/// The request fields that pass a role to a service, as CloudTrail writes them.
#[derive(Deserialize)]
struct RoleParams {
    #[serde(rename = "iamInstanceProfile")]
    instance_profile: Option<serde::de::IgnoredAny>,
    role: Option<serde::de::IgnoredAny>,
    #[serde(rename = "roleARN", alias = "roleArn")]
    role_arn: Option<serde::de::IgnoredAny>,
    #[serde(rename = "taskRoleArn")]
    task_role_arn: Option<serde::de::IgnoredAny>,
    #[serde(rename = "executionRoleArn")]
    execution_role_arn: Option<serde::de::IgnoredAny>,
}

/// Whether requestParameters pass a role (a non-null role field); `false` when unreadable.
fn passes_role(request_parameters: Option<&str>) -> bool {
    request_parameters
        .and_then(|p| serde_json::from_str::<RoleParams>(p).ok())
        .is_some_and(|p| {
            p.instance_profile.is_some()
                || p.role.is_some()
                || p.role_arn.is_some()
                || p.task_role_arn.is_some()
                || p.execution_role_arn.is_some()
        })
}

#[derive(Deserialize)]
struct PartiqlParams {
    statement: Option<String>,
    #[serde(default)]
    statements: Vec<PartiqlStatement>,
    #[serde(default, rename = "transactStatements", alias = "TransactStatements")]
    transact_statements: Vec<PartiqlStatement>,
}

#[derive(Deserialize)]
struct PartiqlStatement {
    #[serde(alias = "Statement")]
    statement: Option<String>,
}

/// The PartiQL actions of ExecuteStatement / BatchExecuteStatement / ExecuteTransaction, by
/// each statement's first keyword; `None` when a statement is missing or unrecognised.
fn partiql_actions(request_parameters: Option<&str>) -> Option<Vec<String>> {
    let p: PartiqlParams = serde_json::from_str(request_parameters?).ok()?;
    let statements: Vec<Option<String>> = p
        .statement
        .into_iter()
        .map(Some)
        .chain(p.statements.into_iter().map(|s| s.statement))
        .chain(p.transact_statements.into_iter().map(|s| s.statement))
        .collect();
    if statements.is_empty() {
        return None;
    }
    let mut out = Vec::new();
    for s in statements {
        let s = s?;
        let verb = s
            .trim_start()
            .split(|c: char| !c.is_ascii_alphabetic())
            .next()
            .unwrap_or("");
        let action = match verb.to_ascii_uppercase().as_str() {
            "SELECT" | "EXISTS" => "dynamodb:PartiQLSelect",
            "INSERT" => "dynamodb:PartiQLInsert",
            "UPDATE" => "dynamodb:PartiQLUpdate",
            "DELETE" => "dynamodb:PartiQLDelete",
            _ => return None,
        };
        push_unique(&mut out, action);
    }
    Some(out)
}

#[derive(Deserialize)]
struct TransactParams {
    #[serde(rename = "transactItems", alias = "TransactItems")]
    transact_items: Vec<HashMap<String, serde::de::IgnoredAny>>,
}

/// One action per item kind of TransactWriteItems; `None` when the items are not readable.
fn transact_write_actions(request_parameters: Option<&str>) -> Option<Vec<String>> {
    let p: TransactParams = serde_json::from_str(request_parameters?).ok()?;
    let mut out = Vec::new();
    for item in &p.transact_items {
        if item.is_empty() {
            return None;
        }
        for kind in item.keys() {
            let action = match kind.to_ascii_lowercase().as_str() {
                "put" => "dynamodb:PutItem",
                "update" => "dynamodb:UpdateItem",
                "delete" => "dynamodb:DeleteItem",
                "conditioncheck" => "dynamodb:ConditionCheckItem",
                _ => return None,
            };
            push_unique(&mut out, action);
        }
    }
    (!out.is_empty()).then_some(out)
}

fn push_unique(out: &mut Vec<String>, action: &str) {
    if !out.iter().any(|a| a == action) {
        out.push(action.to_owned());
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn ev<'a>(source: &'a str, name: &'a str) -> EventRef<'a> {
        EventRef {
            event_source: source,
            event_name: name,
            event_type: Some("AwsApiCall"),
            identity_type: Some("AssumedRole"),
            ..EventRef::default()
        }
    }

    fn actions(source: &str, name: &str) -> Vec<String> {
        map_event(&ev(source, name)).actions
    }

    const S3: &str = "s3.amazonaws.com";
    const APIGW: &str = "apigateway.amazonaws.com";
    const DDB: &str = "dynamodb.amazonaws.com";
    const SIGNIN: &str = "signin.amazonaws.com";

    /// (eventSource, eventName, requestParameters, class, actions): every non-prefix row of
    /// `event_actions.tsv` is hit by at least one case (checked below), and each case states
    /// its expected answer by hand, not from the table.
    type Case = (
        &'static str,
        &'static str,
        Option<&'static str>,
        EventClass,
        &'static [&'static str],
    );

    #[rustfmt::skip]
    const CASES: &[Case] = &[
        (S3, "ListObjects", None, EventClass::Used, &["s3:ListBucket"]),
        (S3, "ListObjectsV2", None, EventClass::Used, &["s3:ListBucket"]),
        (S3, "HeadBucket", None, EventClass::Used, &["s3:ListBucket"]),
        (S3, "ListObjectVersions", None, EventClass::Used, &["s3:ListBucketVersions"]),
        (S3, "ListBuckets", None, EventClass::Used, &["s3:ListAllMyBuckets"]),
        (S3, "ListMultipartUploads", None, EventClass::Used, &["s3:ListBucketMultipartUploads"]),
        (S3, "ListParts", None, EventClass::Used, &["s3:ListMultipartUploadParts"]),
        (S3, "HeadObject", None, EventClass::Used, &["s3:GetObject"]),
        (S3, "HeadObject", Some(r#"{"bucketName":"b","key":"k","versionId":"3HL4kqtJlcpXroDTDmJ"}"#), EventClass::Used, &["s3:GetObjectVersion"]),
        (S3, "GetObject", Some(r#"{"bucketName":"b","key":"k"}"#), EventClass::Used, &["s3:GetObject"]),
        (S3, "GetObject", Some(r#"{"bucketName":"b","key":"k","versionId":"null"}"#), EventClass::Used, &["s3:GetObjectVersion"]),
        (S3, "DeleteObject", None, EventClass::Used, &["s3:DeleteObject"]),
        (S3, "DeleteObject", Some(r#"{"versionId":"v1"}"#), EventClass::Used, &["s3:DeleteObjectVersion"]),
        (S3, "GetObjectAcl", Some(r#"{"acl":"","versionId":"v1"}"#), EventClass::Used, &["s3:GetObjectVersionAcl"]),
        (S3, "PutObjectAcl", Some(r#"{"acl":""}"#), EventClass::Used, &["s3:PutObjectAcl"]),
        (S3, "GetObjectTagging", Some(r#"{"tagging":"","versionId":"v1"}"#), EventClass::Used, &["s3:GetObjectVersionTagging"]),
        (S3, "PutObjectTagging", Some(r#"{"tagging":"","VersionId":"v1"}"#), EventClass::Used, &["s3:PutObjectVersionTagging"]),
        (S3, "DeleteObjectTagging", Some("not json"), EventClass::Used, &["s3:DeleteObjectTagging"]),
        (S3, "GetObjectAttributes", Some(r#"{"versionId":""}"#), EventClass::Used, &["s3:GetObjectAttributes"]),
        (S3, "SelectObjectContent", None, EventClass::Used, &["s3:GetObject"]),
        (S3, "CopyObject", None, EventClass::Used, &["s3:GetObject", "s3:PutObject"]),
        (S3, "UploadPartCopy", None, EventClass::Used, &["s3:GetObject", "s3:PutObject"]),
        (S3, "UploadPart", None, EventClass::Used, &["s3:PutObject"]),
        (S3, "CreateMultipartUpload", None, EventClass::Used, &["s3:PutObject"]),
        (S3, "CompleteMultipartUpload", None, EventClass::Used, &["s3:PutObject"]),
        (S3, "DeleteObjects", None, EventClass::Used, &["s3:DeleteObject"]),
        (S3, "GetBucketLifecycle", None, EventClass::Used, &["s3:GetLifecycleConfiguration"]),
        (S3, "GetBucketLifecycleConfiguration", None, EventClass::Used, &["s3:GetLifecycleConfiguration"]),
        (S3, "PutBucketLifecycle", None, EventClass::Used, &["s3:PutLifecycleConfiguration"]),
        (S3, "PutBucketLifecycleConfiguration", None, EventClass::Used, &["s3:PutLifecycleConfiguration"]),
        (S3, "DeleteBucketLifecycle", None, EventClass::Used, &["s3:PutLifecycleConfiguration"]),
        (S3, "GetBucketEncryption", None, EventClass::Used, &["s3:GetEncryptionConfiguration"]),
        (S3, "PutBucketEncryption", None, EventClass::Used, &["s3:PutEncryptionConfiguration"]),
        (S3, "DeleteBucketEncryption", None, EventClass::Used, &["s3:PutEncryptionConfiguration"]),
        (S3, "GetBucketReplication", None, EventClass::Used, &["s3:GetReplicationConfiguration"]),
        (S3, "PutBucketReplication", None, EventClass::Used, &["s3:PutReplicationConfiguration"]),
        (S3, "DeleteBucketReplication", None, EventClass::Used, &["s3:PutReplicationConfiguration"]),
        (S3, "GetBucketNotificationConfiguration", None, EventClass::Used, &["s3:GetBucketNotification"]),
        (S3, "PutBucketNotificationConfiguration", None, EventClass::Used, &["s3:PutBucketNotification"]),
        (S3, "GetBucketAccelerateConfiguration", None, EventClass::Used, &["s3:GetAccelerateConfiguration"]),
        (S3, "PutBucketAccelerateConfiguration", None, EventClass::Used, &["s3:PutAccelerateConfiguration"]),
        (S3, "GetBucketAnalyticsConfiguration", None, EventClass::Used, &["s3:GetAnalyticsConfiguration"]),
        (S3, "ListBucketAnalyticsConfigurations", None, EventClass::Used, &["s3:GetAnalyticsConfiguration"]),
        (S3, "PutBucketAnalyticsConfiguration", None, EventClass::Used, &["s3:PutAnalyticsConfiguration"]),
        (S3, "DeleteBucketAnalyticsConfiguration", None, EventClass::Used, &["s3:PutAnalyticsConfiguration"]),
        (S3, "GetBucketInventoryConfiguration", None, EventClass::Used, &["s3:GetInventoryConfiguration"]),
        (S3, "ListBucketInventoryConfigurations", None, EventClass::Used, &["s3:GetInventoryConfiguration"]),
        (S3, "PutBucketInventoryConfiguration", None, EventClass::Used, &["s3:PutInventoryConfiguration"]),
        (S3, "DeleteBucketInventoryConfiguration", None, EventClass::Used, &["s3:PutInventoryConfiguration"]),
        (S3, "GetBucketMetricsConfiguration", None, EventClass::Used, &["s3:GetMetricsConfiguration"]),
        (S3, "ListBucketMetricsConfigurations", None, EventClass::Used, &["s3:GetMetricsConfiguration"]),
        (S3, "PutBucketMetricsConfiguration", None, EventClass::Used, &["s3:PutMetricsConfiguration"]),
        (S3, "DeleteBucketMetricsConfiguration", None, EventClass::Used, &["s3:PutMetricsConfiguration"]),
        (S3, "GetBucketIntelligentTieringConfiguration", None, EventClass::Used, &["s3:GetIntelligentTieringConfiguration"]),
        (S3, "ListBucketIntelligentTieringConfigurations", None, EventClass::Used, &["s3:GetIntelligentTieringConfiguration"]),
        (S3, "PutBucketIntelligentTieringConfiguration", None, EventClass::Used, &["s3:PutIntelligentTieringConfiguration"]),
        (S3, "DeleteBucketIntelligentTieringConfiguration", None, EventClass::Used, &["s3:PutIntelligentTieringConfiguration"]),
        (S3, "DeleteBucketTagging", None, EventClass::Used, &["s3:PutBucketTagging"]),
        (S3, "GetBucketCors", None, EventClass::Used, &["s3:GetBucketCORS"]),
        (S3, "PutBucketCors", None, EventClass::Used, &["s3:PutBucketCORS"]),
        (S3, "DeleteBucketCors", None, EventClass::Used, &["s3:PutBucketCORS"]),
        (S3, "DeleteBucketOwnershipControls", None, EventClass::Used, &["s3:PutBucketOwnershipControls"]),
        (S3, "GetPublicAccessBlock", None, EventClass::Used, &["s3:GetBucketPublicAccessBlock"]),
        (S3, "PutPublicAccessBlock", None, EventClass::Used, &["s3:PutBucketPublicAccessBlock"]),
        (S3, "DeletePublicAccessBlock", None, EventClass::Used, &["s3:PutBucketPublicAccessBlock"]),
        (S3, "DeleteBucketPublicAccessBlock", None, EventClass::Used, &["s3:PutBucketPublicAccessBlock"]),
        (S3, "GetObjectLockConfiguration", None, EventClass::Used, &["s3:GetBucketObjectLockConfiguration"]),
        (S3, "PutObjectLockConfiguration", None, EventClass::Used, &["s3:PutBucketObjectLockConfiguration"]),
        (S3, "GetBucketAccessControlPolicy", None, EventClass::Used, &["s3:GetBucketAcl"]),
        (S3, "SetBucketAccessControlPolicy", None, EventClass::Used, &["s3:PutBucketAcl"]),
        (S3, "GetBucketLoggingStatus", None, EventClass::Used, &["s3:GetBucketLogging"]),
        (S3, "SetBucketLoggingStatus", None, EventClass::Used, &["s3:PutBucketLogging"]),
        ("s3express.amazonaws.com", "CreateSession", None, EventClass::Used, &["s3express:CreateSession"]),
        ("kms.amazonaws.com", "ReEncrypt", None, EventClass::Used, &["kms:ReEncryptFrom", "kms:ReEncryptTo"]),
        ("lambda.amazonaws.com", "Invoke", None, EventClass::Used, &["lambda:InvokeFunction"]),
        ("lambda.amazonaws.com", "InvokeWithResponseStream", None, EventClass::Used, &["lambda:InvokeFunction"]),
        (DDB, "ExecuteStatement", Some(r#"{"statement":"SELECT * FROM \"Music\" WHERE Artist=?"}"#), EventClass::Used, &["dynamodb:PartiQLSelect"]),
        (DDB, "BatchExecuteStatement", Some(r#"{"statements":[{"statement":"delete from t where k=1"},{"statement":"  INSERT INTO t VALUE {'k':2}"}]}"#), EventClass::Used, &["dynamodb:PartiQLInsert", "dynamodb:PartiQLDelete"]),
        (DDB, "ExecuteTransaction", Some(r#"{"transactStatements":[{"statement":"UPDATE t SET a=1 WHERE k=1"},{"statement":"EXISTS(SELECT * FROM t WHERE k=2)"}]}"#), EventClass::Used, &["dynamodb:PartiQLSelect", "dynamodb:PartiQLUpdate"]),
        (DDB, "TransactWriteItems", Some(r#"{"transactItems":[{"conditionCheck":{"tableName":"t"}},{"put":{"tableName":"t"}},{"Put":{"tableName":"u"}}],"clientRequestToken":"x"}"#), EventClass::Used, &["dynamodb:PutItem", "dynamodb:ConditionCheckItem"]),
        (DDB, "TransactGetItems", None, EventClass::Used, &["dynamodb:GetItem"]),
        (DDB, "DescribeEndpoints", None, EventClass::NoPermission, &["dynamodb:DescribeEndpoints"]),
        ("sts.amazonaws.com", "GetCallerIdentity", None, EventClass::NoPermission, &["sts:GetCallerIdentity"]),
        ("sts.amazonaws.com", "GetSessionToken", None, EventClass::NoPermission, &["sts:GetSessionToken"]),
        (SIGNIN, "ConsoleLogin", None, EventClass::NoPermission, &[]),
        (SIGNIN, "CheckMfa", None, EventClass::NoPermission, &[]),
        (SIGNIN, "ExitRole", None, EventClass::NoPermission, &[]),
        (SIGNIN, "RenewRole", None, EventClass::NoPermission, &[]),
        (SIGNIN, "SwitchRole", None, EventClass::NoPermission, &[]),
        (SIGNIN, "PasswordRecoveryRequested", None, EventClass::NoPermission, &[]),
        (SIGNIN, "PasswordRecoveryCompleted", None, EventClass::NoPermission, &[]),
        (SIGNIN, "CredentialChallenge", None, EventClass::NoPermission, &[]),
        (SIGNIN, "CredentialVerification", None, EventClass::NoPermission, &[]),
        (SIGNIN, "UserAuthentication", None, EventClass::NoPermission, &[]),
        (SIGNIN, "GetSigninToken", None, EventClass::NoPermission, &[]),
        ("ec2.amazonaws.com", "RunInstances", Some(r#"{"instancesSet":{"items":[{"imageId":"ami-1"}]},"instanceType":"t3.micro"}"#), EventClass::Used, &["ec2:RunInstances"]),
        ("ec2.amazonaws.com", "RunInstances", Some(r#"{"instanceType":"t3.micro","iamInstanceProfile":{"arn":"arn:aws:iam::111122223333:instance-profile/p"}}"#), EventClass::Used, &["ec2:RunInstances", "iam:PassRole"]),
        ("ec2.amazonaws.com", "AssociateIamInstanceProfile", None, EventClass::Used, &["ec2:AssociateIamInstanceProfile", "iam:PassRole"]),
        ("ec2.amazonaws.com", "ReplaceIamInstanceProfileAssociation", None, EventClass::Used, &["ec2:ReplaceIamInstanceProfileAssociation", "iam:PassRole"]),
        ("lambda.amazonaws.com", "CreateFunction20150331", None, EventClass::Used, &["lambda:CreateFunction", "iam:PassRole"]),
        ("lambda.amazonaws.com", "UpdateFunctionConfiguration20150331v2", Some(r#"{"functionName":"f","timeout":30}"#), EventClass::Used, &["lambda:UpdateFunctionConfiguration"]),
        ("lambda.amazonaws.com", "UpdateFunctionConfiguration20150331v2", Some(r#"{"functionName":"f","role":"arn:aws:iam::111122223333:role/r"}"#), EventClass::Used, &["lambda:UpdateFunctionConfiguration", "iam:PassRole"]),
        ("ecs.amazonaws.com", "RegisterTaskDefinition", Some(r#"{"family":"f","executionRoleArn":"arn:aws:iam::111122223333:role/e"}"#), EventClass::Used, &["ecs:RegisterTaskDefinition", "iam:PassRole"]),
        ("ecs.amazonaws.com", "RegisterTaskDefinition", Some(r#"{"family":"f","taskRoleArn":null}"#), EventClass::Used, &["ecs:RegisterTaskDefinition"]),
        ("cloudformation.amazonaws.com", "CreateStack", Some(r#"{"stackName":"s","roleARN":"arn:aws:iam::111122223333:role/cfn"}"#), EventClass::Used, &["cloudformation:CreateStack", "iam:PassRole"]),
        ("cloudformation.amazonaws.com", "UpdateStack", Some(r#"{"stackName":"s"}"#), EventClass::Used, &["cloudformation:UpdateStack"]),
        (APIGW, "GetRestApis", None, EventClass::Used, &["apigateway:GET"]),
        (APIGW, "CreateRestApi", None, EventClass::Used, &["apigateway:POST"]),
        (APIGW, "UpdateStage", None, EventClass::Used, &["apigateway:PATCH"]),
        (APIGW, "DeleteResource", None, EventClass::Used, &["apigateway:DELETE"]),
        (APIGW, "PutIntegration", None, EventClass::Used, &["apigateway:PUT"]),
        (APIGW, "ImportRestApi", None, EventClass::Used, &["apigateway:POST"]),
        (APIGW, "TagResource", None, EventClass::Used, &["apigateway:PUT"]),
        (APIGW, "UntagResource", None, EventClass::Used, &["apigateway:DELETE"]),
        (APIGW, "FlushStageCache", None, EventClass::Used, &["apigateway:DELETE"]),
        (APIGW, "GenerateClientCertificate", None, EventClass::Used, &["apigateway:POST"]),
        (APIGW, "TestInvokeMethod", None, EventClass::Used, &["apigateway:POST"]),
        (APIGW, "ReimportApi", None, EventClass::Used, &["apigateway:PUT"]),
        (APIGW, "ExportApi", None, EventClass::Used, &["apigateway:GET"]),
        (APIGW, "ResetAuthorizersCache", None, EventClass::Used, &["apigateway:DELETE"]),
        (APIGW, "ImportDocumentationParts", None, EventClass::Used, &["apigateway:PUT"]),
        // Prefix rows, by hand for the ones DOMAIN.md names.
        ("monitoring.amazonaws.com", "PutMetricData", None, EventClass::Used, &["cloudwatch:PutMetricData"]),
        ("email.amazonaws.com", "SendEmail", None, EventClass::Used, &["ses:SendEmail"]),
        ("streams.dynamodb.amazonaws.com", "GetRecords", None, EventClass::Used, &["dynamodb:GetRecords"]),
        ("tagging.amazonaws.com", "GetResources", None, EventClass::Used, &["tag:GetResources"]),
        ("models.lex.amazonaws.com", "CreateBot", None, EventClass::Used, &["lex:CreateBot"]),
    ];

    #[test]
    fn every_exception_row_is_exercised_and_right() {
        let mut hit = BTreeSet::new();
        for &(source, name, params, class, want) in CASES {
            let e = EventRef {
                request_parameters: params,
                ..ev(source, name)
            };
            let m = map_event(&e);
            assert_eq!(m.class, class, "{source} {name}");
            assert_eq!(m.actions, want, "{source} {name}");
            hit.insert(m.rule);
        }
        // Prefix rows: the first action of the target service, reached through the source.
        for row in exception_rows()
            .iter()
            .filter(|r| r.class == RowClass::Prefix)
        {
            let target = row.actions[0].trim_end_matches(":*");
            let first = Catalog::get()
                .expand(&format!("{target}:*"))
                .into_iter()
                .next()
                .unwrap();
            let m = map_event(&ev(&row.event_source, first.name));
            assert_eq!(m.actions, [first.full()], "{}", row.id);
            assert_eq!((m.class, m.rule), (EventClass::Used, row.id.as_str()));
            hit.insert(m.rule);
        }
        let missed: Vec<_> = exception_rows()
            .iter()
            .filter(|r| !hit.contains(r.id.as_str()))
            .map(|r| &r.id)
            .collect();
        assert!(missed.is_empty(), "rows without a test case: {missed:?}");
    }

    #[test]
    fn every_row_names_catalog_actions_in_catalog_spelling() {
        let c = Catalog::get();
        assert!(exception_rows().len() > 100);
        for row in exception_rows() {
            if row.class == RowClass::Prefix {
                let p = row.actions[0].trim_end_matches(":*");
                assert!(c.service_name(p).is_some(), "{}: no service {p}", row.id);
                // A rename must rename: the host label is not already the IAM prefix.
                let label = row.event_source.split('.').next().unwrap();
                assert_ne!(label, p, "{}", row.id);
                continue;
            }
            if row.class != RowClass::NoPermission {
                assert!(!row.actions.is_empty(), "{}", row.id);
            }
            for a in &row.actions {
                let info = c
                    .lookup(a)
                    .unwrap_or_else(|| panic!("{}: {a} not in catalog", row.id));
                assert_eq!(&info.full(), a, "{}: spelling", row.id);
            }
            assert!(!row.source.is_empty());
        }
        assert_eq!(
            permission_free_actions().collect::<Vec<_>>(),
            [
                "dynamodb:DescribeEndpoints",
                "sts:GetCallerIdentity",
                "sts:GetSessionToken"
            ]
        );
    }

    #[test]
    fn default_rule_and_its_limits() {
        let m = map_event(&ev("kms.amazonaws.com", "Decrypt"));
        assert_eq!((m.class, m.rule), (EventClass::Used, "default"));
        assert_eq!(m.actions, ["kms:Decrypt"]);
        assert_eq!(
            actions("ec2.amazonaws.com", "StopInstances"),
            ["ec2:StopInstances"]
        );
        assert_eq!(
            actions("iam.amazonaws.com", "CreateRole"),
            ["iam:CreateRole"]
        );
        assert_eq!(
            actions("EC2.AmazonAWS.com", "StopInstances"),
            ["ec2:StopInstances"]
        );
        // Case of the event name is forgiven by the catalog, the output is AWS's spelling.
        assert_eq!(actions(S3, "GetBucketCORS"), ["s3:GetBucketCORS"]);
        // A catalog action of a prefix that also has verb rows wins over the verb.
        assert_eq!(actions(APIGW, "GetPortal"), ["apigateway:GetPortal"]);
        // Unknown: unmapped, never invented.
        for (s, n) in [
            ("nosuch.amazonaws.com", "DoThing"),
            (S3, "NoSuchEvent"),
            ("", ""),
            (APIGW, "Frobnicate"),
        ] {
            let m = map_event(&ev(s, n));
            assert_eq!(
                (m.class, m.rule),
                (EventClass::Unmapped, "unmapped"),
                "{s} {n}"
            );
            assert!(m.actions.is_empty());
        }
        assert_eq!(iam_prefix("monitoring.amazonaws.com"), "cloudwatch");
        assert_eq!(iam_prefix("kms.amazonaws.com"), "kms");
    }

    #[test]
    fn version_suffixes() {
        let cases = [
            ("UpdateFunctionCode20150331v2", "lambda:UpdateFunctionCode"),
            ("GetFunction20150331v2", "lambda:GetFunction"),
            ("PublishVersion20150331", "lambda:PublishVersion"),
            ("AddPermission20150331v2", "lambda:AddPermission"),
            ("ListTags20170331", "lambda:ListTags"),
        ];
        for (name, want) in cases {
            let m = map_event(&ev("lambda.amazonaws.com", name));
            assert_eq!(
                (m.actions, m.rule),
                (vec![want.to_owned()], "version-suffix"),
                "{name}"
            );
        }
        // A stripped name still meets its exception row.
        let m = map_event(&ev("lambda.amazonaws.com", "CreateFunction20150331"));
        assert_eq!(m.rule, "exception:lambda.amazonaws.com/CreateFunction");
        assert_eq!(m.actions, ["lambda:CreateFunction", "iam:PassRole"]);
        let m = map_event(&ev(
            "cloudfront.amazonaws.com",
            "UpdateDistribution2017_03_25",
        ));
        assert_eq!(m.actions, ["cloudfront:UpdateDistribution"]);
        assert_eq!(
            strip_version_suffix("CreateFunction20150331"),
            Some("CreateFunction")
        );
        assert_eq!(
            strip_version_suffix("GetFunction20150331v2"),
            Some("GetFunction")
        );
        assert_eq!(
            strip_version_suffix("GetDistribution2019_03_26"),
            Some("GetDistribution")
        );
        // Peer bugs: cloudtracker cuts at the first "20"; trailscraper's `[0-9v_]+$` eats a
        // trailing `v` or digits that belong to the name.
        for keep in [
            "Get20Things",
            "Describe2020Report",
            "ExportCsv",
            "ExportCsv2",
            "GetMetricDataV2",
            "CreateLocationS3",
            "Foo120150331",
            "20150331",
            "Foo_2017_03_25",
            "Foo2017_3_25",
        ] {
            assert_eq!(strip_version_suffix(keep), None, "{keep}");
        }
        assert_eq!(
            actions("connect.amazonaws.com", "GetMetricDataV2"),
            ["connect:GetMetricDataV2"]
        );
        assert_eq!(
            actions("datasync.amazonaws.com", "CreateLocationS3"),
            ["datasync:CreateLocationS3"]
        );
        assert_eq!(
            actions("cloud9.amazonaws.com", "CreateEnvironmentEC2"),
            ["cloud9:CreateEnvironmentEC2"]
        );
    }

    #[test]
    fn peer_bugs_are_absent() {
        // trailscraper: PutBucketReplication / DeleteBucketReplication -> DeleteReplicationConfiguration.
        for n in ["PutBucketReplication", "DeleteBucketReplication"] {
            assert_eq!(actions(S3, n), ["s3:PutReplicationConfiguration"]);
        }
        assert!(
            Catalog::get()
                .lookup("s3:DeleteReplicationConfiguration")
                .is_none()
        );
        // trailscraper: Invoke -> lambda:Invoke.
        assert_eq!(
            actions("lambda.amazonaws.com", "Invoke"),
            ["lambda:InvokeFunction"]
        );
        // trailscraper: SelectObjectContent -> s3:SelectObjectContent.
        assert_eq!(actions(S3, "SelectObjectContent"), ["s3:GetObject"]);
        // trailscraper: ObjectLock event names kept.
        assert_eq!(
            actions(S3, "PutObjectLockConfiguration"),
            ["s3:PutBucketObjectLockConfiguration"]
        );
        // access-undenied: CopyObject -> ListBucket only; monitoring: and email: prefixes.
        let copy = actions(S3, "CopyObject");
        assert!(copy.contains(&"s3:GetObject".into()) && copy.contains(&"s3:PutObject".into()));
        assert!(!copy.contains(&"s3:ListBucket".into()));
        assert_eq!(
            actions("monitoring.amazonaws.com", "GetMetricData"),
            ["cloudwatch:GetMetricData"]
        );
        // Detection rules use IAM names as events; the logged name is PutBucketEncryption.
        assert_eq!(
            actions(S3, "PutBucketEncryption"),
            ["s3:PutEncryptionConfiguration"]
        );
        // KMS ReEncrypt is two precise actions, not ReEncrypt*.
        assert_eq!(
            actions("kms.amazonaws.com", "ReEncrypt"),
            ["kms:ReEncryptFrom", "kms:ReEncryptTo"]
        );
        // No rule emits a prefix the catalog does not know.
        for row in exception_rows() {
            for a in &row.actions {
                let p = a.split(':').next().unwrap();
                assert!(
                    !["monitoring", "email", "runtime", "streams"].contains(&p),
                    "{}",
                    row.id
                );
            }
        }
    }

    #[test]
    fn dynamodb_requests_that_cannot_be_read_are_unmapped_not_guessed() {
        for (name, params, rule) in [
            ("ExecuteStatement", None, "partiql-statement-unreadable"),
            (
                "ExecuteStatement",
                Some("{}"),
                "partiql-statement-unreadable",
            ),
            (
                "ExecuteStatement",
                Some(r#"{"statement":"***"}"#),
                "partiql-statement-unreadable",
            ),
            (
                "ExecuteStatement",
                Some("not json"),
                "partiql-statement-unreadable",
            ),
            (
                "BatchExecuteStatement",
                Some(r#"{"statements":[{"statement":"SELECT 1"},{}]}"#),
                "partiql-statement-unreadable",
            ),
            ("TransactWriteItems", None, "transact-items-unreadable"),
            (
                "TransactWriteItems",
                Some(r#"{"transactItems":[]}"#),
                "transact-items-unreadable",
            ),
            (
                "TransactWriteItems",
                Some(r#"{"transactItems":[{"frobnicate":{}}]}"#),
                "transact-items-unreadable",
            ),
        ] {
            let e = EventRef {
                request_parameters: params,
                ..ev(DDB, name)
            };
            let m = map_event(&e);
            assert_eq!(
                (m.class, m.rule),
                (EventClass::Unmapped, rule),
                "{name} {params:?}"
            );
            assert!(m.actions.is_empty());
        }
        let e = EventRef {
            request_parameters: Some(r#"{"TransactItems":[{"Delete":{}},{"Update":{}}]}"#),
            ..ev(DDB, "TransactWriteItems")
        };
        assert_eq!(
            map_event(&e).actions,
            ["dynamodb:UpdateItem", "dynamodb:DeleteItem"]
        );
    }

    #[test]
    fn classes() {
        let base = ev("sts.amazonaws.com", "AssumeRole");
        assert_eq!(map_event(&base).class, EventClass::Used);
        for t in [
            "AwsServiceEvent",
            "AwsCloudTrailInsight",
            "AwsConsoleSignIn",
            "awsconsoleaction",
            "AwsVpceEvent",
        ] {
            let m = map_event(&EventRef {
                event_type: Some(t),
                ..base
            });
            assert_eq!(m.class, EventClass::NotEvidence, "{t}");
            assert_eq!(m.actions, ["sts:AssumeRole"], "what it was, for the record");
        }
        let svc = map_event(&EventRef {
            identity_type: Some("AWSService"),
            ..base
        });
        assert_eq!(svc.class, EventClass::NotEvidence);
        let login = map_event(&EventRef {
            event_type: Some("AwsConsoleSignIn"),
            ..ev(SIGNIN, "ConsoleLogin")
        });
        assert_eq!(
            (login.class, login.rule),
            (EventClass::NotEvidence, "not-evidence")
        );
        let unknown_service_event = map_event(&EventRef {
            event_type: Some("AwsServiceEvent"),
            ..ev("x.amazonaws.com", "Y")
        });
        assert_eq!(
            (unknown_service_event.class, unknown_service_event.rule),
            (EventClass::NotEvidence, "not-evidence")
        );

        for code in [
            "AccessDenied",
            "AccessDeniedException",
            "UnauthorizedOperation",
            "Client.UnauthorizedOperation",
            "client.unauthorizedoperation",
            "accessdenied",
            "AuthorizationError",
        ] {
            let m = map_event(&EventRef {
                error_code: Some(code),
                ..base
            });
            assert_eq!(m.class, EventClass::Denied, "{code}");
            assert_eq!(m.actions, ["sts:AssumeRole"], "attempted actions are kept");
        }
        for code in [
            "NoSuchEntity",
            "ThrottlingException",
            "ValidationException",
            "InvalidClientTokenId.Foo",
            "AccessDeniedish",
        ] {
            assert_eq!(
                map_event(&EventRef {
                    error_code: Some(code),
                    ..base
                })
                .class,
                EventClass::Used,
                "{code}"
            );
        }
        for code in [
            "ExpiredToken",
            "RequestExpired",
            "CloudTrailInvalidClientTokenIdException",
            "InvalidClientTokenId",
            "Client.AuthFailure",
            "SignatureDoesNotMatch",
        ] {
            let m = map_event(&EventRef {
                error_code: Some(code),
                ..base
            });
            assert_eq!(
                (m.class, m.rule),
                (EventClass::NotEvidence, "authentication-failure"),
                "{code}"
            );
            assert!(!is_authorization_failure(code), "{code}");
        }
        // DryRun success: authorization passed.
        assert_eq!(
            map_event(&EventRef {
                error_code: Some("Client.DryRunOperation"),
                ..ev("ec2.amazonaws.com", "RunInstances")
            })
            .class,
            EventClass::Used
        );
        // Permission-free calls stay permission-free even if a policy denies them.
        let who = map_event(&EventRef {
            error_code: Some("AccessDenied"),
            ..ev("sts.amazonaws.com", "GetCallerIdentity")
        });
        assert_eq!(who.class, EventClass::NoPermission);
        // Unmapped beats denied: nothing to attribute the attempt to.
        let odd = map_event(&EventRef {
            error_code: Some("AccessDenied"),
            ..ev("nosuch.amazonaws.com", "X")
        });
        assert_eq!(odd.class, EventClass::Unmapped);
        let names: Vec<_> = [
            EventClass::Used,
            EventClass::Denied,
            EventClass::NoPermission,
            EventClass::NotEvidence,
            EventClass::Unmapped,
        ]
        .iter()
        .map(|c| c.as_str())
        .collect();
        assert_eq!(
            names,
            [
                "used",
                "denied",
                "no-permission",
                "not-evidence",
                "unmapped"
            ]
        );
    }

    #[test]
    fn table_parser_rejects_bad_rows() {
        let head = "event_source\tevent_name\tactions\tclass\tsource\n";
        assert!(parse_table(head).is_ok());
        for bad in [
            String::new(),
            "a\tb\n".to_owned(),
            format!("{head}s3.amazonaws.com\tX\ts3:GetObject\trename\n"),
            format!("{head}s3.amazonaws.com\tX\ts3:GetObject\tmystery\tsrc\n"),
            format!("{head}s3.amazonaws.com\tX\ts3:GetObject\trename\t \n"),
            format!(
                "{head}s3.amazonaws.com\tX\ts3:GetObject\trename\tsrc\ns3.amazonaws.com\tX\ts3:PutObject\trename\tsrc\n"
            ),
            format!("{head}x.amazonaws.com\t*\ty\tprefix\tsrc\n"),
            format!("{head}x.amazonaws.com\t*\ty:*\trename\tsrc\n"),
            format!("{head}x.amazonaws.com\tX\ty:*\tprefix\tsrc\n"),
            format!("{head}x.amazonaws.com\tA*B*\ty:Z\trename\tsrc\n"),
            format!("{head}x.amazonaws.com\tA\ty:Z\tby-version-id\tsrc\n"),
            format!("{head}x.amazonaws.com\tA\ty:Z,y:W\tpasses-role\tsrc\n"),
        ] {
            assert!(parse_table(&bad).is_err(), "{bad:?}");
        }
    }
}
