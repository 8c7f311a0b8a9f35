//! The one decompression function: every object's bytes go through [`decode`].
//!
//! CloudTrail delivers each log file as a single-member gzip object well under 4 GiB, so the
//! common case inflates the whole buffer at once with libdeflate, sized exactly from the gzip
//! trailer (about twice as fast as streaming zlib-rs). Anything it cannot prove correct
//! (several members, a size field that wrapped past 4 GiB or lies, corrupt data, trailing bytes)
//! is decoded again by a streaming flate2 decoder that handles every member, enforces the size
//! cap while it reads and says what is wrong.
//!
//! Compression is detected from magic bytes, never from the object name. Input that is not
//! compressed is returned as-is, borrowed. Other compressors (zstd, bzip2, xz, zip, ...) are
//! rejected with [`DecodeError::UnsupportedCompression`] instead of being parsed as text.
//!
//! The raw decoders are `disallowed-types` in the workspace `clippy.toml`, so nothing else can
//! skip the multi-member handling or the size cap.
//!
//! ```
//! use crosstrail_ingest::decode::{decode, Encoding, Limits};
//!
//! let plain = br#"{"Records":[]}"#;
//! let decoded = decode(plain, &Limits::default())?;
//! assert_eq!(decoded.encoding, Encoding::Plain);
//! assert_eq!(&*decoded.bytes, plain);
//! # Ok::<(), crosstrail_ingest::decode::DecodeError>(())
//! ```

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;
use std::io::{self, Read};

/// Default for [`Limits::max_inflated_bytes`]: 1 GiB. CloudTrail objects inflate to a few MB.
pub const DEFAULT_MAX_INFLATED_BYTES: u64 = 1 << 30;

/// Limits applied to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest inflated size accepted for one object, summed over all gzip members. Input that
    /// is not compressed is already in memory and is not checked against it.
    pub max_inflated_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_inflated_bytes: DEFAULT_MAX_INFLATED_BYTES,
        }
    }
}

/// How the input bytes were stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Not compressed; [`Decoded::bytes`] borrows the input.
    Plain,
    /// Gzip.
    Gzip {
        /// Number of gzip members (concatenated gzip streams), at least 1.
        members: u32,
        /// Whether the whole-buffer libdeflate path decoded it (false: streaming flate2).
        fast_path: bool,
    },
}

/// The decompressed content of one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded<'a> {
    /// The content: borrowed from the input when it was not compressed, or from the scratch
    /// buffer given to [`decode_reusing`].
    pub bytes: Cow<'a, [u8]>,
    /// How the input was stored.
    pub encoding: Encoding,
}

/// Why an object could not be decoded. The caller adds the object name.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The magic bytes name a compression format other than gzip.
    #[error("unsupported compression: {format}")]
    UnsupportedCompression {
        /// Format name, such as `zstd`.
        format: &'static str,
    },
    /// The input ends before the gzip stream does.
    #[error("truncated gzip stream (unexpected end of data in member {member})")]
    Truncated {
        /// 1-based member in which the data ran out.
        member: u32,
        /// What the decoder was reading when the data ran out.
        #[source]
        source: io::Error,
    },
    /// A gzip header or the deflate data in a member is invalid.
    #[error("corrupt gzip member {member} (starting at byte {offset})")]
    Corrupt {
        /// 1-based member that is corrupt.
        member: u32,
        /// Byte offset of that member in the input.
        offset: u64,
        /// The decoder's complaint.
        #[source]
        source: io::Error,
    },
    /// A member inflated, but its content does not match the CRC-32 or size in its trailer.
    #[error("gzip member {member} does not match its checksum (corrupt data)")]
    ChecksumMismatch {
        /// 1-based member whose check failed.
        member: u32,
    },
    /// The inflated size exceeds [`Limits::max_inflated_bytes`].
    #[error("inflates to more than {} (limit)", HumanBytes(*limit))]
    TooLarge {
        /// The limit that was exceeded, in bytes.
        limit: u64,
    },
    /// Bytes after the last gzip member that do not start another member.
    #[error("{len} bytes of trailing garbage after gzip member {member} (at byte {offset})")]
    TrailingGarbage {
        /// Number of complete members before the garbage.
        member: u32,
        /// Byte offset where the garbage starts.
        offset: u64,
        /// Length of the garbage in bytes.
        len: u64,
    },
}

/// Decompresses one object's bytes, detecting gzip by its magic bytes.
///
/// Returns uncompressed input borrowed and unchanged, gzip input inflated (all members,
/// concatenated), and an error for other compression formats, for corrupt, truncated or
/// over-limit gzip, and for bytes after the last gzip member. Never panics on any input.
pub fn decode<'a>(input: &'a [u8], limits: &Limits) -> Result<Decoded<'a>, DecodeError> {
    decode_impl(input, limits, None)
}

