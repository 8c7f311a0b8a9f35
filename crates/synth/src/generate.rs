//! The event stream: activities become records, records become log objects window by window.
//!
//! Time advances in delivery windows of 5–15 minutes. Activities (a vendor session, a burst of
//! CLI calls, ...) starting in a window write all their records at once; records land in a
//! pending list and each window flushes the ones that fall before its end, one object per
//! account and region. Sessions last at most an hour, so the pending list holds about an hour
//! of records whatever the total size.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use flate2::{Compress, Compression, Crc, FlushCompress, Status};
use serde_json::json;
use sha2::{Digest as _, Sha256};

use crate::json::Json;
use crate::ops::{self, Body, Ctx, Op};
use crate::rng::{Rng, date_dirs, iso, iso_basic, key_stamp, sts_expiration};
use crate::truth::{Counts, RoleKind, SessionTruth};
use crate::world::{PROD, REGION_WEIGHTS, REGIONS, Role, SECURITY, STAGING, User, World};
use crate::{Error, Spec};

/// Share of records that vendor sessions aim for, and their mean size in records.
const VENDOR_SHARE: f64 = 0.07;
const SESSION_RECORDS: f64 = 34.0;
/// Days (0-based) whose staging logs also go through the organization trail.
pub(crate) const DUP_DAYS: [i64; 3] = [1, 2, 3];
/// Hourly digests are written for prod/us-east-1 for a few busy hours of the first day.
const DIGEST_FROM_HOUR: i64 = 9;
const DIGEST_HOURS: i64 = 3;
const TRAIL: &str = "management-events";
const BUCKET: &str = "anycompany-cloudtrail-logs";

const OFFICE_IPS: [&str; 4] = ["192.0.2.10", "192.0.2.11", "192.0.2.57", "192.0.2.130"];
const CLI_AGENTS: [&str; 3] = [
    "aws-cli/2.17.20 md/awscrt#0.20.11 ua/2.0 os/linux#6.5.0 md/arch#x86_64 lang/python#3.11.9 md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe md/prompt#off",
    "Boto3/1.34.144 md/Botocore#1.34.144 ua/2.0 os/linux#6.5.0 md/arch#x86_64 lang/python#3.12.4 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.144",
    "APN/1.0 HashiCorp/1.0 Terraform/1.9.2 (+https://www.terraform.io) terraform-provider-aws/5.59.0 (+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go-v2/1.30.3 os/linux lang/go#1.22.5 md/GOOS#linux md/GOARCH#amd64",
];
const BROWSER: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36";
const APP_AGENT: &str = "aws-sdk-java/2.25.60 Linux/6.1.97-104.177.amzn2023.aarch64 OpenJDK_64-Bit_Server_VM/21.0.3+9-LTS Java/21.0.3 vendor/Amazon.com_Inc. io/sync http/Apache cfg/retry-mode/standard";

/// A record waiting for the window its `eventTime` falls in.
struct Pending {
    t: i64,
    acct: u8,
    region: u8,
    rec: Vec<u8>,
}

#[derive(Clone, Copy, PartialEq)]
enum KeyShown {
    Yes,
    Empty,
    Missing,
}

/// A live role session.
struct Sess {
    role: usize,
    key: String,
    created: i64,
    principal_id: String,
    arn: String,
    source_identity: Option<String>,
    mfa: bool,
    basic_date: bool,
    key_shown: KeyShown,
    invoked_by: Option<&'static str>,
    ec2: bool,
}

/// Who made a call, as `userIdentity` shows it.
enum Who<'a> {
    /// `IAMUser`; `false` when no access key is involved (console sign-in).
    User(&'a User, bool),
    /// `AssumedRole`.
    Session(&'a Sess),
    /// `AWSAccount`: another account, seen only as (principal id, account id).
    Account(String, &'a str),
    /// `AWSService` with `invokedBy`.
    Service(&'static str),
    /// AWS acting on its own (service events): no type, `invokedBy: "AWS Internal"`.
    Internal(&'a str),
}

struct Call<'a> {
    t: i64,
    acct: usize,
    region: usize,
    who: &'a Who<'a>,
    op: &'a Op,
    ip: &'a str,
    ua: &'a str,
    /// (`errorCode`, `errorMessage`); an empty code writes the message alone.
    error: Option<(&'static str, String)>,
    body: Body,
    event_type: &'static str,
    shared: bool,
    vpce: bool,
    console: bool,
    details: Option<String>,
}

/// An `sts:AssumeRole` call to write.
struct Assume<'a> {
    t: i64,
    role: usize,
    caller: &'a Who<'a>,
    /// For the denial message only.
    caller_arn: &'a str,
    session: &'a str,
    ip: &'a str,
    ua: &'a str,
    external_id: Option<&'a str>,
    source_identity: Option<&'a str>,
    deny: bool,
}

/// Where a burst of calls comes from and what it may do.
struct Actor<'a> {
    who: Who<'a>,
    acct: usize,
    ip: &'a str,
    ua: &'a str,
    ops: &'a [&'static Op],
    denied: &'a [&'static Op],
    regions: &'a [usize],
    deny_p: f64,
    vpce_p: f64,
    console: bool,
    bucket: Option<usize>,
}

impl<'a> Actor<'a> {
    fn new(
        who: Who<'a>,
        acct: usize,
        (ip, ua): (&'a str, &'a str),
        ops: &'a [&'static Op],
        regions: &'a [usize],
    ) -> Self {
        Actor {
            who,
            acct,
            ip,
            ua,
            ops,
            denied: &[],
            regions,
            deny_p: 0.0,
            vpce_p: 0.0,
            console: false,
            bucket: None,
        }
    }
}

