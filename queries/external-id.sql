-- external-id: confused-deputy checks: third-party trusts without sts:ExternalId, whole-account or public trusts without conditions, AssumeRole calls without External ID, short or non-UUID IDs, one ID used by several parties
--
-- One row per finding:
--   trust without ExternalId        a third-party account (vendor, unknown) may assume the
--                                   role with no sts:ExternalId condition
--   whole account, no conditions    the trust names a third party's whole account (or
--                                   `*`) and no condition narrows who
--   public trust                    the trust names `*`; detail lists what narrows it
--   AssumeRole without ExternalId   third-party AssumeRole calls that passed none (the
--                                   chain's first hop only: a chained AssumeRole runs as your
--                                   own role)
--   short ExternalId                shorter than 16 characters (in calls or in a trust)
--   ExternalId not UUID-shaped      calls whose ID is not 8-4-4-4-12 hex
--   ExternalId reused               one ID presented by several caller accounts, or set in
--                                   trusts for several parties
-- IDs are never shown: only their length, UUID shape and fingerprint (keyed per lake, so two
-- equal fingerprints are the same ID in this lake and nothing else can be told from them).
-- Trust checks need an IAM snapshot (`crosstrail ingest --iam`); a note row says when there
-- is none. Checks on calls see only what the lake holds.
WITH
trust AS (
    SELECT
        *,
        unnest(array_append(external_id_fingerprints, NULL)) AS fingerprint,
        unnest(array_append(external_id_lengths, NULL)) AS id_length
    FROM trust_classified
    WHERE third_party
      AND effect = 'Allow'
      AND NOT not_principal
),
calls AS (
    SELECT *
    FROM third_party_sessions
    WHERE depth = 0
      AND start_seen
      AND error_code IS NULL
      AND caller_identity_type = 'AWSAccount'
),
observations AS (
    -- trust rows: the row unnesting adds to each principal (fingerprint NULL) carries the
    -- checks on the principal, the others, one per ID, the checks on that ID
    SELECT
        k.finding,
        'trust policy' AS seen_in,
        t.role_arn,
        t.party,
        t.party_class,
        t.principal,
        CASE
            WHEN k.finding = 'public trust' THEN
                CASE WHEN t.narrowed_by = '' THEN 'no condition narrows it'
                     ELSE concat('narrowed by ', t.narrowed_by) END
            WHEN k.finding = 'short ExternalId'
                THEN concat(CAST(t.id_length AS VARCHAR), ' characters')
            WHEN t.narrowed_by <> '' THEN concat('narrowed by ', t.narrowed_by)
            ELSE ''
        END AS detail,
        CASE WHEN k.finding IN ('short ExternalId', 'ExternalId reused') THEN t.fingerprint END
            AS fingerprint,
        t.party_account_id AS account,
        arrow_cast(NULL, 'Timestamp(Millisecond, Some("UTC"))') AS event_time
    FROM trust AS t
    CROSS JOIN (
        VALUES ('trust without ExternalId'), ('whole account, no conditions'), ('public trust'),
               ('short ExternalId'), ('ExternalId reused')
    ) AS k(finding)
    WHERE (k.finding = 'trust without ExternalId' AND t.fingerprint IS NULL
           AND t.party_class IN ('vendor', 'unknown-account') AND NOT t.requires_external_id)
       OR (k.finding = 'whole account, no conditions' AND t.fingerprint IS NULL
           AND t.principal_kind IN ('account', 'public')
           AND t.narrowed_by = '' AND t.conditions IS NULL)
       OR (k.finding = 'public trust' AND t.fingerprint IS NULL
           AND t.principal_kind = 'public')
       OR (k.finding = 'short ExternalId' AND t.fingerprint IS NOT NULL AND t.id_length < 16)
       OR (k.finding = 'ExternalId reused' AND t.fingerprint IS NOT NULL)
    UNION ALL
    SELECT
        k.finding,
        'AssumeRole calls' AS seen_in,
        c.role_arn,
        c.party,
        c.party_class,
        c.caller_account_id AS principal,
        CASE
            WHEN k.finding = 'short ExternalId'
                THEN concat(CAST(c.external_id_length AS VARCHAR), ' characters')
            WHEN k.finding = 'ExternalId not UUID-shaped'
                THEN concat(CAST(c.external_id_length AS VARCHAR), ' characters, not 8-4-4-4-12 hex')
            ELSE ''
        END AS detail,
        CASE WHEN k.finding <> 'AssumeRole without ExternalId' THEN c.external_id_fingerprint END
            AS fingerprint,
        c.caller_account_id AS account,
        c.session_start AS event_time
    FROM calls AS c
    CROSS JOIN (
        VALUES ('AssumeRole without ExternalId'), ('short ExternalId'),
               ('ExternalId not UUID-shaped'), ('ExternalId reused')
    ) AS k(finding)
    WHERE (k.finding = 'AssumeRole without ExternalId' AND NOT c.external_id_present)
       OR (k.finding = 'short ExternalId' AND c.external_id_length < 16)
       OR (k.finding = 'ExternalId not UUID-shaped' AND NOT c.external_id_uuid_shaped)
       OR (k.finding = 'ExternalId reused' AND c.external_id_fingerprint IS NOT NULL)
),
grouped AS (
    -- A reuse is judged per ID, everything else per role, party and place seen.
    SELECT
        finding,
        CASE WHEN finding = 'ExternalId reused' THEN 'trust policy, AssumeRole calls'
             ELSE max(seen_in) END AS seen_in,
        CASE WHEN finding = 'ExternalId reused'
             THEN array_to_string(array_sort(array_agg(DISTINCT role_arn)), ' ')
             ELSE max(role_arn) END AS role_arn,
        CASE WHEN finding = 'ExternalId reused'
             THEN array_to_string(array_sort(array_agg(DISTINCT party)), ', ')
             ELSE max(party) END AS party,
        max(party_class) AS party_class,
        CASE WHEN finding = 'ExternalId reused'
             THEN array_to_string(array_sort(array_agg(DISTINCT account)), ', ')
             ELSE max(principal) END AS principal,
        CASE WHEN finding = 'ExternalId reused'
             THEN concat(CAST(count(DISTINCT party) AS VARCHAR), ' parties, ',
                         CAST(count(DISTINCT account) AS VARCHAR), ' accounts')
             ELSE max(detail) END AS detail,
        count(event_time) AS calls,
        min(event_time) AS first_seen,
        max(event_time) AS last_seen,
        fingerprint AS external_id_fingerprint,
        count(DISTINCT party) AS parties,
        count(DISTINCT account) AS accounts
    FROM observations
    GROUP BY
        finding,
        fingerprint,
        CASE WHEN finding = 'ExternalId reused' THEN '' ELSE seen_in END,
        CASE WHEN finding = 'ExternalId reused' THEN '' ELSE role_arn END,
        CASE WHEN finding = 'ExternalId reused' THEN '' ELSE party END,
        CASE WHEN finding = 'ExternalId reused' THEN '' ELSE principal END,
        CASE WHEN finding = 'ExternalId reused' THEN '' ELSE detail END
),
findings AS (
    SELECT * EXCLUDE (parties, accounts)
    FROM grouped
    WHERE finding <> 'ExternalId reused' OR parties > 1 OR accounts > 1
),
notes AS (
    SELECT
        'no IAM snapshot in the lake (crosstrail ingest --iam): trust policies were not checked (missing ExternalId conditions, whole-account and public trusts); only AssumeRole calls were' AS note,
        false AS only_if_empty
    WHERE (SELECT count(*) FROM role_trust) = 0
    UNION ALL
    SELECT note, false FROM input_notes
    UNION ALL
    SELECT 'no finding', true
),
rows AS (
    SELECT *, '' AS note, false AS only_if_empty FROM findings
    UNION ALL
    SELECT
        NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
        note, only_if_empty
    FROM notes
)
SELECT * EXCLUDE (only_if_empty, found)
FROM (SELECT *, count(finding) OVER () AS found FROM rows)
WHERE NOT only_if_empty OR found = 0
ORDER BY finding NULLS LAST, role_arn, party, seen_in, external_id_fingerprint, note
