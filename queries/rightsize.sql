-- rightsize: per third-party role (--all-roles: every role), today's grants against the suggested least-privilege policy: what is removed, what is narrowed, what is kept and the evidence for it (--format json gives the policy documents)
--
-- change:
--   remove    granted, observable, never used in the window: not in the suggested policy
--             (grouped per service and access level; service_removed when nothing of the
--             service is kept)
--   review    granted but not observable in this lake (never logged, or data events missing):
--             left out of the suggestion; add it back if the third party needs it
--   narrow    used; the suggestion keeps it on the resources seen instead of the granted ones
--   keep      used; kept as granted
-- Each kept or narrowed action carries its evidence: uses, first and last seen, sample event
-- ids. The suggested policy itself: `crosstrail report rightsize --format json`, or the
-- report rightsize-policy.
WITH
rows_ AS (
    SELECT
        s.*,
        iam_suggested_resources(s.action, s.resources_seen, s.resources_known) AS suggested
    FROM role_scope AS s
),
classified AS (
    SELECT
        *,
        CASE
            WHEN status = 'used'
                 AND array_sort(suggested) <> array_sort(granted_resources)
                 AND NOT array_has(suggested, '*')
                THEN 'narrow'
            WHEN status = 'used' THEN 'keep'
            WHEN status = 'not-observable' THEN 'review'
            ELSE 'remove'
        END AS change
    FROM rows_
),
services AS (
    SELECT role_arn, service, bool_or(change IN ('keep', 'narrow')) AS kept
    FROM classified
    GROUP BY role_arn, service
),
kept AS (
    SELECT
        c.role_arn,
        c.role_name,
        c.change,
        c.service,
        false AS service_removed,
        c.action AS actions,
        c.access_level,
        c.risk_rank,
        1 AS action_count,
        array_to_string(c.granted_resources, ', ') AS granted_resources,
        array_to_string(c.suggested, ', ') AS suggested_resources,
        c.uses,
        c.first_seen,
        c.last_seen,
        array_to_string(c.sample_event_ids, ', ') AS sample_event_ids,
        CAST(NULL AS VARCHAR) AS why
    FROM classified AS c
    WHERE c.change IN ('keep', 'narrow')
),
dropped AS (
    SELECT
        c.role_arn,
        c.role_name,
        c.change,
        c.service,
        NOT s.kept AS service_removed,
        CASE
            WHEN count(*) <= 12
                THEN array_to_string(array_agg(c.action ORDER BY c.action), ', ')
            ELSE concat(
                array_to_string(array_slice(array_agg(c.action ORDER BY c.action), 1, 10), ', '),
                ', ... and ', CAST(count(*) - 10 AS VARCHAR), ' more')
        END AS actions,
        c.access_level,
        max(c.risk_rank) AS risk_rank,
        count(*) AS action_count,
        array_to_string(array_distinct(flatten(array_agg(c.granted_resources))), ', ')
            AS granted_resources,
        CAST(NULL AS VARCHAR) AS suggested_resources,
        0 AS uses,
        arrow_cast(NULL, 'Timestamp(Millisecond, Some("UTC"))') AS first_seen,
        arrow_cast(NULL, 'Timestamp(Millisecond, Some("UTC"))') AS last_seen,
        CAST(NULL AS VARCHAR) AS sample_event_ids,
        max(c.why_not_observable) AS why
    FROM classified AS c
    JOIN services AS s
      ON s.role_arn = c.role_arn AND s.service = c.service
    WHERE c.change IN ('remove', 'review')
    GROUP BY c.role_arn, c.role_name, c.change, c.service, s.kept, c.access_level
)
SELECT * EXCLUDE (risk_rank)
FROM (
    SELECT
        role_name,
        change,
        service,
        service_removed,
        access_level,
        action_count AS count,
        actions,
        granted_resources,
        suggested_resources,
        uses,
        first_seen,
        last_seen,
        sample_event_ids,
        why,
        role_arn,
        CAST(NULL AS VARCHAR) AS note,
        risk_rank
    FROM (SELECT * FROM kept UNION ALL SELECT * FROM dropped)
    UNION ALL
    SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
           note, NULL
    FROM grant_notes
)
ORDER BY
    role_arn NULLS LAST,
    CASE change WHEN 'remove' THEN 0 WHEN 'review' THEN 1 WHEN 'narrow' THEN 2 ELSE 3 END,
    risk_rank DESC,
    service,
    actions,
    note
