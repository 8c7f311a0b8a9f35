//! A minimal streaming JSON writer.
//!
//! Records are written field by field in CloudTrail's own key order straight into a byte
//! buffer: several times faster than building `serde_json::Value`s, and the order matches
//! real logs instead of being alphabetical.

use std::io::Write as _;

pub(crate) struct Json {
    pub(crate) buf: Vec<u8>,
    /// Next element is the first in its container (no comma before it).
    first: bool,
    /// A key was just written; the value follows without a comma.
    after_key: bool,
}

impl Json {
    pub(crate) fn new(capacity: usize) -> Json {
        Json {
            buf: Vec::with_capacity(capacity),
            first: true,
            after_key: false,
        }
    }

    pub(crate) fn take(&mut self) -> Vec<u8> {
        self.first = true;
        self.after_key = false;
        std::mem::take(&mut self.buf)
    }

    fn pre(&mut self) {
        if self.after_key {
            self.after_key = false;
        } else {
            if !self.first {
                self.buf.push(b',');
            }
            self.first = false;
        }
    }

    fn quoted(&mut self, s: &str) {
        self.buf.push(b'"');
        if s.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
            for c in s.chars() {
                match c {
                    '"' => self.buf.extend_from_slice(b"\\\""),
                    '\\' => self.buf.extend_from_slice(b"\\\\"),
                    '\n' => self.buf.extend_from_slice(b"\\n"),
                    c if (c as u32) < 0x20 => self
                        .buf
                        .extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes()),
                    c => {
                        let mut tmp = [0u8; 4];
                        self.buf
                            .extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
                    }
                }
            }
        } else {
            self.buf.extend_from_slice(s.as_bytes());
        }
        self.buf.push(b'"');
    }

    /// Keys are field-name constants, so they skip the escape check.
    pub(crate) fn k(&mut self, key: &str) -> &mut Self {
        self.pre();
        self.buf.push(b'"');
        self.buf.extend_from_slice(key.as_bytes());
        self.buf.extend_from_slice(b"\":");
        self.after_key = true;
        self
    }

    pub(crate) fn s(&mut self, v: &str) -> &mut Self {
        self.pre();
        self.quoted(v);
        self
    }

    pub(crate) fn n(&mut self, v: i64) -> &mut Self {
        self.pre();
        let _ = write!(self.buf, "{v}");
        self
    }

    pub(crate) fn b(&mut self, v: bool) -> &mut Self {
        self.pre();
        self.buf
            .extend_from_slice(if v { b"true" } else { b"false" });
        self
    }

    /// Already-serialized JSON (or `null`).
    pub(crate) fn raw(&mut self, v: &str) -> &mut Self {
        self.pre();
        self.buf.extend_from_slice(v.as_bytes());
        self
    }

    pub(crate) fn obj(&mut self) -> &mut Self {
        self.pre();
        self.buf.push(b'{');
        self.first = true;
        self
    }

    pub(crate) fn end(&mut self) -> &mut Self {
        self.buf.push(b'}');
        self.first = false;
        self
    }

    pub(crate) fn arr(&mut self) -> &mut Self {
        self.pre();
        self.buf.push(b'[');
        self.first = true;
        self
    }

    pub(crate) fn end_arr(&mut self) -> &mut Self {
        self.buf.push(b']');
        self.first = false;
        self
    }

    pub(crate) fn ks(&mut self, key: &str, v: &str) -> &mut Self {
        self.k(key).s(v)
    }

    /// Build a small standalone JSON text.
    pub(crate) fn text(f: impl FnOnce(&mut Json)) -> String {
        let mut j = Json::new(256);
        f(&mut j);
        // Only ever fed &str and ASCII punctuation, so it is valid UTF-8.
        String::from_utf8(j.buf).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::Json;

    #[test]
    fn nesting_and_escapes() {
        let t = Json::text(|j| {
            j.obj()
                .ks("a", "x\"y\\z\n")
                .k("b")
                .arr()
                .n(1)
                .obj()
                .end()
                .b(false)
                .end_arr();
            j.k("c").raw("null").k("d").obj().ks("e", "f").end().end();
        });
        assert_eq!(
            t,
            r#"{"a":"x\"y\\z\n","b":[1,{},false],"c":null,"d":{"e":"f"}}"#
        );
        let v: serde_json::Value = serde_json::from_str(&t).expect("valid JSON");
        assert_eq!(v["d"]["e"], "f");
    }
}
