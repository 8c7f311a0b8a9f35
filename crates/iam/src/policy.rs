//! IAM policy documents (identity, trust and resource policies).
//!
//! Accepts every shape AWS and the SDKs hand out: a JSON object, JSON text, or URL-encoded JSON
//! text (the IAM Query API returns policies RFC 3986-encoded, some SDKs decode them, some do
//! not); `Statement` as one object or an array; `Action`, `Resource` and principal values as a
//! string or an array. Unknown keys are ignored.
//!
//! `Effect` is case-sensitive, as in IAM: IAM rejects `"allow"`, so a document carrying it
//! never came from IAM and guessing its meaning would make our answers differ from AWS's.
//!
//! ```
//! use crosstrail_iam::policy::{ActionSpec, Effect, PolicyDocument};
//!
//! let doc = PolicyDocument::parse("%7B%22Statement%22%3A%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22s3%3AGet%2A%22%7D%7D")?;
//! assert_eq!(doc.statements[0].effect, Effect::Allow);
//! assert_eq!(doc.statements[0].action, ActionSpec::Action(vec!["s3:Get*".into()]));
//! # Ok::<(), crosstrail_iam::Error>(())
//! ```

use serde_json::{Map, Value};

use crate::{Error, Result};

/// A parsed policy document.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyDocument {
    /// `Version`, e.g. `2012-10-17`.
    pub version: Option<String>,
    /// `Id`, rarely used.
    pub id: Option<String>,
    /// The statements, in document order (a single-object `Statement` becomes one entry).
    pub statements: Vec<Statement>,
}

/// One statement.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    /// `Sid`, if present.
    pub sid: Option<String>,
    /// `Effect`.
    pub effect: Effect,
    /// `Action` or `NotAction`, values as written.
    pub action: ActionSpec,
    /// `Resource` or `NotResource`; absent in trust policies.
    pub resource: Option<ResourceSpec>,
    /// `Principal` (resource and trust policies).
    pub principal: Option<PrincipalSpec>,
    /// `NotPrincipal`.
    pub not_principal: Option<PrincipalSpec>,
    /// `Condition`, verbatim: operator -> key -> value(s).
    pub condition: Option<Map<String, Value>>,
}

/// `Allow` or `Deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Effect {
    /// `"Allow"`.
    Allow,
    /// `"Deny"`.
    Deny,
}

impl Effect {
    /// The IAM spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Allow => "Allow",
            Effect::Deny => "Deny",
        }
    }
}

/// `Action` or `NotAction`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionSpec {
    /// The statement applies to these action patterns.
    Action(Vec<String>),
    /// The statement applies to every action except these patterns.
    NotAction(Vec<String>),
}

/// `Resource` or `NotResource`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResourceSpec {
    /// The statement applies to these resource patterns.
    Resource(Vec<String>),
    /// The statement applies to every resource except these patterns.
    NotResource(Vec<String>),
}

/// A `Principal` / `NotPrincipal` element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrincipalSpec {
    /// `"*"`: everyone, authenticated or not.
    Any,
    /// `{"AWS": ..., "Service": ...}`, values as written, in key order.
    Typed(Vec<(PrincipalType, Vec<String>)>),
}

/// The key of a principal map; [`PrincipalType::Any`] stands for the bare `"*"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrincipalType {
    /// `AWS`: accounts, users, roles, sessions, unique ids, or `*`.
    Aws,
    /// `Service`: AWS service principals such as `ec2.amazonaws.com`.
    Service,
    /// `Federated`: SAML / OIDC providers and public web-identity providers.
    Federated,
    /// `CanonicalUser`: S3 canonical user ids.
    CanonicalUser,
    /// The bare `"Principal": "*"`.
    Any,
}

impl PrincipalType {
    /// The policy spelling (`AWS`, `Service`, ...; `*` for [`PrincipalType::Any`]).
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalType::Aws => "AWS",
            PrincipalType::Service => "Service",
            PrincipalType::Federated => "Federated",
            PrincipalType::CanonicalUser => "CanonicalUser",
            PrincipalType::Any => "*",
        }
    }
}

