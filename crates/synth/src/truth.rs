//! Ground truth: what the generated logs contain, for tests and the demo to check against.

use serde::{Deserialize, Serialize};

use crate::Spec;

/// Everything [`generate`](crate::generate) planted, also written to `out_dir/truth.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Truth {
    /// The spec that produced it.
    pub spec: Spec,
    /// Organization id (`o-…`), also the prefix of the organization-trail copy.
    pub org_id: String,
    /// Accounts of the organization, in file-layout order.
    pub own_accounts: Vec<OwnAccount>,
    /// Vendors, in the known_aws_accounts YAML shape (also in `out_dir/vendors.yaml`).
    pub vendors: Vec<VendorTruth>,
    /// Every role in the IAM snapshots.
    pub roles: Vec<RoleTruth>,
    /// Every vendor role session (including chained ones), in start order per window.
    pub sessions: Vec<SessionTruth>,
    /// `eventID`s of denied `AssumeRole` calls logged in our accounts (internal callers, and
    /// a vendor session trying a role it is not trusted by).
    pub failed_assume_role_event_ids: Vec<String>,
    /// The org-trail duplicate delivery: account id and the UTC dates (`YYYY-MM-DD`) of the
    /// delivery windows it covers.
    pub duplicate_delivery: DuplicateDelivery,
    /// Exact object and record counts.
    pub counts: Counts,
    /// `eventTime` of the earliest trail record (RFC 3339).
    pub first_event_time: String,
    /// `eventTime` of the latest trail record (RFC 3339).
    pub last_event_time: String,
}

/// One account of the organization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OwnAccount {
    /// 12-digit account id.
    pub id: String,
    /// Short name (`prod`, `staging`, `security`).
    pub name: String,
}

/// A vendor, shaped like an entry of fwdcloudsec/known_aws_accounts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VendorTruth {
    /// Display name.
    pub name: String,
    /// Its 12-digit account ids.
    pub accounts: Vec<String>,
    /// URLs documenting the accounts (a list, as in the YAML).
    pub source: Vec<String>,
}

/// Why a role exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RoleKind {
    /// Trusts a vendor account directly.
    Vendor,
    /// Trusts a vendor-assumed role in the same account (second hop of a role chain).
    Chain,
    /// Used by our own people and accounts.
    Internal,
    /// Assumed by an AWS service (service-linked and EC2 instance roles).
    Service,
}

/// A role and what is planted on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoleTruth {
    /// `arn:aws:iam::<acct>:role/<path><name>`.
    pub arn: String,
    /// Role name.
    pub name: String,
    /// Owning (own) account.
    pub account_id: String,
    /// Vendor name for vendor and chain roles.
    pub vendor: Option<String>,
    /// Whether the trust policy has an `sts:ExternalId` condition.
    pub external_id_required: bool,
    /// The External ID in clear (truth is test data).
    pub external_id: Option<String>,
    /// Kind of role.
    pub kind: RoleKind,
    /// Sessions only in the first 5 days of the span.
    pub inactive: bool,
    /// No sessions at all: present only in the IAM snapshot.
    pub never_used: bool,
}

/// One vendor session in one of our roles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionTruth {
    /// Vendor name.
    pub vendor: String,
    /// Vendor account that called `AssumeRole` (for chained sessions: of the first hop).
    pub vendor_account: String,
    /// Role assumed.
    pub role_arn: String,
    /// `ASIA…` key of the session; every action record carries it.
    pub temp_access_key_id: String,
    /// `eventID` of the `AssumeRole` record that created the session.
    pub assume_event_id: String,
    /// `eventTime` of that record (RFC 3339).
    pub start: String,
    /// `eventTime` of the last action (RFC 3339); equals `start` without actions.
    pub end: String,
    /// Records made with the session's key (a chained `AssumeRole` counts for the parent).
    pub actions: u32,
    /// Of those, how many carry an `errorCode`.
    pub errors: u32,
    /// For a chained session: the key of the session that assumed this role.
    pub parent_temp_access_key_id: Option<String>,
    /// `sourceIdentity` set on the session.
    pub source_identity: Option<String>,
    /// External ID passed in `requestParameters.externalId`.
    pub external_id: Option<String>,
}

/// Where the org-trail duplicates are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DuplicateDelivery {
    /// Own account whose logs are delivered twice.
    pub account_id: String,
    /// Dates (`YYYY-MM-DD`) of the delivery windows copied.
    pub dates: Vec<String>,
}

/// Exact counts of what is on disk. Byte counts cover `CloudTrail/` log objects only.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Distinct trail records (distinct `eventID`s).
    pub records: u64,
    /// Records across all log objects, org-trail copies included.
    pub records_written_total: u64,
    /// Records in the org-trail copies (`records_written_total - records`).
    pub duplicate_records: u64,
    /// `CloudTrail/` log objects, copies included.
    pub log_objects: u64,
    /// `CloudTrail-Digest/` objects.
    pub digest_objects: u64,
    /// `CloudTrail-Insight/` objects (their records are not counted above).
    pub insight_objects: u64,
    /// Inflated size of all log objects.
    pub uncompressed_bytes: u64,
    /// On-disk size of all log objects.
    pub compressed_bytes: u64,
}
