//! A faster JSON reader for the common case: one well-formed document, read into the same
//! record types through the same `Deserialize` impls as serde_json.
//!
//! It skips the raw sub-documents (`requestParameters`, unmodeled keys) without a visitor and
//! reads strings with less bookkeeping than serde_json's general reader.
//! It gives up ([`GiveUp`]) on anything unusual: any JSON error, any value of an unexpected
//! type, numbers where a visitor wants one, any error a visitor or the sink raises. The caller
//! then reads the object again with serde_json, from scratch, so messages and results of
//! everything that is not the common case stay exactly serde_json's. What it accepts it must
//! read exactly as serde_json does: the same strings (borrowed when they have no escape), the
//! same raw text for `RawValue`s, and it must refuse everything serde_json refuses.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// The fast reader could not read the text; read it with serde_json instead.
#[derive(Debug)]
pub(crate) struct GiveUp;

impl fmt::Display for GiveUp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the fast JSON reader gave up")
    }
}

impl std::error::Error for GiveUp {}

impl de::Error for GiveUp {
    fn custom<T: fmt::Display>(_: T) -> Self {
        GiveUp
    }
}

type Result<T> = std::result::Result<T, GiveUp>;

/// serde_json's name for a `RawValue` in the serde data model (`serde_json::raw::TOKEN`, not
/// public): `&RawValue` asks for a newtype struct of this name and takes a one-entry map whose
/// value is the raw text. A test checks that this still matches the serde_json in use.
const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

/// Nesting allowed in typed values (raw values are skipped without recursion); serde_json
/// stops at 128, we give up earlier.
const MAX_DEPTH: u32 = 100;

/// Reads `text` as one JSON value with `seed`, then requires nothing but white space after it.
pub(crate) fn read<'de, S: DeserializeSeed<'de>>(text: &'de str, seed: S) -> Result<S::Value> {
    let mut de = Reader {
        text,
        bytes: text.as_bytes(),
        pos: 0,
        depth: 0,
        frames: Vec::new(),
    };
    let value = seed.deserialize(&mut de)?;
    match de.peek_ws() {
        None => Ok(value),
        Some(_) => Err(GiveUp),
    }
}

struct Reader<'de> {
    text: &'de str,
    bytes: &'de [u8],
    pos: usize,
    depth: u32,
    /// Open containers of the raw value being skipped.
    frames: Vec<u8>,
}

/// A string as read: borrowed from the input when it had no escape.
enum Str<'de> {
    Borrowed(&'de str),
    Owned(String),
}

impl<'de> Reader<'de> {
    /// The next byte that is not JSON white space (which it skips), or `None` at the end.
    #[inline]
    fn peek_ws(&mut self) -> Option<u8> {
        while let Some(&b) = self.bytes.get(self.pos) {
            match b {
                b' ' | b'\n' | b'\t' | b'\r' => self.pos += 1,
                _ => return Some(b),
            }
        }
        None
    }

