//! A ListObjectsV2 response read for what a listing uses: keys with their size, ETag and
//! modification time, the folders beside them (`CommonPrefixes`), and the continuation token.
//!
//! The SDK's reader builds the whole output and reads the XML twice (once to see whether it is
//! an error); at about 40,000 instructions a key it cost a quarter as much as the GETs' own
//! client work on a trail of small objects. This one walks the document once, copying only
//! the fields used. It still checks what it walks: elements nest and close by name, the root
//! is `ListBucketResult`, sizes are numbers and times are RFC 3339; anything else is an error
//! (the page is asked for again, then the listing fails with the reason).

use crate::s3::{Entry, Page};

/// What a response body held, when it was not a page.
#[derive(Debug, PartialEq)]
pub(crate) enum NotAPage {
    /// An S3 error document (which some stores send with a 200): its `Code` and `Message`.
    Error(Option<String>, String),
    /// Not well-formed, or not a ListObjectsV2 result: why.
    Malformed(String),
}

/// The page in `body`, a ListObjectsV2 response.
pub(crate) fn parse_page(body: &[u8]) -> Result<Page, NotAPage> {
    let text =
        std::str::from_utf8(body).map_err(|e| NotAPage::Malformed(format!("not UTF-8 ({e})")))?;
    let mut page = Page::default();
    let mut truncated = false;
    let mut token = None;
    let mut entry: Option<Partial> = None;
    let mut error: Option<(Option<String>, String)> = None;
    let mut stack: Vec<&str> = Vec::with_capacity(4);
    let mut value = String::new();
    let mut scanner = Scanner { text, at: 0 };
    let mut root_seen = false;
    while let Some(token_) = scanner.next().map_err(NotAPage::Malformed)? {
        match token_ {
            Token::Open(name) => {
                if stack.is_empty() {
                    if root_seen {
                        return Err(malformed("a second root element"));
                    }
                    root_seen = true;
                    match name {
                        "ListBucketResult" => {}
                        "Error" => error = Some((None, String::new())),
                        other => {
                            return Err(NotAPage::Malformed(format!(
                                "a <{other}> document, not a ListObjectsV2 result"
                            )));
                        }
                    }
                }
                if stack.len() == 1 && name == "Contents" {
                    entry = Some(Partial::default());
                }
                stack.push(name);
                value.clear();
            }
            Token::Empty(name) => {
                if stack.is_empty() {
                    return Err(malformed("an empty root element"));
                }
                value.clear();
                close(
                    &stack,
                    name,
                    "",
                    &mut page,
                    &mut entry,
                    &mut truncated,
                    &mut token,
                )?;
            }
            Token::Text(raw) => unescape_into(raw, &mut value).map_err(NotAPage::Malformed)?,
            Token::Cdata(raw) => value.push_str(raw),
            Token::Close(name) => {
                match stack.last() {
                    Some(open) if *open == name => {}
                    Some(open) => {
                        return Err(NotAPage::Malformed(format!("</{name}> closes <{open}>")));
                    }
                    None => return Err(NotAPage::Malformed(format!("</{name}> closes nothing"))),
                }
                if let Some((code, message)) = &mut error {
                    match (stack.len(), name) {
                        (2, "Code") => *code = Some(value.clone()),
                        (2, "Message") => *message = value.clone(),
                        _ => {}
                    }
                } else {
                    let value = std::mem::take(&mut value);
                    stack.pop();
                    close(
                        &stack,
                        name,
                        &value,
                        &mut page,
                        &mut entry,
                        &mut truncated,
                        &mut token,
                    )?;
                    continue;
                }
                stack.pop();
                value.clear();
            }
        }
    }
    if !stack.is_empty() {
        return Err(NotAPage::Malformed(format!(
            "the document ends inside <{}>",
            stack.join("><")
        )));
    }
    if let Some((code, message)) = error {
        return Err(NotAPage::Error(code, message));
    }
    if !root_seen {
        return Err(malformed("no root element"));
    }
    if truncated {
        page.next =
            Some(token.ok_or_else(|| malformed("truncated without NextContinuationToken"))?);
    }
    Ok(page)
}

fn malformed(why: &str) -> NotAPage {
    NotAPage::Malformed(why.to_string())
}

/// An object whose `Contents` element is still open.
#[derive(Default)]
struct Partial {
    key: Option<String>,
    size: u64,
    etag: Option<String>,
    modified_ns: i128,
}

