//! Field normalisation: CloudTrail's several time formats, ARNs, and External-ID fingerprints.

use std::borrow::Cow;

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

/// Milliseconds since the Unix epoch, UTC.
pub type Millis = i64;

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day number (inverse of [`days_from_civil`]).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `YYYY-MM-DD` of a day number: the value of the `event_date` partition.
pub fn date_string(day: i64) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}

fn digits(b: &[u8]) -> Option<u32> {
    let mut v: u32 = 0;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(c - b'0');
    }
    Some(v)
}

fn checked(y: u32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> Option<Millis> {
    let valid = (1..=12).contains(&mo)
        && (1..=31).contains(&d)
        && h < 24
        && mi < 60
        && s < 61
        && (1970..=9999).contains(&y);
    if !valid {
        return None;
    }
    let days = days_from_civil(i64::from(y), mo, d);
    Some((days * 86_400 + i64::from(h * 3600 + mi * 60 + s)) * 1000)
}

/// Parses CloudTrail's timestamps: ISO-8601 extended (`2024-01-31T10:00:00Z`, optional
/// fraction, `Z` or a numeric offset) and basic (`20131102T010628Z`, as in `creationDate`).
pub fn parse_timestamp(s: &str) -> Option<Millis> {
    let b = s.trim().as_bytes();
    if b.len() >= 16 && b[8] == b'T' && b[4].is_ascii_digit() {
        // Basic notation: YYYYMMDDTHHMMSSZ.
        let ms = checked(
            digits(&b[0..4])?,
            digits(&b[4..6])?,
            digits(&b[6..8])?,
            digits(&b[9..11])?,
            digits(&b[11..13])?,
            digits(&b[13..15])?,
        )?;
        return match &b[15..] {
            b"Z" => Some(ms),
            _ => None,
        };
    }
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !(b[10] == b'T' || b[10] == b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let mut ms = checked(
        digits(&b[0..4])?,
        digits(&b[5..7])?,
        digits(&b[8..10])?,
        digits(&b[11..13])?,
        digits(&b[14..16])?,
        digits(&b[17..19])?,
    )?;
    let mut rest = &b[19..];
    if let Some(frac) = rest.strip_prefix(b".") {
        let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        let mut millis = 0u32;
        for i in 0..3 {
            millis = millis * 10
                + frac
                    .get(i)
                    .filter(|_| i < n)
                    .map_or(0, |c| u32::from(c - b'0'));
        }
        ms += i64::from(millis);
        rest = &frac[n..];
    }
    match rest {
        b"Z" | b"z" | b"" | b"+00:00" | b"-00:00" => Some(ms),
        [sign @ (b'+' | b'-'), hh1, hh2, b':', mm1, mm2] => {
            let off = i64::from(digits(&[*hh1, *hh2])? * 60 + digits(&[*mm1, *mm2])?) * 60_000;
            Some(if *sign == b'+' { ms - off } else { ms + off })
        }
        _ => None,
    }
}

/// Parses `responseElements.credentials.expiration`, which is not ISO-8601 in CloudTrail
/// (`Jul 18, 2014, 4:07:39 PM`, `Jan 22, 2021 12:46:28 AM`); ISO forms are accepted too.
pub fn parse_expiration(s: &str) -> Option<Millis> {
    if let Some(ms) = parse_timestamp(s) {
        return Some(ms);
    }
    let s = s.trim();
    for fmt in ["%b %d, %Y, %I:%M:%S %p", "%b %d, %Y %I:%M:%S %p"] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t.and_utc().timestamp_millis());
        }
    }
    None
}

/// The account-id field of an ARN (`arn:aws:iam::123456789012:role/x` -> `123456789012`).
pub fn arn_account(arn: &str) -> Option<&str> {
    let mut parts = arn.splitn(6, ':');
    if parts.next()? != "arn" {
        return None;
    }
    let account = parts.nth(3)?;
    (!account.is_empty()).then_some(account)
}