impl PolicyDocument {
    /// From JSON text, or URL-encoded JSON text (trimmed input starting with `%7B`).
    pub fn parse(text: &str) -> Result<Self> {
        let text = text.trim();
        let decoded;
        let json = if text.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("%7B")) {
            decoded = percent_encoding::percent_decode_str(text)
                .decode_utf8()
                .map_err(Error::PercentDecode)?;
            &*decoded
        } else {
            text
        };
        let value: Value = serde_json::from_str(json).map_err(|source| Error::Json {
            what: "policy document",
            source,
        })?;
        if value.is_string() {
            // Doubly encoded documents exist in the wild; one more level is enough.
            return match value {
                Value::String(inner) if !inner.trim_start().starts_with('"') => Self::parse(&inner),
                _ => Err(Error::Policy(
                    "document is a JSON string nested too deeply".into(),
                )),
            };
        }
        Self::from_value(&value)
    }

    /// From a JSON value: an object, or a string holding (URL-encoded) JSON text.
    pub fn from_value(value: &Value) -> Result<Self> {
        let map = match value {
            Value::String(text) => return Self::parse(text),
            Value::Object(map) => map,
            other => {
                return Err(Error::Policy(format!(
                    "document must be an object, found {}",
                    kind(other)
                )));
            }
        };
        let statements = match map.get("Statement") {
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, s)| statement(i, s))
                .collect::<Result<_>>()?,
            Some(one @ Value::Object(_)) => vec![statement(0, one)?],
            Some(other) => {
                return Err(Error::Policy(format!(
                    "Statement must be an object or an array, found {}",
                    kind(other)
                )));
            }
            None => return Err(Error::Policy("Statement is missing".into())),
        };
        Ok(PolicyDocument {
            version: map
                .get("Version")
                .and_then(Value::as_str)
                .map(str::to_owned),
            id: map.get("Id").and_then(Value::as_str).map(str::to_owned),
            statements,
        })
    }
}

fn statement(i: usize, value: &Value) -> Result<Statement> {
    let fail = |problem: String| Error::Policy(format!("Statement[{i}]: {problem}"));
    let Value::Object(m) = value else {
        return Err(fail(format!("must be an object, found {}", kind(value))));
    };
    let effect = match m.get("Effect") {
        Some(Value::String(s)) if s == "Allow" => Effect::Allow,
        Some(Value::String(s)) if s == "Deny" => Effect::Deny,
        Some(other) => return Err(fail(format!("Effect must be Allow or Deny, found {other}"))),
        None => return Err(fail("Effect is missing".into())),
    };
    let action = match either(m, "Action", "NotAction").map_err(fail)? {
        Some((true, v)) => ActionSpec::Action(v),
        Some((false, v)) => ActionSpec::NotAction(v),
        None => return Err(fail("needs Action or NotAction".into())),
    };
    let resource = either(m, "Resource", "NotResource")
        .map_err(fail)?
        .map(|(yes, v)| {
            if yes {
                ResourceSpec::Resource(v)
            } else {
                ResourceSpec::NotResource(v)
            }
        });
    let principal = principal_spec(m, "Principal").map_err(fail)?;
    let not_principal = principal_spec(m, "NotPrincipal").map_err(fail)?;
    if principal.is_some() && not_principal.is_some() {
        return Err(fail("has both Principal and NotPrincipal".into()));
    }
    let condition = match m.get("Condition") {
        Some(Value::Object(c)) => Some(c.clone()),
        Some(Value::Null) | None => None,
        Some(other) => {
            return Err(fail(format!(
                "Condition must be an object, found {}",
                kind(other)
            )));
        }
    };
    let sid = m
        .get("Sid")
        .map(|s| s.as_str().map_or_else(|| s.to_string(), str::to_owned));
    Ok(Statement {
        sid,
        effect,
        action,
        resource,
        principal,
        not_principal,
        condition,
    })
}

/// `key` or `not_key` (exactly one of them), as `(is_key, values)`.
fn either(
    m: &Map<String, Value>,
    key: &str,
    not_key: &str,
) -> Result<Option<(bool, Vec<String>)>, String> {
    match (m.get(key), m.get(not_key)) {
        (Some(_), Some(_)) => Err(format!("has both {key} and {not_key}")),
        (Some(v), None) => strings(key, v).map(|v| Some((true, v))),
        (None, Some(v)) => strings(not_key, v).map(|v| Some((false, v))),
        (None, None) => Ok(None),
    }
}

fn principal_spec(m: &Map<String, Value>, key: &str) -> Result<Option<PrincipalSpec>, String> {
    let map = match m.get(key) {
        None => return Ok(None),
        Some(Value::String(s)) if s == "*" => return Ok(Some(PrincipalSpec::Any)),
        Some(Value::Object(map)) => map,
        Some(other) => return Err(format!("{key} must be \"*\" or an object, found {other}")),
    };
    let mut typed = Vec::with_capacity(map.len());
    for (k, v) in map {
        let ty = match k.as_str() {
            "AWS" => PrincipalType::Aws,
            "Service" => PrincipalType::Service,
            "Federated" => PrincipalType::Federated,
            "CanonicalUser" => PrincipalType::CanonicalUser,
            other => return Err(format!("{key} has unknown principal type {other:?}")),
        };
        typed.push((ty, strings(&format!("{key}.{k}"), v)?));
    }
    Ok(Some(PrincipalSpec::Typed(typed)))
}

