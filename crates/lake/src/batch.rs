//! CloudTrail records -> Arrow record batches of the `events` and `sessions` tables.
//!
//! A [`BatchBuilder`] is a [`RecordSink`]: the document reader hands it records one at a time,
//! it appends them to Arrow builders, and [`BatchBuilder::finish`] returns the object's rows split
//! by `event_date`. Builders are reused from object to object, so steady-state ingest allocates
//! little beyond the Arrow buffers themselves.

use std::borrow::Cow;
use std::sync::Arc;

use arrow::array::{
    ArrayBuilder, ArrayRef, BooleanBuilder, Int32Builder, Int64Builder, ListBuilder, StringBuilder,
    StructBuilder, TimestampMillisecondBuilder,
};
use arrow::datatypes::{DataType, Field};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use serde_json::value::RawValue;

use crate::document::RecordSink;
use crate::normalize::{
    Fingerprinter, Millis, arn_account, is_uuid_shaped, parse_expiration, parse_timestamp,
};
use crate::record::{AssumeRoleRequest, AssumeRoleResponse, Flag, Record, Resource, Text, Unknown};
use crate::schema::{Table, resource_fields};

/// Limits on what one record may be.
#[derive(Debug, Clone, Copy)]
pub struct RecordLimits {
    /// Largest record accepted, in bytes of JSON (CloudTrail's own records stay under 256 KB:
    /// request parameters and response elements are truncated at 100 KB each).
    pub max_record_bytes: usize,
}

impl Default for RecordLimits {
    fn default() -> Self {
        RecordLimits {
            max_record_bytes: 4 << 20,
        }
    }
}

/// The rows of one object, split by UTC day.
#[derive(Debug, Default)]
pub struct ObjectBatches {
    /// `events` rows: (day number since 1970-01-01, batch).
    pub events: Vec<(i64, RecordBatch)>,
    /// `sessions` rows, likewise.
    pub sessions: Vec<(i64, RecordBatch)>,
    /// Records read.
    pub records: u64,
}

impl ObjectBatches {
    /// The batches of one table.
    pub fn table(&self, table: Table) -> &[(i64, RecordBatch)] {
        match table {
            Table::Events => &self.events,
            Table::Sessions => &self.sessions,
            Table::Roles | Table::RoleTrust | Table::RolePolicies => &[],
        }
    }
}

/// Builds the batches of one object at a time.
pub struct BatchBuilder {
    fingerprints: Arc<Fingerprinter>,
    limits: RecordLimits,
    source_object: String,
    events: ByDay<EventColumns>,
    sessions: ByDay<SessionColumns>,
    records: u64,
    /// Records when the current object started.
    mark: u64,
    /// The `extra` JSON of the record being appended (one buffer, reused).
    extra: String,
}

/// The days one object's rows fell on.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ObjectRows {
    /// Records of the object.
    pub records: u64,
    /// Days (since 1970-01-01) of its `events` rows.
    pub event_days: std::collections::BTreeSet<i64>,
    /// Days of its `sessions` rows.
    pub session_days: std::collections::BTreeSet<i64>,
}

impl BatchBuilder {
    /// A builder that fingerprints External IDs with `fingerprints`.
    pub fn new(fingerprints: Arc<Fingerprinter>, limits: RecordLimits) -> Self {
        BatchBuilder {
            fingerprints,
            limits,
            source_object: String::new(),
            events: ByDay::default(),
            sessions: ByDay::default(),
            records: 0,
            mark: 0,
            extra: String::new(),
        }
    }

    /// Starts an object: its rows carry `source_object` (e.g. `s3://bucket/key` or a path).
    /// Rows of earlier objects stay pending until [`finish`](Self::finish): many small objects
    /// make one batch.
    pub fn start_object(&mut self, source_object: &str) {
        self.source_object.clear();
        self.source_object.push_str(source_object);
        self.settle();
    }

    /// Ends the current object successfully and tells which days its rows fell on.
    pub fn end_object(&mut self) -> ObjectRows {
        let rows = ObjectRows {
            records: self.records - self.mark,
            event_days: self.events.days_since_mark().collect(),
            session_days: self.sessions.days_since_mark().collect(),
        };
        self.settle();
        rows
    }

    /// Makes every pending row part of earlier objects: a rollback keeps them.
    fn settle(&mut self) {
        self.events.set_mark();
        self.sessions.set_mark();
        self.mark = self.records;
    }

    /// Drops the rows of the current object (it failed); earlier objects' rows stay.
    pub fn abort_object(&mut self) -> Result<(), ArrowError> {
        self.events.roll_back()?;
        self.sessions.roll_back()?;
        self.records = self.mark;
        Ok(())
    }

    /// Rows pending in the builder (of ended and current objects).
    pub fn pending_rows(&self) -> usize {
        self.events.rows()
    }

    /// Returns every pending row, by day, and starts afresh.
    pub fn finish(&mut self) -> Result<ObjectBatches, ArrowError> {
        let out = ObjectBatches {
            events: self.events.finish()?,
            sessions: self.sessions.finish()?,
            records: self.records,
        };
        self.records = 0;
        self.mark = 0;
        Ok(out)
    }

