//! CloudTrail's object key layout (`AWSLogs/[o-id/]<account>/CloudTrail/<region>/YYYY/MM/DD/…`).
//!
//! Used to skip digest and Insights objects, to order work by day, and to prune listings
//! (local folders and S3 prefixes) by account, region and date with a [`LayoutFilter`].

use std::collections::BTreeSet;

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

/// Fields read from a CloudTrail key, borrowed from it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyInfo<'k> {
    /// Organization id of an organization trail (`o-…`).
    pub org_id: Option<&'k str>,
    /// The account whose activity the object holds.
    pub account: Option<&'k str>,
    /// Region directory.
    pub region: Option<&'k str>,
    /// Delivery day from the `YYYY/MM/DD` directories.
    pub date: Option<(u32, u32, u32)>,
}

/// Classifies a key (or path, with `/` separators). Every listed object is classified: a
/// folder is split only when a name it looks for appears in it at all.
pub fn classify(key: &str) -> ObjectKind {
    let name = key.rsplit('/').next().unwrap_or(key);
    let has_part = |part: &str| key.contains(part) && key.split('/').any(|p| p == part);
    if name.starts_with('.') || has_part(crosstrail_lake::INTERNAL_DIR) {
        ObjectKind::Hidden
    } else if has_part("CloudTrail-Digest") {
        ObjectKind::Digest
    } else if has_part("CloudTrail-Insight") {
        ObjectKind::Insight
    } else {
        ObjectKind::Log
    }
}

pub(crate) fn is_account(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// Reads account, region and date from a key laid out as CloudTrail delivers it. Called for
/// every listed object: one pass over the key, and nothing copied.
pub fn parse_key(key: &str) -> KeyInfo<'_> {
    let mut parts = key.split('/');
    if !parts.any(|p| p == "AWSLogs") {
        return KeyInfo::default();
    }
    let mut parts = parts.peekable();
    let mut info = KeyInfo {
        org_id: parts.next_if(|p| p.starts_with("o-")),
        ..KeyInfo::default()
    };
    let Some(account) = parts.next().filter(|a| is_account(a)) else {
        return info;
    };
    info.account = Some(account);
    // <account>/CloudTrail*/<region>/YYYY/MM/DD/<file>
    let (Some(trail), Some(region), Some(y), Some(m), Some(d)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return info;
    };
    if trail.starts_with("CloudTrail") {
        info.region = Some(region);
        let num = |s: &str| s.parse::<u32>().ok();
        if let (Some(y4), Some(m), Some(d)) = (num(y), num(m), num(d))
            && (1..=12).contains(&m)
            && (1..=31).contains(&d)
            && y.len() == 4
        {
            info.date = Some((y4, m, d));
        }
    }
    info
}

/// A delivery day, `(year, month, day)`.
pub type Day = (u32, u32, u32);

/// Which part of a trail to read (`--accounts`, `--regions`, `--from`, `--to`), judged from
/// keys laid out as CloudTrail delivers them. With any field set, an object whose key does not
/// show that field (an export file, a key outside `AWSLogs/`) is left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LayoutFilter {
    /// Only these accounts (12 digits).
    pub accounts: Option<BTreeSet<String>>,
    /// Only these region directories.
    pub regions: Option<BTreeSet<String>>,
    /// First delivery day, inclusive.
    pub from: Option<Day>,
    /// Last delivery day, inclusive.
    pub to: Option<Day>,
}

impl LayoutFilter {
    /// Whether the filter keeps everything.
    pub fn is_empty(&self) -> bool {
        self.accounts.is_none()
            && self.regions.is_none()
            && self.from.is_none()
            && self.to.is_none()
    }

    fn admits_day(&self, day: Day) -> bool {
        self.from.is_none_or(|f| day >= f) && self.to.is_none_or(|t| day <= t)
    }

    /// Whether the object at `key` (or path) is kept.
    pub fn admits(&self, key: &str) -> bool {
        self.is_empty() || self.admits_info(&parse_key(key))
    }

    /// Whether the object whose key reads as `info` ([`parse_key`]) is kept: for listings
    /// that read the key for its date anyway.
    pub fn admits_info(&self, info: &KeyInfo<'_>) -> bool {
        let known = |set: &Option<BTreeSet<String>>, v: Option<&str>| match set {
            None => true,
            Some(set) => v.is_some_and(|v| set.contains(v)),
        };
        if !known(&self.accounts, info.account) || !known(&self.regions, info.region) {
            return false;
        }
        if self.from.is_some() || self.to.is_some() {
            return info.date.is_some_and(|d| self.admits_day(d));
        }
        true
    }

