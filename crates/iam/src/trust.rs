//! Who may assume a role: one [`TrustPrincipal`] per (statement, principal value) of its trust
//! policy, classified, with the conditions that narrow who.
//!
//! Only statements whose actions cover an `sts:AssumeRole*`, `sts:TagSession`,
//! `sts:SetSourceIdentity` or `sts:SetContext` are read. Deny statements are reported too (see
//! [`TrustPrincipal::effect`]): whether they cancel an Allow is for reports to decide.

use std::fmt;

use serde_json::{Map, Value};

use crate::arn::{self, wildcard_match};
use crate::policy::{ActionSpec, Effect, PrincipalSpec, PrincipalType};
use crate::snapshot::Role;

/// Actions a trust policy grants to the principals that may become the role.
const ASSUME_ACTIONS: [&str; 7] = [
    "sts:AssumeRole",
    "sts:AssumeRoleWithSAML",
    "sts:AssumeRoleWithWebIdentity",
    "sts:AssumeRoot",
    "sts:TagSession",
    "sts:SetSourceIdentity",
    "sts:SetContext",
];

/// Public identity providers that appear bare (not as an ARN) under `Federated`.
const WEB_IDENTITY_PROVIDERS: [&str; 4] = [
    "cognito-identity.amazonaws.com",
    "accounts.google.com",
    "graph.facebook.com",
    "www.amazon.com",
];

/// Global condition keys that restrict which caller can use an otherwise wide grant.
const NARROWING_KEYS: [&str; 11] = [
    "aws:principalorgid",
    "aws:principalorgpaths",
    "aws:principalaccount",
    "aws:principalarn",
    "aws:userid",
    "aws:sourceaccount",
    "aws:sourcearn",
    "aws:sourceowner",
    "aws:sourceorgid",
    "aws:sourceorgpaths",
    "sts:externalid",
];

/// Claims of federated providers (`<provider>:sub`, `saml:aud`, ...) that pin the identity.
const FEDERATED_CLAIMS: [&str; 8] = [
    "sub", "aud", "azp", "amr", "oaud", "iss", "app_id", "user_id",
];

/// What a principal value names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrincipalKind {
    /// A whole account: `123456789012` or `arn:aws:iam::123456789012:root` (any of its
    /// principals that its own policies allow, not only root).
    Account,
    /// `arn:...:iam::<acct>:role/...`.
    Role,
    /// `arn:...:iam::<acct>:user/...`.
    User,
    /// `arn:...:sts::<acct>:assumed-role/<role>/<session>`.
    AssumedRoleSession,
    /// `arn:...:sts::<acct>:federated-user/<name>`.
    FederatedUser,
    /// `AROA...` / `AIDA...`: IAM replaced a deleted role/user ARN by its unique id; the grant
    /// is dead but shows a principal existed.
    UniqueId,
    /// An AWS service principal (`ec2.amazonaws.com`).
    Service,
    /// `arn:...:iam::<acct>:saml-provider/<name>`.
    SamlProvider,
    /// `arn:...:iam::<acct>:oidc-provider/<host>`.
    OidcProvider,
    /// A public web-identity provider (Cognito, Google, Facebook, Login with Amazon).
    WebIdentity,
    /// An S3 canonical user id.
    CanonicalUser,
    /// Anyone: `"*"`, `{"AWS": "*"}`, or an Allow with `NotPrincipal`.
    Public,
    /// Anything else, kept for review.
    Other,
}

impl PrincipalKind {
    /// A stable snake_case name for tables.
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalKind::Account => "account",
            PrincipalKind::Role => "role",
            PrincipalKind::User => "user",
            PrincipalKind::AssumedRoleSession => "assumed_role_session",
            PrincipalKind::FederatedUser => "federated_user",
            PrincipalKind::UniqueId => "unique_id",
            PrincipalKind::Service => "service",
            PrincipalKind::SamlProvider => "saml_provider",
            PrincipalKind::OidcProvider => "oidc_provider",
            PrincipalKind::WebIdentity => "web_identity",
            PrincipalKind::CanonicalUser => "canonical_user",
            PrincipalKind::Public => "public",
            PrincipalKind::Other => "other",
        }
    }
}

