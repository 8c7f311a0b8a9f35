//! IAM snapshots (`aws iam get-account-authorization-details`) -> the `roles`, `role_trust`
//! and `role_policies` tables.
//!
//! External IDs in trust conditions are secrets in practice: they leave this module only as
//! fingerprints (and lengths), and the trust policy kept as text has them replaced by
//! `redacted:<fingerprint>`.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Int32Builder, ListBuilder, StringBuilder, TimestampMillisecondBuilder,
};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use crosstrail_iam::policy::{ActionSpec, PolicyDocument, ResourceSpec, Statement};
use crosstrail_iam::snapshot::{PolicySource, Role, Snapshot};
use crosstrail_iam::trust::trust_principals;
use serde_json::Value;

use crate::normalize::{Fingerprinter, parse_timestamp};
use crate::schema::Table;

/// One parsed snapshot file.
#[derive(Debug)]
pub struct SnapshotFile {
    /// Where it came from (path or URL), stored in `source_object`.
    pub source: String,
    /// Its roles, policies and issues.
    pub snapshot: Snapshot,
    /// Trust policies as JSON text by role ARN, as the file had them (decoded when they were
    /// URL-encoded strings); redacted before they are stored.
    pub trust_text: HashMap<String, String>,
}

/// Why a snapshot file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// Not JSON.
    #[error("invalid JSON")]
    Json(#[source] serde_json::Error),
    /// JSON, but not get-account-authorization-details output.
    #[error("not `aws iam get-account-authorization-details` output")]
    Shape(#[source] crosstrail_iam::Error),
}

impl SnapshotFile {
    /// Parses one file (one page of output).
    pub fn parse(source: &str, bytes: &[u8]) -> Result<Self, SnapshotError> {
        let value: Value = serde_json::from_slice(bytes).map_err(SnapshotError::Json)?;
        let snapshot = Snapshot::parse(bytes).map_err(SnapshotError::Shape)?;
        let mut trust_text = HashMap::new();
        if let Some(roles) = value.get("RoleDetailList").and_then(Value::as_array) {
            for role in roles {
                let (Some(arn), Some(doc)) = (
                    role.get("Arn").and_then(Value::as_str),
                    role.get("AssumeRolePolicyDocument"),
                ) else {
                    continue;
                };
                let text = match doc {
                    Value::String(s) if s.trim_start().starts_with('%') => {
                        percent_encoding::percent_decode_str(s)
                            .decode_utf8_lossy()
                            .into_owned()
                    }
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                trust_text.insert(arn.to_string(), text);
            }
        }
        Ok(SnapshotFile {
            source: source.to_string(),
            snapshot,
            trust_text,
        })
    }
}

/// The rows of the three IAM tables for a set of snapshot files (pages of one or several
/// accounts, merged: managed policies of one page resolve roles of another).
pub fn iam_batches(
    files: Vec<SnapshotFile>,
    fp: &Fingerprinter,
) -> Result<Vec<(Table, RecordBatch)>, ArrowError> {
    // The first file naming a role is where it came from (merging keeps the first entry too).
    let mut source_of: HashMap<String, String> = HashMap::new();
    let mut trust_of: HashMap<String, String> = HashMap::new();
    let mut snapshots = Vec::with_capacity(files.len());
    for f in files {
        for r in &f.snapshot.roles {
            source_of
                .entry(r.arn.clone())
                .or_insert_with(|| f.source.clone());
        }
        for (arn, text) in f.trust_text {
            trust_of.entry(arn).or_insert(text);
        }
        snapshots.push(f.snapshot);
    }
    let merged = Snapshot::merge(snapshots);
    let mut roles = RoleCols::default();
    let mut trust = TrustCols::default();
    let mut policies = PolicyCols::default();
    for role in &merged.roles {
        let source = source_of.get(&role.arn).map_or("", String::as_str);
        roles.push(
            role,
            trust_of.get(&role.arn).map(String::as_str),
            source,
            fp,
        );
        for p in trust_principals(role) {
            let t = &mut trust;
            t.account_id.append_value(&role.account_id);
            t.role_arn.append_value(&role.arn);
            t.role_name.append_value(&role.name);
            t.statement_index.append_value(p.statement_index as i32);
            t.effect.append_value(p.effect.as_str());
            t.not_principal.append_value(p.not_principal);
            t.principal_type.append_value(p.principal_type.as_str());
            t.principal.append_value(&p.principal);
            t.principal_account_id
                .append_option(p.principal_account_id.as_deref());
            t.principal_kind.append_value(p.principal_kind.as_str());
            append_list(&mut t.actions, &p.actions);
            t.requires_external_id.append_value(p.requires_external_id);
            let fps: Vec<String> = p.external_ids.iter().map(|id| fp.fingerprint(id)).collect();
            append_list(&mut t.external_id_fingerprints, &fps);
            for id in &p.external_ids {
                t.external_id_lengths
                    .values()
                    .append_value(id.chars().count() as i32);
            }
            t.external_id_lengths.append(true);
            let conditions = p
                .conditions_without_external_id
                .as_ref()
                .map(|c| fp.redact_json(&c.to_string()).into_owned());
            t.conditions.append_option(conditions);
            append_list(&mut t.narrowing_conditions, &p.narrowing_conditions);
            t.source_object.append_value(source);
        }
        let resolved = merged.resolve(role);
        for (src, doc) in &resolved.documents {
            policies.push_document(role, src, &merged, Some(doc), source, fp);
        }
        for src in &resolved.unresolved {
            policies.push_document(role, src, &merged, None, source, fp);
        }
    }
    Ok(vec![
        (Table::Roles, roles.finish()?),
        (Table::RoleTrust, trust.finish()?),
        (Table::RolePolicies, policies.finish()?),
    ])
}

fn append_list(b: &mut ListBuilder<StringBuilder>, items: &[String]) {
    for i in items {
        b.values().append_value(i);
    }
    b.append(true);
}

fn list() -> ListBuilder<StringBuilder> {
    ListBuilder::new(StringBuilder::new())
}

fn ts() -> TimestampMillisecondBuilder {
    TimestampMillisecondBuilder::new().with_timezone("UTC")
}

#[derive(Default)]
struct RoleCols {
    account_id: StringBuilder,
    role_arn: StringBuilder,
    role_name: StringBuilder,
    role_id: StringBuilder,
    path: StringBuilder,
    created_at: Option<TimestampMillisecondBuilder>,
    trust_policy: StringBuilder,
    boundary: StringBuilder,
    last_used_at: Option<TimestampMillisecondBuilder>,
    last_used_region: StringBuilder,
    tags: StringBuilder,
    source_object: StringBuilder,
}

impl RoleCols {
    fn push(&mut self, r: &Role, trust: Option<&str>, source: &str, fp: &Fingerprinter) {
        self.account_id.append_value(&r.account_id);
        self.role_arn.append_value(&r.arn);
        self.role_name.append_value(&r.name);
        self.role_id.append_value(&r.role_id);
        self.path.append_value(&r.path);
        self.created_at
            .get_or_insert_with(ts)
            .append_option(r.create_date.as_deref().and_then(parse_timestamp));
        self.trust_policy
            .append_option(trust.map(|t| fp.redact_json(t).into_owned()));
        self.boundary.append_option(r.boundary_arn.as_deref());
        let last = r.last_used.as_ref();
        self.last_used_at
            .get_or_insert_with(ts)
            .append_option(last.and_then(|l| parse_timestamp(&l.date)));
        self.last_used_region
            .append_option(last.and_then(|l| l.region.as_deref()));
        let tags = (!r.tags.is_empty()).then(|| {
            let map: serde_json::Map<String, Value> = r
                .tags
                .iter()
                .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
                .collect();
            Value::Object(map).to_string()
        });
        self.tags.append_option(tags);
        self.source_object.append_value(source);
    }

    fn finish(mut self) -> Result<RecordBatch, ArrowError> {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.account_id.finish()),
            Arc::new(self.role_arn.finish()),
            Arc::new(self.role_name.finish()),
            Arc::new(self.role_id.finish()),
            Arc::new(self.path.finish()),
            Arc::new(self.created_at.get_or_insert_with(ts).finish()),
            Arc::new(self.trust_policy.finish()),
            Arc::new(self.boundary.finish()),
            Arc::new(self.last_used_at.get_or_insert_with(ts).finish()),
            Arc::new(self.last_used_region.finish()),
            Arc::new(self.tags.finish()),
            Arc::new(self.source_object.finish()),
        ];
        RecordBatch::try_new(Table::Roles.file_schema(), columns)
    }
}