    fn append(&mut self, r: &Record<'_>) -> Result<(), String> {
        let time_text = r.event_time.as_ref().map(Text::as_str).unwrap_or_default();
        let event_time = parse_timestamp(time_text)
            .ok_or_else(|| format!("eventTime {time_text:?} is not an ISO-8601 timestamp"))?;
        let size = approx_size(r);
        if size > self.limits.max_record_bytes {
            return Err(format!(
                "a record of {:.1} MB is over the {:.1} MB limit for one record (CloudTrail \
                 records are at most about 256 KB)",
                size as f64 / 1e6,
                self.limits.max_record_bytes as f64 / 1e6
            ));
        }
        let resources = match r.resources {
            Some(raw) => Some(
                serde_json::from_str::<Vec<Resource>>(raw.get())
                    .map_err(|e| format!("field resources: {e}"))?,
            ),
            None => None,
        };
        // Everything that can fail comes before the first append, so that the columns stay
        // aligned when a record is refused.
        let session = if r.is_assume_role() {
            Some(parse_session(r)?)
        } else {
            None
        };
        let day = event_time.div_euclid(86_400_000);
        let fp = &*self.fingerprints;
        let redact = |raw| redact(fp, raw);
        let e = self.events.next_row(day);
        let ui = r.user_identity.as_ref();
        let sc = ui.and_then(|u| u.session_context.as_ref());
        let issuer = sc.and_then(|s| s.session_issuer.as_ref());
        let attrs = sc.and_then(|s| s.attributes.as_ref());
        let creation = attrs.and_then(|a| a.creation_date.as_ref());
        let session_created_at = match creation {
            Some(t) if !t.as_str().is_empty() => {
                Some(parse_timestamp(t.as_str()).ok_or_else(|| {
                    format!(
                        "sessionContext.attributes.creationDate {:?} is not a timestamp",
                        t.as_str()
                    )
                })?)
            }
            _ => None,
        };

        s(&mut e.event_id, r.event_id.as_ref());
        e.event_time.append_value(event_time);
        s(&mut e.event_version, r.event_version.as_ref());
        s(&mut e.event_source, r.event_source.as_ref());
        s(&mut e.event_name, r.event_name.as_ref());
        s(&mut e.event_type, r.event_type.as_ref());
        s(&mut e.event_category, r.event_category.as_ref());
        s(&mut e.aws_region, r.aws_region.as_ref());
        s(&mut e.source_ip, r.source_ip.as_ref());
        s(&mut e.user_agent, r.user_agent.as_ref());
        s(
            &mut e.identity_type,
            ui.and_then(|u| u.identity_type.as_ref()),
        );
        s(
            &mut e.principal_id,
            ui.and_then(|u| u.principal_id.as_ref()),
        );
        s(&mut e.principal_arn, ui.and_then(|u| u.arn.as_ref()));
        s(
            &mut e.identity_account_id,
            ui.and_then(|u| u.account_id.as_ref()),
        );
        // CloudTrail writes a missing key as "" at times; both mean "not known".
        let key = ui
            .and_then(|u| u.access_key_id.as_ref())
            .filter(|k| !k.as_str().is_empty());
        e.access_key_id.append_option(key.map(Text::as_str));
        s(&mut e.user_name, ui.and_then(|u| u.user_name.as_ref()));
        s(
            &mut e.identity_provider,
            ui.and_then(|u| u.identity_provider.as_ref()),
        );
        s(
            &mut e.session_issuer_type,
            issuer.and_then(|i| i.issuer_type.as_ref()),
        );
        s(
            &mut e.session_issuer_arn,
            issuer.and_then(|i| i.arn.as_ref()),
        );
        s(
            &mut e.session_issuer_account_id,
            issuer.and_then(|i| i.account_id.as_ref()),
        );
        s(
            &mut e.session_issuer_principal_id,
            issuer.and_then(|i| i.principal_id.as_ref()),
        );
        s(
            &mut e.session_issuer_user_name,
            issuer.and_then(|i| i.user_name.as_ref()),
        );
        e.session_created_at.append_option(session_created_at);
        b(&mut e.session_mfa, attrs.and_then(|a| a.mfa_authenticated));
        s(
            &mut e.source_identity,
            sc.and_then(|c| c.source_identity.as_ref()),
        );
        s(&mut e.invoked_by, ui.and_then(|u| u.invoked_by.as_ref()));
        let delegate = ui.and_then(|u| u.invoked_by_delegate.as_ref());
        s(
            &mut e.invoked_by_delegate_account_id,
            delegate.and_then(|d| d.account_id.as_ref()),
        );
        s(&mut e.recipient_account_id, r.recipient_account_id.as_ref());
        s(&mut e.shared_event_id, r.shared_event_id.as_ref());
        s(&mut e.request_id, r.request_id.as_ref());
        b(&mut e.read_only, r.read_only);
        b(&mut e.management_event, r.management_event);
        s(&mut e.error_code, r.error_code.as_ref());
        s(&mut e.error_message, r.error_message.as_ref());
        let mut resources_have_unknown = false;
        match &resources {
            Some(list) => {
                let sb = e.resources.values();
                for res in list {
                    resources_have_unknown |= !res.unknown.is_empty();
                    for (i, v) in [&res.arn, &res.account_id, &res.resource_type]
                        .into_iter()
                        .enumerate()
                    {
                        sb.field_builder::<StringBuilder>(i)
                            .expect("resource struct fields are strings")
                            .append_option(v.as_ref().map(Text::as_str));
                    }
                    sb.append(true);
                }
                e.resources.append(true);
            }
            None => e.resources.append(false),
        }
        e.request_parameters
            .append_option(redact(r.request_parameters).as_deref());
        e.response_elements
            .append_option(redact(r.response_elements).as_deref());
        e.additional_event_data
            .append_option(redact(r.additional_event_data).as_deref());
        e.service_event_details
            .append_option(redact(r.service_event_details).as_deref());
        let tls = r.tls_details.as_ref();
        s(&mut e.tls_version, tls.and_then(|t| t.tls_version.as_ref()));
        s(
            &mut e.tls_cipher_suite,
            tls.and_then(|t| t.cipher_suite.as_ref()),
        );
        s(
            &mut e.tls_client_host,
            tls.and_then(|t| t.client_provided_host_header.as_ref()),
        );
        s(&mut e.vpc_endpoint_id, r.vpc_endpoint_id.as_ref());
        b(
            &mut e.session_credential_from_console,
            r.session_credential_from_console,
        );
        let extra = &mut self.extra;
        extra.clear();
        let resources = resources_have_unknown.then_some(r.resources).flatten();
        if write_extra(r, resources, extra) {
            e.extra.append_value(fp.redact_json(extra));
        } else {
            e.extra.append_null();
        }
        e.source_object.append_value(&self.source_object);

        if let Some((req, resp)) = session {
            self.append_session(r, day, event_time, &req, &resp);
        }
        self.records += 1;
        Ok(())
    }