fn strings(key: &str, v: &Value) -> Result<Vec<String>, String> {
    let bad = || {
        format!(
            "{key} must be a string or an array of strings, found {}",
            kind(v)
        )
    };
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().map(str::to_owned).ok_or_else(bad))
            .collect(),
        _ => Err(bad()),
    }
}

/// A JSON value's kind, for messages.
pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn error(v: Value) -> String {
        PolicyDocument::from_value(&v).unwrap_err().to_string()
    }

    #[test]
    fn shapes() {
        let doc = PolicyDocument::from_value(&json!({"Version": "2012-10-17", "Statement": {
            "Sid": "one", "Effect": "Deny", "NotAction": "iam:*", "NotResource": ["arn:aws:s3:::b", "arn:aws:s3:::b/*"],
            "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "false"}}, "Extra": 1}}))
        .unwrap();
        let s = &doc.statements[0];
        assert_eq!((s.sid.as_deref(), s.effect), (Some("one"), Effect::Deny));
        assert_eq!(s.action, ActionSpec::NotAction(vec!["iam:*".into()]));
        assert_eq!(
            s.resource,
            Some(ResourceSpec::NotResource(vec![
                "arn:aws:s3:::b".into(),
                "arn:aws:s3:::b/*".into()
            ]))
        );
        assert_eq!(
            s.condition.as_ref().unwrap()["Bool"],
            json!({"aws:MultiFactorAuthPresent": "false"})
        );

        let trust = PolicyDocument::from_value(&json!({"Statement": [{"Effect": "Allow", "Action": ["sts:AssumeRole"],
            "Principal": {"AWS": ["111122223333", "arn:aws:iam::444455556666:root"], "Service": "ec2.amazonaws.com"}},
            {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": "*"}]}))
        .unwrap();
        let PrincipalSpec::Typed(p) = trust.statements[0].principal.as_ref().unwrap() else {
            panic!()
        };
        assert_eq!(
            p[0],
            (
                PrincipalType::Aws,
                vec![
                    "111122223333".into(),
                    "arn:aws:iam::444455556666:root".into()
                ]
            )
        );
        assert_eq!(
            p[1],
            (PrincipalType::Service, vec!["ec2.amazonaws.com".into()])
        );
        assert_eq!(trust.statements[1].principal, Some(PrincipalSpec::Any));
    }

    #[test]
    fn string_and_url_encoded_documents() {
        let text = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#;
        let encoded: String =
            percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
        assert!(encoded.starts_with("%7B"));
        let plain = PolicyDocument::parse(text).unwrap();
        assert_eq!(PolicyDocument::parse(&encoded).unwrap(), plain);
        assert_eq!(
            PolicyDocument::parse(&format!("  {}\n", encoded.replace("%7B", "%7b"))).unwrap(),
            plain
        );
        assert_eq!(
            PolicyDocument::from_value(&Value::String(encoded)).unwrap(),
            plain
        );
        assert_eq!(
            PolicyDocument::from_value(&Value::String(text.into())).unwrap(),
            plain
        );
        assert_eq!(
            PolicyDocument::parse(&serde_json::to_string(text).unwrap()).unwrap(),
            plain
        );
        assert!(matches!(
            PolicyDocument::parse("%7B%ff%fe"),
            Err(Error::PercentDecode(_))
        ));
        assert!(matches!(
            PolicyDocument::parse("{nope"),
            Err(Error::Json { .. })
        ));
    }

    #[test]
    fn errors_name_the_problem() {
        assert_eq!(
            error(
                json!({"Statement": [{"Effect": "Allow", "Action": "a:b"}, {"Effect": "Allow", "Action": "a:b"},
                {"Effect": "allow", "Action": "a:b"}]})
            ),
            r#"invalid policy document: Statement[2]: Effect must be Allow or Deny, found "allow""#
        );
        assert!(
            error(json!({"Statement": [{"Effect": "Allow"}]}))
                .contains("Statement[0]: needs Action or NotAction")
        );
        assert!(
            error(json!({"Statement": {"Effect": "Allow", "Action": [1]}}))
                .contains("Action must be a string or an array of strings")
        );
        assert!(
            error(json!({"Statement": {"Effect": "Deny", "Action": "a", "NotAction": "b"}}))
                .contains("both Action and NotAction")
        );
        assert!(
            error(
                json!({"Statement": {"Effect": "Allow", "Action": "a", "Principal": {"Aws": "1"}}})
            )
            .contains(r#"unknown principal type "Aws""#)
        );
        assert!(error(json!({"Statement": {"Effect": "Allow", "Action": "a", "Principal": "arn:aws:iam::1:root"}})).contains("Principal must be"));
        assert!(
            error(json!({"Statement": {"Effect": "Allow", "Action": "a", "Condition": []}}))
                .contains("Condition must be an object")
        );
        assert!(error(json!({"Version": "2012-10-17"})).contains("Statement is missing"));
        assert!(error(json!([1])).contains("document must be an object, found an array"));
    }
}
