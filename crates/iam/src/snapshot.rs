//! `aws iam get-account-authorization-details` output: roles, users, groups and managed
//! policies of one account, parsed from one or more pages.
//!
//! Tolerant of shape drift: missing or `null` lists are empty, a single object stands for a
//! one-element list (the aws-cli example prints `AttachedManagedPolicies` that way for groups),
//! policy documents may be objects or (URL-encoded) strings, unknown keys are ignored.
//!
//! One unusable document does not sink the snapshot: it is left out and recorded in
//! [`Snapshot::issues`], which callers must report (a skipped policy means permissions are
//! under-counted).

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor, value::MapAccessDeserializer};
use serde_json::Value;

use crate::policy::PolicyDocument;
use crate::{Error, Result, arn, time};

/// The authorization details of one account, possibly merged from several pages.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// `RoleDetailList`.
    pub roles: Vec<Role>,
    /// `Policies`: customer-managed policies, and AWS-managed ones only when attached (or
    /// fetched with `--filter AWSManagedPolicy`).
    pub policies: Vec<ManagedPolicy>,
    /// `UserDetailList`.
    pub users: Vec<User>,
    /// `GroupDetailList`.
    pub groups: Vec<Group>,
    /// Entries or documents left out, each naming the entity.
    pub issues: Vec<Error>,
    /// `IsTruncated` of the last page: `true` means pages are missing.
    pub is_truncated: bool,
    /// `Marker` of the last page.
    pub marker: Option<String>,
    policy_index: HashMap<String, usize>,
}

/// An IAM role.
#[derive(Debug, Clone, PartialEq)]
pub struct Role {
    /// `Arn`.
    pub arn: String,
    /// `RoleName`.
    pub name: String,
    /// `Path`.
    pub path: String,
    /// `RoleId` (`AROA...`).
    pub role_id: String,
    /// The account, from the ARN.
    pub account_id: String,
    /// `CreateDate` as written (epoch numbers become RFC 3339).
    pub create_date: Option<String>,
    /// `AssumeRolePolicyDocument`; `None` if absent or unusable (see [`Snapshot::issues`]).
    pub trust: Option<PolicyDocument>,
    /// `RolePolicyList`.
    pub inline: Vec<InlinePolicy>,
    /// `AttachedManagedPolicies`.
    pub attached: Vec<AttachedPolicy>,
    /// `PermissionsBoundary.PermissionsBoundaryArn`.
    pub boundary_arn: Option<String>,
    /// `RoleLastUsed`, when it has a date (IAM tracks the trailing 400 days only).
    pub last_used: Option<LastUsed>,
    /// `Tags` as (key, value).
    pub tags: Vec<(String, String)>,
}

/// An IAM user.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    /// `Arn`.
    pub arn: String,
    /// `UserName`.
    pub name: String,
    /// `UserId` (`AIDA...`).
    pub user_id: String,
    /// `Path`.
    pub path: String,
    /// `GroupList`: group names.
    pub groups: Vec<String>,
    /// `UserPolicyList`.
    pub inline: Vec<InlinePolicy>,
    /// `AttachedManagedPolicies`.
    pub attached: Vec<AttachedPolicy>,
    /// `PermissionsBoundary.PermissionsBoundaryArn`.
    pub boundary_arn: Option<String>,
}

/// An IAM group.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// `Arn`.
    pub arn: String,
    /// `GroupName`.
    pub name: String,
    /// `GroupId`.
    pub group_id: String,
    /// `Path`.
    pub path: String,
    /// `GroupPolicyList`.
    pub inline: Vec<InlinePolicy>,
    /// `AttachedManagedPolicies`.
    pub attached: Vec<AttachedPolicy>,
}

/// An inline policy.
#[derive(Debug, Clone, PartialEq)]
pub struct InlinePolicy {
    /// `PolicyName`.
    pub name: String,
    /// `PolicyDocument`.
    pub document: PolicyDocument,
}

/// A reference to an attached managed policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachedPolicy {
    /// `PolicyName`.
    pub name: String,
    /// `PolicyArn`.
    pub arn: String,
}

/// `RoleLastUsed`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastUsed {
    /// `LastUsedDate`.
    pub date: String,
    /// `Region`.
    pub region: Option<String>,
}

/// A managed policy with its default version.
#[derive(Debug, Clone, PartialEq)]
pub struct ManagedPolicy {
    /// `Arn`.
    pub arn: String,
    /// `PolicyName`.
    pub name: String,
    /// `DefaultVersionId`.
    pub default_version_id: Option<String>,
    /// The document of the version with `IsDefaultVersion: true` (else the one matching
    /// `DefaultVersionId`); `None` if absent or unusable.
    pub default_document: Option<PolicyDocument>,
}