impl<'a> Assume<'a> {
    /// A successful call without External ID or source identity.
    fn new(
        t: i64,
        role: usize,
        caller: &'a Who<'a>,
        session: &'a str,
        (ip, ua): (&'a str, &'a str),
    ) -> Self {
        Assume {
            t,
            role,
            caller,
            caller_arn: "",
            session,
            ip,
            ua,
            external_id: None,
            source_identity: None,
            deny: false,
        }
    }
}

struct LogEntry {
    key: String,
    sha256: String,
    oldest: i64,
    newest: i64,
    delivered: i64,
}

pub(crate) struct Gen<'w> {
    w: &'w World,
    out: &'w Path,
    rng: Rng,
    epd: f64,
    start: i64,
    end: i64,
    pending: Vec<Pending>,
    generated: u64,
    pub(crate) sessions: Vec<SessionTruth>,
    pub(crate) failed: Vec<String>,
    pub(crate) counts: Counts,
    pub(crate) first: i64,
    pub(crate) last: i64,
    pub(crate) dup_dates: BTreeSet<String>,
    digest_log: Vec<LogEntry>,
    dirs: BTreeSet<PathBuf>,
    body: Vec<u8>,
    gz: Vec<u8>,
    deflate: Compress,
    /// Whether the planted chain (and denied hop) has been written.
    chain_planted: bool,
    internal_sessions: usize,
}