/// One principal of one trust-policy statement.
///
/// **`external_ids` holds External IDs in clear.** They are shared secrets in practice (the
/// confused-deputy guard between a vendor and its customers): fingerprint them before storing,
/// never print or log them. `Debug` redacts them and there is no `Display`/`Serialize`; the
/// role's [`PolicyDocument`](crate::policy::PolicyDocument) still holds them verbatim.
#[derive(Clone, PartialEq)]
pub struct TrustPrincipal {
    /// Index into the trust policy's `Statement` list (0-based).
    pub statement_index: usize,
    /// The statement's `Sid`.
    pub sid: Option<String>,
    /// Allow or Deny.
    pub effect: Effect,
    /// The principal map key (or [`PrincipalType::Any`] for a bare `"*"`).
    pub principal_type: PrincipalType,
    /// The value as written (for `not_principal`, the principal excluded).
    pub principal: String,
    /// The account named by the value; `None` for services, public IdPs, unique ids, `*`, and
    /// for `not_principal` entries.
    pub principal_account_id: Option<String>,
    /// What the value names.
    pub principal_kind: PrincipalKind,
    /// Came from `NotPrincipal`: with Allow it means "everyone except `principal`", so the
    /// kind is [`PrincipalKind::Public`].
    pub not_principal: bool,
    /// The statement's actions as written.
    pub actions: Vec<String>,
    /// `actions` are a `NotAction` list.
    pub not_action: bool,
    /// A condition demands a specific `sts:ExternalId` (`StringEquals`, `StringLike`,
    /// `StringEqualsIgnoreCase`, optionally `ForAnyValue:`; not `...IfExists`, not
    /// `ForAllValues:`, which both pass when the caller sends no External ID).
    pub requires_external_id: bool,
    /// The External IDs those conditions accept, in clear. SECRET: see the type's docs.
    pub external_ids: Vec<String>,
    /// The statement's `Condition` without any `sts:ExternalId` entry (operators left empty are
    /// dropped), for display; `None` if nothing is left.
    pub conditions_without_external_id: Option<Value>,
    /// Condition keys, as written, that restrict who can use the grant (`aws:PrincipalOrgID`,
    /// `aws:SourceAccount`, `sts:ExternalId`, `<provider>:sub`, ...), only under operators that
    /// must match (not negated, not `IfExists`, not `Null`, not `ForAllValues:`).
    pub narrowing_conditions: Vec<String>,
}

impl fmt::Debug for TrustPrincipal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrustPrincipal")
            .field("statement_index", &self.statement_index)
            .field("sid", &self.sid)
            .field("effect", &self.effect)
            .field("principal_type", &self.principal_type)
            .field("principal", &self.principal)
            .field("principal_account_id", &self.principal_account_id)
            .field("principal_kind", &self.principal_kind)
            .field("not_principal", &self.not_principal)
            .field("actions", &self.actions)
            .field("not_action", &self.not_action)
            .field("requires_external_id", &self.requires_external_id)
            .field(
                "external_ids",
                &format_args!("<{} redacted>", self.external_ids.len()),
            )
            .field(
                "conditions_without_external_id",
                &self.conditions_without_external_id,
            )
            .field("narrowing_conditions", &self.narrowing_conditions)
            .finish()
    }
}

/// The principals of `role`'s trust policy (empty if it has none).
pub fn trust_principals(role: &Role) -> Vec<TrustPrincipal> {
    let Some(doc) = &role.trust else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (index, st) in doc.statements.iter().enumerate() {
        let (actions, not_action) = match &st.action {
            ActionSpec::Action(a) => (a, false),
            ActionSpec::NotAction(a) => (a, true),
        };
        let covers = |action: &&str| actions.iter().any(|p| wildcard_match(p, action, true));
        // NotAction grants what it does not list, so it applies if any assume action is missing.
        if !ASSUME_ACTIONS.iter().any(|a| covers(a) != not_action) {
            continue;
        }
        let (spec, not_principal) = match (&st.principal, &st.not_principal) {
            (Some(p), _) => (p, false),
            (None, Some(p)) => (p, true),
            (None, None) => continue,
        };
        let values: Vec<(PrincipalType, &str)> = match spec {
            PrincipalSpec::Any => vec![(PrincipalType::Any, "*")],
            PrincipalSpec::Typed(typed) => typed
                .iter()
                .flat_map(|(ty, vals)| vals.iter().map(|v| (*ty, v.as_str())))
                .collect(),
        };
        let cond = st
            .condition
            .as_ref()
            .map(Conditions::of)
            .unwrap_or_default();
        for (principal_type, value) in values {
            let (kind, account) = classify_principal(principal_type, value);
            let (principal_kind, principal_account_id) = if not_principal {
                (PrincipalKind::Public, None)
            } else {
                (kind, account.map(str::to_owned))
            };
            out.push(TrustPrincipal {
                statement_index: index,
                sid: st.sid.clone(),
                effect: st.effect,
                principal_type,
                principal: value.to_owned(),
                principal_account_id,
                principal_kind,
                not_principal,
                actions: actions.clone(),
                not_action,
                requires_external_id: cond.requires_external_id,
                external_ids: cond.external_ids.clone(),
                conditions_without_external_id: cond.without_external_id.clone(),
                narrowing_conditions: cond.narrowing.clone(),
            });
        }
    }
    out
}