    fn append_session(
        &mut self,
        r: &Record<'_>,
        day: i64,
        event_time: Millis,
        req: &AssumeRoleRequest<'_>,
        resp: &AssumeRoleResponse<'_>,
    ) {
        let ui = r.user_identity.as_ref();
        let sx = self.sessions.next_row(day);
        s(&mut sx.event_id, r.event_id.as_ref());
        sx.event_time.append_value(event_time);
        s(&mut sx.event_name, r.event_name.as_ref());
        let role_arn = req.role_arn.as_ref().map(Text::as_str);
        sx.role_arn.append_option(role_arn);
        sx.role_account_id
            .append_option(role_arn.and_then(arn_account));
        s(&mut sx.role_session_name, req.role_session_name.as_ref());
        s(
            &mut sx.caller_identity_type,
            ui.and_then(|u| u.identity_type.as_ref()),
        );
        s(
            &mut sx.caller_account_id,
            ui.and_then(|u| u.account_id.as_ref()),
        );
        s(
            &mut sx.caller_principal_id,
            ui.and_then(|u| u.principal_id.as_ref()),
        );
        s(&mut sx.caller_arn, ui.and_then(|u| u.arn.as_ref()));
        let key = ui
            .and_then(|u| u.access_key_id.as_ref())
            .filter(|k| !k.as_str().is_empty());
        sx.caller_access_key_id.append_option(key.map(Text::as_str));
        s(
            &mut sx.caller_user_name,
            ui.and_then(|u| u.user_name.as_ref()),
        );
        let provider = ui
            .and_then(|u| u.identity_provider.as_ref())
            .or(req.principal_arn.as_ref())
            .or(resp.provider.as_ref())
            .or(resp.issuer.as_ref());
        s(&mut sx.identity_provider, provider);
        s(&mut sx.invoked_by, ui.and_then(|u| u.invoked_by.as_ref()));
        match req.external_id.as_ref().map(Text::as_str) {
            Some(id) => {
                sx.external_id_present.append_value(true);
                sx.external_id_fingerprint
                    .append_value(self.fingerprints.fingerprint(id));
                sx.external_id_length
                    .append_value(id.chars().count() as i32);
                sx.external_id_uuid_shaped.append_value(is_uuid_shaped(id));
            }
            None => {
                sx.external_id_present.append_value(false);
                sx.external_id_fingerprint.append_null();
                sx.external_id_length.append_null();
                sx.external_id_uuid_shaped.append_null();
            }
        }
        let source_identity = req
            .source_identity
            .as_ref()
            .or(resp.source_identity.as_ref());
        s(&mut sx.source_identity, source_identity);
        let duration = req.duration_seconds.map(|d| d.0);
        sx.duration_seconds.append_option(duration);
        let creds = resp.credentials.as_ref();
        let temp_key = creds
            .and_then(|c| c.access_key_id.as_ref())
            .filter(|k| !k.as_str().is_empty());
        sx.temp_access_key_id
            .append_option(temp_key.map(Text::as_str));
        let user = resp.assumed_role_user.as_ref();
        s(&mut sx.assumed_role_arn, user.and_then(|u| u.arn.as_ref()));
        s(
            &mut sx.assumed_role_id,
            user.and_then(|u| u.assumed_role_id.as_ref()),
        );
        // The expiration is not ISO-8601; when it cannot be read, the session lasts
        // durationSeconds (default one hour) from the call.
        let expires = match creds.and_then(|c| c.expiration.as_ref()) {
            Some(x) => parse_expiration(x.as_str()),
            None => None,
        }
        .or_else(|| temp_key.map(|_| event_time + duration.unwrap_or(3600) * 1000));
        sx.expires_at.append_option(expires);
        s(&mut sx.error_code, r.error_code.as_ref());
        s(&mut sx.error_message, r.error_message.as_ref());
        s(&mut sx.source_ip, r.source_ip.as_ref());
        s(&mut sx.user_agent, r.user_agent.as_ref());
        s(&mut sx.aws_region, r.aws_region.as_ref());
        s(&mut sx.shared_event_id, r.shared_event_id.as_ref());
        s(
            &mut sx.recipient_account_id,
            r.recipient_account_id.as_ref(),
        );
        sx.source_object.append_value(&self.source_object);
    }
}