/// The element `name` just closed with text `value`, below the open elements `parents`.
fn close(
    parents: &[&str],
    name: &str,
    value: &str,
    page: &mut Page,
    entry: &mut Option<Partial>,
    truncated: &mut bool,
    token: &mut Option<String>,
) -> Result<(), NotAPage> {
    match (parents, name) {
        (["ListBucketResult"], "Contents") => {
            if let Some(Partial {
                key: Some(key),
                size,
                etag,
                modified_ns,
            }) = entry.take()
            {
                page.objects.push(Entry {
                    key,
                    size,
                    etag,
                    modified_ns,
                });
            }
        }
        (["ListBucketResult"], "IsTruncated") => match value.trim() {
            "true" => *truncated = true,
            "false" => *truncated = false,
            other => return Err(NotAPage::Malformed(format!("IsTruncated {other:?}"))),
        },
        (["ListBucketResult"], "NextContinuationToken") => *token = Some(value.to_string()),
        (["ListBucketResult", "CommonPrefixes"], "Prefix") => page.prefixes.push(value.to_string()),
        (["ListBucketResult", "Contents"], field) => {
            let Some(entry) = entry.as_mut() else {
                return Ok(());
            };
            match field {
                "Key" => entry.key = Some(value.to_string()),
                "Size" => {
                    entry.size = value.trim().parse().map_err(|_| {
                        NotAPage::Malformed(format!("Size {value:?} is not a number"))
                    })?;
                }
                "ETag" => entry.etag = Some(value.to_string()),
                "LastModified" => {
                    let time = chrono::DateTime::parse_from_rfc3339(value.trim())
                        .map_err(|e| NotAPage::Malformed(format!("LastModified {value:?}: {e}")))?;
                    entry.modified_ns = i128::from(time.timestamp()) * 1_000_000_000
                        + i128::from(time.timestamp_subsec_nanos());
                }
                _ => {}
            }
        }
        _ => {}
    }
    Ok(())
}

