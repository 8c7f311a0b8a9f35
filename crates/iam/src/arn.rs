//! ARN fields and the IAM wildcard matcher.
//!
//! ARNs are `arn:<partition>:<service>:<region>:<account>:<resource>`; the resource part may
//! itself contain `:` and `/`.

/// The six fields of an ARN, or `None` if `arn` does not look like one.
fn fields(arn: &str) -> Option<[&str; 6]> {
    let mut it = arn.splitn(6, ':');
    let f = [
        it.next()?,
        it.next()?,
        it.next()?,
        it.next()?,
        it.next()?,
        it.next()?,
    ];
    (f[0] == "arn" && f[1].starts_with("aws")).then_some(f)
}

/// The partition (`aws`, `aws-cn`, `aws-us-gov`, ...).
pub fn partition_of(arn: &str) -> Option<&str> {
    fields(arn).map(|f| f[1])
}

/// The service (`iam`, `sts`, `s3`, ...).
pub fn service_of(arn: &str) -> Option<&str> {
    fields(arn).map(|f| f[2])
}

/// The account id, `None` when the ARN has none (S3 buckets, AWS-managed policies use `aws`).
pub fn account_of(arn: &str) -> Option<&str> {
    fields(arn).map(|f| f[4]).filter(|a| is_account_id(a))
}

/// The resource part, after the fifth `:`.
pub fn resource_of(arn: &str) -> Option<&str> {
    fields(arn).map(|f| f[5])
}

/// The role name of an IAM role ARN (`role/path/Name` -> `Name`) or of an STS assumed-role
/// session ARN (`assumed-role/Name/session` -> `Name`).
pub fn role_name_of(arn: &str) -> Option<&str> {
    let resource = resource_of(arn)?;
    if let Some(rest) = resource.strip_prefix("role/") {
        rest.rsplit('/').next().filter(|n| !n.is_empty())
    } else if let Some(rest) = resource.strip_prefix("assumed-role/") {
        rest.split('/').next().filter(|n| !n.is_empty())
    } else {
        None
    }
}

/// Twelve ASCII digits.
pub fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// IAM wildcard match: `*` matches any run of characters (also empty, also across `/` and `:`),
/// `?` exactly one character, everything else (including `[`) itself.
///
/// Actions compare case-insensitively, resource ARNs case-sensitively. Worst case is
/// O(pattern x text): on a mismatch only the most recent `*` is retried, so patterns such as
/// `a*a*a*a*b` cannot backtrack exponentially.
pub fn wildcard_match(pattern: &str, text: &str, case_insensitive: bool) -> bool {
    if pattern.is_ascii() && text.is_ascii() {
        let eq = |a: u8, b: u8| a == b || (case_insensitive && a.eq_ignore_ascii_case(&b));
        glob(pattern.as_bytes(), text.as_bytes(), b'*', b'?', eq)
    } else {
        let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
        let eq = |a: char, b: char| {
            a == b || (case_insensitive && a.to_lowercase().eq(b.to_lowercase()))
        };
        glob(&p, &t, '*', '?', eq)
    }
}

fn glob<T: Copy + PartialEq>(p: &[T], t: &[T], star: T, one: T, eq: impl Fn(T, T) -> bool) -> bool {
    let (mut pi, mut ti) = (0, 0);
    // Where to resume after the last `*`: (pattern index after it, text index it matched up to).
    let mut resume: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == star {
            pi += 1;
            resume = Some((pi, ti));
        } else if pi < p.len() && (p[pi] == one || eq(p[pi], t[ti])) {
            pi += 1;
            ti += 1;
        } else if let Some((rp, rt)) = resume {
            // Let the last `*` swallow one more character. Earlier stars never need revisiting:
            // whatever they could absorb, the last one can absorb too.
            pi = rp;
            ti = rt + 1;
            resume = Some((rp, rt + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == star)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arn_fields() {
        let role = "arn:aws-us-gov:iam::123456789012:role/path/to/Deploy";
        assert_eq!(partition_of(role), Some("aws-us-gov"));
        assert_eq!(service_of(role), Some("iam"));
        assert_eq!(account_of(role), Some("123456789012"));
        assert_eq!(role_name_of(role), Some("Deploy"));
        let session = "arn:aws-cn:sts::123456789012:assumed-role/Deploy/session:with/colon";
        assert_eq!(role_name_of(session), Some("Deploy"));
        assert_eq!(account_of("arn:aws:iam::aws:policy/ReadOnlyAccess"), None);
        assert_eq!(account_of("arn:aws:s3:::bucket/key"), None);
        assert_eq!(account_of("123456789012"), None);
        assert_eq!(role_name_of("arn:aws:iam::123456789012:user/alice"), None);
        assert_eq!(partition_of("arn:aws"), None);
    }

    #[test]
    fn matcher_truth_table() {
        let cases = [
            ("sts:AssumeRole*", "sts:AssumeRoleWithSAML", true, true),
            ("sts:AssumeRole*", "sts:AssumeRole", true, true),
            ("STS:assumerole", "sts:AssumeRole", true, true),
            ("STS:assumerole", "sts:AssumeRole", false, false),
            ("s3:Get?bject", "s3:GetObject", true, true),
            ("s3:Get?bject", "s3:Getbject", true, false),
            ("?", "", true, false),
            ("", "", true, true),
            ("", "x", true, false),
            ("*", "", true, true),
            ("*", "anything:at/all", false, true),
            ("**", "x", false, true),
            ("a*b*c", "aXbYc", false, true),
            ("a*b*c", "aXbYcZ", false, false),
            ("*c", "abcbc", false, true),
            ("s3:[Gg]et*", "s3:GetObject", false, false),
            ("s3:[Gg]et*", "s3:[Gg]etObject", false, true),
            ("arn:aws:s3:::b/*", "arn:aws:s3:::b/a/b/c", false, true),
            ("arn:aws:s3:::B/*", "arn:aws:s3:::b/x", false, false),
            ("ÄB?", "äbc", true, true),
            ("ÄB?", "äbc", false, false),
        ];
        for (p, t, ci, want) in cases {
            assert_eq!(wildcard_match(p, t, ci), want, "{p:?} vs {t:?} (ci={ci})");
        }
    }

    #[test]
    fn matcher_pathological_patterns_are_fast() {
        let text = "a".repeat(20_000);
        let pattern = format!("{}b", "a*".repeat(200));
        let start = std::time::Instant::now();
        assert!(!wildcard_match(&pattern, &text, true));
        assert!(wildcard_match(
            &format!("{}a", "a*".repeat(200)),
            &text,
            true
        ));
        assert!(start.elapsed() < std::time::Duration::from_secs(2));
    }
}
