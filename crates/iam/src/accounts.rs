//! The accounts a principal is classified against: known vendors (the
//! [fwdcloudsec/known_aws_accounts](https://github.com/fwdcloudsec/known_aws_accounts) YAML
//! format) and our own organization (`aws organizations list-accounts` output).

use std::collections::HashSet;

use serde::Deserialize;
use serde_json::Value;

use crate::{Error, Result, arn::is_account_id, time};

/// A vendor of the known-accounts list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vendor {
    /// `name`. Not unique: the list has several entries per vendor (e.g. one disabled).
    pub name: String,
    /// `accounts`: 12-digit ids.
    pub accounts: Vec<String>,
    /// `source`: URLs documenting that the accounts are the vendor's. Keep them in output:
    /// a match is "likely", and this is the evidence.
    pub source: Vec<String>,
    /// `type: aws`: an AWS service account (log delivery and the like), not a third party.
    pub aws_owned: bool,
    /// `enabled` (default true); false when `deprecated_date` is set.
    pub enabled: bool,
    /// `deprecated_date` (`YYYY-MM-DD`).
    pub deprecated_date: Option<String>,
}

#[derive(Deserialize)]
struct RawVendor {
    name: String,
    #[serde(default)]
    accounts: Vec<AccountValue>,
    #[serde(default)]
    source: Option<OneOrMany>,
    #[serde(rename = "type")]
    kind: Option<String>,
    enabled: Option<bool>,
    deprecated_date: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum AccountValue {
    Text(String),
    // Unquoted ids arrive as numbers and lose leading zeros; accepted only if still 12 digits.
    Number(u64),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

/// Parses the known-accounts YAML list.
pub fn parse_vendors(yaml: &str) -> Result<Vec<Vendor>> {
    let raw: Vec<RawVendor> = serde_norway::from_str(yaml).map_err(|source| Error::Yaml {
        line: source.location().map(|l| l.line()),
        source,
    })?;
    raw.into_iter()
        .map(|v| {
            let fail = |problem: String| Error::Vendor {
                vendor: v.name.clone(),
                problem,
            };
            let accounts = v
                .accounts
                .iter()
                .map(|a| match a {
                    AccountValue::Text(s) if is_account_id(s) => Ok(s.clone()),
                    AccountValue::Text(s) => Err(fail(format!("account {s:?} is not 12 digits"))),
                    AccountValue::Number(n) if is_account_id(&n.to_string()) => Ok(n.to_string()),
                    AccountValue::Number(n) => Err(fail(format!(
                        "account {n} is not 12 digits (quote ids: YAML drops leading zeros)"
                    ))),
                })
                .collect::<Result<Vec<_>>>()?;
            if accounts.is_empty() {
                return Err(fail("has no accounts".into()));
            }
            let aws_owned = match v.kind.as_deref() {
                None => false,
                Some("aws") => true,
                Some(other) => return Err(fail(format!("type must be \"aws\", found {other:?}"))),
            };
            if let Some(d) = &v.deprecated_date
                && chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").is_err()
            {
                return Err(fail(format!("deprecated_date {d:?} is not YYYY-MM-DD")));
            }
            let source = match v.source {
                None => Vec::new(),
                Some(OneOrMany::One(s)) => vec![s],
                Some(OneOrMany::Many(s)) => s,
            };
            let enabled = v.enabled.unwrap_or(true) && v.deprecated_date.is_none();
            Ok(Vendor {
                name: v.name,
                accounts,
                source,
                aws_owned,
                enabled,
                deprecated_date: v.deprecated_date,
            })
        })
        .collect()
}

/// An account of our organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgAccount {
    /// `Id`.
    pub id: String,
    /// `Arn`: `arn:aws:organizations::<management>:account/<org>/<id>`.
    pub arn: Option<String>,
    /// `Email`.
    pub email: Option<String>,
    /// `Name`.
    pub name: Option<String>,
    /// `Status` (`ACTIVE`, `SUSPENDED`, `PENDING_CLOSURE`), deprecated by AWS for `State`.
    pub status: Option<String>,
    /// `State` (`ACTIVE`, `SUSPENDED`, `CLOSED`, ...).
    pub state: Option<String>,
    /// `JoinedMethod` (`INVITED`, `CREATED`).
    pub joined_method: Option<String>,
    /// `JoinedTimestamp` as RFC 3339 UTC, from CLI v1 epoch seconds or CLI v2 ISO text.
    pub joined_timestamp: Option<String>,
    /// The organization id (`o-...`), from the ARN.
    pub org_id: Option<String>,
    /// The management account, from the ARN.
    pub management_account_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawOrgPage {
    #[serde(default)]
    accounts: Vec<RawOrgAccount>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawOrgAccount {
    id: String,
    arn: Option<String>,
    email: Option<String>,
    name: Option<String>,
    status: Option<String>,
    state: Option<String>,
    joined_method: Option<String>,
    joined_timestamp: Option<Value>,
}

/// Parses `aws organizations list-accounts` (or `list-accounts-for-parent`) output: one page
/// object, or a JSON array of pages. Accounts of every status are kept (suspended and closed
/// accounts were ours); an id listed twice is kept once.
pub fn parse_org_accounts(json: &[u8]) -> Result<Vec<OrgAccount>> {
    let what = "organization accounts";
    let pages: Vec<RawOrgPage> = if json.trim_ascii_start().starts_with(b"[") {
        serde_json::from_slice(json).map_err(|source| Error::Json { what, source })?
    } else {
        vec![serde_json::from_slice(json).map_err(|source| Error::Json { what, source })?]
    };
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for a in pages.into_iter().flat_map(|p| p.accounts) {
        if !is_account_id(&a.id) {
            return Err(Error::OrgAccount {
                id: a.id,
                problem: "Id is not 12 digits".into(),
            });
        }
        if !seen.insert(a.id.clone()) {
            continue;
        }
        let joined_timestamp = match &a.joined_timestamp {
            None | Some(Value::Null) => None,
            Some(v) => Some(time::normalise(v).ok_or_else(|| Error::OrgAccount {
                id: a.id.clone(),
                problem: format!("JoinedTimestamp {v} is neither epoch seconds nor RFC 3339"),
            })?),
        };
        // account/<org id>/<account id>
        let mut resource = a
            .arn
            .as_deref()
            .and_then(crate::arn::resource_of)
            .unwrap_or("")
            .split('/')
            .skip(1);
        let org_id = resource
            .next()
            .filter(|o| o.starts_with("o-"))
            .map(str::to_owned);
        let management_account_id = a
            .arn
            .as_deref()
            .and_then(crate::arn::account_of)
            .map(str::to_owned);
        out.push(OrgAccount {
            id: a.id,
            arn: a.arn,
            email: a.email,
            name: a.name,
            status: a.status,
            state: a.state,
            joined_method: a.joined_method,
            joined_timestamp,
            org_id,
            management_account_id,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendor_shapes_and_errors() {
        let v = parse_vendors(
            "- name: A\n  source: 'https://a.example'\n  accounts: ['012345678901', 123456789012]\n\
             - name: B\n  accounts: ['111122223333']\n  deprecated_date: '2024-01-31'\n  type: aws\n",
        )
        .unwrap();
        assert_eq!(v[0].source, ["https://a.example"]);
        assert_eq!(v[0].accounts, ["012345678901", "123456789012"]);
        assert!(v[0].enabled && !v[0].aws_owned);
        assert!(!v[1].enabled && v[1].aws_owned);

        let bad = parse_vendors("- name: Oops\n  accounts: ['12345']\n")
            .unwrap_err()
            .to_string();
        assert_eq!(bad, r#"vendor "Oops": account "12345" is not 12 digits"#);
        // serde_norway keeps a zero-led unquoted id as text; a short number gets a hint.
        let zero_led = parse_vendors("- name: Z\n  accounts: [012345678901]\n").unwrap();
        assert_eq!(zero_led[0].accounts, ["012345678901"]);
        let unquoted = parse_vendors("- name: Z\n  accounts: [12345678901]\n")
            .unwrap_err()
            .to_string();
        assert!(unquoted.contains("leading zeros"), "{unquoted}");
        let yaml = parse_vendors("- name: A\n  accounts: ['111122223333']\n- name: [unclosed\n")
            .unwrap_err();
        assert!(
            matches!(yaml, Error::Yaml { line: Some(3), .. }),
            "{yaml:?}"
        );
        assert!(yaml.to_string().ends_with("(line 3)"));
        assert!(
            parse_vendors("- name: D\n  accounts: ['111122223333']\n  deprecated_date: soon\n")
                .is_err()
        );
    }

    #[test]
    fn org_accounts_pages_and_timestamps() {
        let v2 = br#"[{"Accounts":[{"Id":"111111111111","Arn":"arn:aws:organizations::111111111111:account/o-exampleorgid/111111111111",
            "Email":"a@example.com","Name":"Master Account","Status":"ACTIVE","State":"ACTIVE","JoinedMethod":"INVITED",
            "JoinedTimestamp":"2016-12-15T19:30:15.450000+00:00"}],"NextToken":"x"},
          {"Accounts":[{"Id":"222222222222","Status":"SUSPENDED","State":"CLOSED","JoinedTimestamp":null},
            {"Id":"111111111111"}]}]"#;
        let a = parse_org_accounts(v2).unwrap();
        assert_eq!(a.len(), 2);
        assert_eq!(
            a[0].joined_timestamp.as_deref(),
            Some("2016-12-15T19:30:15.450Z")
        );
        assert_eq!(
            (
                a[0].org_id.as_deref(),
                a[0].management_account_id.as_deref()
            ),
            (Some("o-exampleorgid"), Some("111111111111"))
        );
        assert_eq!(
            (a[1].state.as_deref(), a[1].org_id.as_deref()),
            (Some("CLOSED"), None)
        );
        let bad = parse_org_accounts(br#"{"Accounts":[{"Id":"1"}]}"#)
            .unwrap_err()
            .to_string();
        assert_eq!(bad, r#"organization account "1": Id is not 12 digits"#);
        assert!(
            parse_org_accounts(br#"{"Accounts":[{"Id":"111111111111","JoinedTimestamp":"soon"}]}"#)
                .is_err()
        );
    }
}
