-- unused: per third-party role (--all-roles: every role), every action it holds, used or never used in the window, riskiest unused first; actions the lake cannot show are kept apart
--
-- Granted = role_grants (the latest IAM snapshot: inline + managed default versions, minus
-- explicit Deny, within the permissions boundary and any --scp). Used = role_action_use (the
-- role's sessions, authorization passed). One row per role and action:
--   unused          granted, observable in this lake, never used in the window
--   used            used at least once (uses, first_seen, last_seen, sample_event_ids)
--   not-observable  granted, but this lake cannot show a use: CloudTrail never logs the action
--                   (e.g. iam:PassRole), or it is a data event and the lake holds no data events
--                   from its service; never counted as unused
--   denied-only     not granted (or granted only conditionally) and attempted: every attempt
--                   was denied
-- `access` is `conditional` when every Allow has a condition (or a Deny applies in part): the
-- grant may be narrower than it reads. window_start / window_end: the span of events of the
-- role's account in the lake (narrowed by --from/--to), which is all the evidence covers.
-- Empty without an IAM snapshot (crosstrail ingest --iam).
WITH
window_ AS (
    SELECT
        e.recipient_account_id AS account_id,
        greatest(min(e.event_time), max(p.from_time)) AS window_start,
        least(max(e.event_time), max(p.to_time)) AS window_end
    FROM events_all AS e
    CROSS JOIN report_params AS p
    WHERE (p.from_time IS NULL OR e.event_time >= p.from_time)
      AND (p.to_time IS NULL OR e.event_time < p.to_time)
    GROUP BY e.recipient_account_id
),
scope AS (
    SELECT * FROM role_scope
),
denied AS (
    SELECT * FROM role_action_use WHERE class = 'denied'
),
granted AS (
    SELECT
        account_id, role_arn, role_name, service, action, access_level, risk_rank, access,
        status, why_not_observable, nullif(CAST(uses AS BIGINT), -1) AS uses, first_seen, last_seen,
        sample_event_ids, CAST(denied_attempts AS BIGINT) AS denied_attempts, granted_resources,
        policies, notes
    FROM scope
),
denied_only AS (
    SELECT
        split_part(d.role_arn, ':', 5) AS account_id,
        d.role_arn,
        regexp_replace(d.role_arn, '^.*/', '') AS role_name,
        split_part(d.action, ':', 1) AS service,
        d.action,
        iam_access_level(d.action) AS access_level,
        iam_risk_rank(d.action) AS risk_rank,
        CAST(NULL AS VARCHAR) AS access,
        'denied-only' AS status,
        CAST(NULL AS VARCHAR) AS why_not_observable,
        nullif(CAST(0 AS BIGINT), -1) AS uses,
        arrow_cast(NULL, 'Timestamp(Millisecond, Some("UTC"))') AS first_seen,
        arrow_cast(NULL, 'Timestamp(Millisecond, Some("UTC"))') AS last_seen,
        d.sample_event_ids,
        CAST(d.uses AS BIGINT) AS denied_attempts,
        CAST(NULL AS VARCHAR[]) AS granted_resources,
        CAST(NULL AS VARCHAR[]) AS policies,
        CAST(NULL AS VARCHAR[]) AS notes
    FROM denied AS d
    WHERE d.role_arn IN (SELECT role_arn FROM scope)
      AND NOT EXISTS (
          SELECT 1 FROM scope AS g WHERE g.role_arn = d.role_arn AND g.action = d.action
      )
),
rows_ AS (
    SELECT * FROM granted
    UNION ALL
    SELECT * FROM denied_only
),
data_ AS (
    SELECT
        r.account_id,
        r.role_name,
        r.status,
        r.service,
        r.access_level,
        count(*) AS actions,
        CASE
            WHEN count(*) <= 12
                THEN array_to_string(
                    array_agg(regexp_replace(r.action, '^[^:]*:', '') ORDER BY r.action), ', ')
            ELSE concat(
                array_to_string(array_slice(
                    array_agg(regexp_replace(r.action, '^[^:]*:', '') ORDER BY r.action), 1, 10), ', '),
                ', ... and ', CAST(count(*) - 10 AS VARCHAR), ' more')
        END AS action_names,
        sum(r.uses) AS uses,
        min(r.first_seen) AS first_seen,
        max(r.last_seen) AS last_seen,
        sum(r.denied_attempts) AS denied_attempts,
        string_agg(DISTINCT r.access, ', ') AS access,
        max(r.why_not_observable) AS why_not_observable,
        array_to_string(array_distinct(flatten(
            array_agg(r.granted_resources) FILTER (WHERE r.granted_resources IS NOT NULL))), ', ')
            AS granted_resources,
        array_to_string(array_distinct(flatten(
            array_agg(r.policies) FILTER (WHERE r.policies IS NOT NULL))), ', ') AS granted_by,
        array_to_string(array_distinct(flatten(
            array_agg(r.notes) FILTER (WHERE r.notes IS NOT NULL))), '; ') AS notes,
        array_to_string(array_slice(flatten(
            array_agg(r.sample_event_ids) FILTER (WHERE r.sample_event_ids IS NOT NULL)), 1, 3), ', ')
            AS sample_event_ids,
        max(w.window_start) AS window_start,
        max(w.window_end) AS window_end,
        r.role_arn,
        CAST(NULL AS VARCHAR) AS note,
        max(r.risk_rank) AS sort_risk
    FROM rows_ AS r
    LEFT JOIN window_ AS w
      ON w.account_id = r.account_id
    GROUP BY r.account_id, r.role_arn, r.role_name, r.status, r.service, r.access_level
)
SELECT * EXCLUDE (sort_risk)
FROM (
    SELECT * FROM data_
    UNION ALL
    SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
           NULL, NULL, NULL, NULL, NULL, NULL, note, NULL
    FROM grant_notes
)
ORDER BY
    role_arn NULLS LAST,
    CASE status WHEN 'unused' THEN 0 WHEN 'denied-only' THEN 1 WHEN 'used' THEN 2 ELSE 3 END,
    sort_risk DESC,
    service,
    note