    /// Whether anything under the folder or key prefix `dir` can be kept: false only when the
    /// layout shows that everything beneath is out (another account, region or day range, a
    /// digest or Insights folder, a folder that is not laid out as a trail). Used to prune
    /// walks and listings.
    pub fn admits_dir(&self, dir: &str) -> bool {
        if self.is_empty() {
            return true;
        }
        let parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty()).collect();
        let Some(at) = parts.iter().position(|p| *p == "AWSLogs") else {
            return true;
        };
        let mut rest = &parts[at + 1..];
        if rest.first().is_some_and(|p| p.starts_with("o-")) {
            rest = &rest[1..];
        }
        let Some(account) = rest.first() else {
            return true;
        };
        if !is_account(account) {
            return false;
        }
        if self
            .accounts
            .as_ref()
            .is_some_and(|a| !a.contains(*account))
        {
            return false;
        }
        let Some(kind) = rest.get(1) else { return true };
        if *kind != "CloudTrail" {
            // Digests and Insights are never parsed; anything else is not a trail.
            return false;
        }
        let Some(region) = rest.get(2) else {
            return true;
        };
        if self.regions.as_ref().is_some_and(|r| !r.contains(*region)) {
            return false;
        }
        let num = |i: usize| rest.get(i).and_then(|s| s.parse::<u32>().ok());
        let (from, to) = (
            self.from.unwrap_or((0, 0, 0)),
            self.to.unwrap_or((u32::MAX, 99, 99)),
        );
        let dated = self.from.is_some() || self.to.is_some();
        // A folder that is not a number where the date goes holds no dated keys.
        match (num(3), num(4), num(5)) {
            (None, ..) => rest.len() <= 3 || !dated,
            (Some(y), None, _) if rest.len() <= 4 => (from.0..=to.0).contains(&y),
            (Some(y), Some(m), None) if rest.len() <= 5 => {
                ((from.0, from.1)..=(to.0, to.1)).contains(&(y, m))
            }
            (Some(y), Some(m), Some(d)) => self.admits_day((y, m, d)),
            _ => !dated,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_and_org_layouts() {
        let k = "logs/AWSLogs/111122223333/CloudTrail/us-east-2/2015/08/01/111122223333_CloudTrail_us-east-2_20150801T0210Z_Mu0KsOhtH1ar15ZZ.json.gz";
        assert_eq!(classify(k), ObjectKind::Log);
        let i = parse_key(k);
        assert_eq!(i.account, Some("111122223333"));
        assert_eq!(i.region, Some("us-east-2"));
        assert_eq!(i.date, Some((2015, 8, 1)));
        assert_eq!(i.org_id, None);
        let k =
            "AWSLogs/o-abc123/123456789015/CloudTrail-Insight/ca-central-1/2020/09/23/x.json.gz";
        assert_eq!(classify(k), ObjectKind::Insight);
        assert_eq!(parse_key(k).org_id, Some("o-abc123"));
        let k = "AWSLogs/111122223333/CloudTrail-Digest/us-east-2/2015/08/17/d.json.gz";
        assert_eq!(classify(k), ObjectKind::Digest);
        assert_eq!(classify("a/.DS_Store"), ObjectKind::Hidden);
        assert_eq!(
            classify("lake/_crosstrail/manifest/x.json"),
            ObjectKind::Hidden
        );
        assert_eq!(parse_key("exports/events.jsonl"), KeyInfo::default());
    }

    /// `classify` and `parse_key` read each listed key in one pass; they must read every key
    /// as the plain split-and-collect versions below do, on keys that nearly fit the layout.
    #[test]
    fn one_pass_readings_match_the_plain_ones() {
        fn plain_classify(key: &str) -> ObjectKind {
            let parts: Vec<&str> = key.split('/').collect();
            let name = parts.last().copied().unwrap_or(key);
            if name.starts_with('.') || parts.contains(&crosstrail_lake::INTERNAL_DIR) {
                ObjectKind::Hidden
            } else if parts.contains(&"CloudTrail-Digest") {
                ObjectKind::Digest
            } else if parts.contains(&"CloudTrail-Insight") {
                ObjectKind::Insight
            } else {
                ObjectKind::Log
            }
        }
        fn plain_parse_key(key: &str) -> KeyInfo<'_> {
            let parts: Vec<&str> = key.split('/').collect();
            let Some(at) = parts.iter().position(|p| *p == "AWSLogs") else {
                return KeyInfo::default();
            };
            let mut rest = &parts[at + 1..];
            let mut info = KeyInfo::default();
            if rest.first().is_some_and(|p| p.starts_with("o-")) {
                info.org_id = Some(rest[0]);
                rest = &rest[1..];
            }
            let Some(account) = rest.first().filter(|a| is_account(a)) else {
                return info;
            };
            info.account = Some(*account);
            if rest.len() >= 6 && rest[1].starts_with("CloudTrail") {
                info.region = Some(rest[2]);
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
        let heads = ["", "/", "bucket/", "a/AWSLogs/x/", "AWSLogs/"];
        let orgs = ["", "o-abc123/", "o-/"];
        let accounts = ["111122223333/", "11112222333/", "AWSLogs/", ""];
        let trails = [
            "CloudTrail/",
            "CloudTrail-Digest/",
            "CloudTrail-Insight/",
            "CloudTrailX/",
            "_crosstrail/",
            "",
        ];
        let tails = [
            "us-east-1/2024/03/01/f.json.gz",
            "us-east-1/2024/03/01",
            "us-east-1/2024/03/01/",
            "us-east-1/2024/13/01/f",
            "us-east-1/24/03/01/f",
            "us-east-1/2024/03",
            "eu-west-1/2024/02/31/.f.swp",
            "x/CloudTrail-Digest",
            "",
        ];
        let mut keys = 0;
        for head in heads {
            for org in orgs {
                for account in accounts {
                    for trail in trails {
                        for tail in tails {
                            let key = format!("{head}{org}{account}{trail}{tail}");
                            assert_eq!(classify(&key), plain_classify(&key), "{key}");
                            assert_eq!(parse_key(&key), plain_parse_key(&key), "{key}");
                            keys += 1;
                        }
                    }
                }
            }
        }
        assert_eq!(keys, 5 * 3 * 4 * 6 * 9);
    }

    #[test]
    fn filter_by_account_region_and_day() {
        let f = LayoutFilter {
            accounts: Some(["111122223333".to_string()].into()),
            regions: Some(["us-east-1".to_string()].into()),
            from: Some((2024, 3, 1)),
            to: Some((2024, 3, 2)),
        };
        let key = |acct: &str, region: &str, day: &str| {
            format!("p/AWSLogs/{acct}/CloudTrail/{region}/{day}/{acct}_CloudTrail_x.json.gz")
        };
        assert!(f.admits(&key("111122223333", "us-east-1", "2024/03/01")));
        assert!(f.admits(&key("111122223333", "us-east-1", "2024/03/02")));
        assert!(!f.admits(&key("111122223333", "us-east-1", "2024/03/03")));
        assert!(!f.admits(&key("111122223333", "eu-west-1", "2024/03/01")));
        assert!(!f.admits(&key("444455556666", "us-east-1", "2024/03/01")));
        assert!(!f.admits("exports/events.jsonl"), "no layout, filtered out");
        assert!(LayoutFilter::default().admits("exports/events.jsonl"));

        for dir in [
            "p/",
            "p/AWSLogs/",
            "p/AWSLogs/o-abc/",
            "p/AWSLogs/o-abc/111122223333/",
            "p/AWSLogs/111122223333/CloudTrail/",
            "p/AWSLogs/111122223333/CloudTrail/us-east-1/",
            "p/AWSLogs/111122223333/CloudTrail/us-east-1/2024/",
            "p/AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/",
            "p/AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/02/",
        ] {
            assert!(f.admits_dir(dir), "{dir}");
        }
        for dir in [
            "p/AWSLogs/444455556666/",
            "p/AWSLogs/not-an-account/",
            "p/AWSLogs/111122223333/CloudTrail-Digest/",
            "p/AWSLogs/111122223333/CloudTrail/eu-west-1/",
            "p/AWSLogs/111122223333/CloudTrail/us-east-1/2023/",
            "p/AWSLogs/111122223333/CloudTrail/us-east-1/2024/04/",
            "p/AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/03/",
        ] {
            assert!(!f.admits_dir(dir), "{dir}");
        }
        // Only a day range: every account and region is open, years outside are not.
        let days = LayoutFilter {
            from: Some((2024, 12, 31)),
            to: Some((2025, 1, 1)),
            ..LayoutFilter::default()
        };
        assert!(days.admits_dir("AWSLogs/111122223333/CloudTrail/us-east-1/2025/01/"));
        assert!(!days.admits_dir("AWSLogs/111122223333/CloudTrail/us-east-1/2025/02/"));
        assert!(days.admits_dir("AWSLogs/111122223333/CloudTrail/us-east-1/2024/12/31/"));
        assert!(!days.admits_dir("AWSLogs/111122223333/CloudTrail/us-east-1/2024/12/30/"));
    }
}
