//! Policy evaluation: what a role may do, from its identity policies, its permissions boundary
//! and the SCPs above it.
//!
//! Two questions, one set of rules (IAM User Guide, "Policy evaluation logic"):
//! - [`PolicySet::decide`]: is this one request (action, resource) allowed? Explicit Deny wins,
//!   then an Allow is needed in the identity policies, and in the boundary and in every SCP level
//!   when those exist; anything else is an implicit deny.
//! - [`PolicySet::grants`]: every catalog action the role holds, with the resources and
//!   statements that grant it. Used to list what a role holds but never used.
//!
//! Conditions are not evaluated (their context keys are not in CloudTrail); a grant that needs
//! one is [`Access::Conditional`], never silently counted as plain Allow or dropped. A Deny that
//! applies only under a condition or to some resources keeps the grant and says so. Policy
//! variables (`${aws:username}`) in a resource make the statement conditional too.
//!
//! ```
//! use crosstrail_iam::eval::{Decision, PolicySet};
//! use crosstrail_iam::policy::PolicyDocument;
//!
//! let allow = PolicyDocument::parse(r#"{"Statement":[
//!   {"Effect":"Allow","Action":["kms:Decrypt","ec2:Stop*"],"Resource":"*"},
//!   {"Effect":"Deny","Action":"ec2:StopInstances","Resource":"arn:aws:ec2:*:*:instance/i-prod*"}]}"#)?;
//! let mut set = PolicySet::default();
//! set.add_identity("inline:vendor", &allow);
//! assert_eq!(set.decide("KMS:decrypt", "arn:aws:kms:eu-west-1:111122223333:key/k"), Decision::Allow);
//! assert_eq!(set.decide("ec2:StopInstances", "arn:aws:ec2:eu-west-1:111122223333:instance/i-prod1"), Decision::ExplicitDeny);
//! assert_eq!(set.decide("s3:GetObject", "arn:aws:s3:::b/k"), Decision::ImplicitDeny);
//! # Ok::<(), crosstrail_iam::Error>(())
//! ```

use std::collections::BTreeMap;

use crate::arn::wildcard_match;
use crate::catalog::{AccessLevel, Catalog};
use crate::policy::{ActionSpec, Effect, PolicyDocument, ResourceSpec, Statement};

/// The outcome of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    /// Allowed by every layer, without conditions.
    Allow,
    /// Allowed only if conditions hold (an Allow with a Condition, or a conditional Deny).
    Conditional,
    /// An explicit Deny applies.
    ExplicitDeny,
    /// No Allow applies in some layer.
    ImplicitDeny,
}

/// How a held action is granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Access {
    /// Granted with no condition on it.
    Allowed,
    /// Granted only under conditions, or partly denied.
    Conditional,
}

impl Access {
    /// `allowed` / `conditional`.
    pub fn as_str(self) -> &'static str {
        match self {
            Access::Allowed => "allowed",
            Access::Conditional => "conditional",
        }
    }
}

/// A statement with the name of the policy it came from.
#[derive(Debug, Clone)]
pub struct Sourced {
    /// `inline:<name>`, the managed policy ARN, or the SCP file name.
    pub policy: String,
    /// The statement.
    pub statement: Statement,
}

/// The policies that decide what one principal may do.
#[derive(Debug, Clone, Default)]
pub struct PolicySet {
    /// Identity-based policies (inline and attached managed), every statement.
    pub identity: Vec<Sourced>,
    /// The permissions boundary, when the role has one.
    pub boundary: Option<Vec<Sourced>>,
    /// SCP levels (root, OU, ..., account): each level must allow.
    pub scps: Vec<Vec<Sourced>>,
}

/// One action a principal holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Grant {
    /// Canonical `service:Action`, as the catalog spells it.
    pub action: String,
    /// The service prefix.
    pub service: String,
    /// The action's access level.
    pub level: AccessLevel,
    /// Plain or conditional.
    pub access: Access,
    /// Resource patterns of the granting statements (`*` when any); `NotResource` entries are
    /// written `not <pattern>`.
    pub resources: Vec<String>,
    /// The policies whose statements grant it.
    pub policies: Vec<String>,
    /// Why the grant is conditional or narrower than its Allow, for people.
    pub notes: Vec<String>,
}

/// Does a statement's action element cover `action`?
pub fn action_matches(spec: &ActionSpec, action: &str) -> bool {
    match spec {
        ActionSpec::Action(p) => p.iter().any(|p| wildcard_match(p, action, true)),
        ActionSpec::NotAction(p) => !p.iter().any(|p| wildcard_match(p, action, true)),
    }
}