    #[inline]
    fn expect(&mut self, byte: u8) -> Result<()> {
        if self.peek_ws() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(GiveUp)
        }
    }

    fn literal(&mut self, word: &[u8]) -> Result<()> {
        if self.bytes[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(())
        } else {
            Err(GiveUp)
        }
    }

    /// From just after an opening quote to the closing quote (or escape): where it is, having
    /// checked that no control character comes before it, as JSON requires.
    ///
    /// Eight bytes at a time, inline: CloudTrail's strings are short, and a call into a
    /// vector search costs more than it saves on them.
    #[inline]
    fn string_span_end(&self) -> Result<usize> {
        const ONES: u64 = u64::MAX / 255;
        const HIGH: u64 = ONES << 7;
        let mut at = self.pos;
        while let Some(chunk) = self.bytes.get(at..at + 8) {
            let x = u64::from_le_bytes(chunk.try_into().map_err(|_| GiveUp)?);
            // A byte's high bit is set where it is < 0x20, '"' or '\\' (exact up to the
            // first such byte, which is all that is used).
            let control = x.wrapping_sub(ONES * 0x20) & !x;
            let quote = x ^ (ONES * u64::from(b'"'));
            let quote = quote.wrapping_sub(ONES) & !quote;
            let backslash = x ^ (ONES * u64::from(b'\\'));
            let backslash = backslash.wrapping_sub(ONES) & !backslash;
            let found = (control | quote | backslash) & HIGH;
            if found != 0 {
                at += found.trailing_zeros() as usize / 8;
                return self.span_end_at(at);
            }
            at += 8;
        }
        while let Some(&b) = self.bytes.get(at) {
            if b == b'"' || b == b'\\' || b < 0x20 {
                return self.span_end_at(at);
            }
            at += 1;
        }
        Err(GiveUp)
    }

    #[inline]
    fn span_end_at(&self, at: usize) -> Result<usize> {
        if self.bytes[at] < 0x20 {
            Err(GiveUp)
        } else {
            Ok(at)
        }
    }

    /// Reads a string whose opening quote is consumed.
    fn string(&mut self) -> Result<Str<'de>> {
        let start = self.pos;
        let end = self.string_span_end()?;
        if self.bytes[end] == b'"' {
            self.pos = end + 1;
            return Ok(Str::Borrowed(&self.text[start..end]));
        }
        let mut owned = String::with_capacity(end - start + 16);
        owned.push_str(&self.text[start..end]);
        self.pos = end;
        loop {
            // At a backslash.
            self.pos += 1;
            let escape = *self.bytes.get(self.pos).ok_or(GiveUp)?;
            self.pos += 1;
            match escape {
                b'"' => owned.push('"'),
                b'\\' => owned.push('\\'),
                b'/' => owned.push('/'),
                b'b' => owned.push('\u{8}'),
                b'f' => owned.push('\u{c}'),
                b'n' => owned.push('\n'),
                b'r' => owned.push('\r'),
                b't' => owned.push('\t'),
                b'u' => {
                    let unit = self.hex4()?;
                    let c = match unit {
                        0xD800..=0xDBFF => {
                            // A surrogate pair; anything else is serde_json's error to give.
                            if !self.bytes[self.pos..].starts_with(b"\\u") {
                                return Err(GiveUp);
                            }
                            self.pos += 2;
                            let low = self.hex4()?;
                            if !(0xDC00..=0xDFFF).contains(&low) {
                                return Err(GiveUp);
                            }
                            let c = 0x10000
                                + ((u32::from(unit) - 0xD800) << 10)
                                + (u32::from(low) - 0xDC00);
                            char::from_u32(c).ok_or(GiveUp)?
                        }
                        0xDC00..=0xDFFF => return Err(GiveUp),
                        _ => char::from_u32(u32::from(unit)).ok_or(GiveUp)?,
                    };
                    owned.push(c);
                }
                _ => return Err(GiveUp),
            }
            let start = self.pos;
            let end = self.string_span_end()?;
            owned.push_str(&self.text[start..end]);
            self.pos = end;
            if self.bytes[end] == b'"' {
                self.pos = end + 1;
                return Ok(Str::Owned(owned));
            }
        }
    }

    fn hex4(&mut self) -> Result<u16> {
        let digits = self.bytes.get(self.pos..self.pos + 4).ok_or(GiveUp)?;
        let mut v: u16 = 0;
        for &d in digits {
            let x = (d as char).to_digit(16).ok_or(GiveUp)?;
            v = v << 4 | x as u16;
        }
        self.pos += 4;
        Ok(v)
    }

    /// Skips a string whose opening quote is consumed, checking its escapes as serde_json
    /// does when it skips (a `\u` needs four hex digits; surrogates are not paired).
    fn skip_string(&mut self) -> Result<()> {
        loop {
            let end = self.string_span_end()?;
            if self.bytes[end] == b'"' {
                self.pos = end + 1;
                return Ok(());
            }
            self.pos = end + 1;
            match self.bytes.get(self.pos).ok_or(GiveUp)? {
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.pos += 1,
                b'u' => {
                    self.pos += 1;
                    self.hex4()?;
                }
                _ => return Err(GiveUp),
            }
        }
    }

    /// Skips a number, with serde_json's grammar: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
    fn skip_number(&mut self) -> Result<()> {
        let b = self.bytes;
        let digits = |at: usize| b[at..].iter().take_while(|c| c.is_ascii_digit()).count();
        let mut at = self.pos;
        if b.get(at) == Some(&b'-') {
            at += 1;
        }
        match b.get(at) {
            Some(b'0') => {
                at += 1;
                if b.get(at).is_some_and(u8::is_ascii_digit) {
                    return Err(GiveUp);
                }
            }
            Some(b'1'..=b'9') => at += digits(at),
            _ => return Err(GiveUp),
        }
        if b.get(at) == Some(&b'.') {
            at += 1;
            let n = digits(at);
            if n == 0 {
                return Err(GiveUp);
            }
            at += n;
        }
        if matches!(b.get(at), Some(b'e' | b'E')) {
            at += 1;
            if matches!(b.get(at), Some(b'+' | b'-')) {
                at += 1;
            }
            let n = digits(at);
            if n == 0 {
                return Err(GiveUp);
            }
            at += n;
        }
        self.pos = at;
        Ok(())
    }

    /// Skips one value of any kind, without recursion; white space before it is skipped too.
    fn skip_value(&mut self) -> Result<()> {
        self.frames.clear();
        loop {
            // A value is expected here.
            match self.peek_ws().ok_or(GiveUp)? {
                b'"' => {
                    self.pos += 1;
                    self.skip_string()?;
                }
                b'{' => {
                    self.pos += 1;
                    match self.peek_ws().ok_or(GiveUp)? {
                        b'}' => self.pos += 1,
                        b'"' => {
                            self.pos += 1;
                            self.skip_string()?;
                            self.expect(b':')?;
                            self.frames.push(b'{');
                            continue;
                        }
                        _ => return Err(GiveUp),
                    }
                }
                b'[' => {
                    self.pos += 1;
                    if self.peek_ws().ok_or(GiveUp)? == b']' {
                        self.pos += 1;
                    } else {
                        self.frames.push(b'[');
                        continue;
                    }
                }
                b't' => self.literal(b"true")?,
                b'f' => self.literal(b"false")?,
                b'n' => self.literal(b"null")?,
                b'-' | b'0'..=b'9' => self.skip_number()?,
                _ => return Err(GiveUp),
            }
            // After a value: close containers until one goes on with another value.
            loop {
                let Some(&frame) = self.frames.last() else {
                    return Ok(());
                };
                match (frame, self.peek_ws().ok_or(GiveUp)?) {
                    (b'{', b',') => {
                        self.pos += 1;
                        self.expect(b'"')?;
                        self.skip_string()?;
                        self.expect(b':')?;
                        break;
                    }
                    (b'[', b',') => {
                        self.pos += 1;
                        break;
                    }
                    (b'{', b'}') | (b'[', b']') => {
                        self.pos += 1;
                        self.frames.pop();
                    }
                    _ => return Err(GiveUp),
                }
            }
        }
    }

    fn enter(&mut self) -> Result<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(GiveUp);
        }
        Ok(())
    }

    fn visit_string<V: Visitor<'de>>(&mut self, visitor: V) -> Result<V::Value> {
        match self.string()? {
            Str::Borrowed(s) => visitor.visit_borrowed_str(s),
            Str::Owned(s) => visitor.visit_str(&s),
        }
    }

    fn visit_map<V: Visitor<'de>>(&mut self, visitor: V) -> Result<V::Value> {
        self.enter()?;
        let value = visitor.visit_map(Members {
            de: self,
            first: true,
        })?;
        self.depth -= 1;
        // The visitor has seen the end (`next_key` gave `None`), which is not consumed yet.
        self.expect(b'}')?;
        Ok(value)
    }

    fn visit_seq<V: Visitor<'de>>(&mut self, visitor: V) -> Result<V::Value> {
        self.enter()?;
        let value = visitor.visit_seq(Elements {
            de: self,
            first: true,
        })?;
        self.depth -= 1;
        self.expect(b']')?;
        Ok(value)
    }
}