/// What a principal value names, and the account it belongs to when it says so. Also usable
/// on observed callers (`userIdentity.arn`).
pub fn classify_principal(ty: PrincipalType, value: &str) -> (PrincipalKind, Option<&str>) {
    let resource = arn::resource_of(value).unwrap_or("");
    let account = arn::account_of(value);
    let kind = match ty {
        PrincipalType::Any => return (PrincipalKind::Public, None),
        PrincipalType::Service => return (PrincipalKind::Service, None),
        PrincipalType::CanonicalUser => return (PrincipalKind::CanonicalUser, None),
        PrincipalType::Aws if value == "*" => return (PrincipalKind::Public, None),
        PrincipalType::Aws if arn::is_account_id(value) => {
            return (PrincipalKind::Account, Some(value));
        }
        PrincipalType::Aws if is_unique_id(value) => return (PrincipalKind::UniqueId, None),
        PrincipalType::Federated
            if WEB_IDENTITY_PROVIDERS.contains(&value.to_ascii_lowercase().as_str()) =>
        {
            return (PrincipalKind::WebIdentity, None);
        }
        PrincipalType::Aws => match (
            arn::service_of(value),
            resource.split_once('/').map_or(resource, |p| p.0),
        ) {
            (Some("iam"), "root") => PrincipalKind::Account,
            (Some("iam"), "role") => PrincipalKind::Role,
            (Some("iam"), "user") => PrincipalKind::User,
            (Some("sts"), "assumed-role") => PrincipalKind::AssumedRoleSession,
            (Some("sts"), "federated-user") => PrincipalKind::FederatedUser,
            _ => PrincipalKind::Other,
        },
        PrincipalType::Federated if resource.starts_with("saml-provider/") => {
            PrincipalKind::SamlProvider
        }
        PrincipalType::Federated if resource.starts_with("oidc-provider/") => {
            PrincipalKind::OidcProvider
        }
        PrincipalType::Federated => PrincipalKind::Other,
    };
    (kind, account)
}