/// Does a statement's resource element cover `resource`? An absent element covers everything.
pub fn resource_matches(spec: Option<&ResourceSpec>, resource: &str) -> bool {
    match spec {
        None => true,
        Some(ResourceSpec::Resource(p)) => p.iter().any(|p| resource_pattern(p, resource)),
        Some(ResourceSpec::NotResource(p)) => !p.iter().any(|p| resource_pattern(p, resource)),
    }
}

/// One resource pattern against one ARN. A policy variable (`${aws:username}`) could take any
/// value, so it matches like `*`; the statement counts as conditional (see [`conditional`]).
fn resource_pattern(pattern: &str, resource: &str) -> bool {
    if !pattern.contains("${") {
        return wildcard_match(pattern, resource, false);
    }
    let mut p = String::with_capacity(pattern.len());
    let mut rest = pattern;
    while let Some(at) = rest.find("${") {
        p.push_str(&rest[..at]);
        match rest[at..].find('}') {
            Some(end) => {
                p.push('*');
                rest = &rest[at + end + 1..];
            }
            None => {
                p.push_str(&rest[at..]);
                rest = "";
            }
        }
    }
    p.push_str(rest);
    wildcard_match(&p, resource, false)
}

/// A pattern that matches every resource: `*`, `arn:*`, `arn:*:*:*:*:*`.
fn covers_everything(pattern: &str) -> bool {
    let rest = pattern.strip_prefix("arn:").unwrap_or(pattern);
    rest.contains('*') && rest.bytes().all(|b| b == b'*' || b == b':')
}

/// Does the statement apply to every resource?
fn all_resources(spec: Option<&ResourceSpec>) -> bool {
    match spec {
        None => true,
        Some(ResourceSpec::Resource(p)) => p.iter().any(|p| covers_everything(p)),
        Some(ResourceSpec::NotResource(p)) => p.is_empty(),
    }
}

/// Is the statement's effect certain only under conditions we cannot evaluate?
fn conditional(s: &Statement) -> bool {
    let has_vars = match &s.resource {
        Some(ResourceSpec::Resource(p) | ResourceSpec::NotResource(p)) => {
            p.iter().any(|p| p.contains("${"))
        }
        None => false,
    };
    has_vars || s.condition.as_ref().is_some_and(|c| !c.is_empty())
}

/// One layer's verdict on a request: deny, conditional deny, allow, conditional allow, nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layer {
    Deny,
    Allow,
    MaybeAllow,
    MaybeDeny,
    Nothing,
}

fn layer(statements: &[Sourced], action: &str, resource: &str) -> Layer {
    let mut allow = None::<bool>;
    let mut maybe_deny = false;
    for s in statements.iter().map(|s| &s.statement) {
        if !action_matches(&s.action, action) || !resource_matches(s.resource.as_ref(), resource) {
            continue;
        }
        let cond = conditional(s);
        match (s.effect, cond) {
            (Effect::Deny, false) => return Layer::Deny,
            (Effect::Deny, true) => maybe_deny = true,
            (Effect::Allow, c) => allow = Some(allow.map_or(!c, |a| a || !c)),
        }
    }
    match (allow, maybe_deny) {
        (Some(_), true) => Layer::MaybeDeny,
        (Some(true), false) => Layer::Allow,
        (Some(false), false) => Layer::MaybeAllow,
        (None, _) => Layer::Nothing,
    }
}

impl PolicySet {
    /// Adds every statement of an identity-based policy.
    pub fn add_identity(&mut self, policy: &str, doc: &PolicyDocument) {
        self.identity.extend(sourced(policy, doc));
    }

    /// Adds a permissions-boundary policy (a role has at most one; statements accumulate).
    pub fn add_boundary(&mut self, policy: &str, doc: &PolicyDocument) {
        self.boundary
            .get_or_insert_with(Vec::new)
            .extend(sourced(policy, doc));
    }

    /// Adds one SCP level (every policy attached at that level, together).
    pub fn add_scp_level(&mut self, policies: &[(&str, &PolicyDocument)]) {
        self.scps.push(
            policies
                .iter()
                .flat_map(|(name, doc)| sourced(name, doc))
                .collect(),
        );
    }

    /// The decision for one request. Actions compare case-insensitively, resources exactly.
    pub fn decide(&self, action: &str, resource: &str) -> Decision {
        let layers = std::iter::once(&self.identity)
            .chain(self.boundary.iter())
            .chain(self.scps.iter())
            .map(|statements| layer(statements, action, resource))
            .collect::<Vec<_>>();
        if layers.contains(&Layer::Deny) {
            return Decision::ExplicitDeny;
        }
        if layers.contains(&Layer::Nothing) {
            return Decision::ImplicitDeny;
        }
        if layers.iter().all(|l| *l == Layer::Allow) {
            Decision::Allow
        } else {
            Decision::Conditional
        }
    }

