#!/usr/bin/env python3
"""Where crosstrail's event -> IAM action mapping differs from trailscraper's, and why.

Usage (trailscraper from PyPI in a virtualenv; nothing here needs the network otherwise):

    python3 -m venv /tmp/ts && /tmp/ts/bin/pip install trailscraper==0.10.0
    /tmp/ts/bin/python scripts/compare_trailscraper.py \
        --crosstrail target/debug/crosstrail --lake ./lake > docs/trailscraper-diff.md

For every record in the lake, the script asks crosstrail (`iam_event_class`, `iam_actions`)
and trailscraper (`Record.to_statement`, what `trailscraper generate` merges into its policy)
which IAM actions the record proves were used, and prints every (eventSource, eventName)
where the two answers differ, with the reason. trailscraper reads only eventSource,
eventName, eventTime, resources and userIdentity, so the records are rebuilt from those lake
columns.
"""

import argparse
import collections
import gzip
import json
import os
import subprocess
import sys

from trailscraper.cloudtrail import parse_records  # pylint: disable=import-error

QUERY = """
SELECT
    event_id,
    event_time,
    event_source,
    event_name,
    identity_type,
    session_issuer_arn,
    error_code,
    iam_event_class(event_source, event_name, event_type, identity_type, error_code,
                    request_parameters) AS class,
    iam_actions(event_source, event_name, request_parameters) AS actions,
    iam_mapping_rule(event_source, event_name, request_parameters) AS rule
FROM events
"""


def catalog_actions(repo):
    """Lower-cased `prefix:action` of the embedded catalog."""
    out = set()
    prefix = None
    path = os.path.join(repo, "crates/iam/data/catalog.txt.gz")
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line.startswith("##"):
                continue
            if line.startswith("#"):
                prefix = line[1:].split("\t")[0]
                continue
            if prefix:
                out.add(f"{prefix}:{line.split(chr(9))[0]}".lower())
    return out


def lake_rows(crosstrail, lake):
    cmd = [crosstrail, "sql", "--lake", lake, "--format", "ndjson", QUERY]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def trailscraper_actions(row):
    record = {
        "eventSource": row["event_source"],
        "eventName": row["event_name"],
        "eventTime": row["event_time"][:19] + "Z",
        "userIdentity": {"type": row.get("identity_type") or "Unknown"},
        "resources": [],
    }
    parsed = parse_records([record])
    if not parsed:
        return set()
    statement = parsed[0].to_statement()
    if statement is None:
        return set()
    return {f"{a.prefix}:{a.action}" for a in statement.Action}


def reason(row, ours, theirs, catalog):
    cls = row["class"]
    if cls == "denied":
        return "authorization failed: attempted, not used (trailscraper counts failed calls as used)"
    if cls == "no-permission":
        return "the call needs no IAM permission"
    if cls == "not-evidence":
        return "not authorization evidence (AWS service event, sign-in, insight, authentication failure or AWS service caller)"
    if cls == "unmapped":
        if theirs and not any(t.lower() in catalog for t in theirs):
            return "no such IAM action: trailscraper's guess is not in the catalog, crosstrail leaves it unmapped"
        return "unmapped in crosstrail (candidate for the exception table)"
    wild = sorted(t for t in theirs if "*" in t)
    if wild:
        return f"trailscraper emits a wildcard where the call needs exact actions: {', '.join(wild)}"
    bogus = sorted(t for t in theirs if t.lower() not in catalog)
    if bogus:
        return f"trailscraper emits actions IAM does not have: {', '.join(bogus)}"
    if ours > theirs:
        return "crosstrail maps to more actions (one-to-many: the call needs each of them)"
    return f"mapping differs (crosstrail rule: {row['rule']})"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--crosstrail", required=True, help="the crosstrail binary")
    p.add_argument("--lake", required=True, help="a lake made by crosstrail ingest")
    p.add_argument("--repo", default=os.path.join(os.path.dirname(__file__), ".."))
    p.add_argument("--title", default="crosstrail vs trailscraper")
    a = p.parse_args()

    catalog = catalog_actions(a.repo)
    rows = lake_rows(a.crosstrail, a.lake)
    groups = collections.OrderedDict()
    same = 0
    for row in rows:
        ours = set(row["actions"] or []) if row["class"] == "used" else set()
        theirs = trailscraper_actions(row)
        if {x.lower() for x in ours} == {x.lower() for x in theirs}:
            same += 1
            continue
        key = (row["event_source"], row["event_name"], row["class"],
               tuple(sorted(ours)), tuple(sorted(theirs)))
        g = groups.setdefault(key, {"count": 0, "sample": row["event_id"],
                                    "why": reason(row, ours, theirs, catalog)})
        g["count"] += 1

    print(f"# {a.title}\n")
    print(f"{len(rows)} records; the same actions for {same}; different for "
          f"{len(rows) - same}, in {len(groups)} kinds:\n")
    print("| eventSource | eventName | records | crosstrail class | crosstrail actions | trailscraper actions | why |")
    print("|---|---|--:|---|---|---|---|")
    for (source, name, cls, ours, theirs), g in sorted(groups.items(), key=lambda kv: (-kv[1]["count"], kv[0])):
        print(f"| {source} | {name} | {g['count']} | {cls} | {', '.join(ours) or '-'} | "
              f"{', '.join(theirs) or '-'} | {g['why']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
