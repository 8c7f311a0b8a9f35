//! Whether CloudTrail can show that an action was used.
//!
//! Most actions are management events, logged by every trail. Data-event actions (S3
//! object-level calls, Lambda `Invoke`, DynamoDB item calls, SQS/SNS/Kinesis messages, ...) are
//! logged only when the trail has data events on for that resource type, so "never seen" means
//! "unused" only if the lake holds data events from that event source. Some permissions are
//! never logged at all (`iam:PassRole` is checked inside another call and has no event of its
//! own). Such actions belong apart from "unused", unless [`crate::mapping`] infers them from
//! the call that carried them (`RunInstances` with an instance profile, `CreateFunction`:
//! `iam:PassRole`), in which case they are used.
//!
//! The rules are data: `data/observability.tsv`, one row per action pattern with its source.
//!
//! ```
//! use crosstrail_iam::catalog::Catalog;
//! use crosstrail_iam::observe::{Observability, data_event_source, observability};
//!
//! let c = Catalog::get();
//! let get = c.lookup("s3:GetObject").expect("in the catalog");
//! assert_eq!(observability(&get), Observability::DataEvent);
//! assert_eq!(data_event_source(&get), Some("s3.amazonaws.com"));
//! let pass = c.lookup("iam:PassRole").expect("in the catalog");
//! assert_eq!(observability(&pass), Observability::NotLogged);
//! let decrypt = c.lookup("kms:Decrypt").expect("in the catalog");
//! assert_eq!(observability(&decrypt), Observability::Management);
//! ```

use std::sync::OnceLock;

use crate::arn::wildcard_match;
use crate::catalog::ActionInfo;

const RULES: &str = include_str!("../data/observability.tsv");

/// How CloudTrail records an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Observability {
    /// A management event: every trail logs it.
    Management,
    /// A data event: logged only when data events are on for its resource type.
    DataEvent,
    /// Never logged as an event of its own.
    NotLogged,
}

impl Observability {
    /// `management`, `data-event`, `not-logged`.
    pub fn as_str(self) -> &'static str {
        match self {
            Observability::Management => "management",
            Observability::DataEvent => "data-event",
            Observability::NotLogged => "not-logged",
        }
    }
}

/// One row of `data/observability.tsv`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservabilityRule {
    /// IAM action pattern (`s3:GetObject*`).
    pub pattern: String,
    /// What the matched actions are.
    pub observability: Observability,
    /// The `eventSource` their data events carry; `None` for not-logged rows.
    pub event_source: Option<String>,
    /// Where the fact comes from.
    pub source: String,
}

fn rules() -> &'static [ObservabilityRule] {
    static CELL: OnceLock<Vec<ObservabilityRule>> = OnceLock::new();
    CELL.get_or_init(|| parse_rules(RULES).expect("data/observability.tsv is valid (tested)"))
}

fn parse_rules(text: &str) -> Result<Vec<ObservabilityRule>, String> {
    let mut out = Vec::new();
    let mut header_seen = false;
    for (i, line) in text.lines().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let bad = |what: &str| format!("observability.tsv line {}: {what}: {line:?}", i + 1);
        let cols: Vec<&str> = line.split('\t').collect();
        if !header_seen {
            if cols != ["pattern", "observability", "event_source", "source"] {
                return Err(bad("unexpected header"));
            }
            header_seen = true;
            continue;
        }
        let [pattern, kind, event_source, source] = cols[..] else {
            return Err(bad("expected 4 tab-separated columns"));
        };
        let observability = match kind {
            "data-event" => Observability::DataEvent,
            "not-logged" => Observability::NotLogged,
            _ => return Err(bad("observability is data-event or not-logged")),
        };
        let event_source = (event_source != "-").then(|| event_source.to_owned());
        if (observability == Observability::DataEvent) != event_source.is_some() {
            return Err(bad(
                "data-event rows name an event source, not-logged rows `-`",
            ));
        }
        if !pattern.contains(':') || source.trim().is_empty() {
            return Err(bad("pattern `prefix:Action` and a source are required"));
        }
        out.push(ObservabilityRule {
            pattern: pattern.to_owned(),
            observability,
            event_source,
            source: source.to_owned(),
        });
    }
    if !header_seen {
        return Err("observability.tsv has no header".into());
    }
    Ok(out)
}