    /// Every catalog action this set grants on at least some resource, sorted by action.
    ///
    /// Identity Allows are expanded against the catalog (`NotAction` with Allow grants every
    /// other action of every service); an unconditional Deny on every resource removes an
    /// action; a narrower or conditional Deny keeps it with a note. The boundary and each SCP
    /// level must allow the action somewhere; their resource limits are not intersected with
    /// the identity resources (so `resources` may over-state), which the notes say.
    pub fn grants(&self, catalog: &Catalog) -> Vec<Grant> {
        let mut held: BTreeMap<String, Grant> = BTreeMap::new();
        for s in &self.identity {
            let st = &s.statement;
            if st.effect != Effect::Allow {
                continue;
            }
            let cond = conditional(st);
            let resources = resource_labels(st.resource.as_ref());
            let mut take = |info: crate::catalog::ActionInfo<'_>| {
                let full = info.full();
                let g = held.entry(full.clone()).or_insert_with(|| Grant {
                    action: full,
                    service: info.prefix.to_string(),
                    level: info.level,
                    access: Access::Conditional,
                    resources: Vec::new(),
                    policies: Vec::new(),
                    notes: Vec::new(),
                });
                if !cond {
                    g.access = Access::Allowed;
                }
                for r in &resources {
                    if !g.resources.contains(r) {
                        g.resources.push(r.clone());
                    }
                }
                if !g.policies.contains(&s.policy) {
                    g.policies.push(s.policy.clone());
                }
            };
            match &st.action {
                ActionSpec::Action(patterns) => {
                    for p in patterns {
                        for info in catalog.expand(p) {
                            take(info);
                        }
                    }
                }
                ActionSpec::NotAction(patterns) => {
                    for info in catalog.actions() {
                        let full = info.full();
                        if !patterns.iter().any(|p| wildcard_match(p, &full, true)) {
                            take(info);
                        }
                    }
                }
            }
        }
        held.into_values()
            .filter_map(|mut g| {
                if g.access == Access::Conditional {
                    g.notes.push("every Allow for it has a condition".into());
                }
                self.limit(&mut g).then_some(g)
            })
            .collect()
    }

    /// Applies Denies, the boundary and the SCPs to one grant; false when nothing is left.
    fn limit(&self, g: &mut Grant) -> bool {
        for s in &self.identity {
            let st = &s.statement;
            if st.effect != Effect::Deny || !action_matches(&st.action, &g.action) {
                continue;
            }
            if !conditional(st) && all_resources(st.resource.as_ref()) {
                return false;
            }
            g.access = Access::Conditional;
            g.notes.push(format!(
                "denied {} by {}",
                if conditional(st) {
                    "under a condition"
                } else {
                    "on some resources"
                },
                s.policy
            ));
        }
        let layers = self
            .boundary
            .iter()
            .map(|b| ("permissions boundary", b))
            .chain(self.scps.iter().map(|l| ("SCP", l)));
        for (what, statements) in layers {
            let mut allowed = None::<bool>;
            for s in statements {
                let st = &s.statement;
                if !action_matches(&st.action, &g.action) {
                    continue;
                }
                let cond = conditional(st);
                match st.effect {
                    Effect::Deny if !cond && all_resources(st.resource.as_ref()) => return false,
                    Effect::Deny => {
                        g.access = Access::Conditional;
                        g.notes
                            .push(format!("{what} {} denies it in part", s.policy));
                    }
                    Effect::Allow => {
                        let plain = !cond && all_resources(st.resource.as_ref());
                        allowed = Some(allowed.unwrap_or(false) || plain);
                    }
                }
            }
            match allowed {
                None => return false,
                Some(true) => {}
                Some(false) => {
                    g.access = Access::Conditional;
                    g.notes.push(format!(
                        "{what} allows it only conditionally or on some resources"
                    ));
                }
            }
        }
        true
    }
}

fn sourced(policy: &str, doc: &PolicyDocument) -> impl Iterator<Item = Sourced> {
    doc.statements.iter().map(move |s| Sourced {
        policy: policy.to_string(),
        statement: s.clone(),
    })
}

