//! SQL embedded from the `queries/` folder: the report registry and the views of the session.
//!
//! Every `.sql` file starts with `-- name: one-line description`, where `name` is the file name
//! without `.sql`. The header is checked when the crate compiles: a file with a malformed header
//! or a name that does not match its file does not build.

/// A named SQL report from `queries/<name>.sql`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    /// Report name: the file name without `.sql`.
    pub name: &'static str,
    /// One-line description, from the file's first line.
    pub description: &'static str,
    /// The whole file, header comment included; a single `SELECT` (or `WITH ... SELECT`).
    pub sql: &'static str,
}

impl Report {
    /// Builds a report from an embedded file, checking its header at compile time (it is
    /// only used in constants): the first line must be `-- <name>: <description>`.
    pub(crate) const fn embedded(name: &'static str, sql: &'static str) -> Report {
        let Some((header_name, description)) = parse_header(sql) else {
            panic!("an embedded .sql file must start with `-- name: one-line description`");
        };
        if !str_eq(header_name, name) {
            panic!("the name in an embedded .sql file's first line must be its file name");
        }
        Report {
            name,
            description,
            sql,
        }
    }
}

/// Embeds `queries/<name>.sql` as a [`Report`] (or a view, from `queries/views/`).
macro_rules! embed_sql {
    ($name:literal) => {
        Report::embedded(
            $name,
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../queries/",
                $name,
                ".sql"
            )),
        )
    };
    (view $name:literal) => {
        Report::embedded(
            $name,
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../queries/views/",
                $name,
                ".sql"
            )),
        )
    };
}

/// The reports, in the order `crosstrail report --list` shows them.
/// Adding a report: put `queries/<name>.sql` in place and add `embed_sql!("<name>")` here.
const REPORTS: &[Report] = &[
    embed_sql!("third-parties"),
    embed_sql!("last-activity"),
    embed_sql!("timeline"),
    embed_sql!("blast-radius"),
    embed_sql!("external-id"),
    embed_sql!("access-denied"),
    embed_sql!("unused"),
    embed_sql!("rightsize"),
    embed_sql!("rightsize-policy"),
    embed_sql!("risky-grants"),
    embed_sql!("unmapped"),
];

/// Views registered in every session, in dependency order. `events` and `sessions` come from
/// `queries/views/`; `session_actions` lives at the top of `queries/` because people read it as
/// a report, but it is registered as a view rather than listed as one.
pub(crate) const VIEWS: &[Report] = &[
    embed_sql!(view "events"),
    embed_sql!(view "sessions"),
    embed_sql!("session_actions"),
    embed_sql!(view "roles"),
    embed_sql!(view "role_trust"),
    embed_sql!(view "role_policies"),
    // Third parties (issue 4): who is who, then sessions and chains, then what they did.
    embed_sql!(view "input_notes"),
    embed_sql!(view "own_set"),
    embed_sql!(view "trust_keys"),
    embed_sql!(view "party_classes"),
    embed_sql!(view "trust_classified"),
    embed_sql!(view "trust_reach"),
    embed_sql!(view "session_chains"),
    embed_sql!(view "third_party_sessions"),
    embed_sql!(view "third_party_activity"),
    embed_sql!(view "activity_in_scope"),
    embed_sql!(view "third_party_actions"),
    embed_sql!(view "third_party_roles"),
    embed_sql!(view "role_action_use"),
    embed_sql!(view "role_scope"),
    embed_sql!(view "grant_notes"),
];

/// `own_accounts` when the caller does not list their accounts (registered instead of a table).
pub(crate) const OWN_ACCOUNTS_INFERRED: Report = embed_sql!(view "own_accounts");

/// Every report, in display order.
pub fn reports() -> &'static [Report] {
    REPORTS
}

/// The report called `name`, if there is one.
pub fn report(name: &str) -> Option<&'static Report> {
    REPORTS.iter().find(|r| r.name == name)
}

