//! Timestamps as AWS tools print them, normalised to one RFC 3339 form.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;

/// A timestamp as JSON: epoch seconds (AWS CLI v1, float) or an ISO 8601 / RFC 3339 string
/// (CLI v2 `2016-12-15T19:30:15.450000+00:00`). Returns UTC, `Z`, with as many fractional
/// digits as needed, so both CLI forms of one instant give the same string. `None` if it is
/// neither a number nor a parseable string.
pub(crate) fn normalise(v: &Value) -> Option<String> {
    let t: DateTime<Utc> = match v {
        Value::Number(n) => DateTime::from_timestamp_millis((n.as_f64()? * 1000.0).round() as i64)?,
        Value::String(s) => DateTime::parse_from_rfc3339(s.trim())
            .ok()?
            .with_timezone(&Utc),
        _ => return None,
    };
    Some(t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
}

/// A date field of an IAM snapshot: kept as written when it is a string (IAM already prints
/// RFC 3339), converted when a tool printed epoch seconds.
pub(crate) fn keep_or_normalise(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        other => normalise(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn both_cli_forms_agree() {
        let v1 = normalise(&json!(1481830215.45));
        let v2 = normalise(&json!("2016-12-15T19:30:15.450000+00:00"));
        assert_eq!(v1.as_deref(), Some("2016-12-15T19:30:15.450Z"));
        assert_eq!(v1, v2);
        assert_eq!(
            normalise(&json!(0)).as_deref(),
            Some("1970-01-01T00:00:00Z")
        );
        assert_eq!(
            normalise(&json!("2016-12-15T20:30:15+01:00")).as_deref(),
            Some("2016-12-15T19:30:15Z")
        );
        assert_eq!(normalise(&json!("yesterday")), None);
        assert_eq!(normalise(&json!(null)), None);
    }
}