/// Role (`AROA`) and user (`AIDA`) unique ids: 4-letter prefix + upper-case base32-ish tail.
fn is_unique_id(s: &str) -> bool {
    (s.starts_with("AROA") || s.starts_with("AIDA"))
        && (16..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

#[derive(Default)]
struct Conditions {
    requires_external_id: bool,
    external_ids: Vec<String>,
    without_external_id: Option<Value>,
    narrowing: Vec<String>,
}

impl Conditions {
    fn of(condition: &Map<String, Value>) -> Conditions {
        let mut c = Conditions::default();
        let mut kept = Map::new();
        for (operator, entries) in condition {
            let Value::Object(entries) = entries else {
                kept.insert(operator.clone(), entries.clone());
                continue;
            };
            let op = operator.to_ascii_lowercase();
            let (qualifier, base) = op.split_once(':').unwrap_or(("", &op));
            let if_exists = base.ends_with("ifexists");
            // An absent key satisfies IfExists, Null and ForAllValues operators; negated ones
            // exclude some callers without naming the allowed ones.
            let must_match = !if_exists
                && base != "null"
                && !base.contains("not")
                && qualifier != "forallvalues";
            let demands_external_id = must_match
                && matches!(
                    base,
                    "stringequals" | "stringequalsignorecase" | "stringlike"
                );
            let mut rest = Map::new();
            for (key, value) in entries {
                let lower = key.to_ascii_lowercase();
                if lower == "sts:externalid" {
                    if demands_external_id {
                        c.requires_external_id = true;
                        c.external_ids.extend(strings(value));
                    }
                } else {
                    rest.insert(key.clone(), value.clone());
                }
                if must_match
                    && is_narrowing(&lower)
                    && !c.narrowing.iter().any(|n| n.eq_ignore_ascii_case(key))
                {
                    c.narrowing.push(key.clone());
                }
            }
            if !rest.is_empty() {
                kept.insert(operator.clone(), Value::Object(rest));
            }
        }
        c.without_external_id = (!kept.is_empty()).then_some(Value::Object(kept));
        c
    }
}

fn is_narrowing(lower_key: &str) -> bool {
    NARROWING_KEYS.contains(&lower_key)
        || lower_key.rsplit_once(':').is_some_and(|(provider, claim)| {
            !provider.is_empty()
                && provider != "aws"
                && provider != "sts"
                && FEDERATED_CLAIMS.contains(&claim)
        })
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::Array(items) => items.iter().flat_map(strings).collect(),
        Value::String(s) => vec![s.clone()],
        Value::Null => Vec::new(),
        other => vec![other.to_string()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::PolicyDocument;
    use serde_json::json;

    fn role(trust: Value) -> Role {
        Role {
            arn: "arn:aws:iam::111122223333:role/r".into(),
            name: "r".into(),
            path: "/".into(),
            role_id: "AROAEXAMPLE".into(),
            account_id: "111122223333".into(),
            create_date: None,
            trust: Some(PolicyDocument::from_value(&trust).unwrap()),
            inline: Vec::new(),
            attached: Vec::new(),
            boundary_arn: None,
            last_used: None,
            tags: Vec::new(),
        }
    }

    fn one(principal: Value, action: Value, condition: Value) -> Vec<TrustPrincipal> {
        let mut st = json!({"Effect": "Allow", "Principal": principal, "Action": action});
        if !condition.is_null() {
            st["Condition"] = condition;
        }
        trust_principals(&role(json!({"Statement": [st]})))
    }

    #[test]
    fn every_principal_form_is_classified() {
        use PrincipalKind::*;
        use PrincipalType::{Aws, CanonicalUser as Canonical, Federated, Service as Svc};
        const ACCT: Option<&str> = Some("123456789012");
        let cases = [
            (Aws, "123456789012", Account, ACCT),
            (Aws, "arn:aws:iam::123456789012:root", Account, ACCT),
            (Aws, "arn:aws-cn:iam::123456789012:role/path/R", Role, ACCT),
            (Aws, "arn:aws-us-gov:iam::123456789012:user/u", User, ACCT),
            (
                Aws,
                "arn:aws:sts::123456789012:assumed-role/R/s",
                AssumedRoleSession,
                ACCT,
            ),
            (
                Aws,
                "arn:aws:sts::123456789012:federated-user/bob",
                FederatedUser,
                ACCT,
            ),
            (Aws, "AROADBQP57FF2AEXAMPLE", UniqueId, None),
            (Aws, "AIDACKCEVSQ6C2EXAMPLE", UniqueId, None),
            (Aws, "*", Public, None),
            (Aws, "arn:aws:iam::123456789012:group/g", Other, ACCT),
            (Svc, "ec2.amazonaws.com", Service, None),
            (
                Federated,
                "arn:aws:iam::123456789012:saml-provider/Okta",
                SamlProvider,
                ACCT,
            ),
            (
                Federated,
                "arn:aws:iam::123456789012:oidc-provider/oidc.example",
                OidcProvider,
                ACCT,
            ),
            (
                Federated,
                "cognito-identity.amazonaws.com",
                WebIdentity,
                None,
            ),
            (Federated, "accounts.google.com", WebIdentity, None),
            (Federated, "graph.facebook.com", WebIdentity, None),
            (Federated, "www.amazon.com", WebIdentity, None),
            (
                Canonical,
                "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be",
                CanonicalUser,
                None,
            ),
        ];
        // All values in one statement, so the principal map's string-or-array handling runs too.
        let mut principal = Map::new();
        for (ty, value, ..) in &cases {
            let slot = principal.entry(ty.as_str()).or_insert_with(|| json!([]));
            slot.as_array_mut().unwrap().push(json!(value));
        }
        let got = one(
            Value::Object(principal),
            json!("sts:AssumeRole*"),
            Value::Null,
        );
        assert_eq!(got.len(), cases.len());
        for (ty, value, kind, account) in cases {
            let p = got.iter().find(|p| p.principal == value).unwrap();
            assert_eq!((p.principal_type, p.principal_kind), (ty, kind), "{value}");
            assert_eq!(p.principal_account_id.as_deref(), account, "{value}");
        }
        let bare = one(json!("*"), json!("sts:AssumeRole"), Value::Null);
        assert_eq!(
            (bare[0].principal_type, bare[0].principal_kind),
            (PrincipalType::Any, Public)
        );
    }

    #[test]
    fn only_assume_statements_count() {
        let n = |action: Value| one(json!({"AWS": "123456789012"}), action, Value::Null).len();
        assert_eq!(n(json!("sts:AssumeRole")), 1);
        assert_eq!(n(json!(["STS:assumerole"])), 1);
        assert_eq!(n(json!("sts:*")), 1);
        assert_eq!(n(json!("*")), 1);
        assert_eq!(n(json!("sts:TagSession")), 1);
        assert_eq!(n(json!("sts:AssumeRoleWith*")), 1);
        assert_eq!(n(json!("sts:GetCallerIdentity")), 0);
        assert_eq!(n(json!("s3:GetObject")), 0);
        let not = |actions: Value| {
            trust_principals(&role(
                json!({"Statement": {"Effect": "Allow", "Principal": "*", "NotAction": actions}}),
            ))
            .len()
        };
        assert_eq!(not(json!("s3:*")), 1);
        assert_eq!(not(json!("sts:*")), 0);
    }

    #[test]
    fn external_id_conditions() {
        let p = json!({"AWS": "arn:aws:iam::444455556666:root"});
        let a = json!("sts:AssumeRole");
        let eq = one(
            p.clone(),
            a.clone(),
            json!({"StringEquals": {"sts:ExternalId": "abc", "aws:PrincipalOrgID": "o-1"}}),
        );
        assert!(eq[0].requires_external_id);
        assert_eq!(eq[0].external_ids, ["abc"]);
        assert_eq!(
            eq[0].conditions_without_external_id,
            Some(json!({"StringEquals": {"aws:PrincipalOrgID": "o-1"}}))
        );
        assert_eq!(
            eq[0].narrowing_conditions,
            ["aws:PrincipalOrgID", "sts:ExternalId"]
        );

        let like = one(
            p.clone(),
            a.clone(),
            json!({"StringLike": {"sts:externalid": ["a*", "b?"]}}),
        );
        assert!(like[0].requires_external_id);
        assert_eq!(like[0].external_ids, ["a*", "b?"]);
        assert_eq!(like[0].conditions_without_external_id, None);
        assert_eq!(like[0].narrowing_conditions, ["sts:externalid"]);

        let any = one(
            p.clone(),
            a.clone(),
            json!({"ForAnyValue:StringEquals": {"STS:EXTERNALID": ["x", "y"]}}),
        );
        assert_eq!(
            (any[0].requires_external_id, any[0].external_ids.len()),
            (true, 2)
        );

        for lax in [
            "StringEqualsIfExists",
            "ForAllValues:StringEquals",
            "StringNotEquals",
        ] {
            let got = one(
                p.clone(),
                a.clone(),
                json!({lax: {"sts:ExternalId": "s3cret"}}),
            );
            assert!(
                !got[0].requires_external_id && got[0].external_ids.is_empty(),
                "{lax}"
            );
            assert!(got[0].narrowing_conditions.is_empty(), "{lax}");
            assert_eq!(
                got[0].conditions_without_external_id, None,
                "{lax}: the value is still a secret"
            );
        }

        let oidc = one(
            json!({"Federated": "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com"}),
            json!("sts:AssumeRoleWithWebIdentity"),
            json!({"StringLike": {"token.actions.githubusercontent.com:sub": "repo:o/r:*"},
                   "StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"},
                   "Null": {"aws:SourceAccount": "false"}}),
        );
        assert_eq!(oidc[0].narrowing_conditions.len(), 2);
        assert!(!oidc[0].requires_external_id);
    }

    #[test]
    fn not_principal_and_deny() {
        let got = trust_principals(&role(json!({"Statement": [
            {"Effect": "Allow", "NotPrincipal": {"AWS": "arn:aws:iam::444455556666:root"}, "Action": "sts:AssumeRole"},
            {"Sid": "no", "Effect": "Deny", "Principal": {"AWS": ["1", "arn:aws:iam::777788889999:root"]}, "Action": "sts:AssumeRole"}]})));
        assert_eq!(got.len(), 3);
        assert!(got[0].not_principal);
        assert_eq!(
            (
                got[0].principal_kind,
                got[0].principal_account_id.as_deref()
            ),
            (PrincipalKind::Public, None)
        );
        assert_eq!(
            (got[2].effect, got[2].statement_index, got[2].sid.as_deref()),
            (Effect::Deny, 1, Some("no"))
        );
        assert_eq!(got[1].principal_kind, PrincipalKind::Other);
    }

    #[test]
    fn debug_redacts_external_ids() {
        let got = one(
            json!({"AWS": "444455556666"}),
            json!("sts:AssumeRole"),
            json!({"StringEquals": {"sts:ExternalId": ["very-secret-1", "very-secret-2"]}}),
        );
        let debug = format!("{:?} {:#?}", got[0], got);
        assert!(!debug.contains("very-secret"), "{debug}");
        assert!(debug.contains("<2 redacted>"));
    }
}
