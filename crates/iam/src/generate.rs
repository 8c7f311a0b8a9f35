//! A least-privilege policy from what a principal was seen doing.
//!
//! Input: every action it used, with the resource ARNs CloudTrail named for it. Output: valid
//! IAM policy documents, each within the managed-policy size limit (6,144 characters without
//! whitespace), that allow exactly those actions:
//! - resources narrowed to the ARNs seen where the action's resource type is known and every
//!   use named one (S3 buckets, S3 objects by common key prefix, KMS keys, Secrets Manager
//!   secrets), else `*`;
//! - actions with the same resources share a statement;
//! - a wildcard inside a service (`s3:Get*`, `kms:*`) only when every catalog action it matches
//!   was used, so grouping never grants an action that was not seen (as of the catalog's date).
//!
//! ```
//! use crosstrail_iam::catalog::Catalog;
//! use crosstrail_iam::generate::{Observed, suggest};
//!
//! let used = [Observed {
//!     action: "kms:Decrypt".into(),
//!     resources: vec!["arn:aws:kms:eu-west-1:111122223333:key/k1".into()],
//!     all_resources_known: true,
//! }];
//! let s = suggest(&used, Catalog::get());
//! let doc = &s.documents[0];
//! assert_eq!(doc["Statement"][0]["Action"][0], "kms:Decrypt");
//! assert_eq!(doc["Statement"][0]["Resource"][0], "arn:aws:kms:eu-west-1:111122223333:key/k1");
//! ```

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use crate::catalog::{ActionInfo, Catalog};

/// IAM's limit for one managed policy document, in characters excluding whitespace.
pub const MANAGED_POLICY_MAX_CHARS: usize = 6_144;
/// IAM's limit for all inline policies of one role together, excluding whitespace.
pub const INLINE_ROLE_MAX_CHARS: usize = 10_240;

/// One action a principal used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    /// `service:Action`, any case.
    pub action: String,
    /// Resource ARNs CloudTrail named for its uses (any order, duplicates allowed).
    pub resources: Vec<String>,
    /// Whether every use named at least one resource; if not, the action keeps `*`.
    pub all_resources_known: bool,
}

/// One statement of the suggestion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuggestedStatement {
    /// `Sid`.
    pub sid: String,
    /// `Action` as written (may hold service wildcards).
    pub actions: Vec<String>,
    /// The canonical actions it allows.
    pub covers: Vec<String>,
    /// `Resource`.
    pub resources: Vec<String>,
}

/// The suggested policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Suggestion {
    /// The statements, in document order.
    pub statements: Vec<SuggestedStatement>,
    /// Policy documents holding the statements, each within [`MANAGED_POLICY_MAX_CHARS`].
    pub documents: Vec<Value>,
    /// Observed actions the catalog does not know (kept out of the policy).
    pub unknown_actions: Vec<String>,
}

/// Characters of a policy document as IAM counts them (whitespace excluded).
pub fn policy_chars(doc: &Value) -> usize {
    doc.to_string()
        .chars()
        .filter(|c| !c.is_whitespace())
        .count()
}

/// The resource type an ARN names, in the catalog's terms, for the types we narrow.
fn arn_resource_type(arn: &str) -> Option<&'static str> {
    let mut parts = arn.splitn(6, ':');
    let (_, _, service, _, _, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    match service {
        "s3" if resource.is_empty() => None,
        "s3" if resource.contains('/') => Some("object"),
        "s3" => Some("bucket"),
        "kms" if resource.starts_with("key/") => Some("key"),
        "secretsmanager" if resource.starts_with("secret:") => Some("Secret"),
        _ => None,
    }
}

/// Resource patterns for one action: the ARNs seen that fit its resource types, objects of a
/// bucket folded to their common key prefix; `*` when that cannot be known.
fn narrowed(info: &ActionInfo<'_>, resources: &[String], all_resources_known: bool) -> Vec<String> {
    if !all_resources_known || resources.is_empty() {
        return vec!["*".into()];
    }
    let fits = |arn: &String| {
        arn_resource_type(arn).is_some_and(|t| {
            info.resource_types
                .iter()
                .any(|a| a.name.eq_ignore_ascii_case(t))
        })
    };
    let seen: BTreeSet<&String> = resources.iter().filter(|a| fits(a)).collect();
    if seen.is_empty() {
        return vec!["*".into()];
    }
    let mut out = BTreeSet::new();
    // (partition, bucket) -> object keys
    let mut objects: BTreeMap<(&str, &str), Vec<&str>> = BTreeMap::new();
    for arn in seen {
        let object = (arn_resource_type(arn) == Some("object"))
            .then(|| {
                let mut parts = arn.splitn(6, ':');
                let partition = parts.nth(1)?;
                let (bucket, key) = parts.nth(3)?.split_once('/')?;
                Some((partition, bucket, key))
            })
            .flatten();
        match object {
            Some((partition, bucket, key)) => {
                objects.entry((partition, bucket)).or_default().push(key)
            }
            None => {
                out.insert(arn.clone());
            }
        }
    }
    for ((partition, bucket), keys) in objects {
        if keys.len() == 1 {
            out.insert(format!("arn:{partition}:s3:::{bucket}/{}", keys[0]));
            continue;
        }
        // The longest common prefix, cut back to a `/` so the grant follows folders.
        let first = keys[0];
        let mut common = first.len();
        for k in &keys[1..] {
            common = common.min(
                first
                    .bytes()
                    .zip(k.bytes())
                    .take_while(|(a, b)| a == b)
                    .count(),
            );
        }
        let prefix = &first[..common];
        let prefix = match prefix.rfind('/') {
            Some(i) => &prefix[..=i],
            None => "",
        };
        out.insert(format!("arn:{partition}:s3:::{bucket}/{prefix}*"));
    }
    out.into_iter().collect()
}