struct TrustCols {
    account_id: StringBuilder,
    role_arn: StringBuilder,
    role_name: StringBuilder,
    statement_index: Int32Builder,
    effect: StringBuilder,
    not_principal: BooleanBuilder,
    principal_type: StringBuilder,
    principal: StringBuilder,
    principal_account_id: StringBuilder,
    principal_kind: StringBuilder,
    actions: ListBuilder<StringBuilder>,
    requires_external_id: BooleanBuilder,
    external_id_fingerprints: ListBuilder<StringBuilder>,
    external_id_lengths: ListBuilder<Int32Builder>,
    conditions: StringBuilder,
    narrowing_conditions: ListBuilder<StringBuilder>,
    source_object: StringBuilder,
}

impl Default for TrustCols {
    fn default() -> Self {
        TrustCols {
            account_id: StringBuilder::new(),
            role_arn: StringBuilder::new(),
            role_name: StringBuilder::new(),
            statement_index: Int32Builder::new(),
            effect: StringBuilder::new(),
            not_principal: BooleanBuilder::new(),
            principal_type: StringBuilder::new(),
            principal: StringBuilder::new(),
            principal_account_id: StringBuilder::new(),
            principal_kind: StringBuilder::new(),
            actions: list(),
            requires_external_id: BooleanBuilder::new(),
            external_id_fingerprints: list(),
            external_id_lengths: ListBuilder::new(Int32Builder::new()),
            conditions: StringBuilder::new(),
            narrowing_conditions: list(),
            source_object: StringBuilder::new(),
        }
    }
}