impl<'w> Gen<'w> {
    pub(crate) fn new(w: &'w World, spec: &Spec, start: i64, out: &'w Path, rng: Rng) -> Gen<'w> {
        Gen {
            w,
            out,
            rng,
            epd: f64::from(spec.events_per_day),
            start,
            end: start + i64::from(spec.days) * 86_400,
            pending: Vec::new(),
            generated: 0,
            sessions: Vec::new(),
            failed: Vec::new(),
            counts: Counts::default(),
            first: i64::MAX,
            last: i64::MIN,
            dup_dates: BTreeSet::new(),
            digest_log: Vec::new(),
            dirs: BTreeSet::new(),
            body: Vec::new(),
            gz: Vec::new(),
            deflate: Compress::new(Compression::fast(), false),
            chain_planted: false,
            internal_sessions: 0,
        }
    }

    /// Runs the whole span, then writes digests and the insight object.
    pub(crate) fn run(&mut self) -> Result<(), Error> {
        let mut schedule: Vec<(i64, usize)> = Vec::new();
        let mut scheduled_until = self.start;
        let (mut target, mut vendor_records) = (0.0, 0);
        let days = (self.end - self.start) / 86_400;
        let mut planted_fail = Some(self.start + 2.min(days - 1) * 86_400 + 12 * 3600);
        let mut t = self.start;
        while t < self.end || !self.pending.is_empty() {
            let w_end = (t + self.rng.range(300, 900) as i64).min(if t < self.end {
                self.end
            } else {
                i64::MAX
            });
            if t < self.end {
                while scheduled_until < w_end && scheduled_until < self.end {
                    self.schedule_day(scheduled_until, &mut schedule);
                    scheduled_until += 86_400;
                }
                let due = schedule.iter().take_while(|s| s.0 < w_end).count();
                let before = self.generated;
                for (st, role) in schedule.drain(..due).collect::<Vec<_>>() {
                    self.vendor_session(role, st);
                }
                // Vendor records come on top of the noise, so planted sessions do not starve it.
                vendor_records += self.generated - before;
                if let Some(pt) = planted_fail.filter(|&pt| pt < w_end) {
                    self.failed_assume(pt.max(t));
                    planted_fail = None;
                }
                // Busier in office hours; the mean weight over a day is 1.
                let hour = (t - self.start).rem_euclid(86_400) / 3600;
                let weight = if (7..19).contains(&hour) { 1.45 } else { 0.55 };
                target += self.epd * (1.0 - VENDOR_SHARE) * (w_end - t) as f64 / 86_400.0 * weight;
                while ((self.generated - vendor_records) as f64) < target {
                    let at = t + self.rng.below((w_end - t) as u64) as i64;
                    self.noise(at);
                }
            }
            self.flush(w_end)?;
            t = w_end;
        }
        self.write_digests()?;
        self.write_insight()
    }

    fn schedule_day(&mut self, day_start: i64, schedule: &mut Vec<(i64, usize)>) {
        let day = (day_start - self.start) / 86_400;
        let active: Vec<usize> = (0..self.w.roles.len())
            .filter(|&i| {
                let r = &self.w.roles[i];
                r.kind == RoleKind::Vendor && !r.never_used && (!r.inactive || day < 5)
            })
            .collect();
        let total: u32 = active.iter().map(|&i| self.w.roles[i].weight).sum();
        let budget = self.epd * VENDOR_SHARE / SESSION_RECORDS;
        for i in active {
            let r = &self.w.roles[i];
            let mut expect = budget * f64::from(r.weight) / f64::from(total.max(1));
            // Every used role shows up on day 0, and the inactive one daily while it lives.
            if day == 0 || r.inactive {
                expect = expect.max(1.0);
            }
            let n = expect.floor() as u64 + u64::from(self.rng.chance(expect.fract()));
            for _ in 0..n {
                schedule.push((day_start + self.rng.below(86_400) as i64, i));
            }
        }
        schedule.sort_unstable();
    }

    // ---- records ------------------------------------------------------------------------

    fn identity(&self, j: &mut Json, who: &Who) {
        let w = self.w;
        j.obj();
        match who {
            Who::User(u, with_key) => {
                let id = &w.accounts[u.acct].id;
                j.ks("type", "IAMUser").ks("principalId", &u.id);
                j.ks("arn", &format!("arn:aws:iam::{id}:user/{}", u.name))
                    .ks("accountId", id);
                if *with_key {
                    j.ks("accessKeyId", &u.key);
                }
                j.ks("userName", u.name);
            }
            Who::Session(s) => {
                let r = &w.roles[s.role];
                let id = &w.accounts[r.acct].id;
                j.ks("type", "AssumedRole")
                    .ks("principalId", &s.principal_id)
                    .ks("arn", &s.arn);
                j.ks("accountId", id);
                match s.key_shown {
                    KeyShown::Yes => j.ks("accessKeyId", &s.key),
                    KeyShown::Empty => j.ks("accessKeyId", ""),
                    KeyShown::Missing => j,
                };
                j.k("sessionContext")
                    .obj()
                    .k("sessionIssuer")
                    .obj()
                    .ks("type", "Role");
                j.ks("principalId", &r.id)
                    .ks("arn", &r.arn(w))
                    .ks("accountId", id)
                    .ks("userName", r.name)
                    .end();
                j.k("webIdFederationData").obj().end().k("attributes").obj();
                let created = if s.basic_date {
                    iso_basic(s.created)
                } else {
                    iso(s.created)
                };
                j.ks("creationDate", &created)
                    .ks("mfaAuthenticated", if s.mfa { "true" } else { "false" })
                    .end();
                if let Some(si) = &s.source_identity {
                    j.ks("sourceIdentity", si);
                }
                if s.ec2 {
                    j.ks("ec2RoleDelivery", "2.0");
                }
                j.end();
                if let Some(svc) = s.invoked_by {
                    j.ks("invokedBy", svc);
                }
            }
            Who::Account(principal, acct) => {
                j.ks("type", "AWSAccount")
                    .ks("principalId", principal)
                    .ks("accountId", acct);
            }
            Who::Service(svc) => {
                j.ks("type", "AWSService").ks("invokedBy", svc);
            }
            Who::Internal(acct) => {
                j.ks("accountId", acct).ks("invokedBy", "AWS Internal");
            }
        }
        j.end();
    }

    /// Writes one record to the pending list and returns its `eventID`.
    fn emit(&mut self, c: Call) -> String {
        let acct = &self.w.accounts[c.acct];
        let region = REGIONS[c.region];
        let event_id = self.rng.uuid();
        let b = &c.body;
        let size = 1200
            + [&b.req, &b.resp, &b.extra, &b.resources]
                .iter()
                .map(|x| x.as_ref().map_or(0, |s| s.len()))
                .sum::<usize>();
        let mut j = Json::new(size);
        j.obj()
            .ks("eventVersion", if c.op.data { "1.10" } else { "1.09" })
            .k("userIdentity");
        self.identity(&mut j, c.who);
        j.ks("eventTime", &iso(c.t))
            .ks("eventSource", c.op.source)
            .ks("eventName", c.op.name);
        j.ks("awsRegion", region)
            .ks("sourceIPAddress", c.ip)
            .ks("userAgent", c.ua);
        // A failed ConsoleLogin has a message but no code, and keeps its responseElements.
        let failed_call = c.error.as_ref().is_some_and(|e| !e.0.is_empty());
        if let Some((code, msg)) = &c.error {
            if !code.is_empty() {
                j.ks("errorCode", code);
            }
            j.ks("errorMessage", msg);
        }
        j.k("requestParameters")
            .raw(b.req.as_deref().unwrap_or("null"));
        j.k("responseElements").raw(if failed_call {
            "null"
        } else {
            b.resp.as_deref().unwrap_or("null")
        });
        if let Some(x) = &b.extra {
            j.k("additionalEventData").raw(x);
        }
        j.ks("requestID", &self.rng.uuid())
            .ks("eventID", &event_id)
            .k("readOnly")
            .b(c.op.read_only);
        if let Some(r) = &b.resources {
            j.k("resources").raw(r);
        }
        j.ks("eventType", c.event_type)
            .k("managementEvent")
            .b(!c.op.data)
            .ks("recipientAccountId", &acct.id);
        if c.shared {
            j.ks("sharedEventID", &self.rng.uuid());
        }
        if let Some(d) = &c.details {
            j.k("serviceEventDetails").raw(d);
        }
        if c.vpce {
            j.ks("vpcEndpointId", &acct.vpce);
        }
        j.ks(
            "eventCategory",
            if c.op.data { "Data" } else { "Management" },
        );
        // Calls made by AWS itself carry no TLS details.
        if !matches!(c.who, Who::Service(_) | Who::Internal(_)) && !c.ip.ends_with(".com") {
            let svc = c.op.source.split('.').next().unwrap_or("");
            let host = if c.op.global {
                format!("{svc}.amazonaws.com")
            } else {
                format!("{svc}.{region}.amazonaws.com")
            };
            j.k("tlsDetails")
                .obj()
                .ks("tlsVersion", "TLSv1.3")
                .ks("cipherSuite", "TLS_AES_128_GCM_SHA256");
            j.ks("clientProvidedHostHeader", &host).end();
        }
        if c.console {
            j.ks("sessionCredentialFromConsole", "true");
        }
        j.end();
        self.pending.push(Pending {
            t: c.t,
            acct: c.acct as u8,
            region: c.region as u8,
            rec: j.take(),
        });
        self.generated += 1;
        event_id
    }

    fn call<'a>(
        &mut self,
        t: i64,
        (acct, region): (usize, usize),
        who: &'a Who<'a>,
        op: &'a Op,
        (ip, ua): (&'a str, &'a str),
        bucket: Option<usize>,
    ) -> Call<'a> {
        let ctx = Ctx {
            acct: &self.w.accounts[acct],
            region: REGIONS[region],
            t,
            bucket,
        };
        let body = ops::body(&mut self.rng, op, &ctx);
        Call {
            t,
            acct,
            region,
            who,
            op,
            ip,
            ua,
            error: None,
            body,
            event_type: "AwsApiCall",
            shared: false,
            vpce: false,
            console: false,
            details: None,
        }
    }

    /// `sts:AssumeRole` into `role`; `None` (and a denied record) when `deny`.
    fn assume(&mut self, q: Assume) -> (Option<Sess>, String) {
        let Assume {
            t,
            role,
            caller,
            caller_arn,
            session,
            external_id,
            source_identity,
            deny,
            ..
        } = q;
        let w = self.w;
        let r = &w.roles[role];
        let role_arn = r.arn(w);
        let acct = &w.accounts[r.acct].id;
        let key = self.rng.aws_id("ASIA", 16);
        let region = r.regions.first().copied().unwrap_or(0);
        let mut c = self.call(
            q.t,
            (r.acct, region),
            q.caller,
            &ops::ASSUME_ROLE,
            (q.ip, q.ua),
            None,
        );
        let (assumed_arn, assumed_id) = (
            format!("arn:aws:sts::{acct}:assumed-role/{}/{session}", r.name),
            format!("{}:{session}", r.id),
        );
        c.body.req = Some(Json::text(|j| {
            j.obj()
                .ks("roleArn", &role_arn)
                .ks("roleSessionName", session);
            if let Some(x) = external_id {
                j.ks("externalId", x);
            }
            j.k("durationSeconds").n(3600);
            if let Some(s) = source_identity {
                j.ks("sourceIdentity", s);
            }
            j.end();
        }));
        let token = self.rng.session_token();
        c.body.resp = Some(Json::text(|j| {
            j.obj()
                .k("credentials")
                .obj()
                .ks("accessKeyId", &key)
                .ks("sessionToken", &token)
                .ks("expiration", &sts_expiration(t + 3600))
                .end();
            j.k("assumedRoleUser")
                .obj()
                .ks("assumedRoleId", &assumed_id)
                .ks("arn", &assumed_arn)
                .end();
            if let Some(s) = source_identity {
                j.ks("sourceIdentity", s);
            }
            j.end();
        }));
        c.body.resources = Some(Json::text(|j| {
            j.arr()
                .obj()
                .ks("accountId", acct)
                .ks("type", "AWS::IAM::Role")
                .ks("ARN", &role_arn)
                .end()
                .end_arr();
        }));
        // Delivered to a second account (caller side) only when the caller is elsewhere.
        c.shared = matches!(caller, Who::Account(..) | Who::Service(_));
        if deny {
            c.error = Some((
                "AccessDenied",
                format!(
                    "User: {caller_arn} is not authorized to perform: sts:AssumeRole on resource: {role_arn}"
                ),
            ));
        }
        let id = self.emit(c);
        if deny {
            self.failed.push(id.clone());
            return (None, id);
        }
        let sess = Sess {
            role,
            key,
            created: t,
            principal_id: assumed_id,
            arn: assumed_arn,
            source_identity: source_identity.map(str::to_string),
            mfa: false,
            basic_date: false,
            key_shown: KeyShown::Yes,
            invoked_by: None,
            ec2: false,
        };
        (Some(sess), id)
    }

    /// `n` calls spread over at most `span` seconds after `t0`: (records, errors, last time).
    fn calls(&mut self, a: &Actor, t0: i64, n: u32, span: i64) -> (u32, u32, i64) {
        let (mut t, mut errors) = (t0, 0);
        let step = (span / i64::from(n.max(1))).max(2);
        let w = self.w;
        for i in 1..=i64::from(n) {
            // Evenly paced with jitter, never going back in time.
            t = (t0 + span * i / i64::from(n) - self.rng.below(step as u64) as i64).max(t + 1);
            let denied = !a.denied.is_empty() && self.rng.chance(a.deny_p);
            let op = *self.rng.pick(if denied { a.denied } else { a.ops });
            if op.name == "AssumeRole" {
                // A session trying a role that does not trust it: same account, so logged.
                if let (Who::Session(s), Some(target)) =
                    (&a.who, w.role_by_name(a.acct, "OrgAdmin"))
                {
                    let name = format!("{}-admin", w.roles[s.role].name.to_lowercase());
                    self.assume(Assume {
                        t,
                        role: target,
                        caller: &a.who,
                        caller_arn: &s.arn,
                        session: &name,
                        ip: a.ip,
                        ua: a.ua,
                        external_id: None,
                        source_identity: s.source_identity.as_deref(),
                        deny: true,
                    });
                    errors += 1;
                }
                continue;
            }
            let region = if op.global {
                0
            } else {
                *self.rng.pick(a.regions)
            };
            let mut c = self.call(t, (a.acct, region), &a.who, op, (a.ip, a.ua), a.bucket);
            c.vpce = self.rng.chance(a.vpce_p);
            c.console = a.console;
            if denied || self.rng.chance(0.004) {
                let actor = match &a.who {
                    Who::Session(s) => s.arn.clone(),
                    Who::User(u, _) => {
                        format!("arn:aws:iam::{}:user/{}", w.accounts[u.acct].id, u.name)
                    }
                    _ => String::new(),
                };
                let msg = format!(
                    "User: {actor} is not authorized to perform: {} because no identity-based policy allows the {} action",
                    op.action, op.action
                );
                c.error = Some(match op.source {
                    "ec2.amazonaws.com" => (
                        "Client.UnauthorizedOperation",
                        format!("You are not authorized to perform this operation. {msg}"),
                    ),
                    "s3.amazonaws.com" | "iam.amazonaws.com" | "sts.amazonaws.com" => {
                        ("AccessDenied", msg)
                    }
                    _ => ("AccessDeniedException", msg),
                });
                errors += 1;
            }
            self.emit(c);
        }
        (n, errors, t)
    }

    // ---- activities ---------------------------------------------------------------------

    fn vendor_session(&mut self, role: usize, t0: i64) {
        let w = self.w;
        let r = &w.roles[role];
        let Some((vi, ai)) = r.vendor else { return };
        let v = &w.vendors[vi];
        let from = (*self.rng.pick(&v.ips), v.user_agent);
        let name = format!("{}-{t0}", v.session_prefix);
        let caller = Who::Account(format!("{}:{name}", v.own_role_id), &v.accounts[ai]);
        let q = Assume {
            external_id: r.external_id.as_deref(),
            source_identity: r.source_identity,
            ..Assume::new(t0, role, &caller, &name, from)
        };
        let (Some(sess), eid) = self.assume(q) else {
            return;
        };
        let chain = w
            .roles
            .iter()
            .position(|c| c.kind == RoleKind::Chain && c.vendor == r.vendor);
        // The first session of a chaining vendor always plants the chain and a denied hop.
        let planted = chain.is_some() && !self.chain_planted;
        self.chain_planted |= planted;
        let actor = Actor {
            denied: &r.denied,
            deny_p: 0.06,
            bucket: r.bucket,
            ..Actor::new(Who::Session(&sess), r.acct, from, &r.ops, r.regions)
        };
        let n = self.rng.range(5, 60) as u32;
        let span = self.rng.range(120, 3500) as i64;
        let (mut actions, mut errors, mut last) = self.calls(&actor, t0, n, span);
        if planted {
            let hop = [&ops::ASSUME_ROLE];
            let (_, e, l) = self.calls(&Actor { ops: &hop, ..actor }, t0 + 30, 1, 30);
            (actions, errors, last) = (actions + 1, errors + e, last.max(l));
        }
        let mut child = None;
        if let Some(c) = chain.filter(|_| planted || self.rng.chance(0.4)) {
            let ct = t0 + self.rng.range(60, 900) as i64;
            let cname = format!("{}-deploy-{ct}", v.session_prefix);
            let parent = Who::Session(&sess);
            let q = Assume {
                caller_arn: &sess.arn,
                source_identity: r.source_identity,
                ..Assume::new(ct, c, &parent, &cname, from)
            };
            let (s, ceid) = self.assume(q);
            (actions, last) = (actions + 1, last.max(ct));
            child = s.map(|s| (s, ceid, ct));
        }
        let truth = |role_arn, sess: &Sess, assume_event_id, (start, end), (actions, errors)| {
            SessionTruth {
                vendor: v.name.into(),
                vendor_account: v.accounts[ai].clone(),
                role_arn,
                temp_access_key_id: sess.key.clone(),
                assume_event_id,
                start: iso(start),
                end: iso(end),
                actions,
                errors,
                parent_temp_access_key_id: None,
                source_identity: sess.source_identity.clone(),
                external_id: None,
            }
        };
        let external_id = r.external_id.clone();
        self.sessions.push(SessionTruth {
            external_id,
            ..truth(r.arn(w), &sess, eid, (t0, last), (actions, errors))
        });
        if let Some((cs, ceid, ct)) = child {
            let cr = &w.roles[cs.role];
            let cactor = Actor {
                denied: &cr.denied,
                ..Actor::new(Who::Session(&cs), cr.acct, from, &cr.ops, cr.regions)
            };
            let n = self.rng.range(3, 20) as u32;
            let span = self.rng.range(60, 3000) as i64;
            let (a, e, l) = self.calls(&cactor, ct, n, span);
            let parent_temp_access_key_id = Some(sess.key.clone());
            self.sessions.push(SessionTruth {
                parent_temp_access_key_id,
                ..truth(cr.arn(w), &cs, ceid, (ct, l), (a, e))
            });
        }
    }

    fn pick_user(&mut self, acct: usize) -> &'w User {
        let users: Vec<&User> = self.w.users.iter().filter(|u| u.acct == acct).collect();
        users[self.rng.below(users.len() as u64) as usize]
    }

    fn pick_role(&mut self, acct: usize, f: impl Fn(&Role) -> bool) -> Option<usize> {
        let roles: Vec<usize> = (0..self.w.roles.len())
            .filter(|&i| self.w.roles[i].acct == acct && f(&self.w.roles[i]))
            .collect();
        (!roles.is_empty()).then(|| roles[self.rng.below(roles.len() as u64) as usize])
    }

    /// One unit of internal background activity.
    fn noise(&mut self, t: i64) {
        let acct = [PROD, STAGING, SECURITY][self.rng.weighted(&[6, 3, 1])];
        let region = self.rng.weighted(&REGION_WEIGHTS);
        match self.rng.weighted(&[380, 250, 140, 120, 50, 30, 2]) {
            0 => self.user_calls(t, acct, region),
            1 => self.internal_session(t, acct, region),
            2 => self.service_session(t, acct, false),
            3 => self.service_session(t, acct, true),
            4 => self.console_login(t, acct),
            5 => self.key_rotation(t, acct, region),
            _ => self.failed_assume(t),
        }
    }

    /// An IAM user's access key at work (CLI, SDK, Terraform).
    fn user_calls(&mut self, t: i64, acct: usize, region: usize) {
        let w = self.w;
        let u = self.pick_user(acct);
        let from = (*self.rng.pick(&OFFICE_IPS), *self.rng.pick(&CLI_AGENTS));
        let regions = [region];
        let a = Actor {
            vpce_p: 0.03,
            ..Actor::new(Who::User(u, true), acct, from, &w.human_ops, &regions)
        };
        let n = self.rng.range(1, 12) as u32;
        self.calls(&a, t, n, 600);
    }

    /// A user assuming an internal role, from the same account or from the security account.
    fn internal_session(&mut self, t: i64, acct: usize, region: usize) {
        let w = self.w;
        let Some(role) = self.pick_role(acct, |r| r.kind == RoleKind::Internal) else {
            return;
        };
        let cross = w.roles[role].name == "OrgAdmin";
        let u = self.pick_user(if cross { SECURITY } else { acct });
        let console = self.rng.chance(0.2);
        let ip = *self.rng.pick(&OFFICE_IPS);
        let from = (
            ip,
            if console {
                BROWSER
            } else {
                *self.rng.pick(&CLI_AGENTS)
            },
        );
        let caller = if cross {
            Who::Account(u.id.clone(), &w.accounts[SECURITY].id)
        } else {
            Who::User(u, true)
        };
        let (Some(mut s), _) = self.assume(Assume::new(t, role, &caller, u.name, from)) else {
            return;
        };
        s.mfa = console || self.rng.chance(0.5);
        // The shapes DOMAIN.md warns about: basic-form dates, empty or absent keys. The first
        // internal sessions always show them, so even tiny specs have them.
        let nth = self.internal_sessions;
        self.internal_sessions += 1;
        s.basic_date = nth == 2 || self.rng.chance(0.03);
        let shown = [KeyShown::Yes, KeyShown::Empty, KeyShown::Missing];
        s.key_shown = shown[if nth < 2 {
            nth + 1
        } else {
            self.rng.weighted(&[95, 3, 2])
        }];
        let regions = [region];
        let a = Actor {
            vpce_p: 0.03,
            console,
            ..Actor::new(Who::Session(&s), acct, from, &w.human_ops, &regions)
        };
        let n = self.rng.range(3, 25) as u32;
        self.calls(&a, t, n, 3000);
    }

    /// An AWS service (or EC2 for an instance profile) assuming its role and using it.
    fn service_session(&mut self, t: i64, acct: usize, ec2: bool) {
        let w = self.w;
        let Some(role) = self.pick_role(acct, |r| {
            r.service.is_some_and(|s| (s == "ec2.amazonaws.com") == ec2)
        }) else {
            return;
        };
        let r = &w.roles[role];
        let svc = r.service.unwrap_or_default();
        let name = if ec2 {
            self.rng.pick(&w.accounts[acct].instances).clone()
        } else {
            format!("{}-{}", svc.split('.').next().unwrap_or(""), r.name)
        };
        let (Some(mut s), _) =
            self.assume(Assume::new(t, role, &Who::Service(svc), &name, (svc, svc)))
        else {
            return;
        };
        let private_ip = format!("10.0.{}.{}", self.rng.below(255), self.rng.range(4, 254));
        (s.ec2, s.invoked_by) = (ec2, (!ec2).then_some(svc));
        let (from, vpce_p) = if ec2 {
            ((private_ip.as_str(), APP_AGENT), 0.3)
        } else {
            ((svc, svc), 0.0)
        };
        let a = Actor {
            vpce_p,
            ..Actor::new(Who::Session(&s), acct, from, &r.ops, r.regions)
        };
        let n = self.rng.range(1, 10) as u32;
        self.calls(&a, t, n, 1800);
    }

    fn console_login(&mut self, t: i64, acct: usize) {
        let u = self.pick_user(acct);
        let ip = *self.rng.pick(&OFFICE_IPS);
        let who = Who::User(u, false);
        let mut c = self.call(t, (acct, 0), &who, &ops::CONSOLE_LOGIN, (ip, BROWSER), None);
        c.event_type = "AwsConsoleSignIn";
        let ok = self.rng.chance(0.93);
        c.body.resp = Some(format!(
            r#"{{"ConsoleLogin":"{}"}}"#,
            if ok { "Success" } else { "Failure" }
        ));
        c.body.extra = Some(r#"{"LoginTo":"https://console.aws.amazon.com/console/home?state=hashArgs%23&isauthcode=true","MobileVersion":"No","MFAUsed":"Yes"}"#.into());
        if !ok {
            c.error = Some(("", "Failed authentication".into()));
        }
        self.emit(c);
    }

    /// An `AwsServiceEvent`: KMS rotating a key on its own.
    fn key_rotation(&mut self, t: i64, acct: usize, region: usize) {
        let id = &self.w.accounts[acct].id;
        let key = self.rng.pick(&self.w.accounts[acct].kms_keys).clone();
        let who = Who::Internal(id);
        let mut c = self.call(
            t,
            (acct, region),
            &who,
            &ops::ROTATE_KEY,
            ("AWS Internal", "AWS Internal"),
            None,
        );
        let arn = format!("arn:aws:kms:{}:{id}:key/{key}", REGIONS[region]);
        c.body = Body {
            resources: Some(format!(
                r#"[{{"ARN":"{arn}","accountId":"{id}","type":"AWS::KMS::Key"}}]"#
            )),
            ..Body::default()
        };
        c.event_type = "AwsServiceEvent";
        c.details = Some(format!(r#"{{"keyId":"{key}"}}"#));
        self.emit(c);
    }

    /// An own user trying a vendor role it is not trusted by (same account, so logged).
    fn failed_assume(&mut self, t: i64) {
        let w = self.w;
        let Some(role) = w.role_by_name(PROD, "BlueBackupRole") else {
            return;
        };
        let u = self.pick_user(PROD);
        let arn = format!("arn:aws:iam::{}:user/{}", w.accounts[PROD].id, u.name);
        let from = (OFFICE_IPS[0], *self.rng.pick(&CLI_AGENTS));
        let who = Who::User(u, true);
        self.assume(Assume {
            caller_arn: &arn,
            deny: true,
            ..Assume::new(t, role, &who, u.name, from)
        });
    }

    // ---- objects ------------------------------------------------------------------------

    fn put(&mut self, key: &str, bytes: &[u8]) -> Result<(), Error> {
        let path = self.out.join(key);
        if let Some(dir) = path.parent().filter(|d| !self.dirs.contains(*d)) {
            std::fs::create_dir_all(dir).map_err(|source| Error::Io {
                path: dir.to_path_buf(),
                source,
            })?;
            self.dirs.insert(dir.to_path_buf());
        }
        std::fs::write(&path, bytes).map_err(|source| Error::Io { path, source })
    }

    /// Gzips `self.body` into `self.gz`: one member, no timestamp (reproducible bytes), and
    /// one reused compressor, because setting one up per object costs more than small objects.
    fn compress(&mut self, key: &str) -> Result<(), Error> {
        let io = |e: std::io::Error| Error::Io {
            path: self.out.join(key),
            source: e,
        };
        self.gz.clear();
        self.gz
            .extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 4, 255]);
        self.deflate.reset();
        loop {
            self.gz.reserve(self.body.len() / 3 + 1024);
            let done = self.deflate.total_in() as usize;
            let status =
                self.deflate
                    .compress_vec(&self.body[done..], &mut self.gz, FlushCompress::Finish);
            if status.map_err(|e| io(std::io::Error::other(e)))? == Status::StreamEnd {
                break;
            }
        }
        let mut crc = Crc::new();
        crc.update(&self.body);
        self.gz.extend_from_slice(&crc.sum().to_le_bytes());
        self.gz
            .extend_from_slice(&(self.body.len() as u32).to_le_bytes());
        Ok(())
    }

    fn log_key(
        &mut self,
        acct: usize,
        region: usize,
        delivered: i64,
        org: bool,
        kind: &str,
    ) -> String {
        let id = &self.w.accounts[acct].id;
        let prefix = if org {
            format!("AWSLogs/{}/{id}", self.w.org_id)
        } else {
            format!("AWSLogs/{id}")
        };
        let r = REGIONS[region];
        format!(
            "{prefix}/{kind}/{r}/{}/{id}_{kind}_{r}_{}_{}.json.gz",
            date_dirs(delivered),
            key_stamp(delivered),
            self.rng.alnum(16)
        )
    }

    fn flush(&mut self, until: i64) -> Result<(), Error> {
        let (mut ready, later): (Vec<Pending>, Vec<Pending>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|p| p.t < until);
        self.pending = later;
        // Stable: records keep generation order inside an object, which is not time order.
        ready.sort_by_key(|p| (p.acct, p.region));
        let day = (until - 1 - self.start).div_euclid(86_400);
        for group in ready.chunk_by(|a, b| (a.acct, a.region) == (b.acct, b.region)) {
            let delivered = until + self.rng.range(60, 300) as i64;
            self.write_log(group, delivered, false)?;
            if usize::from(group[0].acct) == STAGING && DUP_DAYS.contains(&day) && until <= self.end
            {
                self.dup_dates.insert(iso(until - 1)[..10].to_string());
                let copy_delivered = delivered + self.rng.range(20, 200) as i64;
                self.write_log(group, copy_delivered, true)?;
            }
        }
        Ok(())
    }

    fn write_log(&mut self, recs: &[Pending], delivered: i64, org: bool) -> Result<(), Error> {
        let (acct, region) = (usize::from(recs[0].acct), usize::from(recs[0].region));
        let key = self.log_key(acct, region, delivered, org, "CloudTrail");
        self.body.clear();
        self.body.extend_from_slice(b"{\"Records\":[");
        // The org trail's copy lists the same records in another order (and other bytes).
        let order: Box<dyn Iterator<Item = &Pending>> = if org {
            Box::new(recs.iter().rev())
        } else {
            Box::new(recs.iter())
        };
        for (i, p) in order.enumerate() {
            if i > 0 {
                self.body.push(b',');
            }
            self.body.extend_from_slice(&p.rec);
        }
        self.body.extend_from_slice(b"]}");
        self.compress(&key)?;
        let gz = std::mem::take(&mut self.gz);
        self.put(&key, &gz)?;
        let n = recs.len() as u64;
        let c = &mut self.counts;
        c.log_objects += 1;
        c.records_written_total += n;
        c.uncompressed_bytes += self.body.len() as u64;
        c.compressed_bytes += gz.len() as u64;
        self.gz = gz;
        let (oldest, newest) = recs.iter().fold((i64::MAX, i64::MIN), |(lo, hi), p| {
            (lo.min(p.t), hi.max(p.t))
        });
        if org {
            self.counts.duplicate_records += n;
            return Ok(());
        }
        self.counts.records += n;
        (self.first, self.last) = (self.first.min(oldest), self.last.max(newest));
        if acct == PROD
            && region == 0
            && delivered < self.start + (DIGEST_FROM_HOUR + DIGEST_HOURS) * 3600
        {
            let sha256 = format!("{:x}", Sha256::digest(&self.body));
            self.digest_log.push(LogEntry {
                key,
                sha256,
                oldest,
                newest,
                delivered,
            });
        }
        Ok(())
    }

    /// Hourly digests for prod/us-east-1, chained by hash; the first one starts the chain.
    fn write_digests(&mut self) -> Result<(), Error> {
        let id = self.w.accounts[PROD].id.clone();
        let region = REGIONS[0];
        let mut previous: Option<(String, String, String)> = None; // key, sha256, signature
        for h in DIGEST_FROM_HOUR..DIGEST_FROM_HOUR + DIGEST_HOURS {
            let (from, to) = (self.start + h * 3600, self.start + (h + 1) * 3600);
            let files: Vec<&LogEntry> = self
                .digest_log
                .iter()
                .filter(|e| e.delivered >= from && e.delivered < to)
                .collect();
            let key = format!(
                "AWSLogs/{id}/CloudTrail-Digest/{region}/{}/{id}_CloudTrail-Digest_{region}_{TRAIL}_{region}_{}.json.gz",
                date_dirs(to),
                iso_basic(to)
            );
            let time = |f: fn(&LogEntry) -> i64, pick: fn(i64, i64) -> i64| {
                files.iter().map(|e| f(e)).reduce(pick).map(iso)
            };
            let doc = json!({
                "awsAccountId": id, "digestStartTime": iso(from), "digestEndTime": iso(to),
                "digestS3Bucket": BUCKET, "digestS3Object": key,
                "digestPublicKeyFingerprint": self.rng.hex(32), "digestSignatureAlgorithm": "SHA256withRSA",
                "newestEventTime": time(|e| e.newest, i64::max), "oldestEventTime": time(|e| e.oldest, i64::min),
                "previousDigestS3Bucket": previous.as_ref().map(|_| BUCKET),
                "previousDigestS3Object": previous.as_ref().map(|p| &p.0),
                "previousDigestHashValue": previous.as_ref().map(|p| &p.1),
                "previousDigestHashAlgorithm": previous.as_ref().map(|_| "SHA-256"),
                "previousDigestSignature": previous.as_ref().map(|p| &p.2),
                "logFiles": files.iter().map(|e| json!({
                    "s3Bucket": BUCKET, "s3Object": e.key, "hashValue": e.sha256, "hashAlgorithm": "SHA-256",
                    "newestEventTime": iso(e.newest), "oldestEventTime": iso(e.oldest),
                })).collect::<Vec<_>>(),
            });
            self.body = serde_json::to_vec(&doc).map_err(|source| Error::Json {
                what: "digest",
                source,
            })?;
            self.compress(&key)?;
            let gz = std::mem::take(&mut self.gz);
            self.put(&key, &gz)?;
            self.gz = gz;
            self.counts.digest_objects += 1;
            // Signatures live in S3 object metadata, which a folder cannot hold: random hex.
            previous = Some((
                key,
                format!("{:x}", Sha256::digest(&self.body)),
                self.rng.hex(512),
            ));
        }
        Ok(())
    }

    /// One Insights object: a Start/End pair about a burst of `RunInstances` in prod.
    fn write_insight(&mut self) -> Result<(), Error> {
        let days = (self.end - self.start) / 86_400;
        let t = self.start + days / 2 * 86_400 + 14 * 3600;
        let key = self.log_key(PROD, 0, t + 1800, false, "CloudTrail-Insight");
        let id = &self.w.accounts[PROD].id;
        let shared = self.rng.uuid();
        let records: Vec<_> = [("Start", t), ("End", t + 1200)].iter().map(|&(state, at)| json!({
            "eventVersion": "1.08", "eventTime": iso(at), "awsRegion": REGIONS[0], "eventID": self.rng.uuid(),
            "eventType": "AwsCloudTrailInsight", "recipientAccountId": id, "sharedEventID": shared,
            "insightDetails": {"state": state, "eventSource": "ec2.amazonaws.com", "eventName": "RunInstances",
                "insightType": "ApiCallRateInsight",
                "insightContext": {"statistics": {"baseline": {"average": 0.0138}, "insight": {"average": 2.5}, "insightDuration": 20}}},
            "eventCategory": "Insight",
        })).collect();
        self.body =
            serde_json::to_vec(&json!({"Records": records})).map_err(|source| Error::Json {
                what: "insight",
                source,
            })?;
        self.compress(&key)?;
        let gz = std::mem::take(&mut self.gz);
        self.put(&key, &gz)?;
        self.counts.insight_objects += 1;
        Ok(())
    }
}
