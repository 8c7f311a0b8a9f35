//! The seeded PRNG, AWS-shaped identifiers and the date formats CloudTrail uses.
//!
//! Everything here is a pure function of the seed: no wall clock, no thread RNG, no hash maps.

use std::fmt::Write as _;

/// SplitMix64: tiny, fast, and good enough for test data (not for cryptography).
pub(crate) struct Rng(u64);

const UPPER_DIGITS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const HEX: &[u8] = b"0123456789abcdef";

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// An independent stream, so that adding draws in one part of the world does not shift
    /// every value generated after it.
    pub(crate) fn fork(&mut self) -> Rng {
        Rng(self.next_u64() ^ 0x5DEE_CE66_D1CE_4E5B)
    }

    /// Uniform in `0..n` (multiply-shift; the bias is far below anything a test could see).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n.max(1))) >> 64) as u64
    }

    /// Uniform in `lo..=hi`.
    pub(crate) fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub(crate) fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    pub(crate) fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }

    /// Index drawn with the given relative weights.
    pub(crate) fn weighted(&mut self, weights: &[u32]) -> usize {
        let mut x = self.below(weights.iter().map(|&w| u64::from(w)).sum());
        for (i, &w) in weights.iter().enumerate() {
            if x < u64::from(w) {
                return i;
            }
            x -= u64::from(w);
        }
        weights.len() - 1
    }

    fn chars(&mut self, out: &mut String, set: &[u8], n: usize) {
        for _ in 0..n {
            out.push(char::from(*self.pick(set)));
        }
    }

    pub(crate) fn alnum(&mut self, n: usize) -> String {
        let mut s = String::with_capacity(n);
        self.chars(&mut s, ALNUM, n);
        s
    }

    pub(crate) fn hex(&mut self, n: usize) -> String {
        let mut s = String::with_capacity(n);
        self.chars(&mut s, HEX, n);
        s
    }

    /// IAM-style unique id or key: `AROA`/`AIDA` + 17, `ASIA`/`AKIA` + 16 characters.
    pub(crate) fn aws_id(&mut self, prefix: &str, n: usize) -> String {
        let mut s = String::with_capacity(prefix.len() + n);
        s.push_str(prefix);
        self.chars(&mut s, UPPER_DIGITS, n);
        s
    }

    /// A 12-digit account id that does not start with 0.
    pub(crate) fn account_id(&mut self) -> String {
        format!("{}", self.range(100_000_000_000, 999_999_999_999))
    }

    pub(crate) fn uuid(&mut self) -> String {
        let (a, b) = (self.next_u64(), self.next_u64());
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            0x8000 | ((b >> 48) & 0x3fff),
            b & 0xffff_ffff_ffff
        )
    }

    /// Something shaped like an STS session token: long, base64-ish, meaningless.
    pub(crate) fn session_token(&mut self) -> String {
        let mut s = String::from("IQoJb3JpZ2luX2VjE");
        let n = self.range(300, 420) as usize;
        self.chars(&mut s, ALNUM, n);
        s.push_str("==");
        s
    }
}

/// Calendar time broken out of Unix seconds (UTC, proleptic Gregorian).
pub(crate) struct Tm {
    pub y: i64,
    pub mo: u32,
    pub d: u32,
    pub h: u32,
    pub mi: u32,
    pub s: u32,
}

/// Days since 1970-01-01 for a civil date (Howard Hinnant's algorithm).
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

pub(crate) fn tm(t: i64) -> Tm {
    let (days, secs) = (t.div_euclid(86_400), t.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(mo <= 2);
    let secs = secs as u32;
    Tm {
        y,
        mo,
        d,
        h: secs / 3600,
        mi: secs / 60 % 60,
        s: secs % 60,
    }
}

/// `2026-07-01T13:05:09Z`, the form of `eventTime`.
pub(crate) fn iso(t: i64) -> String {
    let c = tm(t);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        c.y, c.mo, c.d, c.h, c.mi, c.s
    )
}

/// `20260701T130509Z`: ISO 8601 basic, seen in old `creationDate` values and digest keys.
pub(crate) fn iso_basic(t: i64) -> String {
    let c = tm(t);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        c.y, c.mo, c.d, c.h, c.mi, c.s
    )
}

/// `20260701T1305Z`, the delivery stamp in log object names.
pub(crate) fn key_stamp(t: i64) -> String {
    let c = tm(t);
    format!("{:04}{:02}{:02}T{:02}{:02}Z", c.y, c.mo, c.d, c.h, c.mi)
}

/// `2026/07/01`, the date folders of the S3 key layout.
pub(crate) fn date_dirs(t: i64) -> String {
    let c = tm(t);
    format!("{:04}/{:02}/{:02}", c.y, c.mo, c.d)
}

/// `Jul 18, 2014, 4:07:39 PM`: how STS writes `credentials.expiration` (not ISO 8601).
pub(crate) fn sts_expiration(t: i64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let c = tm(t);
    let h12 = if c.h.is_multiple_of(12) { 12 } else { c.h % 12 };
    let mut s = String::with_capacity(26);
    let _ = write!(
        s,
        "{} {}, {}, {}:{:02}:{:02} {}",
        MONTHS[(c.mo - 1) as usize],
        c.d,
        c.y,
        h12,
        c.mi,
        c.s,
        if c.h < 12 { "AM" } else { "PM" }
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        let t = days_from_civil(2014, 7, 18) * 86_400 + 16 * 3600 + 7 * 60 + 39;
        assert_eq!(iso(t), "2014-07-18T16:07:39Z");
        assert_eq!(sts_expiration(t), "Jul 18, 2014, 4:07:39 PM");
        assert_eq!(iso_basic(t), "20140718T160739Z");
        assert_eq!(key_stamp(t), "20140718T1607Z");
        assert_eq!(
            iso(days_from_civil(2024, 2, 29) * 86_400),
            "2024-02-29T00:00:00Z"
        );
        assert_eq!(
            iso(days_from_civil(2026, 12, 31) * 86_400 + 86_400),
            "2027-01-01T00:00:00Z"
        );
        assert_eq!(
            sts_expiration(days_from_civil(2022, 10, 27) * 86_400 + 29),
            "Oct 27, 2022, 12:00:29 AM"
        );
    }

    #[test]
    fn ids_have_aws_shapes() {
        let mut r = Rng::new(7);
        let u = r.uuid();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert_eq!(r.aws_id("ASIA", 16).len(), 20);
        assert_eq!(r.account_id().len(), 12);
    }
}