impl TrustCols {
    fn finish(mut self) -> Result<RecordBatch, ArrowError> {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.account_id.finish()),
            Arc::new(self.role_arn.finish()),
            Arc::new(self.role_name.finish()),
            Arc::new(self.statement_index.finish()),
            Arc::new(self.effect.finish()),
            Arc::new(self.not_principal.finish()),
            Arc::new(self.principal_type.finish()),
            Arc::new(self.principal.finish()),
            Arc::new(self.principal_account_id.finish()),
            Arc::new(self.principal_kind.finish()),
            Arc::new(self.actions.finish()),
            Arc::new(self.requires_external_id.finish()),
            Arc::new(self.external_id_fingerprints.finish()),
            Arc::new(self.external_id_lengths.finish()),
            Arc::new(self.conditions.finish()),
            Arc::new(self.narrowing_conditions.finish()),
            Arc::new(self.source_object.finish()),
        ];
        RecordBatch::try_new(Table::RoleTrust.file_schema(), columns)
    }
}

struct PolicyCols {
    account_id: StringBuilder,
    role_arn: StringBuilder,
    role_name: StringBuilder,
    policy_kind: StringBuilder,
    policy_name: StringBuilder,
    policy_arn: StringBuilder,
    policy_resolved: BooleanBuilder,
    statement_index: Int32Builder,
    sid: StringBuilder,
    effect: StringBuilder,
    actions: ListBuilder<StringBuilder>,
    not_actions: ListBuilder<StringBuilder>,
    resources: ListBuilder<StringBuilder>,
    not_resources: ListBuilder<StringBuilder>,
    conditions: StringBuilder,
    source_object: StringBuilder,
}