/// Where a policy that applies to a role comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicySource<'a> {
    /// An inline policy, by name.
    Inline(&'a str),
    /// An attached managed policy, by ARN.
    Managed(&'a str),
    /// The permissions boundary, by ARN.
    Boundary(&'a str),
}

/// The policies of a role, resolved against the snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved<'a> {
    /// Documents found, in order: inline, managed, boundary.
    pub documents: Vec<(PolicySource<'a>, &'a PolicyDocument)>,
    /// Managed or boundary policies whose document the snapshot lacks (typically AWS-managed
    /// policies of a filtered export).
    pub unresolved: Vec<PolicySource<'a>>,
}

impl Snapshot {
    /// One page of `get-account-authorization-details` JSON.
    pub fn parse(json: &[u8]) -> Result<Snapshot> {
        let page: RawPage = serde_json::from_slice(json).map_err(|source| Error::Json {
            what: "authorization details page",
            source,
        })?;
        let mut s = Snapshot {
            is_truncated: page.is_truncated.unwrap_or(false),
            marker: page.marker,
            ..Snapshot::default()
        };
        for r in page.role_detail_list {
            let entity = format!("role {}", r.arn);
            let Some(account_id) = arn::account_of(&r.arn).map(str::to_owned) else {
                s.issues.push(Error::InvalidArn(r.arn));
                continue;
            };
            let trust = r
                .assume_role_policy_document
                .and_then(|d| s.document(&entity, "trust policy", &d));
            let inline = s.inline(&entity, r.role_policy_list);
            s.roles.push(Role {
                name: r.role_name.unwrap_or_default(),
                path: r.path.unwrap_or_default(),
                role_id: r.role_id.unwrap_or_default(),
                account_id,
                create_date: r.create_date.as_ref().and_then(time::keep_or_normalise),
                trust,
                inline,
                attached: attached(r.attached_managed_policies),
                boundary_arn: r
                    .permissions_boundary
                    .and_then(|b| b.permissions_boundary_arn),
                last_used: r.role_last_used.and_then(|u| {
                    let date = time::keep_or_normalise(u.last_used_date.as_ref()?)?;
                    Some(LastUsed {
                        date,
                        region: u.region,
                    })
                }),
                tags: r
                    .tags
                    .into_iter()
                    .map(|t| (t.key, t.value.unwrap_or_default()))
                    .collect(),
                arn: r.arn,
            });
        }
        for p in page.policies {
            let default = p
                .policy_version_list
                .iter()
                .find(|v| v.is_default_version == Some(true))
                .or_else(|| {
                    p.policy_version_list
                        .iter()
                        .find(|v| v.version_id.is_some() && v.version_id == p.default_version_id)
                });
            let entity = format!("managed policy {}", p.arn);
            let default_document = default
                .and_then(|v| v.document.as_ref())
                .and_then(|d| s.document(&entity, "default version", d));
            s.policies.push(ManagedPolicy {
                name: p.policy_name.unwrap_or_default(),
                default_version_id: p.default_version_id,
                default_document,
                arn: p.arn,
            });
        }
        for u in page.user_detail_list {
            let inline = s.inline(&format!("user {}", u.arn), u.user_policy_list);
            s.users.push(User {
                name: u.user_name.unwrap_or_default(),
                user_id: u.user_id.unwrap_or_default(),
                path: u.path.unwrap_or_default(),
                groups: u.group_list,
                inline,
                attached: attached(u.attached_managed_policies),
                boundary_arn: u
                    .permissions_boundary
                    .and_then(|b| b.permissions_boundary_arn),
                arn: u.arn,
            });
        }
        for g in page.group_detail_list {
            let inline = s.inline(&format!("group {}", g.arn), g.group_policy_list);
            s.groups.push(Group {
                name: g.group_name.unwrap_or_default(),
                group_id: g.group_id.unwrap_or_default(),
                path: g.path.unwrap_or_default(),
                inline,
                attached: attached(g.attached_managed_policies),
                arn: g.arn,
            });
        }
        Ok(Snapshot::merge([s]))
    }

    /// Parses and merges several pages (in `Marker` order).
    pub fn from_pages(pages: &[&[u8]]) -> Result<Snapshot> {
        let parsed = pages.iter().enumerate().map(|(i, p)| {
            Snapshot::parse(p).map_err(|e| Error::Entity {
                entity: format!("page {}", i + 1),
                source: Box::new(e),
            })
        });
        Ok(Snapshot::merge(parsed.collect::<Result<Vec<_>>>()?))
    }

    /// Concatenates pages, keeping the first entry for each ARN; truncation state is the last
    /// page's.
    pub fn merge(pages: impl IntoIterator<Item = Snapshot>) -> Snapshot {
        fn keep<T>(
            seen: &mut HashSet<String>,
            out: &mut Vec<T>,
            items: Vec<T>,
            arn: impl Fn(&T) -> &str,
        ) {
            for item in items {
                if seen.insert(arn(&item).to_owned()) {
                    out.push(item);
                }
            }
        }
        let mut out = Snapshot::default();
        let mut seen = HashSet::new();
        for page in pages {
            keep(&mut seen, &mut out.roles, page.roles, |r| &r.arn);
            keep(&mut seen, &mut out.policies, page.policies, |p| &p.arn);
            keep(&mut seen, &mut out.users, page.users, |u| &u.arn);
            keep(&mut seen, &mut out.groups, page.groups, |g| &g.arn);
            out.issues.extend(page.issues);
            (out.is_truncated, out.marker) = (page.is_truncated, page.marker);
        }
        out.policy_index = out
            .policies
            .iter()
            .enumerate()
            .map(|(i, p)| (p.arn.clone(), i))
            .collect();
        out
    }

    /// The managed policy with this ARN, if the snapshot has it.
    pub fn policy(&self, arn: &str) -> Option<&ManagedPolicy> {
        self.policy_index.get(arn).map(|&i| &self.policies[i])
    }

    /// The role's policy documents: inline, attached managed (resolved by ARN), boundary.
    pub fn resolve<'a>(&'a self, role: &'a Role) -> Resolved<'a> {
        let mut r = Resolved {
            documents: Vec::new(),
            unresolved: Vec::new(),
        };
        r.documents.extend(
            role.inline
                .iter()
                .map(|p| (PolicySource::Inline(&p.name), &p.document)),
        );
        let managed = role.attached.iter().map(|a| PolicySource::Managed(&a.arn));
        for source in managed.chain(role.boundary_arn.as_deref().map(PolicySource::Boundary)) {
            let (PolicySource::Managed(arn)
            | PolicySource::Boundary(arn)
            | PolicySource::Inline(arn)) = source;
            match self.policy(arn).and_then(|p| p.default_document.as_ref()) {
                Some(doc) => r.documents.push((source, doc)),
                None => r.unresolved.push(source),
            }
        }
        r
    }

    fn document(&mut self, entity: &str, what: &str, value: &Value) -> Option<PolicyDocument> {
        PolicyDocument::from_value(value)
            .map_err(|e| {
                self.issues.push(Error::Entity {
                    entity: format!("{entity}, {what}"),
                    source: Box::new(e),
                })
            })
            .ok()
    }

    fn inline(&mut self, entity: &str, raw: Vec<RawInline>) -> Vec<InlinePolicy> {
        let mut out = Vec::with_capacity(raw.len());
        for p in raw {
            let name = p.policy_name.unwrap_or_default();
            let doc = p
                .policy_document
                .and_then(|d| self.document(entity, &format!("inline policy {name:?}"), &d));
            out.extend(doc.map(|document| InlinePolicy { name, document }));
        }
        out
    }
}

fn attached(raw: Vec<RawAttached>) -> Vec<AttachedPolicy> {
    raw.into_iter()
        .map(|a| AttachedPolicy {
            name: a.policy_name.unwrap_or_default(),
            arn: a.policy_arn,
        })
        .collect()
}

// Wire shapes. Strings are optional because SDK dumps sometimes print `null`.

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawPage {
    #[serde(default, deserialize_with = "list")]
    role_detail_list: Vec<RawRole>,
    #[serde(default, deserialize_with = "list")]
    policies: Vec<RawPolicy>,
    #[serde(default, deserialize_with = "list")]
    user_detail_list: Vec<RawUser>,
    #[serde(default, deserialize_with = "list")]
    group_detail_list: Vec<RawGroup>,
    is_truncated: Option<bool>,
    marker: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawRole {
    arn: String,
    role_name: Option<String>,
    path: Option<String>,
    role_id: Option<String>,
    create_date: Option<Value>,
    assume_role_policy_document: Option<Value>,
    #[serde(default, deserialize_with = "list")]
    role_policy_list: Vec<RawInline>,
    #[serde(default, deserialize_with = "list")]
    attached_managed_policies: Vec<RawAttached>,
    permissions_boundary: Option<RawBoundary>,
    #[serde(default, deserialize_with = "list")]
    tags: Vec<RawTag>,
    role_last_used: Option<RawLastUsed>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawUser {
    arn: String,
    user_name: Option<String>,
    user_id: Option<String>,
    path: Option<String>,
    #[serde(default, deserialize_with = "list")]
    group_list: Vec<String>,
    #[serde(default, deserialize_with = "list")]
    user_policy_list: Vec<RawInline>,
    #[serde(default, deserialize_with = "list")]
    attached_managed_policies: Vec<RawAttached>,
    permissions_boundary: Option<RawBoundary>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawGroup {
    arn: String,
    group_name: Option<String>,
    group_id: Option<String>,
    path: Option<String>,
    #[serde(default, deserialize_with = "list")]
    group_policy_list: Vec<RawInline>,
    #[serde(default, deserialize_with = "list")]
    attached_managed_policies: Vec<RawAttached>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawPolicy {
    arn: String,
    policy_name: Option<String>,
    default_version_id: Option<String>,
    #[serde(default, deserialize_with = "list")]
    policy_version_list: Vec<RawVersion>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawVersion {
    document: Option<Value>,
    version_id: Option<String>,
    is_default_version: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawInline {
    policy_name: Option<String>,
    policy_document: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawAttached {
    policy_name: Option<String>,
    policy_arn: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawBoundary {
    permissions_boundary_arn: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawTag {
    key: String,
    value: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawLastUsed {
    last_used_date: Option<Value>,
    region: Option<String>,
}

/// A list that may also arrive as `null` or as a single object.
fn list<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    struct ListVisitor<T>(PhantomData<T>);
    impl<'de, T: Deserialize<'de>> Visitor<'de> for ListVisitor<T> {
        type Value = Vec<T>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an array, a single object, or null")
        }
        fn visit_unit<E: de::Error>(self) -> Result<Vec<T>, E> {
            Ok(Vec::new())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
            while let Some(item) = seq.next_element()? {
                out.push(item);
            }
            Ok(out)
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Vec<T>, A::Error> {
            T::deserialize(MapAccessDeserializer::new(map)).map(|one| vec![one])
        }
    }
    d.deserialize_any(ListVisitor(PhantomData))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tolerates_shape_drift() {
        let page = br#"{"RoleDetailList":[{"Arn":"arn:aws:iam::111122223333:role/r","RoleName":"r",
            "RolePolicyList":null,"AttachedManagedPolicies":{"PolicyName":"P","PolicyArn":"arn:aws:iam::aws:policy/P"},
            "PermissionsBoundary":{"PermissionsBoundaryType":"Policy","PermissionsBoundaryArn":"arn:aws:iam::111122223333:policy/B"},
            "RoleLastUsed":{"LastUsedDate":1700000000,"Region":"eu-west-1"},"Tags":[{"Key":"team","Value":"x"}],
            "CreateDate":"2020-01-01T00:00:00Z","Unknown":{"a":1},
            "AssumeRolePolicyDocument":{"Statement":{"Effect":"allow","Action":"sts:AssumeRole"}}},
            {"Arn":"not-an-arn"}],
          "Policies":[{"Arn":"arn:aws:iam::111122223333:policy/B","DefaultVersionId":"v2","PolicyVersionList":[
            {"VersionId":"v1","Document":{"Statement":[]}},
            {"VersionId":"v2","Document":"%7B%22Statement%22%3A%5B%5D%7D"}]}]}"#;
        let s = Snapshot::parse(page).unwrap();
        assert_eq!(s.roles.len(), 1);
        let r = &s.roles[0];
        assert_eq!(
            (r.account_id.as_str(), r.trust.is_none()),
            ("111122223333", true)
        );
        assert_eq!(
            r.last_used,
            Some(LastUsed {
                date: "2023-11-14T22:13:20Z".into(),
                region: Some("eu-west-1".into())
            })
        );
        assert_eq!(r.tags, [("team".to_string(), "x".to_string())]);
        let issues: Vec<String> = s.issues.iter().map(ToString::to_string).collect();
        assert_eq!(
            issues,
            [
                "role arn:aws:iam::111122223333:role/r, trust policy",
                "not an IAM ARN with an account: \"not-an-arn\""
            ]
        );
        let resolved = s.resolve(r);
        assert_eq!(
            resolved.unresolved,
            [PolicySource::Managed("arn:aws:iam::aws:policy/P")]
        );
        assert_eq!(resolved.documents.len(), 1);
        assert_eq!(
            resolved.documents[0].0,
            PolicySource::Boundary("arn:aws:iam::111122223333:policy/B")
        );
        assert!(Snapshot::parse(b"[]").is_err());
    }
}