/// The `Resource` the suggestion gives one used action: the ARNs seen that fit its resource
/// types (objects folded to their common folder), or `*`. Empty for an unknown action.
pub fn suggested_resources(
    action: &str,
    resources: &[String],
    all_resources_known: bool,
    catalog: &Catalog,
) -> Vec<String> {
    catalog.lookup(action).map_or_else(Vec::new, |info| {
        narrowed(&info, resources, all_resources_known)
    })
}

/// The verb a wildcard may stand for: the action's leading capitalized word (`Get`, `List`).
fn verb(action: &str) -> Option<&str> {
    let end = action
        .char_indices()
        .skip(1)
        .find(|(_, c)| c.is_ascii_uppercase())
        .map(|(i, _)| i)?;
    Some(&action[..end])
}

/// Writes a set of actions of one service with wildcards where every match was used.
fn compress(service: &str, used: &BTreeSet<String>, catalog: &Catalog) -> Vec<String> {
    let all: BTreeSet<String> = catalog
        .expand(&format!("{service}:*"))
        .iter()
        .map(|i| i.full())
        .collect();
    if !all.is_empty() && all.is_subset(used) {
        return vec![format!("{service}:*")];
    }
    let mut out = Vec::new();
    let mut done = BTreeSet::new();
    for action in used {
        if done.contains(action) {
            continue;
        }
        let name = action.split_once(':').map_or(action.as_str(), |(_, n)| n);
        if let Some(v) = verb(name) {
            let pattern = format!("{service}:{v}*");
            let matched: BTreeSet<String> =
                catalog.expand(&pattern).iter().map(|i| i.full()).collect();
            if matched.len() > 1 && matched.is_subset(used) {
                done.extend(matched);
                out.push(pattern);
                continue;
            }
        }
        done.insert(action.clone());
        out.push(action.clone());
    }
    out
}