/// Splits the first line of a `.sql` file, `-- name: description`, into `(name, description)`.
///
/// `name` is made of lowercase ASCII letters, digits, `_` and `-` (reports are typed on the
/// command line: `crosstrail report last-activity`; views, which SQL names, use `_`), and
/// starts with a letter; the description is not empty. Returns `None` if the line does not
/// have that shape.
pub const fn parse_header(sql: &str) -> Option<(&str, &str)> {
    let bytes = sql.as_bytes();
    let mut end = 0;
    while end < bytes.len() && bytes[end] != b'\n' {
        end += 1;
    }
    let (line, _) = bytes.split_at(end);
    let line = match line.split_last() {
        Some((&b'\r', rest)) => rest,
        _ => line,
    };
    let Some(rest) = strip_prefix(line, b"-- ") else {
        return None;
    };
    let mut colon = 0;
    while colon < rest.len() && rest[colon] != b':' {
        colon += 1;
    }
    let (name, description) = rest.split_at(colon);
    let Some(description) = strip_prefix(description, b": ") else {
        return None;
    };
    let description = description.trim_ascii();
    if name.is_empty() || description.is_empty() {
        return None;
    }
    if !name[0].is_ascii_lowercase() {
        return None;
    }
    let mut i = 0;
    while i < name.len() {
        if !matches!(name[i], b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-') {
            return None;
        }
        i += 1;
    }
    match (std::str::from_utf8(name), std::str::from_utf8(description)) {
        (Ok(name), Ok(description)) => Some((name, description)),
        _ => None,
    }
}

const fn strip_prefix<'a>(bytes: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    if bytes.len() < prefix.len() {
        return None;
    }
    let (head, tail) = bytes.split_at(prefix.len());
    if bytes_eq(head, prefix) {
        Some(tail)
    } else {
        None
    }
}

const fn str_eq(a: &str, b: &str) -> bool {
    bytes_eq(a.as_bytes(), b.as_bytes())
}

const fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    use super::*;

    #[test]
    fn header_shapes() {
        assert_eq!(
            parse_header("-- top_roles: roles used most\nSELECT 1"),
            Some(("top_roles", "roles used most"))
        );
        assert_eq!(parse_header("-- a1: d\r\nSELECT 1"), Some(("a1", "d")));
        assert_eq!(
            parse_header("-- last-activity: when roles were used"),
            Some(("last-activity", "when roles were used"))
        );
        assert_eq!(
            parse_header("-- only_line: described"),
            Some(("only_line", "described"))
        );
        for bad in [
            "",
            "SELECT 1",
            "--x: no space after dashes",
            "-- no_colon description",
            "-- Upper: not lowercase",
            "-- two words: bad name",
            "-- empty:  ",
            "-- : no name",
            "-- -dash: starts with a dash",
            "-- 1st: starts with a digit",
            "-- name:no space",
            "\n-- name: not on the first line",
        ] {
            assert_eq!(parse_header(bad), None, "{bad:?}");
        }
    }

    /// Every `.sql` file under `queries/` has a valid header naming the file, and is either a
    /// registered report or a registered view: a file cannot be forgotten in the registry.
    #[test]
    fn every_sql_file_is_well_formed_and_registered() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../queries");
        let mut on_disk = BTreeSet::new();
        for dir in [root.clone(), root.join("views")] {
            for entry in std::fs::read_dir(&dir).expect("queries/ is readable") {
                let path = entry.expect("directory entry").path();
                if path.extension().and_then(|e| e.to_str()) != Some("sql") {
                    continue;
                }
                let text = std::fs::read_to_string(&path).expect("readable .sql file");
                let stem = path
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .expect("UTF-8 name");
                let (name, _) = parse_header(&text)
                    .unwrap_or_else(|| panic!("{}: bad first line", path.display()));
                assert_eq!(name, stem, "{}: header name", path.display());
                on_disk.insert(stem.to_owned());
            }
        }
        let registered: BTreeSet<String> = REPORTS
            .iter()
            .chain(VIEWS)
            .chain([&OWN_ACCOUNTS_INFERRED])
            .map(|r| r.name.to_owned())
            .collect();
        assert_eq!(on_disk, registered);
        assert_eq!(
            registered.len(),
            REPORTS.len() + VIEWS.len() + 1,
            "duplicate names"
        );
    }

    #[test]
    fn lookup_by_name() {
        for r in reports() {
            assert_eq!(report(r.name), Some(r));
        }
        assert_eq!(report("session_actions"), None, "a view, not a report");
        assert_eq!(report("no_such_report"), None);
    }

    #[test]
    fn views_have_descriptions() {
        let names: Vec<_> = VIEWS.iter().map(|v| v.name).collect();
        assert_eq!(
            names,
            [
                "events",
                "sessions",
                "session_actions",
                "roles",
                "role_trust",
                "role_policies",
                "input_notes",
                "own_set",
                "trust_keys",
                "party_classes",
                "trust_classified",
                "trust_reach",
                "session_chains",
                "third_party_sessions",
                "third_party_activity",
                "activity_in_scope",
                "third_party_actions",
                "third_party_roles",
                "role_action_use",
                "role_scope",
                "grant_notes",
            ]
        );
        assert!(VIEWS.iter().all(|v| !v.description.is_empty()));
    }
}