impl Default for PolicyCols {
    fn default() -> Self {
        PolicyCols {
            account_id: StringBuilder::new(),
            role_arn: StringBuilder::new(),
            role_name: StringBuilder::new(),
            policy_kind: StringBuilder::new(),
            policy_name: StringBuilder::new(),
            policy_arn: StringBuilder::new(),
            policy_resolved: BooleanBuilder::new(),
            statement_index: Int32Builder::new(),
            sid: StringBuilder::new(),
            effect: StringBuilder::new(),
            actions: list(),
            not_actions: list(),
            resources: list(),
            not_resources: list(),
            conditions: StringBuilder::new(),
            source_object: StringBuilder::new(),
        }
    }
}

fn optional_list(b: &mut ListBuilder<StringBuilder>, items: Option<&Vec<String>>) {
    match items {
        Some(items) => append_list(b, items),
        None => b.append(false),
    }
}

impl PolicyCols {
    fn push_document(
        &mut self,
        role: &Role,
        src: &PolicySource<'_>,
        snapshot: &Snapshot,
        doc: Option<&PolicyDocument>,
        source: &str,
        fp: &Fingerprinter,
    ) {
        let (kind, name, arn) = match src {
            PolicySource::Inline(name) => ("inline", Some((*name).to_string()), None),
            PolicySource::Managed(arn) => (
                "managed",
                snapshot.policy(arn).map(|p| p.name.clone()),
                Some(*arn),
            ),
            PolicySource::Boundary(arn) => (
                "boundary",
                snapshot.policy(arn).map(|p| p.name.clone()),
                Some(*arn),
            ),
        };
        let statements: Vec<Option<(usize, &Statement)>> = match doc {
            Some(d) => d.statements.iter().enumerate().map(Some).collect(),
            None => vec![None],
        };
        for st in statements {
            self.account_id.append_value(&role.account_id);
            self.role_arn.append_value(&role.arn);
            self.role_name.append_value(&role.name);
            self.policy_kind.append_value(kind);
            self.policy_name.append_option(name.as_deref());
            self.policy_arn.append_option(arn);
            self.policy_resolved.append_value(doc.is_some());
            self.source_object.append_value(source);
            let Some((i, st)) = st else {
                self.statement_index.append_null();
                self.sid.append_null();
                self.effect.append_null();
                for b in [
                    &mut self.actions,
                    &mut self.not_actions,
                    &mut self.resources,
                    &mut self.not_resources,
                ] {
                    b.append(false);
                }
                self.conditions.append_null();
                continue;
            };
            self.statement_index.append_value(i as i32);
            self.sid.append_option(st.sid.as_deref());
            self.effect.append_value(st.effect.as_str());
            let (action, not_action) = match &st.action {
                ActionSpec::Action(a) => (Some(a), None),
                ActionSpec::NotAction(a) => (None, Some(a)),
            };
            optional_list(&mut self.actions, action);
            optional_list(&mut self.not_actions, not_action);
            let (resource, not_resource) = match &st.resource {
                Some(ResourceSpec::Resource(r)) => (Some(r), None),
                Some(ResourceSpec::NotResource(r)) => (None, Some(r)),
                None => (None, None),
            };
            optional_list(&mut self.resources, resource);
            optional_list(&mut self.not_resources, not_resource);
            let conditions = st.condition.as_ref().map(|c| {
                fp.redact_json(&Value::Object(c.clone()).to_string())
                    .into_owned()
            });
            self.conditions.append_option(conditions);
        }
    }

    fn finish(mut self) -> Result<RecordBatch, ArrowError> {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.account_id.finish()),
            Arc::new(self.role_arn.finish()),
            Arc::new(self.role_name.finish()),
            Arc::new(self.policy_kind.finish()),
            Arc::new(self.policy_name.finish()),
            Arc::new(self.policy_arn.finish()),
            Arc::new(self.policy_resolved.finish()),
            Arc::new(self.statement_index.finish()),
            Arc::new(self.sid.finish()),
            Arc::new(self.effect.finish()),
            Arc::new(self.actions.finish()),
            Arc::new(self.not_actions.finish()),
            Arc::new(self.resources.finish()),
            Arc::new(self.not_resources.finish()),
            Arc::new(self.conditions.finish()),
            Arc::new(self.source_object.finish()),
        ];
        RecordBatch::try_new(Table::RolePolicies.file_schema(), columns)
    }
}