/// The least-privilege suggestion for the observed actions.
pub fn suggest(observed: &[Observed], catalog: &Catalog) -> Suggestion {
    // resources -> service -> actions
    let mut groups: BTreeMap<Vec<String>, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    let mut unknown = BTreeSet::new();
    // canonical action -> (its catalog entry, every resource seen, whether every use named one)
    let mut merged: BTreeMap<String, (ActionInfo<'_>, Vec<String>, bool)> = BTreeMap::new();
    for o in observed {
        let Some(info) = catalog.lookup(&o.action) else {
            unknown.insert(o.action.clone());
            continue;
        };
        let m = merged
            .entry(info.full())
            .or_insert_with(|| (info, Vec::new(), true));
        m.1.extend(o.resources.iter().cloned());
        m.2 &= o.all_resources_known;
    }
    for (full, (info, resources, known)) in &merged {
        groups
            .entry(narrowed(info, resources, *known))
            .or_default()
            .entry(info.prefix.to_string())
            .or_default()
            .insert(full.clone());
    }
    let mut statements = Vec::new();
    for (resources, services) in groups {
        let mut actions = Vec::new();
        let mut covers = Vec::new();
        for (service, used) in &services {
            actions.extend(compress(service, used, catalog));
            covers.extend(used.iter().cloned());
        }
        let first = services.keys().next().map_or("", String::as_str);
        let sid = format!(
            "Used{}{}",
            sid_word(first),
            if services.len() > 1 { "Etc" } else { "" }
        );
        statements.push(SuggestedStatement {
            sid,
            actions,
            covers,
            resources,
        });
    }
    // Unique Sids.
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for s in &mut statements {
        let n = seen.entry(s.sid.clone()).or_default();
        *n += 1;
        if *n > 1 {
            s.sid = format!("{}{}", s.sid, n);
        }
    }
    let documents = pack(&statements);
    Suggestion {
        statements,
        documents,
        unknown_actions: unknown.into_iter().collect(),
    }
}

fn sid_word(service: &str) -> String {
    service
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

fn statement_json(s: &SuggestedStatement) -> Value {
    json!({
        "Sid": s.sid,
        "Effect": "Allow",
        "Action": s.actions,
        "Resource": s.resources,
    })
}

fn document(statements: Vec<Value>) -> Value {
    json!({"Version": "2012-10-17", "Statement": statements})
}

/// Statements into as few documents as fit the managed-policy limit; a statement that alone is
/// too big is split by actions.
fn pack(statements: &[SuggestedStatement]) -> Vec<Value> {
    let mut pieces = Vec::new();
    for s in statements {
        let v = statement_json(s);
        if policy_chars(&document(vec![v.clone()])) <= MANAGED_POLICY_MAX_CHARS {
            pieces.push(v);
            continue;
        }
        // Split the action list in halves until each part fits.
        let mut stack = vec![s.actions.clone()];
        let mut part = 0;
        while let Some(actions) = stack.pop() {
            let mut t = s.clone();
            part += 1;
            t.sid = format!("{}Part{part}", s.sid);
            t.actions = actions.clone();
            let v = statement_json(&t);
            if actions.len() > 1
                && policy_chars(&document(vec![v.clone()])) > MANAGED_POLICY_MAX_CHARS
            {
                let (a, b) = actions.split_at(actions.len() / 2);
                stack.push(b.to_vec());
                stack.push(a.to_vec());
                part -= 1;
            } else {
                pieces.push(v);
            }
        }
    }
    let mut docs: Vec<Vec<Value>> = Vec::new();
    for p in pieces {
        let fits = docs.last().is_some_and(|d| {
            let mut trial = d.clone();
            trial.push(p.clone());
            policy_chars(&document(trial)) <= MANAGED_POLICY_MAX_CHARS
        });
        match docs.last_mut() {
            Some(d) if fits => d.push(p),
            _ => docs.push(vec![p]),
        }
    }
    docs.into_iter().map(document).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::{Decision, PolicySet};
    use crate::policy::PolicyDocument;

    fn obs(action: &str, resources: &[&str]) -> Observed {
        Observed {
            action: action.into(),
            resources: resources.iter().map(|s| s.to_string()).collect(),
            all_resources_known: !resources.is_empty(),
        }
    }

    fn evaluator(s: &Suggestion) -> PolicySet {
        let mut set = PolicySet::default();
        for (i, d) in s.documents.iter().enumerate() {
            let doc = PolicyDocument::from_value(d).expect("a generated document parses");
            set.add_identity(&format!("suggested{i}"), &doc);
        }
        set
    }

    #[test]
    fn seed_case_narrows_and_drops() {
        let c = Catalog::get();
        let used = [
            obs(
                "kms:Decrypt",
                &["arn:aws:kms:eu-west-1:111122223333:key/k1"],
            ),
            obs(
                "KMS:decrypt",
                &["arn:aws:kms:eu-west-1:111122223333:key/k2"],
            ),
            obs("ec2:StopInstances", &[]),
        ];
        let s = suggest(&used, c);
        assert_eq!(s.documents.len(), 1);
        let set = evaluator(&s);
        for k in ["k1", "k2"] {
            let arn = format!("arn:aws:kms:eu-west-1:111122223333:key/{k}");
            assert_eq!(set.decide("kms:Decrypt", &arn), Decision::Allow);
        }
        assert_eq!(
            set.decide("kms:Decrypt", "arn:aws:kms:eu-west-1:111122223333:key/k3"),
            Decision::ImplicitDeny
        );
        assert_eq!(set.decide("kms:CreateGrant", "*"), Decision::ImplicitDeny);
        assert_eq!(
            set.decide("ec2:StopInstances", "arn:aws:ec2:eu-west-1:1:instance/i-1"),
            Decision::Allow
        );
    }

    #[test]
    fn s3_objects_fold_to_their_common_folder() {
        let c = Catalog::get();
        let s = suggest(
            &[
                obs(
                    "s3:GetObject",
                    &[
                        "arn:aws:s3:::b",
                        "arn:aws:s3:::b/exports/2026/a.csv",
                        "arn:aws:s3:::b/exports/2025/b.csv",
                    ],
                ),
                obs("s3:ListBucket", &["arn:aws:s3:::b"]),
            ],
            c,
        );
        let resources: Vec<&Vec<String>> = s.statements.iter().map(|s| &s.resources).collect();
        assert!(
            resources.contains(&&vec!["arn:aws:s3:::b/exports/*".to_string()]),
            "{resources:?}"
        );
        assert!(
            resources.contains(&&vec!["arn:aws:s3:::b".to_string()]),
            "{resources:?}"
        );
        let set = evaluator(&s);
        assert_eq!(
            set.decide("s3:GetObject", "arn:aws:s3:::b/exports/x"),
            Decision::Allow
        );
        assert_eq!(
            set.decide("s3:GetObject", "arn:aws:s3:::b/private/x"),
            Decision::ImplicitDeny
        );
        assert_eq!(
            set.decide("s3:ListBucket", "arn:aws:s3:::b"),
            Decision::Allow
        );
    }

    #[test]
    fn wildcards_only_when_every_match_was_used() {
        let c = Catalog::get();
        let gets: Vec<Observed> = c
            .expand("kms:Get*")
            .iter()
            .map(|i| obs(&i.full(), &[]))
            .collect();
        assert!(gets.len() > 1);
        let s = suggest(&gets, c);
        assert_eq!(s.statements[0].actions, ["kms:Get*"]);
        // One short of all: no wildcard.
        let s = suggest(&gets[1..], c);
        assert!(s.statements[0].actions.iter().all(|a| !a.contains('*')));
        assert_eq!(s.statements[0].actions.len(), gets.len() - 1);
    }

    /// The property the rightsize report promises: the suggestion, evaluated by our own
    /// evaluator, allows every observed use and no catalog action outside the used set.
    #[test]
    fn property_allows_exactly_the_used_actions() {
        let c = Catalog::get();
        let all: Vec<String> = c.actions().map(|i| i.full()).collect();
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for round in 0..30 {
            let n = 1 + (next() % 60) as usize;
            let mut used = Vec::new();
            for _ in 0..n {
                let a = &all[(next() % all.len() as u64) as usize];
                let arn = match next() % 4 {
                    0 => vec![format!("arn:aws:s3:::bkt{}/p/{}", next() % 3, next() % 5)],
                    1 => vec![format!(
                        "arn:aws:kms:us-east-1:111122223333:key/{}",
                        next() % 4
                    )],
                    _ => vec![],
                };
                used.push(Observed {
                    action: a.clone(),
                    all_resources_known: !arn.is_empty(),
                    resources: arn,
                });
            }
            // Whole services now and then, so that wildcards appear.
            if round % 5 == 0 {
                used.extend(c.expand("sts:*").iter().map(|i| obs(&i.full(), &[])));
            }
            let s = suggest(&used, c);
            for d in &s.documents {
                assert!(policy_chars(d) <= MANAGED_POLICY_MAX_CHARS);
            }
            let set = evaluator(&s);
            let used_set: BTreeSet<String> = used
                .iter()
                .filter_map(|o| c.lookup(&o.action).map(|i| i.full()))
                .collect();
            for o in &used {
                let resources = if o.resources.is_empty() {
                    vec!["arn:aws:xyz:::anything".to_string()]
                } else {
                    o.resources.clone()
                };
                for r in resources {
                    assert_eq!(
                        set.decide(&o.action, &r),
                        Decision::Allow,
                        "round {round}: {} on {r}",
                        o.action
                    );
                }
            }
            // Whatever the resource: no statement's actions reach beyond the used set.
            for st in &s.statements {
                for pattern in &st.actions {
                    for info in c.expand(pattern) {
                        assert!(
                            used_set.contains(&info.full()),
                            "round {round}: {pattern} grants unused {}",
                            info.full()
                        );
                    }
                }
            }
            for a in &all {
                if !used_set.contains(a) {
                    assert_eq!(
                        set.decide(a, "*"),
                        Decision::ImplicitDeny,
                        "round {round}: {a} not used"
                    );
                }
            }
        }
    }

    #[test]
    fn large_sets_split_into_documents_within_the_limit() {
        let c = Catalog::get();
        let used: Vec<Observed> = c
            .actions()
            .step_by(7)
            .take(1500)
            .map(|i| obs(&i.full(), &[]))
            .collect();
        let s = suggest(&used, c);
        assert!(s.documents.len() > 1);
        let mut covered = 0;
        for d in &s.documents {
            assert!(
                policy_chars(d) <= MANAGED_POLICY_MAX_CHARS,
                "{}",
                policy_chars(d)
            );
            covered += d["Statement"].as_array().map_or(0, Vec::len);
        }
        assert!(covered >= s.statements.len());
        let set = evaluator(&s);
        for o in &used {
            assert_eq!(set.decide(&o.action, "*"), Decision::Allow, "{}", o.action);
        }
    }

    #[test]
    fn unknown_actions_are_kept_out() {
        let s = suggest(&[obs("lambda:Invoke", &[])], Catalog::get());
        assert_eq!(s.unknown_actions, ["lambda:Invoke"]);
        assert!(s.statements.is_empty());
    }
}