impl<'de> Deserializer<'de> for &mut Reader<'de> {
    type Error = GiveUp;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.peek_ws().ok_or(GiveUp)? {
            b'{' => {
                self.pos += 1;
                self.visit_map(visitor)
            }
            b'[' => {
                self.pos += 1;
                self.visit_seq(visitor)
            }
            b'"' => {
                self.pos += 1;
                self.visit_string(visitor)
            }
            b't' => {
                self.literal(b"true")?;
                visitor.visit_bool(true)
            }
            b'f' => {
                self.literal(b"false")?;
                visitor.visit_bool(false)
            }
            b'n' => {
                self.literal(b"null")?;
                visitor.visit_unit()
            }
            // Numbers are for serde_json to convert: no record field reads one here.
            _ => Err(GiveUp),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        if self.peek_ws() == Some(b'n') {
            self.literal(b"null")?;
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.expect(b'"')?;
        self.visit_string(visitor)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_str(visitor)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_str(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.expect(b'{')?;
        self.visit_map(visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        self.deserialize_map(visitor)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.expect(b'[')?;
        self.visit_seq(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value> {
        if name != RAW_VALUE_TOKEN {
            return visitor.visit_newtype_struct(self);
        }
        self.peek_ws();
        let start = self.pos;
        self.skip_value()?;
        visitor.visit_map(RawMember {
            raw: Some(&self.text[start..self.pos]),
        })
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.skip_value()?;
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char bytes byte_buf unit
        unit_struct tuple tuple_struct enum
    }
}

/// The members of an object whose `{` is consumed.
struct Members<'r, 'de> {
    de: &'r mut Reader<'de>,
    first: bool,
}

impl<'de> MapAccess<'de> for Members<'_, 'de> {
    type Error = GiveUp;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>> {
        match self.de.peek_ws().ok_or(GiveUp)? {
            b'}' => return Ok(None),
            b',' if !self.first => {
                self.de.pos += 1;
                if self.de.peek_ws() != Some(b'"') {
                    return Err(GiveUp);
                }
            }
            b'"' if self.first => {}
            _ => return Err(GiveUp),
        }
        self.first = false;
        let key = seed.deserialize(&mut *self.de)?;
        self.de.expect(b':')?;
        Ok(Some(key))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value> {
        seed.deserialize(&mut *self.de)
    }
}

/// The elements of an array whose `[` is consumed.
struct Elements<'r, 'de> {
    de: &'r mut Reader<'de>,
    first: bool,
}

impl<'de> SeqAccess<'de> for Elements<'_, 'de> {
    type Error = GiveUp;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>> {
        match self.de.peek_ws().ok_or(GiveUp)? {
            b']' => return Ok(None),
            b',' if !self.first => self.de.pos += 1,
            _ if self.first => {}
            _ => return Err(GiveUp),
        }
        self.first = false;
        seed.deserialize(&mut *self.de).map(Some)
    }
}

/// The one-entry map through which a `RawValue` takes its text.
struct RawMember<'de> {
    raw: Option<&'de str>,
}

impl<'de> MapAccess<'de> for RawMember<'de> {
    type Error = GiveUp;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>> {
        if self.raw.is_none() {
            return Ok(None);
        }
        seed.deserialize(de::value::BorrowedStrDeserializer::new(RAW_VALUE_TOKEN))
            .map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value> {
        let raw = self.raw.take().ok_or(GiveUp)?;
        seed.deserialize(de::value::BorrowedStrDeserializer::new(raw))
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::value::RawValue;

    use super::*;
    use crate::record::Record;

    /// Reads `text` both ways: the fast reader must give up, or agree with serde_json.
    fn agree(text: &str) -> Option<String> {
        let slow = serde_json::from_str::<Record>(text).map(|r| format!("{r:?}"));
        let fast = read(text, std::marker::PhantomData::<Record>).map(|r| format!("{r:?}"));
        match (&slow, &fast) {
            (_, Err(GiveUp)) => None,
            (Ok(s), Ok(f)) => {
                assert_eq!(s, f, "{text}");
                Some(f.clone())
            }
            (Err(e), Ok(f)) => panic!("serde_json refuses {text:?} ({e}), fast reads {f}"),
        }
    }

    #[test]
    fn raw_values_use_serde_jsons_token() {
        #[derive(Deserialize)]
        struct R<'a> {
            #[serde(borrow)]
            a: &'a RawValue,
        }
        let r: R = read(
            r#" { "a" : [1, {"b": "c\"d"}] } "#,
            std::marker::PhantomData,
        )
        .unwrap();
        assert_eq!(r.a.get(), r#"[1, {"b": "c\"d"}]"#);
    }

    #[test]
    fn agrees_with_serde_json_or_gives_up() {
        let base = r#"{"eventVersion":"1.08","eventTime":"2024-01-01T00:00:00Z","eventID":"e1",
            "userIdentity":{"type":"AssumedRole","accessKeyId":"","onBehalfOf":{"x":[1,-2.5e3,0,true,null]},
               "sessionContext":{"attributes":{"mfaAuthenticated":"false","creationDate":"20131102T010628Z"}}},
            "readOnly":true,"addendum":{"reason":"DELIVERY_DELAY"},"requestParameters":null,
            "responseElements":{"a\"b":"\u00e9\ud83d\ude00\n"},"userAgent":"x\"y\\z\/\u00e9\ud83d\ude00"}"#;
        assert!(agree(base).is_some(), "the common case is read");
        assert!(agree(r#"{"x":{},"y":[],"z":"","w":[[]]}"#).is_some());
        // Keys and strings with an escape are owned, as serde_json makes them.
        let r: Record = read(r#"{"a\"b":1,"c":2}"#, std::marker::PhantomData).unwrap();
        assert!(matches!(&r.unknown[0].0, std::borrow::Cow::Owned(k) if k == "a\"b"));
        assert!(matches!(r.unknown[1].0, std::borrow::Cow::Borrowed("c")));
        // Every prefix, and single-byte changes: never accept what serde_json refuses.
        for end in 0..base.len() {
            if base.is_char_boundary(end) {
                agree(&base[..end]);
            }
        }
        let bytes = base.as_bytes();
        for at in 0..bytes.len() {
            for b in [
                b'"', b'\\', b',', b':', b'}', b']', b'{', b'[', 0x01, b'0', b'-', b'e',
            ] {
                let mut changed = bytes.to_vec();
                changed[at] = b;
                if let Ok(text) = std::str::from_utf8(&changed) {
                    agree(text);
                }
            }
        }
        for bad in [
            r#"{"a":01}"#,
            r#"{"a":1.}"#,
            r#"{"a":1e}"#,
            r#"{"a":-}"#,
            r#"{"a":[1,]}"#,
            r#"{"a":{"b":1,}}"#,
            r#"{"a":"\x"}"#,
            r#"{"a":"\u12"}"#,
            r#"{"userAgent":"\ud800"}"#,
            r#"{"userAgent":"\udc00x"}"#,
            "{\"a\":\"\u{1}\"}",
            r#"{"a":tru}"#,
            r#"{"a":1} x"#,
            r#"{"a":1}}"#,
            r#"{"eventTime":5}"#,
        ] {
            assert!(agree(bad).is_none(), "{bad}");
        }
    }
}