/// [`decode`], inflating single-member gzip into `scratch` (kept from object to object by the
/// caller) instead of a new buffer: a buffer that is already as large as the content is not
/// zero-filled again before libdeflate overwrites it, nor are its pages faulted in afresh.
pub fn decode_reusing<'a>(
    input: &'a [u8],
    limits: &Limits,
    scratch: &'a mut Vec<u8>,
) -> Result<Decoded<'a>, DecodeError> {
    decode_impl(input, limits, Some(scratch))
}

fn decode_impl<'a>(
    input: &'a [u8],
    limits: &Limits,
    scratch: Option<&'a mut Vec<u8>>,
) -> Result<Decoded<'a>, DecodeError> {
    if input.starts_with(&GZIP_MAGIC) {
        return gunzip(input, limits.max_inflated_bytes, scratch);
    }
    if let Some(format) = unsupported_format(input) {
        return Err(DecodeError::UnsupportedCompression { format });
    }
    Ok(Decoded {
        bytes: Cow::Borrowed(input),
        encoding: Encoding::Plain,
    })
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
/// Fixed header (10), the shortest deflate stream (2), CRC-32 and ISIZE (8).
const GZIP_MIN_LEN: usize = 20;
/// Deflate cannot do better than 1032:1 (a 258-byte match in 2 bits), so a trailer claiming more
/// than this many bytes per input byte cannot describe a single member and is not trusted.
const DEFLATE_MAX_RATIO: u64 = 1032;

/// Magic bytes of formats seen when archives are recompressed, and Unix `compress`.
const OTHER_FORMATS: &[(&[u8], &str)] = &[
    (&[0x28, 0xb5, 0x2f, 0xfd], "zstd"),
    (&[0xfd, b'7', b'z', b'X', b'Z', 0x00], "xz"),
    (b"PK\x03\x04", "zip"),
    (b"PK\x05\x06", "zip"),
    (&[0x04, 0x22, 0x4d, 0x18], "lz4"),
    (b"\xff\x06\x00\x00sNaPpY", "snappy"),
    (&[0x1f, 0x9d], "compress (.Z)"),
];

fn unsupported_format(input: &[u8]) -> Option<&'static str> {
    // "BZh" then the block size digit: plain text rarely starts like that, JSON never does.
    if let [b'B', b'Z', b'h', b'1'..=b'9', ..] = input {
        return Some("bzip2");
    }
    OTHER_FORMATS
        .iter()
        .find(|(magic, _)| input.starts_with(magic))
        .map(|&(_, name)| name)
}

/// A scratch buffer larger than this is given back after use rather than kept.
const SCRATCH_KEEP_BYTES: usize = 64 << 20;

fn gunzip<'a>(
    input: &'a [u8],
    max: u64,
    scratch: Option<&'a mut Vec<u8>>,
) -> Result<Decoded<'a>, DecodeError> {
    let fast = Encoding::Gzip {
        members: 1,
        fast_path: true,
    };
    match scratch {
        Some(buf) => {
            if buf.capacity() > SCRATCH_KEEP_BYTES {
                *buf = Vec::new();
            }
            if let Some(len) = inflate_single_member(input, max, buf) {
                return Ok(Decoded {
                    bytes: Cow::Borrowed(&buf[..len]),
                    encoding: fast,
                });
            }
        }
        None => {
            let mut buf = Vec::new();
            if let Some(len) = inflate_single_member(input, max, &mut buf) {
                buf.truncate(len);
                return Ok(Decoded {
                    bytes: Cow::Owned(buf),
                    encoding: fast,
                });
            }
        }
    }
    let (bytes, members) = inflate_streaming(input, max)?;
    Ok(Decoded {
        bytes: Cow::Owned(bytes),
        encoding: Encoding::Gzip {
            members,
            fast_path: false,
        },
    })
}