fn resource_labels(spec: Option<&ResourceSpec>) -> Vec<String> {
    match spec {
        None => vec!["*".into()],
        Some(ResourceSpec::Resource(p)) => p.clone(),
        Some(ResourceSpec::NotResource(p)) => p.iter().map(|p| format!("not {p}")).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(identity: &str) -> PolicySet {
        let mut s = PolicySet::default();
        s.add_identity(
            "inline:test",
            &PolicyDocument::parse(identity).expect("valid test policy"),
        );
        s
    }

    fn doc(text: &str) -> PolicyDocument {
        PolicyDocument::parse(text).expect("valid test policy")
    }

    const KEY: &str = "arn:aws:kms:eu-west-1:111122223333:key/1234";
    const OBJ: &str = "arn:aws:s3:::bucket/logs/a.gz";

    #[test]
    fn allow_and_deny_truth_table() {
        use Decision::*;
        let cases: &[(&str, &str, &str, Decision)] = &[
            // (policy, action, resource, expected)
            (
                r#"{"Statement":{"Effect":"Allow","Action":"kms:Decrypt","Resource":"*"}}"#,
                "kms:Decrypt",
                KEY,
                Allow,
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"kms:Decrypt","Resource":"*"}}"#,
                "kms:Encrypt",
                KEY,
                ImplicitDeny,
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"},{"Effect":"Deny","Action":"kms:Decrypt","Resource":"*"}]}"#,
                "kms:Decrypt",
                KEY,
                ExplicitDeny,
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"},{"Effect":"Deny","Action":"kms:Decrypt","Resource":"*"}]}"#,
                "kms:Encrypt",
                KEY,
                Allow,
            ),
            // Deny alone never allows.
            (
                r#"{"Statement":{"Effect":"Deny","Action":"s3:*","Resource":"*"}}"#,
                "kms:Decrypt",
                KEY,
                ImplicitDeny,
            ),
            // NotAction with Allow: everything else, of every service.
            (
                r#"{"Statement":{"Effect":"Allow","NotAction":"iam:*","Resource":"*"}}"#,
                "s3:GetObject",
                OBJ,
                Allow,
            ),
            (
                r#"{"Statement":{"Effect":"Allow","NotAction":"iam:*","Resource":"*"}}"#,
                "iam:PassRole",
                "arn:aws:iam::111122223333:role/r",
                ImplicitDeny,
            ),
            // NotAction with Deny: denies everything not listed.
            (
                r#"{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Deny","NotAction":["s3:Get*"],"Resource":"*"}]}"#,
                "s3:GetObject",
                OBJ,
                Allow,
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Deny","NotAction":["s3:Get*"],"Resource":"*"}]}"#,
                "s3:PutObject",
                OBJ,
                ExplicitDeny,
            ),
            // NotResource.
            (
                r#"{"Statement":{"Effect":"Allow","Action":"s3:GetObject","NotResource":"arn:aws:s3:::secret/*"}}"#,
                "s3:GetObject",
                OBJ,
                Allow,
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"s3:GetObject","NotResource":"arn:aws:s3:::secret/*"}}"#,
                "s3:GetObject",
                "arn:aws:s3:::secret/x",
                ImplicitDeny,
            ),
            // `?` is one character; `[` is literal.
            (
                r#"{"Statement":{"Effect":"Allow","Action":"ec2:?topInstances","Resource":"*"}}"#,
                "ec2:StopInstances",
                "*",
                Allow,
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"ec2:?topInstances","Resource":"*"}}"#,
                "ec2:StartInstances",
                "*",
                ImplicitDeny,
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"ec2:[S]topInstances","Resource":"*"}}"#,
                "ec2:StopInstances",
                "*",
                ImplicitDeny,
            ),
            // Actions are case-insensitive, resources are not.
            (
                r#"{"Statement":{"Effect":"Allow","Action":"KMS:decrypt","Resource":"*"}}"#,
                "kms:Decrypt",
                KEY,
                Allow,
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::Bucket/*"}}"#,
                "s3:GetObject",
                OBJ,
                ImplicitDeny,
            ),
            // Conditions: reported, never assumed.
            (
                r#"{"Statement":{"Effect":"Allow","Action":"kms:Decrypt","Resource":"*","Condition":{"StringEquals":{"kms:ViaService":"s3.eu-west-1.amazonaws.com"}}}}"#,
                "kms:Decrypt",
                KEY,
                Conditional,
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Action":"kms:Decrypt","Resource":"*"},{"Effect":"Deny","Action":"kms:*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}"#,
                "kms:Decrypt",
                KEY,
                Conditional,
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::bucket/${aws:username}/*"}}"#,
                "s3:GetObject",
                OBJ,
                Conditional,
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::other/${aws:username}/*"}}"#,
                "s3:GetObject",
                OBJ,
                ImplicitDeny,
            ),
        ];
        for (i, (policy, action, resource, want)) in cases.iter().enumerate() {
            assert_eq!(
                set(policy).decide(action, resource),
                *want,
                "case {i}: {policy} / {action} on {resource}"
            );
        }
    }

    #[test]
    fn boundary_and_scps_intersect() {
        let mut s = set(
            r#"{"Statement":{"Effect":"Allow","Action":["kms:*","ec2:StopInstances"],"Resource":"*"}}"#,
        );
        assert_eq!(s.decide("ec2:StopInstances", "*"), Decision::Allow);
        s.add_boundary(
            "arn:aws:iam::111122223333:policy/b",
            &doc(r#"{"Statement":{"Effect":"Allow","Action":"kms:Decrypt","Resource":"*"}}"#),
        );
        assert_eq!(s.decide("kms:Decrypt", KEY), Decision::Allow);
        assert_eq!(s.decide("kms:Encrypt", KEY), Decision::ImplicitDeny);
        assert_eq!(s.decide("ec2:StopInstances", "*"), Decision::ImplicitDeny);
        // The boundary alone grants nothing.
        let mut b = PolicySet::default();
        b.add_boundary(
            "b",
            &doc(r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#),
        );
        assert_eq!(b.decide("kms:Decrypt", KEY), Decision::ImplicitDeny);
        // An SCP level that denies wins; one without an Allow denies implicitly.
        let scp_all = doc(r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#);
        let scp_deny =
            doc(r#"{"Statement":{"Effect":"Deny","Action":"kms:Decrypt","Resource":"*"}}"#);
        let mut t = set(r#"{"Statement":{"Effect":"Allow","Action":"kms:*","Resource":"*"}}"#);
        t.add_scp_level(&[("FullAWSAccess", &scp_all), ("NoDecrypt", &scp_deny)]);
        assert_eq!(t.decide("kms:Decrypt", KEY), Decision::ExplicitDeny);
        assert_eq!(t.decide("kms:Encrypt", KEY), Decision::Allow);
        t.add_scp_level(&[(
            "OnlyS3",
            &doc(r#"{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}"#),
        )]);
        assert_eq!(t.decide("kms:Encrypt", KEY), Decision::ImplicitDeny);
    }

    #[test]
    fn grants_expand_subtract_and_intersect() {
        let catalog = Catalog::get();
        let s = set(r#"{"Statement":[
            {"Effect":"Allow","Action":["kms:Decrypt","kms:CreateGrant","ec2:StopInstances"],"Resource":"*"},
            {"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::bucket/*","Condition":{"Bool":{"aws:SecureTransport":"true"}}},
            {"Effect":"Deny","Action":"kms:CreateGrant","Resource":"*"}]}"#);
        let g = s.grants(catalog);
        let names: Vec<&str> = g.iter().map(|g| g.action.as_str()).collect();
        assert_eq!(names, ["ec2:StopInstances", "kms:Decrypt", "s3:GetObject"]);
        assert_eq!(g[1].access, Access::Allowed);
        assert_eq!(g[1].resources, ["*"]);
        assert_eq!(g[1].policies, ["inline:test"]);
        assert_eq!(g[2].access, Access::Conditional);
        assert_eq!(g[2].resources, ["arn:aws:s3:::bucket/*"]);

        // NotAction with Allow expands to every other catalog action; a boundary cuts it down.
        let mut n = set(
            r#"{"Statement":{"Effect":"Allow","NotAction":["iam:*","organizations:*"],"Resource":"*"}}"#,
        );
        let all = n.grants(catalog);
        assert!(all.len() > 10_000, "{}", all.len());
        assert!(
            all.iter()
                .all(|g| g.service != "iam" && g.service != "organizations")
        );
        n.add_boundary("b", &doc(r#"{"Statement":{"Effect":"Allow","Action":["s3:Get*","iam:PassRole"],"Resource":"*"}}"#));
        let bounded = n.grants(catalog);
        assert!(!bounded.is_empty());
        assert!(
            bounded.iter().all(|g| g.action.starts_with("s3:Get")),
            "{bounded:?}"
        );

        // A Deny on some resources keeps the grant, conditional, with a note.
        let p = set(
            r#"{"Statement":[{"Effect":"Allow","Action":"ec2:StopInstances","Resource":"*"},
            {"Effect":"Deny","Action":"ec2:*","Resource":"arn:aws:ec2:*:*:instance/i-prod*"}]}"#,
        );
        let g = p.grants(catalog);
        assert_eq!(g.len(), 1);
        assert_eq!(g[0].access, Access::Conditional);
        assert!(
            g[0].notes[0].contains("on some resources"),
            "{:?}",
            g[0].notes
        );
    }
}