/// True for the 8-4-4-4-12 hexadecimal UUID shape.
pub fn is_uuid_shaped(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// Keyed fingerprints of External IDs. The key lives in the lake, so equal IDs match within a
/// lake while the clear text is never stored and cannot be recovered by guessing without the key.
#[derive(Clone)]
pub struct Fingerprinter {
    key: [u8; 32],
}

/// Prefix of an External ID replaced inside JSON text.
pub const REDACTED_PREFIX: &str = "redacted:";

impl Fingerprinter {
    /// A fingerprinter with the given secret key.
    pub fn new(key: [u8; 32]) -> Self {
        Fingerprinter { key }
    }

    /// 128-bit HMAC-SHA256 fingerprint, as 32 lower-case hex digits.
    pub fn fingerprint(&self, external_id: &str) -> String {
        // A 32-byte key is always a valid HMAC key.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(external_id.as_bytes());
        let digest = mac.finalize().into_bytes();
        let mut out = String::with_capacity(32);
        for b in &digest[..16] {
            out.push_str(&format!("{b:02x}"));
        }
        out
    }

    /// Replaces every External ID inside a JSON text (`externalId` request parameters,
    /// `sts:ExternalId` conditions, also inside policy documents embedded as strings) by
    /// `redacted:<fingerprint>`. Texts that cannot contain one are returned unchanged, cheaply.
    pub fn redact_json<'t>(&self, text: &'t str) -> Cow<'t, str> {
        if !may_mention_external_id(text) {
            return Cow::Borrowed(text);
        }
        let Ok(mut value) = serde_json::from_str::<Value>(text) else {
            return Cow::Borrowed(text);
        };
        if self.redact_value(&mut value, false) {
            Cow::Owned(value.to_string())
        } else {
            Cow::Borrowed(text)
        }
    }

    fn redact_value(&self, value: &mut Value, secret: bool) -> bool {
        match value {
            Value::String(s) if secret => {
                if !s.starts_with(REDACTED_PREFIX) {
                    *s = format!("{REDACTED_PREFIX}{}", self.fingerprint(s));
                }
                true
            }
            Value::String(s) => {
                // Policy documents arrive as JSON inside a string (CreateRole,
                // UpdateAssumeRolePolicy).
                if s.trim_start().starts_with('{')
                    && may_mention_external_id(s)
                    && let Ok(mut inner) = serde_json::from_str::<Value>(s)
                    && self.redact_value(&mut inner, false)
                {
                    *s = inner.to_string();
                    return true;
                }
                false
            }
            Value::Array(items) => {
                let mut changed = false;
                for item in items {
                    changed |= self.redact_value(item, secret);
                }
                changed
            }
            Value::Object(map) => {
                let mut changed = false;
                for (k, v) in map.iter_mut() {
                    let is_secret = secret || is_external_id_key(k);
                    changed |= self.redact_value(v, is_secret);
                }
                changed
            }
            _ => false,
        }
    }
}

impl std::fmt::Debug for Fingerprinter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Fingerprinter { key: <secret> }")
    }
}

fn is_external_id_key(k: &str) -> bool {
    let k = k.as_bytes();
    k.len() >= 10 && k[k.len() - 10..].eq_ignore_ascii_case(b"externalid")
}