/// Every rule, in file order.
pub fn observability_rules() -> &'static [ObservabilityRule] {
    rules()
}

/// The rule that decides `action`, if any (none: a management event).
pub fn observability_rule(action: &ActionInfo<'_>) -> Option<&'static ObservabilityRule> {
    let full = action.full();
    rules()
        .iter()
        .find(|r| wildcard_match(&r.pattern, &full, true))
}

/// How CloudTrail records `action`.
pub fn observability(action: &ActionInfo<'_>) -> Observability {
    observability_rule(action).map_or(Observability::Management, |r| r.observability)
}

/// For a data-event action, the `eventSource` its data events carry (`s3.amazonaws.com`), so
/// a report can say "no data events from s3.amazonaws.com in this lake".
pub fn data_event_source(action: &ActionInfo<'_>) -> Option<&'static str> {
    observability_rule(action).and_then(|r| r.event_source.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;

    #[test]
    fn every_rule_matches_a_catalog_action() {
        let c = Catalog::get();
        assert!(rules().len() > 40);
        for r in rules() {
            assert!(
                !c.expand(&r.pattern).is_empty(),
                "{} matches nothing",
                r.pattern
            );
        }
    }

    #[test]
    fn known_cases() {
        let c = Catalog::get();
        let obs = |a: &str| observability(&c.lookup(a).unwrap());
        let src = |a: &str| data_event_source(&c.lookup(a).unwrap());
        for a in [
            "s3:GetObject",
            "s3:GetObjectVersion",
            "s3:PutObject",
            "s3:PutObjectAcl",
            "s3:DeleteObject",
            "s3:ListBucket",
            "lambda:InvokeFunction",
            "dynamodb:GetItem",
            "dynamodb:PartiQLSelect",
            "sqs:SendMessage",
        ] {
            assert_eq!(obs(a), Observability::DataEvent, "{a}");
        }
        assert_eq!(src("s3:GetObject"), Some("s3.amazonaws.com"));
        assert_eq!(src("lambda:InvokeFunction"), Some("lambda.amazonaws.com"));
        assert_eq!(src("dynamodb:Query"), Some("dynamodb.amazonaws.com"));
        for a in [
            "iam:PassRole",
            "sts:TagSession",
            "rds-db:connect",
            "execute-api:Invoke",
        ] {
            assert_eq!(obs(a), Observability::NotLogged, "{a}");
            assert_eq!(src(a), None);
        }
        for a in [
            "kms:Decrypt",
            "kms:CreateGrant",
            "ec2:StopInstances",
            "s3:PutBucketPolicy",
            "s3:GetBucketPolicy",
            "s3:ListAllMyBuckets",
            "lambda:CreateFunction",
            "dynamodb:CreateTable",
            "sts:AssumeRole",
            "secretsmanager:GetSecretValue",
        ] {
            assert_eq!(obs(a), Observability::Management, "{a}");
            assert_eq!(src(a), None);
        }
        assert_eq!(Observability::DataEvent.as_str(), "data-event");
    }

    #[test]
    fn parse_rejects_bad_rows() {
        let head = "pattern\tobservability\tevent_source\tsource\n";
        assert!(parse_rules(head).unwrap().is_empty());
        for bad in [
            "",
            "x\ty\n",
            &format!("{head}s3:X\tdata-event\t-\tsrc\n"),
            &format!("{head}s3:X\tnot-logged\ts3.amazonaws.com\tsrc\n"),
            &format!("{head}s3:X\tsometimes\t-\tsrc\n"),
            &format!("{head}X\tnot-logged\t-\tsrc\n"),
            &format!("{head}s3:X\tnot-logged\t-\t\n"),
            &format!("{head}s3:X\tnot-logged\t-\n"),
        ] {
            assert!(parse_rules(bad).is_err(), "{bad:?}");
        }
    }
}
