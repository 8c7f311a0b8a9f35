-- access-denied: failed calls inside third-party sessions, grouped by session, action and resource: what a third party tried and was not granted
--
-- One row per (third party, session, service, action, resource, error code), with the number
-- of attempts, first and last, and one of the error messages. A chained AssumeRole that was
-- refused is a failed call of the session that made it (resource: the role). AssumeRole
-- calls refused to the third party itself appear only when its own account's trail is in the
-- lake: CloudTrail does not log denied cross-account AssumeRole calls in the role's account
-- (the note row at the end says so on every run).
-- Filters from report_params apply as in the timeline (--vendor, --role, --session,
-- --access-key, --source-ip, --from/--to).
WITH
failed AS (
    SELECT
        a.party,
        a.party_class,
        a.role_name,
        a.role_session_name,
        a.session_key,
        a.depth,
        CASE WHEN a.event_id IS NULL THEN 'sts.amazonaws.com' ELSE a.event_source END
            AS event_source,
        CASE WHEN a.event_id IS NULL THEN a.session_event_name ELSE a.event_name END
            AS event_name,
        CASE WHEN a.event_id IS NULL THEN a.role_arn ELSE a.resource_summary END
            AS resource,
        coalesce(a.error_code, a.session_error_code) AS error_code,
        coalesce(a.error_message, a.session_error_message) AS error_message,
        coalesce(a.event_time, a.session_start) AS event_time
    FROM activity_in_scope AS a
    -- failed actions, and failed AssumeRole calls at the root of a chain (a failed chained
    -- call is already a failed action of its parent)
    WHERE (a.error_code IS NOT NULL
           OR (a.event_id IS NULL AND a.session_error_code IS NOT NULL AND a.depth = 0))
),
grouped AS (
    SELECT
        party,
        max(party_class) AS party_class,
        role_name,
        role_session_name,
        session_key,
        max(depth) AS depth,
        event_source,
        event_name,
        resource,
        error_code,
        count(*) AS attempts,
        min(event_time) AS first_attempt,
        max(event_time) AS last_attempt,
        min(error_message) AS error_message
    FROM failed
    GROUP BY party, role_name, role_session_name, session_key, event_source, event_name,
             resource, error_code
),
notes AS (
    SELECT
        'CloudTrail does not log denied cross-account AssumeRole calls in the role''s account: a third party''s refused attempts to assume your roles (wrong External ID, trust mismatch) are only in its own account''s trail' AS note,
        false AS only_if_empty
    UNION ALL
    SELECT note, false FROM input_notes
    UNION ALL
    SELECT 'no failed call in third-party sessions matches', true
),
rows AS (
    SELECT *, '' AS note, false AS only_if_empty FROM grouped
    UNION ALL
    SELECT
        NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
        note, only_if_empty
    FROM notes
)
SELECT * EXCLUDE (only_if_empty, found)
FROM (SELECT *, count(party) OVER () AS found FROM rows)
WHERE NOT only_if_empty OR found = 0
ORDER BY party NULLS LAST, first_attempt, session_key, event_source, event_name, resource,
         error_code, note
