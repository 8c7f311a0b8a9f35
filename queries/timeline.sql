-- timeline: every third-party action and AssumeRole, in time order, with the session chain, for a vendor, role, session, access key or source IP in a time window
--
-- Filters come from report_params, all optional, all combined:
--   --vendor      vendor name (case-insensitive, needs --vendors) or account id of the
--                 third party at the root of the chain
--   --role        role ARN or name of the session
--   --session     AssumeRole eventID, temporary access key or role session name of the
--                 session; the eventID or key of the root of a chain also brings the
--                 sessions it chained into
--   --access-key  the key that signed the call (or the key a session start handed out)
--   --source-ip   the caller's IP address
--   --from/--to   event time, from inclusive, to exclusive
-- `kind` is 'session start' for the AssumeRole* that started a session (a chained
-- AssumeRole is shown once, as the start of the session it made; parent_session_key is the
-- session that called it), 'action' for anything else done with a session's key.
-- resources: up to three resource ARNs of the record, else the first identifier in its
-- requestParameters (third_party_activity.resource_summary); for a session start, the role.
-- request_summary is the first 200 characters of requestParameters (External IDs in it are
-- already replaced by fingerprints at ingest); for a session start, what the call passed.
-- When nothing matches, a row says so; rows at the end name the inputs not given.
WITH
numbered AS (
    SELECT
        *,
        ROW_NUMBER() OVER (
            PARTITION BY coalesce(session_key, session_event_id)
            ORDER BY event_time NULLS FIRST, event_id
        ) AS nth
    FROM third_party_activity
),
both_kinds AS (
    SELECT
        CASE WHEN k.kind = 'session start' THEN a.session_start ELSE a.event_time END
            AS event_time,
        k.kind,
        a.party,
        a.party_class,
        a.root_caller_account_id,
        a.party_account_id,
        a.role_arn,
        a.role_name,
        a.role_session_name,
        a.session_key,
        a.session_event_id,
        a.root_session_key,
        a.root_session_event_id,
        a.depth,
        a.parent_session_key,
        a.chain_path,
        a.source_identity,
        CASE
            WHEN k.kind = 'session start' THEN 'sts.amazonaws.com'
            ELSE a.event_source
        END AS event_source,
        CASE
            WHEN k.kind = 'session start' THEN coalesce(a.session_event_name, '(start not seen)')
            ELSE a.event_name
        END AS event_name,
        CASE
            WHEN k.kind = 'session start' THEN a.role_arn
            ELSE a.resource_summary
        END AS resources,
        CASE
            WHEN k.kind = 'session start' THEN concat(
                'roleSessionName=', coalesce(a.role_session_name, ''),
                CASE WHEN a.external_id_present THEN ', externalId given' ELSE ', no externalId' END,
                CASE
                    WHEN a.source_identity IS NOT NULL
                        THEN concat(', sourceIdentity=', a.source_identity)
                    ELSE ''
                END
            )
            ELSE substr(coalesce(a.request_parameters, ''), 1, 200)
        END AS request_summary,
        CASE WHEN k.kind = 'session start' THEN a.session_error_code ELSE a.error_code END
            AS error_code,
        CASE WHEN k.kind = 'session start' THEN a.session_source_ip ELSE a.source_ip END
            AS source_ip,
        CASE WHEN k.kind = 'session start' THEN a.session_user_agent ELSE a.user_agent END
            AS user_agent,
        CASE WHEN k.kind = 'session start' THEN a.session_aws_region ELSE a.aws_region END
            AS aws_region,
        CASE WHEN k.kind = 'session start' THEN a.parent_session_key ELSE a.access_key_id END
            AS access_key_id,
        CASE WHEN k.kind = 'session start' THEN a.session_event_id ELSE a.event_id END
            AS event_id
    FROM numbered AS a
    CROSS JOIN (VALUES ('session start'), ('action')) AS k(kind)
    WHERE (k.kind = 'session start' AND a.nth = 1)
       OR (k.kind = 'action' AND a.event_id IS NOT NULL)
),
-- A chained AssumeRole is both an action of the calling session and the start of the new
-- one: keep the start.
deduplicated AS (
    SELECT * EXCLUDE (copies)
    FROM (
        SELECT *, count(*) OVER (PARTITION BY event_id) AS copies
        FROM both_kinds
    )
    WHERE kind = 'session start' OR copies = 1 OR event_id IS NULL
),
matching AS (
    SELECT t.*
    FROM deduplicated AS t
    CROSS JOIN report_params AS p
    WHERE (p.vendor IS NULL
           OR lower(t.party) = lower(p.vendor)
           OR t.party_account_id = p.vendor
           OR t.root_caller_account_id = p.vendor)
      AND (p.role IS NULL OR t.role_arn = p.role OR t.role_name = p.role)
      AND (p.session IS NULL
           OR p.session IN (t.session_event_id, t.session_key, t.role_session_name,
                            t.root_session_event_id, t.root_session_key))
      AND (p.access_key IS NULL OR t.access_key_id = p.access_key OR
           (t.kind = 'session start' AND t.session_key = p.access_key))
      AND (p.source_ip IS NULL OR t.source_ip = p.source_ip)
      AND (p.from_time IS NULL OR t.event_time >= p.from_time)
      AND (p.to_time IS NULL OR t.event_time < p.to_time)
),
-- Says what was asked for; printed only when nothing matches (counted in the same pass:
-- a second look at `matching` would compute everything again).
asked AS (
    SELECT concat(
        'no third-party activity in the lake matches',
        CASE WHEN p.vendor IS NOT NULL THEN concat(' vendor=', p.vendor) ELSE '' END,
        CASE WHEN p.role IS NOT NULL THEN concat(' role=', p.role) ELSE '' END,
        CASE WHEN p.session IS NOT NULL THEN concat(' session=', p.session) ELSE '' END,
        CASE WHEN p.access_key IS NOT NULL THEN concat(' access-key=', p.access_key) ELSE '' END,
        CASE WHEN p.source_ip IS NOT NULL THEN concat(' source-ip=', p.source_ip) ELSE '' END,
        CASE
            WHEN p.from_time IS NOT NULL
                THEN concat(' from=', to_char(p.from_time, '%Y-%m-%dT%H:%M:%SZ'))
            ELSE ''
        END,
        CASE
            WHEN p.to_time IS NOT NULL
                THEN concat(' to=', to_char(p.to_time, '%Y-%m-%dT%H:%M:%SZ'))
            ELSE ''
        END,
        CASE
            WHEN p.vendor IS NOT NULL AND NOT p.vendors_given
                THEN ' (vendor names need --vendors; an account id works without)'
            ELSE ''
        END
    ) AS note
    FROM report_params AS p
),
rows AS (
    SELECT
        event_time,
        kind,
        party,
        role_name,
        role_session_name,
        session_key,
        depth,
        parent_session_key,
        chain_path,
        source_identity,
        event_source,
        event_name,
        resources,
        request_summary,
        error_code,
        source_ip,
        user_agent,
        aws_region,
        access_key_id,
        event_id,
        '' AS note
    FROM matching
    UNION ALL
    SELECT
        NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
        NULL, NULL, NULL, NULL, NULL, NULL,
        note
    FROM asked
),
with_notes AS (
    SELECT *, true AS only_if_empty FROM rows
    UNION ALL
    SELECT
        NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
        NULL, NULL, NULL, NULL, NULL, NULL,
        note, false
    FROM input_notes
)
SELECT * EXCLUDE (matches, only_if_empty)
FROM (SELECT *, count(kind) OVER () AS matches FROM with_notes)
WHERE kind IS NOT NULL OR NOT only_if_empty OR matches = 0
ORDER BY event_time NULLS LAST, kind DESC, event_id