impl RecordSink for BatchBuilder {
    fn record(&mut self, record: Record<'_>) -> Result<(), String> {
        let at = self.records;
        self.append(&record).map_err(|e| {
            let id = record.event_id.as_ref().map(Text::as_str).unwrap_or("?");
            format!("record {} (eventID {id}): {e}", at + 1)
        })
    }

    fn reset(&mut self) {
        // The builders stay aligned (a record either appends to every column or fails before
        // appending), so a failed rollback is a bug; the next `finish` would report it.
        let _ = self.abort_object();
    }
}

type SessionParts<'r> = (AssumeRoleRequest<'r>, AssumeRoleResponse<'r>);

fn parse_session<'r>(r: &Record<'r>) -> Result<SessionParts<'r>, String> {
    let req = match r.request_parameters {
        Some(raw) => serde_json::from_str(raw.get())
            .map_err(|e| format!("requestParameters of {}: {e}", event_name(r)))?,
        None => AssumeRoleRequest::default(),
    };
    let resp = match r.response_elements {
        Some(raw) => serde_json::from_str(raw.get())
            .map_err(|e| format!("responseElements of {}: {e}", event_name(r)))?,
        None => AssumeRoleResponse::default(),
    };
    Ok((req, resp))
}

fn redact<'r>(fp: &Fingerprinter, raw: Option<&'r RawValue>) -> Option<std::borrow::Cow<'r, str>> {
    raw.map(|v| fp.redact_json(v.get()))
}

fn event_name<'r>(r: &'r Record<'_>) -> &'r str {
    r.event_name.as_ref().map(Text::as_str).unwrap_or("?")
}

fn s(b: &mut StringBuilder, v: Option<&Text<'_>>) {
    b.append_option(v.map(Text::as_str));
}

fn b(builder: &mut BooleanBuilder, v: Option<Flag>) {
    builder.append_option(v.map(|f| f.0));
}

fn approx_size(r: &Record<'_>) -> usize {
    let raw = |v: Option<&RawValue>| v.map_or(0, |v| v.get().len());
    let text = |v: &Option<Text<'_>>| v.as_ref().map_or(0, |t| t.as_str().len());
    raw(r.request_parameters)
        + raw(r.response_elements)
        + raw(r.additional_event_data)
        + raw(r.service_event_details)
        + raw(r.resources)
        + r.unknown
            .iter()
            .map(|(k, v)| k.len() + v.get().len())
            .sum::<usize>()
        + text(&r.user_agent)
        + text(&r.error_message)
        + text(&r.error_code)
        + text(&r.event_name)
        + text(&r.event_id)
        + text(&r.source_ip)
}

/// Writes `{"k":v,…}` in place at the end of a buffer shared by the whole record; an object
/// that gets no member is taken back out, so an empty one never appears.
struct Obj<'o> {
    out: &'o mut String,
    start: usize,
    any: bool,
}

impl<'o> Obj<'o> {
    fn open(out: &'o mut String) -> Self {
        let start = out.len();
        out.push('{');
        Obj {
            out,
            start,
            any: false,
        }
    }

    /// Starts a member whose key needs no escape.
    fn key(&mut self, k: &str) {
        self.comma();
        self.out.push('"');
        self.out.push_str(k);
        self.out.push_str("\":");
    }

    fn comma(&mut self) {
        if self.any {
            self.out.push(',');
        }
        self.any = true;
    }

    fn unknown(&mut self, unknown: &Unknown<'_>) {
        for (k, v) in unknown {
            match k {
                // Borrowed from the input: the key had no escape there, so it needs none.
                Cow::Borrowed(k) => self.key(k),
                Cow::Owned(k) => {
                    self.comma();
                    push_json_string(self.out, k);
                    self.out.push(':');
                }
            }
            self.out.push_str(v.get());
        }
    }

    fn raw(&mut self, k: &str, json: &str) {
        self.key(k);
        self.out.push_str(json);
    }