fn may_mention_external_id(text: &str) -> bool {
    // IAM condition keys are case-insensitive (`sts:ExTernalId` is valid): look for "xternal"
    // in any case. 'x' is rare in JSON, so few candidates need the full comparison.
    let b = text.as_bytes();
    memchr::memchr2_iter(b'x', b'X', b).any(|i| {
        b.get(i + 1..i + 7)
            .is_some_and(|rest| rest.eq_ignore_ascii_case(b"ternal"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(parse_timestamp("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_timestamp("2014-07-18T15:07:39Z"),
            Some(1_405_696_059_000)
        );
        assert_eq!(
            parse_timestamp("2014-07-18T15:07:39.5Z"),
            Some(1_405_696_059_500)
        );
        assert_eq!(
            parse_timestamp("2014-07-18T15:07:39.123456Z"),
            Some(1_405_696_059_123)
        );
        assert_eq!(
            parse_timestamp("2014-07-18T17:07:39+02:00"),
            Some(1_405_696_059_000)
        );
        assert_eq!(
            parse_timestamp("2022-02-08 09:23:37+11:00"),
            parse_timestamp("2022-02-07T22:23:37Z")
        );
        assert_eq!(parse_timestamp("20140718T150739Z"), Some(1_405_696_059_000));
        for bad in [
            "",
            "x",
            "2014-13-01T00:00:00Z",
            "2014-07-18T15:07:39Q",
            "2014-07-18T25:00:00Z",
            "2014-07-18T15:07:39.",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
    }

    #[test]
    fn expiration_forms() {
        assert_eq!(
            parse_expiration("Jul 18, 2014, 4:07:39 PM"),
            parse_timestamp("2014-07-18T16:07:39Z")
        );
        assert_eq!(
            parse_expiration("Jan 22, 2021 12:46:28 AM"),
            parse_timestamp("2021-01-22T00:46:28Z")
        );
        assert_eq!(
            parse_expiration("Oct 27, 2022, 6:29:06 AM"),
            parse_timestamp("2022-10-27T06:29:06Z")
        );
        assert_eq!(
            parse_expiration("2022-10-27T06:29:06Z"),
            parse_timestamp("2022-10-27T06:29:06Z")
        );
        assert_eq!(parse_expiration("soon"), None);
    }

    #[test]
    fn civil_round_trip() {
        for day in [-800_000, -1, 0, 1, 19_000, 20_000, 2_932_896] {
            let (y, m, d) = civil_from_days(day);
            assert_eq!(days_from_civil(y, m, d), day);
        }
        assert_eq!(date_string(0), "1970-01-01");
        assert_eq!(date_string(days_from_civil(2024, 2, 29)), "2024-02-29");
    }

    #[test]
    fn arns_and_uuids() {
        assert_eq!(
            arn_account("arn:aws:iam::123456789012:role/a/b"),
            Some("123456789012")
        );
        assert_eq!(arn_account("arn:aws:s3:::bucket"), None);
        assert_eq!(arn_account("nope"), None);
        assert!(is_uuid_shaped("0f8fad5b-d9cb-469f-a165-70867728950e"));
        assert!(!is_uuid_shaped("acme123"));
    }

    #[test]
    fn redaction_finds_every_external_id() {
        let fp = Fingerprinter::new([7; 32]);
        let secret = "s3cr3t-vendor-id";
        let f = fp.fingerprint(secret);
        assert_eq!(f.len(), 32);
        assert_eq!(f, fp.fingerprint(secret));
        assert_ne!(f, Fingerprinter::new([8; 32]).fingerprint(secret));

        let req = format!(r#"{{"roleArn":"arn:aws:iam::1:role/x","externalId":"{secret}"}}"#);
        let out = fp.redact_json(&req);
        assert!(!out.contains(secret) && out.contains(&f), "{out}");

        let policy = format!(
            r#"{{"Statement":[{{"Condition":{{"StringEquals":{{"sts:ExternalId":["{secret}","other"]}}}}}}]}}"#
        );
        let req =
            serde_json::json!({"roleName": "x", "assumeRolePolicyDocument": policy}).to_string();
        let out = fp.redact_json(&req);
        assert!(
            !out.contains(secret) && !out.contains("other") && out.contains(&f),
            "{out}"
        );

        let mixed = r#"{"Condition":{"StringEquals":{"sts:ExTernalID":"s3cr3t-vendor-id"}}}"#;
        let out = fp.redact_json(mixed);
        assert!(!out.contains(secret) && out.contains(&f), "{out}");

        let plain = r#"{"bucketName":"b"}"#;
        assert!(matches!(fp.redact_json(plain), Cow::Borrowed(_)));
        assert_eq!(fp.redact_json(&out), out, "idempotent");
    }
}
