//! CloudTrail's object key layout (`AWSLogs/[o-id/]<account>/CloudTrail/<region>/YYYY/MM/DD/…`).
//!
//! Used to skip digest and Insights objects, to order work by day, and (for S3) to prune
//! listings by account, region and date.

/// What a key holds, judged from its path alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ObjectKind {
    /// A trail log file (or an export of records): parsed.
    Log,
    /// `CloudTrail-Digest/`: integrity digests, not records.
    Digest,
    /// `CloudTrail-Insight/`: Insights events, not API records.
    Insight,
    /// A hidden file (`.DS_Store`, editor swap files) or crosstrail's own files.
    Hidden,
}

impl ObjectKind {
    /// Name used in summaries.
    pub fn name(self) -> &'static str {
        match self {
            ObjectKind::Log => "log",
            ObjectKind::Digest => "digest",
            ObjectKind::Insight => "insight",
            ObjectKind::Hidden => "hidden",
        }
    }
}

/// Fields read from a CloudTrail key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyInfo {
    /// Organization id of an organization trail (`o-…`).
    pub org_id: Option<String>,
    /// The account whose activity the object holds.
    pub account: Option<String>,
    /// Region directory.
    pub region: Option<String>,
    /// Delivery day from the `YYYY/MM/DD` directories.
    pub date: Option<(u32, u32, u32)>,
}

/// Classifies a key (or path, with `/` separators).
pub fn classify(key: &str) -> ObjectKind {
    let mut parts = key.split('/').filter(|p| !p.is_empty());
    let name = key.rsplit('/').next().unwrap_or(key);
    if name.starts_with('.') || key.split('/').any(|p| p == crosstrail_lake::INTERNAL_DIR) {
        return ObjectKind::Hidden;
    }
    if parts.any(|p| p == "CloudTrail-Digest") {
        return ObjectKind::Digest;
    }
    if key.split('/').any(|p| p == "CloudTrail-Insight") {
        return ObjectKind::Insight;
    }
    ObjectKind::Log
}

fn is_account(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// Reads account, region and date from a key laid out as CloudTrail delivers it.
pub fn parse_key(key: &str) -> KeyInfo {
    let parts: Vec<&str> = key.split('/').collect();
    let Some(at) = parts.iter().position(|p| *p == "AWSLogs") else {
        return KeyInfo::default();
    };
    let rest = &parts[at + 1..];
    let (org_id, rest) = match rest.first() {
        Some(p) if p.starts_with("o-") => (Some((*p).to_string()), &rest[1..]),
        _ => (None, rest),
    };
    let mut info = KeyInfo {
        org_id,
        ..KeyInfo::default()
    };
    let Some(account) = rest.first().filter(|a| is_account(a)) else {
        return info;
    };
    info.account = Some((*account).to_string());
    // <account>/CloudTrail*/<region>/YYYY/MM/DD/<file>
    if rest.len() >= 6 && rest[1].starts_with("CloudTrail") {
        info.region = Some(rest[2].to_string());
        let num = |s: &str| s.parse::<u32>().ok();
        if let (Some(y), Some(m), Some(d)) = (num(rest[3]), num(rest[4]), num(rest[5]))
            && (1..=12).contains(&m)
            && (1..=31).contains(&d)
            && rest[3].len() == 4
        {
            info.date = Some((y, m, d));
        }
    }
    info
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_and_org_layouts() {
        let k = "logs/AWSLogs/111122223333/CloudTrail/us-east-2/2015/08/01/111122223333_CloudTrail_us-east-2_20150801T0210Z_Mu0KsOhtH1ar15ZZ.json.gz";
        assert_eq!(classify(k), ObjectKind::Log);
        let i = parse_key(k);
        assert_eq!(i.account.as_deref(), Some("111122223333"));
        assert_eq!(i.region.as_deref(), Some("us-east-2"));
        assert_eq!(i.date, Some((2015, 8, 1)));
        assert_eq!(i.org_id, None);
        let k =
            "AWSLogs/o-abc123/123456789015/CloudTrail-Insight/ca-central-1/2020/09/23/x.json.gz";
        assert_eq!(classify(k), ObjectKind::Insight);
        assert_eq!(parse_key(k).org_id.as_deref(), Some("o-abc123"));
        let k = "AWSLogs/111122223333/CloudTrail-Digest/us-east-2/2015/08/17/d.json.gz";
        assert_eq!(classify(k), ObjectKind::Digest);
        assert_eq!(classify("a/.DS_Store"), ObjectKind::Hidden);
        assert_eq!(
            classify("lake/_crosstrail/manifest/x.json"),
            ObjectKind::Hidden
        );
        assert_eq!(parse_key("exports/events.jsonl"), KeyInfo::default());
    }
}