/// Fast path: one libdeflate call over the whole input into a buffer sized from the trailer.
///
/// Returns `None` whenever it cannot prove the result is the whole, correct content; the
/// streaming path then decides (and explains any error). `None` costs one wasted attempt,
/// a wrong `Some` would lose data, so every doubt goes to `None`.
///
/// Inflates into the start of `buf`, growing it (zero-filled) only when it is shorter than the
/// content; returns the content's length. Bytes past it are left over from earlier use.
fn inflate_single_member(input: &[u8], max: u64, buf: &mut Vec<u8>) -> Option<usize> {
    let trailer: [u8; 8] = input
        .len()
        .checked_sub(8)
        .and_then(|at| input[at..].try_into().ok())?;
    let [c0, c1, c2, c3, s0, s1, s2, s3] = trailer;
    let crc = u32::from_le_bytes([c0, c1, c2, c3]);
    // ISIZE is the size mod 2^32: 0 may be empty or a multiple of 4 GiB, so let flate2 count.
    let size = u64::from(u32::from_le_bytes([s0, s1, s2, s3]));
    let ratio_bound = (input.len() as u64).saturating_mul(DEFLATE_MAX_RATIO);
    if input.len() < GZIP_MIN_LEN || size == 0 || size > max || size > ratio_bound {
        return None;
    }
    let len = usize::try_from(size).ok()?;
    if buf.len() < len {
        buf.resize(len, 0);
    }
    let out = &mut buf[..len];
    let written = libdeflate_gzip(input, out)?;
    // libdeflate stops after the first member and does not say how much input it used; it has
    // checked that the 8 bytes after that member's deflate data are crc32(out) and out.len().
    // If those equal the input's last 8 bytes and that 8-byte sequence occurs nowhere earlier,
    // the member ended exactly at the end of the input: nothing was left unread.
    if written != out.len() || crc32(out) != crc {
        return None;
    }
    let before_last = &input[..input.len() - 1];
    if memchr::memmem::find(before_last, &trailer).is_some() {
        return None;
    }
    Some(len)
}

#[allow(clippy::disallowed_types)] // decode.rs is the one place that may use raw decoders
fn libdeflate_gzip(input: &[u8], out: &mut [u8]) -> Option<usize> {
    use libdeflater::Decompressor;
    thread_local! {
        // A decompressor holds ~10 KB of tables; one per thread, not one per object.
        static DECOMPRESSOR: RefCell<Decompressor> = RefCell::new(Decompressor::new());
    }
    let shared = DECOMPRESSOR.try_with(|cell| {
        let mut decompressor = cell.try_borrow_mut().ok()?;
        Some(decompressor.gzip_decompress(input, out).ok())
    });
    match shared {
        Ok(Some(written)) => written,
        // The thread-local is being torn down or is in use: a fresh one costs ~10 KB.
        _ => Decompressor::new().gzip_decompress(input, out).ok(),
    }
}

fn crc32(data: &[u8]) -> u32 {
    libdeflater::crc32(data)
}

/// Streaming path: flate2 (zlib-rs) member by member, the cap enforced while reading.
///
/// Decoding one member at a time (rather than with `MultiGzDecoder`) tells apart another
/// member from trailing garbage and counts members; the decoder state is reused across them.
#[allow(clippy::disallowed_types)] // decode.rs is the one place that may use raw decoders
fn inflate_streaming(input: &[u8], max: u64) -> Result<(Vec<u8>, u32), DecodeError> {
    // Grow from a modest guess; never allocate from the (untrusted) trailer.
    let guess = (input.len() as u64)
        .saturating_mul(8)
        .min(max)
        .min(64 << 20);
    let mut out = Vec::with_capacity(usize::try_from(guess).unwrap_or(0));
    let mut decoder = flate2::bufread::GzDecoder::new(input);
    let mut member: u32 = 1;
    let mut offset: u64 = 0;
    loop {
        let budget = max.saturating_sub(out.len() as u64);
        // One byte past the budget is enough to know the limit is exceeded.
        let result = (&mut decoder)
            .take(budget.saturating_add(1))
            .read_to_end(&mut out);
        if out.len() as u64 > max {
            return Err(DecodeError::TooLarge { limit: max });
        }
        if let Err(source) = result {
            return Err(classify(source, member, offset));
        }
        let rest: &[u8] = decoder.get_ref();
        offset = (input.len() - rest.len()) as u64;
        if rest.is_empty() {
            return Ok((out, member));
        }
        if !rest.starts_with(&GZIP_MAGIC) {
            return Err(DecodeError::TrailingGarbage {
                member,
                offset,
                len: rest.len() as u64,
            });
        }
        member = member.saturating_add(1);
        decoder.reset(rest);
    }
}

/// Sorts flate2's `io::Error`s; its messages are the only way to tell a bad checksum apart.
fn classify(source: io::Error, member: u32, offset: u64) -> DecodeError {
    match source.kind() {
        io::ErrorKind::UnexpectedEof => DecodeError::Truncated { member, source },
        _ if source.to_string().contains("checksum") => DecodeError::ChecksumMismatch { member },
        _ => DecodeError::Corrupt {
            member,
            offset,
            source,
        },
    }
}

/// Byte counts for people: `512 B`, `16.0 MiB`, `1.0 GiB`.
struct HumanBytes(u64);