enum Token<'a> {
    Open(&'a str),
    /// `<name/>`.
    Empty(&'a str),
    Close(&'a str),
    /// Character data, entities not yet replaced.
    Text(&'a str),
    Cdata(&'a str),
}

/// The tokens of an XML document; the prolog, comments, processing instructions and attributes
/// are passed over.
struct Scanner<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Scanner<'a> {
    fn next(&mut self) -> Result<Option<Token<'a>>, String> {
        loop {
            let rest = &self.text[self.at..];
            if rest.is_empty() {
                return Ok(None);
            }
            if !rest.starts_with('<') {
                let end = rest.find('<').unwrap_or(rest.len());
                self.at += end;
                return Ok(Some(Token::Text(&rest[..end])));
            }
            let skip_to = |end: &str, what: &str| {
                rest.find(end)
                    .map(|i| i + end.len())
                    .ok_or_else(|| format!("unterminated {what}"))
            };
            if rest.starts_with("<?") {
                self.at += skip_to("?>", "processing instruction")?;
                continue;
            }
            if rest.starts_with("<!--") {
                self.at += skip_to("-->", "comment")?;
                continue;
            }
            if let Some(data) = rest.strip_prefix("<![CDATA[") {
                let end = data.find("]]>").ok_or("unterminated CDATA section")?;
                self.at += "<![CDATA[".len() + end + "]]>".len();
                return Ok(Some(Token::Cdata(&data[..end])));
            }
            if rest.starts_with("<!") {
                return Err("a document type declaration".to_string());
            }
            // A tag: its end is the first `>` outside quotes.
            let bytes = rest.as_bytes();
            let mut quote = None;
            let mut end = None;
            for (i, &b) in bytes.iter().enumerate().skip(1) {
                match (quote, b) {
                    (None, b'"' | b'\'') => quote = Some(b),
                    (Some(q), _) if b == q => quote = None,
                    (None, b'>') => {
                        end = Some(i);
                        break;
                    }
                    _ => {}
                }
            }
            let end = end.ok_or("unterminated tag")?;
            self.at += end + 1;
            let inside = &rest[1..end];
            if let Some(name) = inside.strip_prefix('/') {
                return Ok(Some(Token::Close(name.trim_end())));
            }
            let (inside, empty) = match inside.strip_suffix('/') {
                Some(inside) => (inside, true),
                None => (inside, false),
            };
            let name = inside
                .split(|c: char| c.is_ascii_whitespace())
                .next()
                .filter(|n| !n.is_empty())
                .ok_or("a tag without a name")?;
            return Ok(Some(if empty {
                Token::Empty(name)
            } else {
                Token::Open(name)
            }));
        }
    }
}

/// Appends `raw` with XML's entity and character references replaced.
pub(crate) fn unescape_into(raw: &str, out: &mut String) -> Result<(), String> {
    let mut rest = raw;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let end = after
            .find(';')
            .filter(|&e| e <= 10)
            .ok_or_else(|| format!("a bare & in {raw:?}"))?;
        let name = &after[..end];
        let c = match name {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let code = if let Some(hex) = name.strip_prefix("#x") {
                    u32::from_str_radix(hex, 16).ok()
                } else if let Some(dec) = name.strip_prefix('#') {
                    dec.parse().ok()
                } else {
                    None
                };
                code.and_then(char::from_u32)
                    .ok_or_else(|| format!("unknown reference &{name}; in {raw:?}"))?
            }
        };
        out.push(c);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A page as S3 sends it (from the ListObjectsV2 API reference), with a key that needs
    /// escaping.
    const PAGE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>trail</Name>
  <Prefix>AWSLogs/</Prefix>
  <KeyCount>3</KeyCount>
  <MaxKeys>1000</MaxKeys>
  <Delimiter>/</Delimiter>
  <IsTruncated>true</IsTruncated>
  <NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>
  <Contents>
    <Key>AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/01/a_20240301T1000Z_x.json.gz</Key>
    <LastModified>2024-03-01T10:05:01.123Z</LastModified>
    <ETag>&quot;9b2cf535f27731c974343645a3985328&quot;</ETag>
    <ChecksumAlgorithm>CRC32</ChecksumAlgorithm>
    <Size>2345</Size>
    <Owner><ID>abc</ID><DisplayName>me</DisplayName></Owner>
    <StorageClass>STANDARD</StorageClass>
  </Contents>
  <Contents>
    <Key>AWSLogs/odd &amp; &lt;key&gt; &#x41;&#66;.json</Key>
    <LastModified>1970-01-01T00:00:01Z</LastModified>
    <ETag>"e"</ETag>
    <Size>0</Size>
  </Contents>
  <Contents><Key><![CDATA[AWSLogs/cdata<key>]]></Key><Size>7</Size></Contents>
  <!-- a comment -->
  <CommonPrefixes><Prefix>AWSLogs/o-abc/</Prefix></CommonPrefixes>
  <CommonPrefixes><Prefix>AWSLogs/111122223333/</Prefix></CommonPrefixes>
  <StartAfter/>
</ListBucketResult>"#;

    #[test]
    fn a_page_gives_keys_sizes_etags_times_folders_and_the_token() {
        let page = parse_page(PAGE.as_bytes()).expect("a page");
        let keys: Vec<&str> = page.objects.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/01/a_20240301T1000Z_x.json.gz",
                "AWSLogs/odd & <key> AB.json",
                "AWSLogs/cdata<key>",
            ]
        );
        let first = &page.objects[0];
        assert_eq!(first.size, 2345);
        assert_eq!(
            first.etag.as_deref(),
            Some("\"9b2cf535f27731c974343645a3985328\"")
        );
        assert_eq!(first.modified_ns, 1_709_287_501_123_000_000);
        assert_eq!(page.objects[1].modified_ns, 1_000_000_000);
        assert_eq!(
            (page.objects[2].size, page.objects[2].etag.as_deref()),
            (7, None)
        );
        assert_eq!(page.prefixes, ["AWSLogs/o-abc/", "AWSLogs/111122223333/"]);
        assert_eq!(
            page.next.as_deref(),
            Some("1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=")
        );

        // The last page: no token, even if one is sent.
        let last = PAGE.replace("<IsTruncated>true", "<IsTruncated>false");
        assert_eq!(parse_page(last.as_bytes()).expect("a page").next, None);
        let empty = r#"<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>"#;
        let page = parse_page(empty.as_bytes()).expect("a page");
        assert!(page.objects.is_empty() && page.prefixes.is_empty() && page.next.is_none());
    }

    #[test]
    fn error_documents_and_broken_pages_are_told_apart() {
        let error = "<?xml version=\"1.0\"?>\n<Error><Code>AccessDenied</Code>\
                     <Message>Access &amp; more</Message><RequestId>1</RequestId></Error>";
        assert_eq!(
            parse_page(error.as_bytes()).err(),
            Some(NotAPage::Error(
                Some("AccessDenied".to_string()),
                "Access & more".to_string()
            ))
        );
        let cut = &PAGE[..PAGE.find("<CommonPrefixes>").expect("folders")];
        let broken = [
            (cut, "ends inside"),
            (
                "<ListBucketResult><Contents></ListBucketResult>",
                "closes <Contents>",
            ),
            (
                "<ListAllMyBucketsResult></ListAllMyBucketsResult>",
                "not a ListObjectsV2",
            ),
            (
                "<ListBucketResult><Contents><Key>k</Key><Size>x</Size></Contents></ListBucketResult>",
                "Size \"x\"",
            ),
            (
                "<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>",
                "without NextContinuationToken",
            ),
            (
                "<ListBucketResult><Prefix>a & b</Prefix></ListBucketResult>",
                "bare &",
            ),
            ("", "no root element"),
        ];
        for (body, why) in broken {
            match parse_page(body.as_bytes()) {
                Err(NotAPage::Malformed(reason)) => {
                    assert!(reason.contains(why), "{body:?}: {reason}");
                }
                other => panic!("{body:?}: {other:?}"),
            }
        }
        assert!(matches!(
            parse_page(b"<ListBucketResult>\xff</ListBucketResult>"),
            Err(NotAPage::Malformed(_))
        ));
    }
}