    fn child(&mut self, k: &str, fill: impl FnOnce(&mut Obj<'_>)) {
        let (mark, had) = (self.out.len(), self.any);
        self.key(k);
        let mut child = Obj::open(&mut *self.out);
        fill(&mut child);
        if !child.close() {
            self.out.truncate(mark);
            self.any = had;
        }
    }

    /// Closes the object; false (and nothing left of it) when it got no member.
    fn close(self) -> bool {
        if self.any {
            self.out.push('}');
        } else {
            self.out.truncate(self.start);
        }
        self.any
    }
}

/// Appends `s` as a JSON string, escaped as serde_json escapes.
fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if c < ' ' => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.push_str("\\u00");
                out.push(char::from(HEX[(c as usize) >> 4]));
                out.push(char::from(HEX[(c as usize) & 0xf]));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Appends every key not stored in a column to `out`, nested as in the record; false (and
/// nothing appended) when there is none.
fn write_extra(r: &Record<'_>, resources: Option<&RawValue>, out: &mut String) -> bool {
    let mut top = Obj::open(out);
    top.unknown(&r.unknown);
    if let Some(ui) = &r.user_identity {
        top.child("userIdentity", |u| {
            u.unknown(&ui.unknown);
            if let Some(sc) = &ui.session_context {
                u.child("sessionContext", |c| {
                    c.unknown(&sc.unknown);
                    if let Some(i) = &sc.session_issuer {
                        c.child("sessionIssuer", |x| x.unknown(&i.unknown));
                    }
                    if let Some(a) = &sc.attributes {
                        c.child("attributes", |x| x.unknown(&a.unknown));
                    }
                });
            }
            if let Some(d) = &ui.invoked_by_delegate {
                u.child("invokedByDelegate", |x| x.unknown(&d.unknown));
            }
        });
    }
    if let Some(t) = &r.tls_details {
        top.child("tlsDetails", |x| x.unknown(&t.unknown));
    }
    if let Some(res) = resources {
        top.raw("resources", res.get());
    }
    top.close()
}

/// Column builders of one table, a set per UTC day: each row is appended to its day's set, so
/// the rows never have to be split (copied) by day afterwards. Records come nearly in time
/// order, so nearly every row goes to the day of the row before.
struct ByDay<C> {
    days: Vec<Day<C>>,
    /// Index in `days` of the last row's day.
    last: usize,
    /// What the day sets of the last batch held (rows, then items and bytes per column),
    /// largest last: a new day's builders are allocated for as much, when its first row comes.
    sizes: Vec<(usize, Sizes)>,
}

/// Items and value bytes per column of one column set.
type Sizes = Vec<(usize, usize)>;

struct Day<C> {
    day: i64,
    columns: C,
    /// Rows in `columns`.
    rows: usize,
    /// Rows of `columns` that belong to earlier objects.
    mark: usize,
    /// Rows frozen by a rollback, to go before those in `columns`.
    carry: Vec<RecordBatch>,
}

impl<C> Default for ByDay<C> {
    fn default() -> Self {
        ByDay {
            days: Vec::new(),
            last: 0,
            sizes: Vec::new(),
        }
    }
}

impl<C: Columns> ByDay<C> {
    /// The columns to append one row of `day` to; the caller appends to every column.
    fn next_row(&mut self, day: i64) -> &mut C {
        if self.days.get(self.last).is_none_or(|d| d.day != day) {
            self.last = match self.days.iter().position(|d| d.day == day) {
                Some(i) => i,
                None => {
                    // Allocated now rather than when the last batch was finished: by now
                    // that batch has been written and its memory freed for these buffers.
                    let columns = match self.sizes.pop() {
                        Some((_, sizes)) => C::presized(&sizes),
                        None => C::default(),
                    };
                    self.days.push(Day {
                        day,
                        columns,
                        rows: 0,
                        mark: 0,
                        carry: Vec::new(),
                    });
                    self.days.len() - 1
                }
            };
        }
        let d = &mut self.days[self.last];
        d.rows += 1;
        &mut d.columns
    }

    fn rows(&self) -> usize {
        self.days
            .iter()
            .map(|d| d.rows + d.carry.iter().map(RecordBatch::num_rows).sum::<usize>())
            .sum()
    }

    fn set_mark(&mut self) {
        for d in &mut self.days {
            d.mark = d.rows;
        }
    }

    fn days_since_mark(&self) -> impl Iterator<Item = i64> + '_ {
        self.days.iter().filter(|d| d.rows > d.mark).map(|d| d.day)
    }

    /// Drops the rows appended since the mark. Rare: the builders cannot shrink, so the rows
    /// before the mark are frozen into a batch.
    fn roll_back(&mut self) -> Result<(), ArrowError> {
        for d in &mut self.days {
            if d.rows > d.mark {
                let kept = d.columns.finish(&mut Vec::new())?.slice(0, d.mark);
                if kept.num_rows() > 0 {
                    d.carry.push(kept);
                }
                d.rows = 0;
                d.mark = 0;
            }
        }
        Ok(())
    }

    /// Every row, as one batch per day in day order; the builders are kept for the next rows.
    fn finish(&mut self) -> Result<Vec<(i64, RecordBatch)>, ArrowError> {
        self.days.sort_by_key(|d| d.day);
        let mut out = Vec::with_capacity(self.days.len());
        self.sizes.clear();
        for mut d in self.days.drain(..) {
            let mut sizes = Vec::new();
            let mut batch = d.columns.finish(&mut sizes)?;
            if !d.carry.is_empty() {
                d.carry.push(batch);
                batch = arrow::compute::concat_batches(&C::TABLE.file_schema(), d.carry.iter())?;
            }
            self.sizes.push((d.rows, sizes));
            if batch.num_rows() > 0 {
                out.push((d.day, batch));
            }
        }
        // Largest last: the next batch's first day (usually its main one) is sized for the
        // most rows. Only this batch's days: the builders of the next one, all together, take
        // about as much memory as this one's.
        self.sizes.sort_by_key(|(rows, _)| *rows);
        self.last = 0;
        Ok(out)
    }
}

/// A set of column builders in schema order.
trait Columns: Default {
    const TABLE: Table;
    /// The rows appended so far as a batch; the builders are left empty, and what each column
    /// held is pushed to `sizes`.
    fn finish(&mut self, sizes: &mut Sizes) -> Result<RecordBatch, ArrowError>;
    /// Empty builders with room for `sizes` (from [`Columns::finish`]).
    fn presized(sizes: &[(usize, usize)]) -> Self;
}

/// Builders that can be allocated for a batch like the last one: the next batch then fills
/// buffers allocated once instead of growing them from nothing by copies.
trait Presized {
    /// The array so far and its items and value bytes; the builder is left empty.
    fn finish_sized(&mut self) -> (ArrayRef, (usize, usize));
    /// Makes room for `items` and `bytes` (the builder is empty).
    fn presize(&mut self, size: (usize, usize));
}

impl Presized for StringBuilder {
    fn finish_sized(&mut self) -> (ArrayRef, (usize, usize)) {
        let size = (ArrayBuilder::len(self), self.values_slice().len());
        (Arc::new(self.finish()), size)
    }
    fn presize(&mut self, (items, bytes): (usize, usize)) {
        *self = StringBuilder::with_capacity(items, bytes + bytes / 8);
    }
}

/// Small fixed-width columns: growing them costs little.
macro_rules! presized_by_growth {
    ($($t:ty),*) => { $(impl Presized for $t {
        fn finish_sized(&mut self) -> (ArrayRef, (usize, usize)) {
            (Arc::new(self.finish()), (0, 0))
        }
        fn presize(&mut self, _: (usize, usize)) {}
    })* };
}
presized_by_growth!(
    TimestampMillisecondBuilder,
    BooleanBuilder,
    Int32Builder,
    Int64Builder,
    ListBuilder<StructBuilder>
);

fn ts_builder() -> TimestampMillisecondBuilder {
    TimestampMillisecondBuilder::new().with_timezone("UTC")
}

/// Declares a struct of column builders, in schema order, as [`Columns`].
macro_rules! columns {
    ($name:ident, $table:expr, { $( $field:ident : $ty:ty = $init:expr ),* $(,)? }) => {
        struct $name { $( $field: $ty, )* }
        impl Default for $name {
            fn default() -> Self { $name { $( $field: $init, )* } }
        }
        impl Columns for $name {
            const TABLE: Table = $table;
            fn finish(&mut self, sizes: &mut Sizes) -> Result<RecordBatch, ArrowError> {
                let columns: Vec<ArrayRef> = vec![ $( {
                    let (array, size) = self.$field.finish_sized();
                    sizes.push(size);
                    array
                }, )* ];
                RecordBatch::try_new($table.file_schema(), columns)
            }
            fn presized(sizes: &[(usize, usize)]) -> Self {
                let mut sizes = sizes.iter();
                $name { $( $field: {
                    let mut b: $ty = $init;
                    if let Some(size) = sizes.next() {
                        b.presize(*size);
                    }
                    b
                }, )* }
            }
        }
    };
}

fn resources_builder() -> ListBuilder<StructBuilder> {
    let fields = resource_fields();
    let builders: Vec<Box<dyn arrow::array::ArrayBuilder>> = fields
        .iter()
        .map(|_| Box::new(StringBuilder::new()) as _)
        .collect();
    ListBuilder::new(StructBuilder::new(fields.clone(), builders)).with_field(Arc::new(Field::new(
        "item",
        DataType::Struct(fields),
        true,
    )))
}

columns!(EventColumns, Table::Events, {
    event_id: StringBuilder = StringBuilder::new(),
    event_time: TimestampMillisecondBuilder = ts_builder(),
    event_version: StringBuilder = StringBuilder::new(),
    event_source: StringBuilder = StringBuilder::new(),
    event_name: StringBuilder = StringBuilder::new(),
    event_type: StringBuilder = StringBuilder::new(),
    event_category: StringBuilder = StringBuilder::new(),
    aws_region: StringBuilder = StringBuilder::new(),
    source_ip: StringBuilder = StringBuilder::new(),
    user_agent: StringBuilder = StringBuilder::new(),
    identity_type: StringBuilder = StringBuilder::new(),
    principal_id: StringBuilder = StringBuilder::new(),
    principal_arn: StringBuilder = StringBuilder::new(),
    identity_account_id: StringBuilder = StringBuilder::new(),
    access_key_id: StringBuilder = StringBuilder::new(),
    user_name: StringBuilder = StringBuilder::new(),
    identity_provider: StringBuilder = StringBuilder::new(),
    session_issuer_type: StringBuilder = StringBuilder::new(),
    session_issuer_arn: StringBuilder = StringBuilder::new(),
    session_issuer_account_id: StringBuilder = StringBuilder::new(),
    session_issuer_principal_id: StringBuilder = StringBuilder::new(),
    session_issuer_user_name: StringBuilder = StringBuilder::new(),
    session_created_at: TimestampMillisecondBuilder = ts_builder(),
    session_mfa: BooleanBuilder = BooleanBuilder::new(),
    source_identity: StringBuilder = StringBuilder::new(),
    invoked_by: StringBuilder = StringBuilder::new(),
    invoked_by_delegate_account_id: StringBuilder = StringBuilder::new(),
    recipient_account_id: StringBuilder = StringBuilder::new(),
    shared_event_id: StringBuilder = StringBuilder::new(),
    request_id: StringBuilder = StringBuilder::new(),
    read_only: BooleanBuilder = BooleanBuilder::new(),
    management_event: BooleanBuilder = BooleanBuilder::new(),
    error_code: StringBuilder = StringBuilder::new(),
    error_message: StringBuilder = StringBuilder::new(),
    resources: ListBuilder<StructBuilder> = resources_builder(),
    request_parameters: StringBuilder = StringBuilder::new(),
    response_elements: StringBuilder = StringBuilder::new(),
    additional_event_data: StringBuilder = StringBuilder::new(),
    service_event_details: StringBuilder = StringBuilder::new(),
    tls_version: StringBuilder = StringBuilder::new(),
    tls_cipher_suite: StringBuilder = StringBuilder::new(),
    tls_client_host: StringBuilder = StringBuilder::new(),
    vpc_endpoint_id: StringBuilder = StringBuilder::new(),
    session_credential_from_console: BooleanBuilder = BooleanBuilder::new(),
    extra: StringBuilder = StringBuilder::new(),
    source_object: StringBuilder = StringBuilder::new(),
});

columns!(SessionColumns, Table::Sessions, {
    event_id: StringBuilder = StringBuilder::new(),
    event_time: TimestampMillisecondBuilder = ts_builder(),
    event_name: StringBuilder = StringBuilder::new(),
    role_arn: StringBuilder = StringBuilder::new(),
    role_account_id: StringBuilder = StringBuilder::new(),
    role_session_name: StringBuilder = StringBuilder::new(),
    caller_identity_type: StringBuilder = StringBuilder::new(),
    caller_account_id: StringBuilder = StringBuilder::new(),
    caller_principal_id: StringBuilder = StringBuilder::new(),
    caller_arn: StringBuilder = StringBuilder::new(),
    caller_access_key_id: StringBuilder = StringBuilder::new(),
    caller_user_name: StringBuilder = StringBuilder::new(),
    identity_provider: StringBuilder = StringBuilder::new(),
    invoked_by: StringBuilder = StringBuilder::new(),
    external_id_present: BooleanBuilder = BooleanBuilder::new(),
    external_id_fingerprint: StringBuilder = StringBuilder::new(),
    external_id_length: Int32Builder = Int32Builder::new(),
    external_id_uuid_shaped: BooleanBuilder = BooleanBuilder::new(),
    source_identity: StringBuilder = StringBuilder::new(),
    duration_seconds: Int64Builder = Int64Builder::new(),
    temp_access_key_id: StringBuilder = StringBuilder::new(),
    assumed_role_arn: StringBuilder = StringBuilder::new(),
    assumed_role_id: StringBuilder = StringBuilder::new(),
    expires_at: TimestampMillisecondBuilder = ts_builder(),
    error_code: StringBuilder = StringBuilder::new(),
    error_message: StringBuilder = StringBuilder::new(),
    source_ip: StringBuilder = StringBuilder::new(),
    user_agent: StringBuilder = StringBuilder::new(),
    aws_region: StringBuilder = StringBuilder::new(),
    shared_event_id: StringBuilder = StringBuilder::new(),
    recipient_account_id: StringBuilder = StringBuilder::new(),
    source_object: StringBuilder = StringBuilder::new(),
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::read_document;
    use arrow::array::{Array, AsArray};

    fn build(json: &str) -> Result<ObjectBatches, String> {
        let mut b = BatchBuilder::new(
            Arc::new(Fingerprinter::new([1; 32])),
            RecordLimits::default(),
        );
        b.start_object("test.json");
        read_document(json.as_bytes(), &mut b).map_err(|e| format!("{e:?}"))?;
        b.finish().map_err(|e| e.to_string())
    }

    const ASSUME: &str = r#"{"eventVersion":"1.08","userIdentity":{"type":"AWSAccount","principalId":"AROAVENDOR:ops","accountId":"999988887777"},
      "eventTime":"2024-03-01T10:00:00Z","eventSource":"sts.amazonaws.com","eventName":"AssumeRole","awsRegion":"us-east-1",
      "sourceIPAddress":"198.51.100.7","userAgent":"vendor-agent/1.0",
      "requestParameters":{"roleArn":"arn:aws:iam::111122223333:role/VendorRole","roleSessionName":"ops","externalId":"hunter2-secret","durationSeconds":900},
      "responseElements":{"credentials":{"accessKeyId":"ASIATEMP1","sessionToken":"tok","expiration":"Mar 1, 2024, 10:15:00 AM"},
        "assumedRoleUser":{"assumedRoleId":"AROAROLE:ops","arn":"arn:aws:sts::111122223333:assumed-role/VendorRole/ops"}},
      "requestID":"r1","eventID":"ev-assume","readOnly":true,
      "resources":[{"accountId":"111122223333","type":"AWS::IAM::Role","ARN":"arn:aws:iam::111122223333:role/VendorRole"}],
      "eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","sharedEventID":"sh1","eventCategory":"Management",
      "addendum":{"reason":"DELIVERY_DELAY"}}"#;

    #[test]
    fn assume_role_makes_a_session_row_without_the_external_id() {
        let out = build(&format!(r#"{{"Records":[{ASSUME}]}}"#)).unwrap();
        assert_eq!(out.records, 1);
        let (_, ev) = &out.events[0];
        let (_, ses) = &out.sessions[0];
        let col = |b: &RecordBatch, n: &str| {
            b.column_by_name(n)
                .unwrap()
                .as_string::<i32>()
                .value(0)
                .to_string()
        };
        assert_eq!(col(ses, "role_account_id"), "111122223333");
        assert_eq!(col(ses, "caller_account_id"), "999988887777");
        assert_eq!(col(ses, "temp_access_key_id"), "ASIATEMP1");
        let fp = Fingerprinter::new([1; 32]).fingerprint("hunter2-secret");
        assert_eq!(col(ses, "external_id_fingerprint"), fp);
        let exp = ses
            .column_by_name("expires_at")
            .unwrap()
            .as_primitive::<arrow::datatypes::TimestampMillisecondType>()
            .value(0);
        assert_eq!(Some(exp), parse_timestamp("2024-03-01T10:15:00Z"));
        for b in [ev, ses] {
            for c in b.columns() {
                if let Some(strings) = c.as_string_opt::<i32>() {
                    for v in strings.iter().flatten() {
                        assert!(!v.contains("hunter2"), "clear External ID leaked: {v}");
                    }
                }
            }
        }
        assert!(col(ev, "request_parameters").contains(&format!("redacted:{fp}")));
        assert_eq!(
            col(ev, "extra"),
            r#"{"addendum":{"reason":"DELIVERY_DELAY"}}"#
        );
    }

    #[test]
    fn extra_keys_are_escaped_like_serde_json() {
        for k in [
            "plain",
            "quo\"te",
            "back\\slash",
            "nl\n\r\t\u{8}\u{c}",
            "\u{1}\u{1f}\u{7f}é",
        ] {
            let mut out = String::new();
            push_json_string(&mut out, k);
            assert_eq!(out, serde_json::Value::from(k).to_string());
        }
        let doc = r#"{"eventTime":"2024-01-01T00:00:00Z","eventID":"a","we\"ird\u0001":1,
            "userIdentity":{"type":"IAMUser","sessionContext":{"attributes":{"x":[1]}}},
            "tlsDetails":{"tlsVersion":"TLSv1.2"}}"#;
        let out = build(doc).unwrap();
        let extra = out.events[0]
            .1
            .column_by_name("extra")
            .unwrap()
            .as_string::<i32>()
            .value(0)
            .to_string();
        assert_eq!(
            extra,
            r#"{"we\"ird\u0001":1,"userIdentity":{"sessionContext":{"attributes":{"x":[1]}}}}"#
        );
    }

    #[test]
    fn rows_split_by_day_and_bad_time_fails() {
        let r = |t: &str, id: &str| format!(r#"{{"eventTime":"{t}","eventID":"{id}"}}"#);
        let doc = format!(
            "[{},{},{}]",
            r("2024-01-02T00:00:00Z", "b"),
            r("2024-01-01T23:59:59Z", "a"),
            r("2024-01-02T01:00:00Z", "c")
        );
        let out = build(&doc).unwrap();
        assert_eq!(out.events.len(), 2);
        assert_eq!(out.events[0].1.num_rows(), 1);
        assert_eq!(out.events[1].1.num_rows(), 2);
        let err = build(&format!("[{}]", r("yesterday", "x"))).unwrap_err();
        assert!(
            err.contains("record 1 (eventID x)") && err.contains("yesterday"),
            "{err}"
        );
    }

    #[test]
    fn record_limit() {
        let big = "x".repeat(5 << 20);
        let doc = format!(
            r#"{{"eventTime":"2024-01-01T00:00:00Z","eventID":"a","requestParameters":{{"k":"{big}"}}}}"#
        );
        let err = build(&doc).unwrap_err();
        assert!(err.contains("limit for one record"), "{err}");
    }

    #[test]
    fn empty_access_key_is_null_and_no_resources_is_null() {
        let doc = r#"{"eventTime":"2024-01-01T00:00:00Z","eventID":"a","userIdentity":{"accessKeyId":""}}"#;
        let out = build(doc).unwrap();
        let b = &out.events[0].1;
        assert!(b.column_by_name("access_key_id").unwrap().is_null(0));
        assert!(b.column_by_name("resources").unwrap().is_null(0));
        assert!(b.column_by_name("extra").unwrap().is_null(0));
    }

    #[test]
    fn failed_objects_roll_back_only_their_rows() {
        let mut b = BatchBuilder::new(
            Arc::new(Fingerprinter::new([1; 32])),
            RecordLimits::default(),
        );
        let rec = |id: &str| format!(r#"{{"eventTime":"2024-03-01T00:00:00Z","eventID":"{id}"}}"#);
        let assume = ASSUME.replace("ev-assume", "s1");
        let mut feed = |name: &str, doc: String| {
            b.start_object(name);
            match read_document(doc.as_bytes(), &mut b) {
                Ok(_) => Some(b.end_object()),
                Err(_) => {
                    b.abort_object().unwrap();
                    None
                }
            }
        };
        assert!(feed("a", format!("[{},{}]", rec("a1"), rec("a2"))).is_some());
        // A good record, an AssumeRole, then a bad one: the object's three rows must go.
        let bad = format!(
            r#"[{},{assume},{{"eventTime":"nope","eventID":"x"}}]"#,
            rec("b1")
        );
        assert!(feed("b", bad.clone()).is_none());
        let rows = feed("c", format!("[{assume},{}]", rec("c2"))).unwrap();
        assert_eq!(rows.records, 2);
        assert_eq!(rows.session_days.len(), 1);
        assert!(feed("d", bad).is_none());
        assert!(feed("e", rec("e1")).is_some());
        let out = b.finish().unwrap();
        assert_eq!(out.records, 5);
        let ids: Vec<String> = out
            .events
            .iter()
            .flat_map(|(_, batch)| {
                let ids = batch
                    .column_by_name("event_id")
                    .unwrap()
                    .as_string::<i32>()
                    .clone();
                let src = batch
                    .column_by_name("source_object")
                    .unwrap()
                    .as_string::<i32>()
                    .clone();
                (0..batch.num_rows())
                    .map(move |i| format!("{}@{}", ids.value(i), src.value(i)))
                    .collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(ids, ["a1@a", "a2@a", "s1@c", "c2@c", "e1@e"]);
        let sessions: usize = out.sessions.iter().map(|(_, b)| b.num_rows()).sum();
        assert_eq!(sessions, 1);
        // The builder starts afresh.
        assert_eq!(b.pending_rows(), 0);
        assert_eq!(b.finish().unwrap().records, 0);
    }
}