impl fmt::Display for HumanBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
        if self.0 < 1024 {
            return write!(f, "{} B", self.0);
        }
        let mut value = self.0 as f64 / 1024.0;
        let mut unit = 0;
        while value >= 1024.0 && unit + 1 < UNITS.len() {
            value /= 1024.0;
            unit += 1;
        }
        write!(f, "{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use std::io::Write;
    use std::sync::OnceLock;

    const MIB: u64 = 1 << 20;

    fn gzip(data: &[u8], level: u32) -> Vec<u8> {
        let mut enc = GzEncoder::new(Vec::new(), Compression::new(level));
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    /// Deterministic CloudTrail-like JSON text of roughly `len` bytes.
    fn json_like(len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len + 512);
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut i = 0u64;
        out.extend_from_slice(b"{\"Records\":[");
        while out.len() < len {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let events = [
                "GetObject",
                "PutObject",
                "AssumeRole",
                "DescribeInstances",
                "ListBuckets",
            ];
            let sources = ["s3.amazonaws.com", "sts.amazonaws.com", "ec2.amazonaws.com"];
            write!(
                out,
                "{{\"eventVersion\":\"1.08\",\"eventTime\":\"2025-01-{:02}T{:02}:{:02}:{:02}Z\",\
                 \"eventSource\":\"{}\",\"eventName\":\"{}\",\"awsRegion\":\"us-east-1\",\
                 \"sourceIPAddress\":\"10.{}.{}.{}\",\"requestID\":\"{:016x}\",\
                 \"userIdentity\":{{\"type\":\"AssumedRole\",\"accountId\":\"{:012}\"}}}},",
                state % 28 + 1,
                state % 24,
                (state >> 8) % 60,
                (state >> 16) % 60,
                sources[(state % 3) as usize],
                events[((state >> 3) % 5) as usize],
                (state >> 24) % 256,
                (state >> 32) % 256,
                i % 256,
                state,
                (state >> 20) % 1_000_000_000_000,
            )
            .unwrap();
            i += 1;
        }
        out.extend_from_slice(b"{}]}");
        out
    }

    fn dec(input: &[u8]) -> Result<Decoded<'_>, DecodeError> {
        decode(input, &Limits::default())
    }

    fn dec_max(input: &[u8], max: u64) -> Result<Decoded<'_>, DecodeError> {
        decode(
            input,
            &Limits {
                max_inflated_bytes: max,
            },
        )
    }

    fn set_isize(gz: &mut [u8], size: u32) {
        let at = gz.len() - 4;
        gz[at..].copy_from_slice(&size.to_le_bytes());
    }

    #[test]
    fn decode_round_trips_levels_1_and_9_on_the_fast_path() {
        let data = json_like(300_000);
        for level in [1, 9] {
            let gz = gzip(&data, level);
            let got = dec(&gz).unwrap();
            assert_eq!(
                got.encoding,
                Encoding::Gzip {
                    members: 1,
                    fast_path: true
                },
                "level {level}"
            );
            assert!(got.bytes == data, "level {level}");
        }
    }

    #[test]
    fn decode_reusing_gives_each_object_exactly_its_content() {
        let big = json_like(300_000);
        let small = json_like(1_000);
        let multi = [gzip(&small, 6), gzip(&small, 6)].concat();
        let mut scratch = Vec::new();
        // Large then small then large: stale bytes of the larger object never show.
        for (data, gz) in [
            (big.clone(), gzip(&big, 6)),
            (small.clone(), gzip(&small, 6)),
            (big.clone(), gzip(&big, 1)),
            ([small.clone(), small.clone()].concat(), multi),
            (small.clone(), small.clone()),
        ] {
            let got = decode_reusing(&gz, &Limits::default(), &mut scratch).unwrap();
            assert_eq!(got, dec(&gz).unwrap());
            assert!(got.bytes == data);
        }
        assert!(scratch.len() >= big.len(), "the buffer is kept");
        let bad = &gzip(&big, 6)[..1000];
        assert!(decode_reusing(bad, &Limits::default(), &mut scratch).is_err());
    }

    #[test]
    fn decode_round_trips_small_and_incompressible_payloads() {
        let mut noise = vec![0u8; 70_000];
        let mut s: u32 = 1;
        for b in &mut noise {
            s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            *b = (s >> 24) as u8;
        }
        for data in [&b"x"[..], b"hello, world\n", &noise] {
            for level in [0, 1, 9] {
                let gz = gzip(data, level);
                let got = dec(&gz).unwrap();
                assert_eq!(&*got.bytes, data, "level {level}, {} bytes", data.len());
                assert!(matches!(
                    got.encoding,
                    Encoding::Gzip {
                        members: 1,
                        fast_path: true
                    }
                ));
            }
        }
    }

    #[test]
    fn decode_handles_optional_header_fields() {
        let data = json_like(10_000);
        let mut enc = flate2::GzBuilder::new()
            .filename("x.json")
            .comment("a comment")
            .extra(vec![1, 2, 3, 4])
            .write(Vec::new(), Compression::default());
        enc.write_all(&data).unwrap();
        let gz = enc.finish().unwrap();
        let got = dec(&gz).unwrap();
        assert!(got.bytes == data);
        assert_eq!(
            got.encoding,
            Encoding::Gzip {
                members: 1,
                fast_path: true
            }
        );
    }

    #[test]
    fn decode_returns_all_members_of_multi_member_gzip() {
        let parts = [
            json_like(20_000),
            b"second member\n".to_vec(),
            json_like(5_000),
        ];
        for n in [2, 3] {
            let mut gz = Vec::new();
            let mut want = Vec::new();
            for (i, part) in parts[..n].iter().enumerate() {
                gz.extend(gzip(part, if i % 2 == 0 { 6 } else { 1 }));
                want.extend_from_slice(part);
            }
            let got = dec(&gz).unwrap();
            assert_eq!(
                got.encoding,
                Encoding::Gzip {
                    members: n as u32,
                    fast_path: false
                }
            );
            assert!(got.bytes == want, "{n} members");
        }
    }

    #[test]
    fn decode_returns_all_members_when_they_are_identical() {
        // Same size and CRC in every trailer: the case libdeflate alone would truncate silently.
        let one = gzip(b"the same line\n", 6);
        for n in [2, 3] {
            let gz = one.repeat(n);
            let got = dec(&gz).unwrap();
            assert_eq!(&*got.bytes, b"the same line\n".repeat(n).as_slice());
            assert_eq!(
                got.encoding,
                Encoding::Gzip {
                    members: n as u32,
                    fast_path: false
                }
            );
        }
        // Same size, different content: the last trailer's size matches the first member.
        let gz = [gzip(b"abc", 6), gzip(b"def", 6)].concat();
        assert_eq!(&*dec(&gz).unwrap().bytes, b"abcdef");
    }

    #[test]
    fn decode_keeps_empty_members() {
        let empty = gzip(b"", 6);
        let got = dec(&empty).unwrap();
        assert!(got.bytes.is_empty());
        assert_eq!(
            got.encoding,
            Encoding::Gzip {
                members: 1,
                fast_path: false
            }
        );

        let mut gz = gzip(b"abc", 6);
        gz.extend(&empty);
        gz.extend(gzip(b"def", 6));
        let got = dec(&gz).unwrap();
        assert_eq!(&*got.bytes, b"abcdef");
        assert_eq!(
            got.encoding,
            Encoding::Gzip {
                members: 3,
                fast_path: false
            }
        );
    }

    #[test]
    fn decode_borrows_plain_input() {
        let text = br#"{"Records":[{"eventName":"GetObject"}]}"#;
        let got = dec(text).unwrap();
        assert_eq!(got.encoding, Encoding::Plain);
        assert!(matches!(got.bytes, Cow::Borrowed(b) if std::ptr::eq(b, &text[..])));
        // Short inputs that only start like a magic number are plain too.
        for short in [&b"\x1f"[..], b"BZ", b"BZh", b"PK", b"\x28\xb5\x2f"] {
            assert!(matches!(dec(short).unwrap().bytes, Cow::Borrowed(_)));
        }
    }

    #[test]
    fn decode_borrows_empty_input() {
        let got = dec(b"").unwrap();
        assert_eq!(got.encoding, Encoding::Plain);
        assert!(matches!(got.bytes, Cow::Borrowed(b) if b.is_empty()));
    }

    #[test]
    fn decode_rejects_other_compression_formats() {
        let cases: [(&[u8], &str); 7] = [
            (&[0x28, 0xb5, 0x2f, 0xfd, 0x24, 0x05], "zstd"),
            (b"BZh91AY&SY", "bzip2"),
            (&[0xfd, b'7', b'z', b'X', b'Z', 0, 0, 4], "xz"),
            (b"PK\x03\x04\x14\x00", "zip"),
            (&[0x04, 0x22, 0x4d, 0x18, 0x64], "lz4"),
            (b"\xff\x06\x00\x00sNaPpY\x00", "snappy"),
            (&[0x1f, 0x9d, 0x90], "compress (.Z)"),
        ];
        for (input, name) in cases {
            match dec(input) {
                Err(DecodeError::UnsupportedCompression { format }) => assert_eq!(format, name),
                other => panic!("{name}: {other:?}"),
            }
        }
        let err = dec(&[0x28, 0xb5, 0x2f, 0xfd, 0, 0]).unwrap_err();
        assert_eq!(err.to_string(), "unsupported compression: zstd");
    }

    #[test]
    fn decode_rejects_lying_isize_in_both_directions() {
        let data = json_like(50_000);
        let gz = gzip(&data, 6);
        let real = data.len() as u32;
        for lie in [real + 1, real - 1, real * 2, real / 2, 1, 0, u32::MAX] {
            let mut bad = gz.clone();
            set_isize(&mut bad, lie);
            match dec(&bad) {
                Err(DecodeError::ChecksumMismatch { member: 1 }) => {}
                other => panic!("isize {lie}: {other:?}"),
            }
        }
    }

    #[test]
    fn decode_rejects_every_truncation() {
        let data = json_like(4_000);
        let mut gzs = vec![gzip(&data, 1), gzip(&data, 9), gzip(b"", 6)];
        let mut named = flate2::GzBuilder::new()
            .filename("name.json")
            .extra(vec![9; 7])
            .write(Vec::new(), Compression::default());
        named.write_all(b"short").unwrap();
        gzs.push(named.finish().unwrap());
        for gz in &gzs {
            // Cuts 0 and 1 lose the magic bytes: those inputs are plain.
            for cut in 2..gz.len() {
                match dec(&gz[..cut]) {
                    Err(DecodeError::Truncated { member: 1, .. }) => {}
                    other => panic!("cut at {cut} of {}: {other:?}", gz.len()),
                }
            }
        }
    }

    #[test]
    fn decode_rejects_truncation_inside_a_later_member() {
        let first = gzip(&json_like(3_000), 6);
        let second = gzip(&json_like(2_000), 6);
        let whole = [first.as_slice(), &second].concat();
        for cut in first.len() + 2..whole.len() {
            match dec(&whole[..cut]) {
                Err(DecodeError::Truncated { member: 2, .. }) => {}
                other => panic!("cut at {cut}: {other:?}"),
            }
        }
        // A cut one byte into the second member leaves one stray byte.
        assert!(matches!(
            dec(&whole[..first.len() + 1]),
            Err(DecodeError::TrailingGarbage {
                member: 1,
                len: 1,
                ..
            })
        ));
        // A cut exactly between members is a valid one-member stream.
        assert_eq!(
            dec(&whole[..first.len()]).unwrap().encoding,
            Encoding::Gzip {
                members: 1,
                fast_path: true
            }
        );
    }

    #[test]
    fn decode_never_returns_wrong_bytes_after_a_bit_flip() {
        let data = json_like(3_000);
        let gz = gzip(&data, 6);
        let mut errors = 0;
        for at in 0..gz.len() {
            for bit in [0x01u8, 0x10, 0x80] {
                let mut bad = gz.clone();
                bad[at] ^= bit;
                match dec(&bad) {
                    // Header bytes such as MTIME or OS do not affect the content.
                    Ok(got) => assert!(
                        got.bytes == data || !matches!(got.encoding, Encoding::Gzip { .. }),
                        "flip {bit:#x} at {at} decoded to different bytes"
                    ),
                    Err(_) => errors += 1,
                }
            }
        }
        assert!(errors > gz.len(), "only {errors} flips were detected");

        // A flip in the middle of the deflate data is an error of its own kind.
        let mut bad = gz.clone();
        bad[gz.len() / 2] ^= 0x55;
        let err = dec(&bad).unwrap_err();
        assert!(
            matches!(
                err,
                DecodeError::Corrupt { .. } | DecodeError::ChecksumMismatch { .. }
            ),
            "{err:?}"
        );
        // A flipped CRC is a checksum error.
        let mut bad = gz.clone();
        let at = gz.len() - 8;
        bad[at] ^= 1;
        assert!(matches!(
            dec(&bad),
            Err(DecodeError::ChecksumMismatch { member: 1 })
        ));
    }

    #[test]
    fn decode_reports_corrupt_deflate_data_and_headers() {
        // Block type 3 is reserved: invalid from the first deflate byte.
        let mut gz = gzip(b"some content", 6);
        gz[10] = 0x07;
        match dec(&gz) {
            Err(DecodeError::Corrupt {
                member: 1,
                offset: 0,
                source,
            }) => {
                assert_eq!(source.kind(), io::ErrorKind::InvalidInput);
            }
            other => panic!("{other:?}"),
        }
        // Compression method other than deflate, in the second member.
        let first = gzip(b"fine", 6);
        let mut second = gzip(b"also fine", 6);
        second[2] = 7;
        let whole = [first.as_slice(), &second].concat();
        match dec(&whole) {
            Err(DecodeError::Corrupt {
                member: 2, offset, ..
            }) => {
                assert_eq!(offset, first.len() as u64);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn decode_rejects_trailing_garbage() {
        let gz = gzip(b"content", 6);
        let garbage: [&[u8]; 4] = [b"hello", &[0; 512], &[0x1f], &gz[gz.len() - 8..]];
        for tail in garbage {
            let input = [gz.as_slice(), tail].concat();
            match dec(&input) {
                Err(DecodeError::TrailingGarbage {
                    member: 1,
                    offset,
                    len,
                }) => {
                    assert_eq!((offset, len), (gz.len() as u64, tail.len() as u64));
                }
                other => panic!("tail {tail:?}: {other:?}"),
            }
        }
        // After several members, the count says where it is.
        let input = [gz.as_slice(), &gz, b"junk"].concat();
        let err = dec(&input).unwrap_err();
        assert!(matches!(
            err,
            DecodeError::TrailingGarbage {
                member: 2,
                len: 4,
                ..
            }
        ));
        assert_eq!(
            err.to_string(),
            format!(
                "4 bytes of trailing garbage after gzip member 2 (at byte {})",
                2 * gz.len()
            )
        );
    }

    #[test]
    fn decode_enforces_the_cap_on_both_paths() {
        let data = json_like(100_000);
        let size = data.len() as u64;
        let gz = gzip(&data, 6);

        // Exactly at the cap is fine; fast path.
        let got = dec_max(&gz, size).unwrap();
        assert_eq!(
            got.encoding,
            Encoding::Gzip {
                members: 1,
                fast_path: true
            }
        );
        // One byte under the size: the trailer rules out the fast path, streaming stops.
        assert!(
            matches!(dec_max(&gz, size - 1), Err(DecodeError::TooLarge { limit }) if limit == size - 1)
        );
        assert!(matches!(
            dec_max(&gz, 1000),
            Err(DecodeError::TooLarge { limit: 1000 })
        ));
        assert!(matches!(
            dec_max(&gz, 0),
            Err(DecodeError::TooLarge { limit: 0 })
        ));

        // A trailer that understates the size gets through the fast-path check; libdeflate runs
        // out of room and the streaming path finds the real size.
        let mut lying = gz.clone();
        set_isize(&mut lying, 500);
        assert!(matches!(
            dec_max(&lying, 1000),
            Err(DecodeError::TooLarge { limit: 1000 })
        ));

        // Several members: each under the cap, together over it.
        let members = [gz.as_slice(), &gz, &gz].concat();
        assert!(dec_max(&members, 3 * size).is_ok());
        assert!(matches!(
            dec_max(&members, 3 * size - 1),
            Err(DecodeError::TooLarge { limit }) if limit == 3 * size - 1
        ));
        assert!(matches!(
            dec_max(&members, size + 10),
            Err(DecodeError::TooLarge { .. })
        ));
        // An empty payload fits a zero cap.
        assert!(dec_max(&gzip(b"", 6), 0).unwrap().bytes.is_empty());
    }

    /// 1 GiB of zeros, gzipped while streaming (about 1 MB); built once.
    fn gzip_bomb() -> &'static [u8] {
        static BOMB: OnceLock<Vec<u8>> = OnceLock::new();
        BOMB.get_or_init(|| {
            let mut enc = GzEncoder::new(Vec::new(), Compression::new(9));
            let zeros = vec![0u8; 1 << 20];
            for _ in 0..1024 {
                enc.write_all(&zeros).unwrap();
            }
            enc.finish().unwrap()
        })
    }

    fn peak_rss_bytes() -> Option<u64> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    }

    #[test]
    fn decode_stops_a_gzip_bomb_at_the_cap() {
        let bomb = gzip_bomb();
        assert!(
            bomb.len() < 2 * MIB as usize,
            "bomb is {} bytes",
            bomb.len()
        );
        let cap = 16 * MIB;
        let err = dec_max(bomb, cap).unwrap_err();
        assert!(
            matches!(err, DecodeError::TooLarge { limit } if limit == cap),
            "{err:?}"
        );
        assert_eq!(err.to_string(), "inflates to more than 16.0 MiB (limit)");

        // With a trailer that claims a small size, the fast path is tried first.
        let mut lying = bomb.to_vec();
        set_isize(&mut lying, 4096);
        assert!(matches!(
            dec_max(&lying, cap),
            Err(DecodeError::TooLarge { .. })
        ));
        // Same bomb as the second of two members.
        let two = [gzip(b"x", 6).as_slice(), bomb].concat();
        assert!(matches!(
            dec_max(&two, cap),
            Err(DecodeError::TooLarge { .. })
        ));

        // Nothing near 1 GiB was ever allocated (other tests in this process use a few MB).
        if let Some(peak) = peak_rss_bytes() {
            assert!(peak < 512 * MIB, "peak RSS {} MiB", peak / MIB);
        }
    }

    #[test]
    fn decode_never_panics_on_arbitrary_gzip_like_input() {
        let real = gzip(&json_like(2_000), 6);
        let mut s: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        for round in 0..3_000 {
            let len = (next() % 200) as usize;
            let mut input: Vec<u8> = if round % 2 == 0 {
                (0..len).map(|_| next() as u8).collect()
            } else {
                // A real stream with a few random bytes overwritten.
                let mut v = real.clone();
                for _ in 0..1 + next() % 4 {
                    let at = (next() as usize) % v.len();
                    v[at] = next() as u8;
                }
                v.truncate(v.len() - (next() % 4) as usize * (next() % 20) as usize);
                v
            };
            if input.len() >= 2 {
                input[..2].copy_from_slice(&GZIP_MAGIC);
            }
            let _ = dec_max(&input, 1 << 20);
        }
        for len in 0..GZIP_MIN_LEN + 2 {
            let mut input = vec![0u8; len];
            input.iter_mut().zip(GZIP_MAGIC).for_each(|(b, m)| *b = m);
            let _ = dec(&input);
        }
    }

    #[test]
    fn decode_works_from_many_threads() {
        let data = json_like(50_000);
        let gz = gzip(&data, 6);
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for _ in 0..20 {
                        assert!(dec(&gz).unwrap().bytes == data);
                    }
                });
            }
        });
    }

    #[test]
    fn decode_error_messages_read_well() {
        let err = DecodeError::TooLarge {
            limit: DEFAULT_MAX_INFLATED_BYTES,
        };
        assert_eq!(err.to_string(), "inflates to more than 1.0 GiB (limit)");
        assert_eq!(Limits::default().max_inflated_bytes, 1 << 30);

        let gz = gzip(b"payload", 6);
        let err = dec(&gz[..gz.len() - 3]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "truncated gzip stream (unexpected end of data in member 1)"
        );
        assert!(std::error::Error::source(&err).is_some());

        let mut bad = gz.clone();
        let at = bad.len() - 5;
        bad[at] ^= 0xff;
        let err = dec(&bad).unwrap_err();
        assert_eq!(
            err.to_string(),
            "gzip member 1 does not match its checksum (corrupt data)"
        );

        let mut bad = gz.clone();
        bad[10] = 0x07;
        let err = dec(&bad).unwrap_err();
        assert_eq!(
            err.to_string(),
            "corrupt gzip member 1 (starting at byte 0)"
        );
        assert_eq!(
            std::error::Error::source(&err).unwrap().to_string(),
            "corrupt deflate stream"
        );
    }

    #[test]
    fn decode_human_bytes() {
        let cases = [
            (0, "0 B"),
            (1023, "1023 B"),
            (1024, "1.0 KiB"),
            (1536, "1.5 KiB"),
            (16 * MIB, "16.0 MiB"),
            (1 << 30, "1.0 GiB"),
            (5 << 40, "5.0 TiB"),
            (u64::MAX, "16.0 EiB"),
        ];
        for (n, want) in cases {
            assert_eq!(HumanBytes(n).to_string(), want);
        }
    }

    /// `cargo test -p crosstrail-ingest --release decode_throughput -- --ignored --nocapture`
    ///
    /// MB/s of inflated output, one thread, median of 9 runs; each run inflates ~50 MB.
    #[test]
    #[ignore = "throughput measurement; run in release mode"]
    fn decode_throughput() {
        use std::time::Instant;
        for object_mb in [50, 4] {
            let data = json_like(object_mb << 20);
            let gz = gzip(&data, 6);
            let repeat = (50 / object_mb).max(1);
            let mb = (data.len() * repeat) as f64 / 1e6;
            println!(
                "{repeat} x {:.1} MB JSON-like text ({:.1} MB gzipped, level 6):",
                data.len() as f64 / 1e6,
                gz.len() as f64 / 1e6
            );
            let time = |name: &str, f: &dyn Fn() -> usize| {
                let mut secs: Vec<f64> = (0..9)
                    .map(|_| {
                        let t = Instant::now();
                        for _ in 0..repeat {
                            assert_eq!(f(), data.len());
                        }
                        t.elapsed().as_secs_f64()
                    })
                    .collect();
                secs.sort_by(f64::total_cmp);
                println!(
                    "  {name:<40} median {:6.0} MB/s, best {:6.0}",
                    mb / secs[4],
                    mb / secs[0]
                );
            };
            time("decode (libdeflate fast path)", &|| {
                let d = dec(&gz).unwrap();
                assert!(matches!(
                    d.encoding,
                    Encoding::Gzip {
                        fast_path: true,
                        ..
                    }
                ));
                d.bytes.len()
            });
            time("libdeflate alone (no end-of-input check)", &|| {
                let mut out = vec![0; data.len()];
                libdeflate_gzip(&gz, &mut out).unwrap()
            });
            time("streaming fallback (flate2 zlib-rs)", &|| {
                inflate_streaming(&gz, DEFAULT_MAX_INFLATED_BYTES)
                    .unwrap()
                    .0
                    .len()
            });
        }
    }
}
